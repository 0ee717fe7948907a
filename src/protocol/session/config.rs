//! `SessionConfig`, the parameters of one network connection of a session, and `Role`,
//! which end it is. Plain values; must not hold session state.

use std::time::Duration;

use crate::protocol::packet::ProtocolVersion;

/// Which end of the connection this session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends CONNECT and PINGREQ.
    Client,
    /// Accepts CONNECT and answers PINGREQ.
    Server,
}

/// The parameters of one network connection of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The protocol version in use.
    pub version: ProtocolVersion,
    /// Which end we are.
    pub role: Role,
    /// The peer's Receive Maximum: our QoS 1/2 PUBLISH packets in flight at most.
    pub send_maximum: u16,
    /// Ours: an incoming QoS 1/2 PUBLISH beyond this many unacknowledged is a protocol
    /// error (MQTT 5.0 §3.3.4, reason 0x93). Only enforced on MQTT 5.
    pub receive_maximum: u16,
    /// Client: PINGREQ after this much time without sending; the peer is gone when the
    /// PINGREQ stays unanswered as long again. Server: the peer is gone after 1.5 times
    /// this of silence (MQTT 3.1.1 §3.1.2.10). `None` or zero: off.
    pub keep_alive: Option<Duration>,
    /// Messages waiting for a send-window slot at most; beyond it a new message is
    /// dropped and reported as `Event::Dropped`. `None`: unbounded.
    pub max_queued: Option<usize>,
    /// Keep QoS 0 messages published while offline in the queue (a client that must not
    /// lose them across a reconnect) instead of dropping them (mosquitto's default for
    /// a broker, `queue_qos0_messages false`).
    pub queue_qos0_offline: bool,
    /// Ours: the highest topic alias the peer may use (MQTT 5.0 §3.1.2.11.8); 0: none.
    pub topic_alias_maximum: u16,
    /// Report every durable change as `Event::Store`, for a client-side store.
    pub persist: bool,
}

impl SessionConfig {
    /// A configuration with the protocol's defaults: windows of 65,535, no keep alive,
    /// unbounded queue, no topic aliases, nothing persisted.
    pub fn new(version: ProtocolVersion, role: Role) -> SessionConfig {
        SessionConfig {
            version,
            role,
            send_maximum: u16::MAX,
            receive_maximum: u16::MAX,
            keep_alive: None,
            max_queued: None,
            queue_qos0_offline: false,
            topic_alias_maximum: 0,
            persist: false,
        }
    }
}

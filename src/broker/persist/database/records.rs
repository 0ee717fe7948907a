//! The records the durable store holds and hands back: a message with its wall-clock
//! receive time, a kept session's settings and subscriptions, a kept session as loaded.
//! Plain data: must not encode (`codec.rs`) or open the database (`mod.rs`).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::protocol::session::PersistedState;
use crate::protocol::Publish;

/// A message with the wall-clock time the broker received it (for the expiry interval).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The message as a PUBLISH packet.
    pub publish: Publish,
    /// When it was received.
    pub received: SystemTime,
}

/// One subscription of a kept session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSubscription {
    /// The filter as written (`$share/…` included).
    pub filter: String,
    /// Granted QoS.
    pub qos: u8,
    /// MQTT 5 No Local.
    pub no_local: bool,
    /// MQTT 5 Retain As Published.
    pub retain_as_published: bool,
    /// MQTT 5 Retain Handling (0, 1, 2).
    pub retain_handling: u8,
    /// MQTT 5 Subscription Identifier.
    pub subscription_id: Option<u32>,
}

/// A kept session's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Protocol version the client last connected with (4 or 5).
    pub protocol_level: u8,
    /// Session expiry interval in seconds; `u32::MAX` never expires.
    pub expiry_secs: u32,
    /// When the client disconnected (ms since the epoch), `None` while connected.
    pub disconnected_at_ms: Option<u64>,
    /// Its subscriptions.
    pub subscriptions: Vec<StoredSubscription>,
}

/// A kept session as loaded at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// Client identifier.
    pub client_id: String,
    /// Settings and subscriptions.
    pub record: SessionRecord,
    /// Messages queued for it and not yet handed to its QoS state, by queue id.
    pub queued: Vec<(u64, StoredMessage)>,
    /// Its QoS 1/2 flows.
    pub state: PersistedState,
}

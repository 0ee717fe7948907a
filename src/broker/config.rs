//! `BrokerConfig`: everything `mqtk serve` (or bench's embedded broker) can set, with
//! mosquitto's defaults. Plain data: must not parse files (`mosquitto_conf.rs` reads
//! mosquitto.conf; `cli/serve` merges it with the flags) or open anything.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::broker::fault::Faults;
use crate::broker::hooks::{AllowAll, Authenticator, NoPersistence, Persistence};
use crate::broker::trace::Trace;
use crate::protocol::codec::MAX_VARINT;

/// `--max-queued-bytes`'s default: 128 MiB per session, so that a few offline sessions
/// sent huge payloads cannot take the machine's memory (mosquitto has no limit).
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 128 << 20;

/// Everything `mqtk serve` (or bench's embedded broker) can set.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Where the MQTT/TCP listener binds; port 0 picks a free one.
    pub bind: SocketAddr,
    /// 0: quiet; 1: connects, disconnects, subscribes (`-v`); 2: every publish (`-vv`).
    pub verbosity: u8,
    /// Refuse connections beyond this many (`--max-connections`).
    pub max_connections: Option<usize>,
    /// Largest packet accepted from a client (`--max-packet-size`).
    pub max_packet_size: u32,
    /// QoS 1/2 messages in flight per client, both ways (`--max-inflight`).
    pub max_inflight: u16,
    /// Messages queued per session beyond those in flight (`--max-queued`).
    pub max_queued: usize,
    /// Bytes (topic + payload) queued per session beyond those in flight
    /// (`--max-queued-bytes`, mosquitto's `max_queued_bytes`); 0: no limit.
    pub max_queued_bytes: usize,
    /// Subscriptions one session may hold (`--max-subscriptions-per-client`).
    pub max_subscriptions_per_client: usize,
    /// Levels a topic name or filter may have (`--max-topic-levels`).
    pub max_topic_levels: usize,
    /// Retained messages the broker keeps, all topics together (`--max-retained`).
    pub max_retained: usize,
    /// Bytes (topic + payload) of retained messages, all together
    /// (`--max-retained-bytes`).
    pub max_retained_bytes: usize,
    /// Connections at once from one IP address (`--max-connections-per-ip`), the
    /// CONNECT phase included.
    pub max_connections_per_ip: Option<usize>,
    /// Largest keep alive granted (`--max-keepalive`); MQTT 5 clients asking for more
    /// (or for 0) get Server Keep Alive.
    pub max_keepalive: u16,
    /// Highest topic alias a client may use.
    pub topic_alias_maximum: u16,
    /// A new connection must send its whole CONNECT within this (`--connect-timeout`).
    pub connect_timeout: Duration,
    /// CONNECTs per second taken from one IP address, in bursts of as many
    /// (`--max-connect-rate`); more are refused with CONNACK 0x9F.
    pub max_connect_rate: Option<u32>,
    /// How often `$SYS/broker/...` is refreshed.
    pub sys_interval: Duration,
    /// Access control.
    pub auth: Arc<dyn Authenticator>,
    /// Durable storage.
    pub persistence: Arc<dyn Persistence>,
    /// On a single-threaded runtime (`--threads 1`): each connection task yields to the
    /// event loop before it reads again, so packets on different connections are
    /// applied in the order their sockets became readable.
    pub ordered: bool,
    /// Fault injection (`--fault`, `--faults`, `--allow-control`); `None`: off, and the
    /// connections pay nothing for it.
    pub faults: Option<Arc<Faults>>,
    /// `--trace`.
    pub trace: Option<Arc<Trace>>,
    /// `--log-format json`: `-v` lines as JSON objects.
    pub log_json: bool,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 1883)),
            verbosity: 0,
            max_connections: None,
            max_packet_size: MAX_VARINT,
            max_inflight: 20,
            max_queued: 1000,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            max_subscriptions_per_client: 10_000,
            max_topic_levels: 200,
            max_retained: 1_000_000,
            max_retained_bytes: 1 << 30,
            max_connections_per_ip: None,
            max_keepalive: 65535,
            topic_alias_maximum: 10,
            connect_timeout: Duration::from_secs(5),
            max_connect_rate: None,
            sys_interval: Duration::from_secs(1),
            auth: Arc::new(AllowAll),
            persistence: Arc::new(NoPersistence),
            ordered: false,
            faults: None,
            trace: None,
            log_json: false,
        }
    }
}

//! What the capability probe found (`Capabilities`), and what an MQTT 5 CONNACK
//! announces (`Announced`): the data the cases read to skip what the broker says it does
//! not do. Must not probe (that is `probe`) or judge.

use serde::Serialize;

use crate::protocol::{Properties, ProtocolVersion};

/// What the probe found. `None`: not probed (the version was not asked for or refused).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Capabilities {
    /// MQTT 3.1.1: `Ok` accepted, `Err` how it was refused.
    pub v311: Option<Result<(), String>>,
    /// MQTT 5: `Ok` accepted, `Err` how it was refused.
    pub v5: Option<Result<(), String>>,
    /// What the MQTT 5 CONNACK announced.
    pub connack: Option<Announced>,
    /// The largest PUBLISH packet (bytes) acknowledged, and whether that was the bound.
    pub largest_packet_bytes: Option<u64>,
    /// True when the largest packet tried (the bound) was accepted.
    pub largest_packet_is_bound: bool,
    /// A retained message was delivered to a later subscriber.
    pub retained: Option<bool>,
    /// A will was published after an abnormal close.
    pub wills: Option<bool>,
    /// A subscription to `$SYS/#` got a message.
    pub sys_topics: Option<bool>,
}

/// The MQTT 5 CONNACK properties that say what the broker does (MQTT 5.0 §3.2.2.3).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Announced {
    /// Maximum QoS (absent: 2).
    pub maximum_qos: Option<u8>,
    /// Retain available (absent: 1).
    pub retain_available: Option<u8>,
    /// Wildcard subscription available (absent: 1).
    pub wildcard_subscription_available: Option<u8>,
    /// Subscription identifiers available (absent: 1).
    pub subscription_identifier_available: Option<u8>,
    /// Shared subscriptions available (absent: 1).
    pub shared_subscription_available: Option<u8>,
    /// Receive maximum (absent: 65535).
    pub receive_maximum: Option<u16>,
    /// Maximum packet size (absent: no limit beyond the protocol's).
    pub maximum_packet_size: Option<u32>,
    /// Topic alias maximum (absent: 0).
    pub topic_alias_maximum: Option<u16>,
    /// Server keep alive (absent: the client's).
    pub server_keep_alive: Option<u16>,
    /// The client id assigned to a CONNECT with an empty one.
    pub assigned_client_identifier: Option<String>,
}

impl Announced {
    /// What the CONNACK properties `properties` announce.
    pub fn from(properties: &Properties) -> Announced {
        Announced {
            maximum_qos: properties.maximum_qos,
            retain_available: properties.retain_available,
            wildcard_subscription_available: properties.wildcard_subscription_available,
            subscription_identifier_available: properties.subscription_identifier_available,
            shared_subscription_available: properties.shared_subscription_available,
            receive_maximum: properties.receive_maximum,
            maximum_packet_size: properties.maximum_packet_size,
            topic_alias_maximum: properties.topic_alias_maximum,
            server_keep_alive: properties.server_keep_alive,
            assigned_client_identifier: properties.assigned_client_identifier.clone(),
        }
    }
}

impl Capabilities {
    /// How the broker refused `version` at the probe, if it did.
    pub fn refusal(&self, version: ProtocolVersion) -> Option<String> {
        let (name, state) = match version {
            ProtocolVersion::V311 => ("MQTT 3.1.1", &self.v311),
            ProtocolVersion::V5 => ("MQTT 5", &self.v5),
        };
        match state {
            Some(Err(how)) => Some(format!("{name} at the probe: {how}")),
            _ => None,
        }
    }

    /// The MQTT 5 CONNACK's flag read by `get`, with absent meaning available.
    pub fn announces(&self, get: impl Fn(&Announced) -> Option<u8>) -> bool {
        self.connack.as_ref().and_then(get).unwrap_or(1) == 1
    }
}

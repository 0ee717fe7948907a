//! The one rule from a CONNACK to the client's `SessionConfig`: the send window (the
//! broker's Receive Maximum, capped by ours; a fixed window on 3.1.1, which has none),
//! our Receive Maximum and Topic Alias Maximum (MQTT 5 only), and the keep alive (the
//! server's replaces ours). Used by the client and bench alike. Must not do I/O.

use std::time::Duration;

use super::config::{Role, SessionConfig};
use crate::protocol::packet::{ConnAck, ProtocolVersion};

/// What our side asked for, to combine with the broker's CONNACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTerms {
    /// The window on MQTT 3.1.1, which announces no Receive Maximum: the client keeps
    /// 1,000 in flight, bench mosquitto's default window for one client, 20.
    pub v311_window: u16,
    /// Our own cap on messages in flight (bench's `--inflight`).
    pub max_inflight: Option<u16>,
    /// The keep alive we sent in CONNECT; zero is off.
    pub keep_alive: Duration,
    /// The Receive Maximum we sent in CONNECT (MQTT 5).
    pub receive_maximum: Option<u16>,
    /// The Topic Alias Maximum we sent in CONNECT (MQTT 5).
    pub topic_alias_maximum: Option<u16>,
}

/// The session parameters of a client connection in `version` that got `connack`.
pub fn client_session(
    version: ProtocolVersion,
    connack: &ConnAck,
    terms: &ClientTerms,
) -> SessionConfig {
    let mut session = SessionConfig::new(version, Role::Client);
    let props = &connack.properties;
    // MQTT 5.0 §3.2.2.3.3: the broker's Receive Maximum caps our window, 65,535 when
    // absent.
    let broker_window = match version {
        ProtocolVersion::V5 => props.receive_maximum.unwrap_or(u16::MAX),
        ProtocolVersion::V311 => terms.v311_window,
    };
    session.send_maximum = terms
        .max_inflight
        .map_or(broker_window, |n| n.min(broker_window))
        .max(1);
    if version == ProtocolVersion::V5 {
        session.receive_maximum = terms.receive_maximum.unwrap_or(u16::MAX);
        session.topic_alias_maximum = terms.topic_alias_maximum.unwrap_or(0);
    }
    // MQTT 5.0 §3.2.2.3.14: the server's keep alive replaces ours.
    session.keep_alive = Some(match props.server_keep_alive {
        Some(secs) => Duration::from_secs(u64::from(secs)),
        None => terms.keep_alive,
    });
    session
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Properties, ReasonCode};

    fn connack(properties: Properties) -> ConnAck {
        ConnAck {
            session_present: false,
            reason_code: ReasonCode::Success,
            properties,
        }
    }

    fn terms() -> ClientTerms {
        ClientTerms {
            v311_window: 20,
            max_inflight: None,
            keep_alive: Duration::from_secs(60),
            receive_maximum: Some(10),
            topic_alias_maximum: Some(5),
        }
    }

    #[test]
    fn on_3_1_1_the_window_is_the_callers_and_our_keep_alive_stands() {
        let s = client_session(
            ProtocolVersion::V311,
            &connack(Properties::default()),
            &terms(),
        );
        assert_eq!(s.send_maximum, 20);
        assert_eq!(s.keep_alive, Some(Duration::from_secs(60)));
        // MQTT 3.1.1 has neither: the protocol's defaults stay.
        assert_eq!(s.receive_maximum, u16::MAX);
        assert_eq!(s.topic_alias_maximum, 0);
        let capped = ClientTerms {
            max_inflight: Some(5),
            v311_window: 1000,
            ..terms()
        };
        let s = client_session(
            ProtocolVersion::V311,
            &connack(Properties::default()),
            &capped,
        );
        assert_eq!(s.send_maximum, 5);
    }

    #[test]
    fn on_5_the_brokers_receive_maximum_and_keep_alive_rule() {
        let s = client_session(
            ProtocolVersion::V5,
            &connack(Properties::default()),
            &terms(),
        );
        assert_eq!(s.send_maximum, u16::MAX, "no Receive Maximum: 65,535");
        assert_eq!(s.receive_maximum, 10);
        assert_eq!(s.topic_alias_maximum, 5);
        let props = Properties {
            receive_maximum: Some(100),
            server_keep_alive: Some(7),
            ..Properties::default()
        };
        let s = client_session(ProtocolVersion::V5, &connack(props.clone()), &terms());
        assert_eq!(s.send_maximum, 100);
        assert_eq!(s.keep_alive, Some(Duration::from_secs(7)));
        let capped = ClientTerms {
            max_inflight: Some(30),
            ..terms()
        };
        let s = client_session(ProtocolVersion::V5, &connack(props), &capped);
        assert_eq!(s.send_maximum, 30);
    }

    #[test]
    fn a_keep_alive_of_zero_stays_off() {
        let off = ClientTerms {
            keep_alive: Duration::ZERO,
            ..terms()
        };
        let s = client_session(ProtocolVersion::V311, &connack(Properties::default()), &off);
        assert!(s.keep_alive.is_none_or(|d| d.is_zero()));
    }
}

//! What a simulated client sends to connect and what it keeps from the answer: its
//! CONNECT (clean session, no will) and the session a CONNACK gives. Must not do I/O
//! (`conn` opens the connection).

use std::time::{Duration, Instant};

use crate::net::handshake::connect_for;
use crate::protocol::session::{client_session, ClientTerms, Session};
use crate::protocol::{ConnAck, Connect, Properties, ProtocolVersion};

use crate::bench::config::BenchConfig;

/// The session of a connection that got `connack`, and its window.
pub(super) fn session(config: &BenchConfig, connack: &ConnAck, now: Instant) -> (Session, usize) {
    let terms = ClientTerms {
        // A 3.1.1 broker announces no Receive Maximum: mosquitto's default window of 20.
        v311_window: 20,
        max_inflight: config.inflight,
        keep_alive: Duration::from_secs(config.keep_alive_secs.into()),
        // Announced in CONNECT, not enforced: bench reports what the broker does rather
        // than drop a connection over it.
        receive_maximum: None,
        topic_alias_maximum: None,
    };
    let session_config = client_session(config.version, connack, &terms);
    let window = session_config.send_maximum as usize;
    (Session::new(session_config, now), window)
}

/// The CONNECT of a simulated client (and of the version probe) in `version`: clean
/// session, no will, the run's keep alive, credentials and Receive Maximum (MQTT 5).
pub fn connect_packet(
    config: &BenchConfig,
    version: ProtocolVersion,
    client_id: String,
) -> Connect {
    let connect = Connect {
        protocol_version: ProtocolVersion::V5,
        client_id,
        clean_start: true,
        keep_alive_secs: config.keep_alive_secs,
        username: config.username.clone(),
        password: config.password.clone().map(Into::into),
        will: None,
        properties: Properties {
            receive_maximum: config.receive_maximum,
            ..Properties::default()
        },
    };
    connect_for(&connect, version)
}

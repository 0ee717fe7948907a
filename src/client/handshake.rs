//! Opening a client connection: the stream (`net::dial`), the one CONNECT/CONNACK
//! exchange (`net::handshake`), and the fallback from MQTT 5 to 3.1.1 when the broker
//! refuses 5 and `-V` did not fix the version, with the refusal worded for the user.
//! Must not run the session.

use super::config::{observe, ConnectConfig, PacketDirection, Transport};
use super::error::{io_reason, ClientError};
use crate::net::handshake::{self, connect_for, next_version, HandshakeError, Refusal};
use crate::net::{dial, Connection};
use crate::protocol::codec::MAX_PACKET_SIZE;
use crate::protocol::{ConnAck, Connect, Packet, ProtocolVersion, ReasonCode};

/// A connection the broker accepted.
pub struct Established {
    /// The connection, in `version`.
    pub conn: Connection,
    /// The version in use.
    pub version: ProtocolVersion,
    /// The broker's CONNACK.
    pub connack: ConnAck,
    /// True when MQTT 5 was refused and 3.1.1 is used instead.
    pub fell_back: bool,
    /// The client id in use (assigned by the broker when ours was empty).
    pub client_id: String,
}

/// Connects once (and once more in 3.1.1 when MQTT 5 is refused and the version was
/// not fixed with -V).
pub async fn establish(
    config: &ConnectConfig,
    clean_start: bool,
) -> Result<Established, ClientError> {
    let mut version = config.version.unwrap_or(ProtocolVersion::V5);
    let mut fell_back = false;
    loop {
        match attempt(config, version, clean_start).await {
            Ok(mut done) => {
                done.fell_back = fell_back;
                return Ok(done);
            }
            Err(Attempt::VersionRefused(e)) => {
                match next_version(version, config.version.is_some()) {
                    Some(next) => (version, fell_back) = (next, true),
                    None => return Err(e),
                }
            }
            Err(Attempt::Failed(e)) => return Err(e),
        }
    }
}

enum Attempt {
    /// The broker does not speak this version: the error to report if there is no
    /// other version to try.
    VersionRefused(ClientError),
    Failed(ClientError),
}

async fn attempt(
    config: &ConnectConfig,
    version: ProtocolVersion,
    clean_start: bool,
) -> Result<Established, Attempt> {
    let max_packet_size = config
        .properties
        .maximum_packet_size
        .unwrap_or(MAX_PACKET_SIZE);
    let stream = dial::open(&target(config, max_packet_size))
        .await
        .map_err(|e| Attempt::Failed(ClientError::Dial(e)))?;
    let mut conn = Connection::new(stream, version);
    conn.set_max_packet_size(max_packet_size);
    let connect = connect_for(&connect_packet(config, clean_start), version);
    if config.observer.is_some() {
        let sent = Packet::Connect(connect.clone());
        observe(
            &config.observer,
            &config.client_id,
            PacketDirection::Sent,
            &sent,
        );
    }
    let connack = match handshake::handshake(&mut conn, connect, config.connect_timeout).await {
        Ok(connack) => connack,
        Err(e) => return Err(refused(config, version, e)),
    };
    observe_connack(config, &connack);
    let client_id = match (
        &connack.properties.assigned_client_identifier,
        config.client_id.is_empty(),
    ) {
        (Some(assigned), true) => assigned.clone(),
        _ => config.client_id.clone(),
    };
    Ok(Established {
        conn,
        version,
        connack,
        fell_back: false,
        client_id,
    })
}

/// Where `config` says to connect, and over what.
fn target(config: &ConnectConfig, max_packet_size: u32) -> dial::Target<'_> {
    let (tls, websocket) = match &config.transport {
        Transport::Tcp => (None, None),
        Transport::Tls(tls) => (Some(tls), None),
        Transport::Ws { path } => (None, Some(path.as_deref().unwrap_or(""))),
        Transport::Wss { tls, path } => (Some(tls), Some(path.as_deref().unwrap_or(""))),
    };
    dial::Target {
        host: &config.host,
        port: config.port,
        connect_timeout: config.connect_timeout,
        tls,
        websocket,
        max_packet_bytes: max_packet_size as usize,
        route: &config.route,
    }
}

/// A failed handshake as the user reads it, and whether 3.1.1 is worth a try.
fn refused(config: &ConnectConfig, version: ProtocolVersion, e: HandshakeError) -> Attempt {
    let address = config.address();
    let lost = |reason: String| ClientError::ConnectionLost {
        address: address.clone(),
        reason,
    };
    match e {
        HandshakeError::VersionRefused(refusal) => Attempt::VersionRefused(match refusal {
            Refusal::ConnAck(ack) => {
                observe_connack(config, &ack);
                refusal_error(version, ack.reason_code)
            }
            Refusal::V311ReturnCode => refusal_error(
                ProtocolVersion::V311,
                ReasonCode::UnsupportedProtocolVersion,
            ),
            Refusal::Closed => lost("the broker closed the connection".into()),
            Refusal::Reset(e) => lost(io_reason(&e)),
            Refusal::Undecodable(source) => ClientError::Protocol { address, source },
        }),
        HandshakeError::Refused(ack) => {
            observe_connack(config, &ack);
            Attempt::Failed(refusal_error(version, ack.reason_code))
        }
        HandshakeError::Closed => Attempt::Failed(lost(e.to_string())),
        HandshakeError::Io(e) => Attempt::Failed(lost(io_reason(&e))),
        HandshakeError::Protocol(source) => {
            Attempt::Failed(ClientError::Protocol { address, source })
        }
        HandshakeError::Tls(_) | HandshakeError::TimedOut(_) | HandshakeError::Unexpected(_) => {
            Attempt::Failed(ClientError::Connect {
                address,
                reason: e.to_string(),
            })
        }
    }
}

fn observe_connack(config: &ConnectConfig, connack: &ConnAck) {
    let packet = Packet::ConnAck(connack.clone());
    observe(
        &config.observer,
        &config.client_id,
        PacketDirection::Received,
        &packet,
    );
}

/// The CONNECT for `config`, written for MQTT 5 (`connect_for` adapts it to 3.1.1).
fn connect_packet(config: &ConnectConfig, clean_start: bool) -> Connect {
    Connect {
        protocol_version: ProtocolVersion::V5,
        client_id: config.client_id.clone(),
        clean_start,
        keep_alive_secs: u16::try_from(config.keep_alive.as_secs()).unwrap_or(u16::MAX),
        username: config.username.clone(),
        password: config.password.clone().map(Into::into),
        will: config.will.clone(),
        properties: config.properties.clone(),
    }
}

/// The refusal as users read it: MQTT 5 reason codes with their value, 3.1.1 return
/// codes with theirs.
fn refusal_error(version: ProtocolVersion, code: ReasonCode) -> ClientError {
    let reason = match version {
        ProtocolVersion::V5 => code.to_string(),
        ProtocolVersion::V311 => format!(
            "{} (return code {})",
            code.description(),
            code.to_v311_connack()
        ),
    };
    ClientError::Refused { reason, code }
}

//! Opening an MQTT connection: the stream, CONNECT, CONNACK, and the fallback from MQTT 5
//! to 3.1.1 when the broker refuses 5 (CONNACK 0x84 or 3.1.1 return code 1, or the
//! connection closed in answer, as mosquitto 1.x does; a TLS alert in answer is a TLS
//! failure, not a refusal). Must not run the session.

use std::time::Duration;

use super::config::{ConnectConfig, PacketDirection};
use super::connection::{observe, split, Reader, Writer, MAX_PACKET_SIZE};
use super::error::ClientError;
use super::transport;
use crate::protocol::{ConnAck, Connect, Packet, ProtocolVersion, ReasonCode};

/// A connection the broker accepted.
pub struct Established {
    /// Reads packets.
    pub reader: Reader,
    /// Writes packets.
    pub writer: Writer,
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
    match config.version {
        Some(version) => attempt(config, version, clean_start)
            .await
            .map_err(Attempt::into_error),
        None => match attempt(config, ProtocolVersion::V5, clean_start).await {
            Ok(done) => Ok(done),
            Err(Attempt::VersionRefused(_)) => {
                let mut done = attempt(config, ProtocolVersion::V311, clean_start)
                    .await
                    .map_err(Attempt::into_error)?;
                done.fell_back = true;
                Ok(done)
            }
            Err(other) => Err(other.into_error()),
        },
    }
}

enum Attempt {
    /// The broker does not speak this version: the error to report if there is no
    /// other version to try.
    VersionRefused(ClientError),
    Failed(ClientError),
}

impl Attempt {
    fn into_error(self) -> ClientError {
        match self {
            Attempt::VersionRefused(e) | Attempt::Failed(e) => e,
        }
    }
}

async fn attempt(
    config: &ConnectConfig,
    version: ProtocolVersion,
    clean_start: bool,
) -> Result<Established, Attempt> {
    let address = config.address();
    let stream = transport::open(config).await.map_err(Attempt::Failed)?;
    let max_packet_size = config
        .properties
        .maximum_packet_size
        .unwrap_or(MAX_PACKET_SIZE);
    let (mut reader, mut writer) = split(stream, version, max_packet_size, &address);
    let connect = Packet::Connect(connect_packet(config, version, clean_start));
    observe(
        &config.observer,
        &config.client_id,
        PacketDirection::Sent,
        &connect,
    );
    writer.queue(&connect).map_err(Attempt::Failed)?;
    let deadline = config.connect_timeout;
    let exchange = async {
        writer.flush().await?;
        loop {
            // Checked on the raw bytes: decoding them as MQTT 5 would consume them.
            if version == ProtocolVersion::V5 && is_v311_refusal(reader.pending()) {
                return Err(ClientError::Refused {
                    reason: refusal(
                        ProtocolVersion::V311,
                        ReasonCode::UnsupportedProtocolVersion,
                    ),
                    code: ReasonCode::UnsupportedProtocolVersion,
                });
            }
            if let Some(packet) = reader.buffered_packet()? {
                return Ok(packet);
            }
            reader.fill().await?;
        }
    };
    let answer = match tokio::time::timeout(deadline, exchange).await {
        Ok(answer) => answer,
        Err(_) => {
            return Err(Attempt::Failed(ClientError::Connect {
                address,
                reason: format!("no CONNACK within {}", secs(deadline)),
            }))
        }
    };
    let connack = match answer {
        Ok(Packet::ConnAck(connack)) => connack,
        Ok(other) => {
            return Err(Attempt::Failed(ClientError::Connect {
                address,
                reason: format!(
                    "the broker answered CONNECT with {} instead of CONNACK",
                    other.name()
                ),
            }))
        }
        // A 3.1.1-only broker answers a version-5 CONNECT with a 3.1.1 CONNACK (return
        // code 1), which is not a valid MQTT 5 CONNACK, or just closes the connection.
        // Not a TLS alert in its place (`ClientError::Tls`): under TLS 1.3 that is how a
        // broker refuses our certificate, whatever the version.
        Err(err @ (ClientError::Refused { .. } | ClientError::ConnectionLost { .. }))
            if version == ProtocolVersion::V5 =>
        {
            return Err(Attempt::VersionRefused(err));
        }
        Err(ClientError::Tls { address, reason }) => {
            return Err(Attempt::Failed(ClientError::Connect { address, reason }))
        }
        Err(err) => return Err(Attempt::Failed(err)),
    };
    observe(
        &config.observer,
        &config.client_id,
        PacketDirection::Received,
        &Packet::ConnAck(connack.clone()),
    );
    if !connack.reason_code.is_success() {
        let refused = ClientError::Refused {
            reason: refusal(version, connack.reason_code),
            code: connack.reason_code,
        };
        if connack.reason_code == ReasonCode::UnsupportedProtocolVersion
            && version == ProtocolVersion::V5
        {
            return Err(Attempt::VersionRefused(refused));
        }
        return Err(Attempt::Failed(refused));
    }
    let client_id = match (
        &connack.properties.assigned_client_identifier,
        config.client_id.is_empty(),
    ) {
        (Some(assigned), true) => assigned.clone(),
        _ => config.client_id.clone(),
    };
    reader.set_version(version);
    Ok(Established {
        reader,
        writer,
        version,
        connack,
        fell_back: false,
        client_id,
    })
}

/// The CONNECT for `config` in `version` (properties and will properties only on 5).
pub fn connect_packet(
    config: &ConnectConfig,
    version: ProtocolVersion,
    clean_start: bool,
) -> Connect {
    let v5 = version == ProtocolVersion::V5;
    let mut will = config.will.clone();
    if let (Some(will), false) = (&mut will, v5) {
        will.properties = Default::default();
    }
    Connect {
        protocol_version: version,
        client_id: config.client_id.clone(),
        clean_start,
        keep_alive_secs: u16::try_from(config.keep_alive.as_secs()).unwrap_or(u16::MAX),
        username: config.username.clone(),
        password: config.password.clone().map(Into::into),
        will,
        properties: if v5 {
            config.properties.clone()
        } else {
            Default::default()
        },
    }
}

/// `20 02 00 01`: a 3.1.1 CONNACK with return code 1.
fn is_v311_refusal(raw: &[u8]) -> bool {
    raw.len() >= 4 && raw[0] == 0x20 && raw[1] == 0x02 && raw[3] == 0x01
}

/// The refusal as users read it: MQTT 5 reason codes with their value, 3.1.1 return
/// codes with theirs.
fn refusal(version: ProtocolVersion, code: ReasonCode) -> String {
    match version {
        ProtocolVersion::V5 => code.to_string(),
        ProtocolVersion::V311 => format!(
            "{} (return code {})",
            code.description(),
            code.to_v311_connack()
        ),
    }
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

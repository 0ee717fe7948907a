//! The one CONNECT/CONNACK exchange of the client and bench: the CONNECT for the version
//! tried (`connect_for`), `handshake`, with the one rule for "this broker does not speak
//! MQTT 5" (`Refusal`), and the one decision to try 3.1.1 next (`next_version`).
//! Must not dial (`net::dial`), retry, or run the session.
//!
//! A 3.1.1-only broker says no to a version-5 CONNECT in one of these ways (MQTT 3.1.1
//! §3.1.2.2: it "MAY" answer return code 1, then MUST close): a 3.1.1 CONNACK with
//! return code 1 (`20 02 00 01`, which does not decode as MQTT 5), CONNACK 0x84
//! (MQTT 5.0 §3.2.2.2, from a broker speaking 5 but not taking it here), closing the
//! connection, resetting it (it closed before reading the whole CONNECT), or another
//! answer that does not decode. A TLS failure in place of the CONNACK is never one: under
//! TLS 1.3 a broker checks our certificate after our side of the handshake is done, so
//! its refusal comes as an alert where the CONNACK was expected, whatever the version.

use std::io;
use std::time::Duration;

use super::connection::Connection;
use super::tls::session_failure;
use crate::protocol::{ConnAck, Connect, Packet, ProtocolError, ProtocolVersion, ReasonCode};

/// How a broker refused the MQTT version tried.
#[derive(Debug)]
pub enum Refusal {
    /// An MQTT 5 CONNACK 0x84 (Unsupported Protocol Version).
    ConnAck(Box<ConnAck>),
    /// A 3.1.1 CONNACK with return code 1 (unacceptable protocol version).
    V311ReturnCode,
    /// The connection closed instead of a CONNACK.
    Closed,
    /// The connection was reset (or broke) instead of a CONNACK.
    Reset(io::Error),
    /// An answer that is not an MQTT 5 packet.
    Undecodable(ProtocolError),
}

/// Why a CONNECT did not open a session.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The broker does not speak the version tried (only ever for MQTT 5).
    #[error("the broker does not speak MQTT 5")]
    VersionRefused(Refusal),
    /// A CONNACK with a failure reason code.
    #[error("the broker refused the connection: {}", .0.reason_code)]
    Refused(Box<ConnAck>),
    /// The TLS session failed where the CONNACK was expected: the text says why and
    /// which flag may fix it.
    #[error("{0}")]
    Tls(String),
    /// No CONNACK within the timeout.
    #[error("no CONNACK within {} s", .0.as_secs_f64())]
    TimedOut(Duration),
    /// Another packet came first.
    #[error("the broker answered CONNECT with {0} instead of CONNACK")]
    Unexpected(&'static str),
    /// The connection closed before the CONNACK (MQTT 3.1.1 tried).
    #[error("the broker closed the connection")]
    Closed,
    /// The CONNECT cannot be encoded, or the answer cannot be decoded (3.1.1 tried).
    #[error(transparent)]
    Protocol(ProtocolError),
    /// Writing or reading failed (3.1.1 tried, or not a way of refusing).
    #[error(transparent)]
    Io(io::Error),
}

/// The CONNECT `connect` (written for MQTT 5) in `version`: on 3.1.1 without
/// properties, and without will properties (neither exists in 3.1.1).
pub fn connect_for(connect: &Connect, version: ProtocolVersion) -> Connect {
    let mut connect = connect.clone();
    connect.protocol_version = version;
    if version == ProtocolVersion::V311 {
        connect.properties = Default::default();
        if let Some(will) = &mut connect.will {
            will.properties = Default::default();
        }
    }
    connect
}

/// The version to try after `tried` was refused: 3.1.1 after 5, unless `-V` fixed the
/// version; `None`: give up.
pub fn next_version(tried: ProtocolVersion, fixed: bool) -> Option<ProtocolVersion> {
    (tried == ProtocolVersion::V5 && !fixed).then_some(ProtocolVersion::V311)
}

/// Sends `connect` over `conn` (in `connect`'s version, which becomes `conn`'s) and
/// waits at most `timeout` for a successful CONNACK.
pub async fn handshake(
    conn: &mut Connection,
    connect: Connect,
    timeout: Duration,
) -> Result<ConnAck, HandshakeError> {
    let version = connect.protocol_version;
    conn.set_version(version);
    conn.queue(&Packet::Connect(connect))
        .map_err(HandshakeError::Protocol)?;
    let answer = match tokio::time::timeout(timeout, exchange(conn)).await {
        Ok(answer) => answer,
        Err(_) => return Err(HandshakeError::TimedOut(timeout)),
    };
    judge(version, answer)
}

/// What the broker answered: a packet, the raw 3.1.1 refusal, the end of the stream, or
/// an error.
// One per handshake, moved once: boxing the packet would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Answer {
    Packet(Packet),
    V311Refusal,
    Closed,
    Undecodable(ProtocolError),
    Io(io::Error),
}

async fn exchange(conn: &mut Connection) -> Answer {
    if let Err(e) = conn.flush().await {
        return Answer::Io(e);
    }
    loop {
        // Checked on the raw bytes: decoding them as MQTT 5 would consume them.
        if conn.version() == ProtocolVersion::V5 && is_v311_refusal(&conn.rbuf) {
            return Answer::V311Refusal;
        }
        match conn.decode() {
            Ok(Some(packet)) => return Answer::Packet(packet),
            Ok(None) => {}
            Err(e) => return Answer::Undecodable(e),
        }
        match conn.fill().await {
            Ok(0) => return Answer::Closed,
            Ok(_) => {}
            Err(e) => return Answer::Io(e),
        }
    }
}

/// The one rule: which answers are a refusal of the version, which a TLS failure, which
/// a CONNACK.
fn judge(version: ProtocolVersion, answer: Answer) -> Result<ConnAck, HandshakeError> {
    let v5 = version == ProtocolVersion::V5;
    let refused = |refusal| Err(HandshakeError::VersionRefused(refusal));
    match answer {
        Answer::Io(e) => match session_failure(&e) {
            Some(why) => Err(HandshakeError::Tls(why)),
            None if v5 && is_hang_up(&e) => refused(Refusal::Reset(e)),
            None => Err(HandshakeError::Io(e)),
        },
        Answer::Packet(Packet::ConnAck(ack)) if ack.reason_code.is_success() => Ok(ack),
        Answer::Packet(Packet::ConnAck(ack))
            if v5 && ack.reason_code == ReasonCode::UnsupportedProtocolVersion =>
        {
            refused(Refusal::ConnAck(Box::new(ack)))
        }
        Answer::Packet(Packet::ConnAck(ack)) => Err(HandshakeError::Refused(Box::new(ack))),
        Answer::Packet(other) => Err(HandshakeError::Unexpected(other.name())),
        Answer::V311Refusal => refused(Refusal::V311ReturnCode),
        Answer::Closed if v5 => refused(Refusal::Closed),
        Answer::Closed => Err(HandshakeError::Closed),
        Answer::Undecodable(e) if v5 => refused(Refusal::Undecodable(e)),
        Answer::Undecodable(e) => Err(HandshakeError::Protocol(e)),
    }
}

/// A broker hanging up: reset (it closed before reading the whole CONNECT), aborted, or
/// the pipe broken under our CONNECT.
fn is_hang_up(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// `20 02 xx 01`: a 3.1.1 CONNACK with return code 1.
fn is_v311_refusal(raw: &[u8]) -> bool {
    raw.len() >= 4 && raw[0] == 0x20 && raw[1] == 0x02 && raw[3] == 0x01
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;

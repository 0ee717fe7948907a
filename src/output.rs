//! The only writer to stdout and stderr: stdout lines and bytes (flushed, so pipes see
//! each message at once), `mqtk: …` errors, warnings and notes, and `--debug` packet
//! lines. Subcommand formats (sub's -F/--json, bench's tables, progress) live here or in
//! `output/…` too. Must not decide exit codes (that is `main`) or swallow write errors
//! on stdout: a closed pipe is returned as an error so `main` can exit 0 quietly.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Display;
use std::io::{self, Write};

pub mod ieee754;
pub mod live;
pub mod message;
pub mod pretty;
pub mod progress;

use crate::protocol::{Packet, QoS};

/// Writes `line` and a newline to stdout and flushes.
pub fn stdout_line(line: impl AsRef<[u8]>) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(line.as_ref())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Writes `bytes` as they are to stdout and flushes.
pub fn stdout_bytes(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// Writes one line on stderr. A stderr nobody reads any more (`2>&1 | head`) is not
/// worth dying for: unlike `eprintln!`, which panics on EPIPE (exit 101, or a dead
/// broker connection task under `serve -v`), the line is dropped.
fn stderr_line(line: std::fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(line).and_then(|()| err.write_all(b"\n"));
}

/// Prints `mqtk: ERROR: CONTEXT: …: CAUSE` on stderr (the whole context chain).
pub fn error(err: &anyhow::Error) {
    stderr_line(format_args!("mqtk: {err:#}"));
}

/// Prints `mqtk: MESSAGE` on stderr.
pub fn error_message(message: impl Display) {
    stderr_line(format_args!("mqtk: {message}"));
}

/// Prints `mqtk: warning: MESSAGE` on stderr.
pub fn warning(message: impl Display) {
    stderr_line(format_args!("mqtk: warning: {message}"));
}

/// Prints `mqtk: MESSAGE` on stderr: something worth knowing that is not a problem
/// (a reconnect, a fallback to MQTT 3.1.1).
pub fn note(message: impl Display) {
    stderr_line(format_args!("mqtk: {message}"));
}

/// Prints one log line on stderr as it is (`serve -v`).
pub fn log_line(line: impl Display) {
    stderr_line(format_args!("{line}"));
}

/// True when `err` or one of its causes is a broken pipe (the reader of stdout went
/// away, e.g. `| head -1`): `main` then exits 0 without a message, as ripgrep does.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Which way a packet went, for `--debug` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Written to the peer.
    Sent,
    /// Read from the peer.
    Received,
}

/// Prints the `--debug` line of one packet on stderr, in mosquitto's shape:
/// `Client ID sending PUBLISH (d0, q1, r0, m1, 'a/b', ... (5 bytes))`.
pub fn debug_packet(client_id: &str, direction: Direction, packet: &Packet) {
    stderr_line(format_args!("{}", debug_line(client_id, direction, packet)));
}

/// The text of a `--debug` line (see [`debug_packet`]).
pub fn debug_line(client_id: &str, direction: Direction, packet: &Packet) -> String {
    let verb = match direction {
        Direction::Sent => "sending",
        Direction::Received => "received",
    };
    format!("Client {client_id} {verb} {}", packet_summary(packet))
}

fn qos_digit(qos: QoS) -> u8 {
    qos as u8
}

/// A one-line summary of a packet: its name and the fields worth seeing.
pub fn packet_summary(packet: &Packet) -> String {
    match packet {
        Packet::Connect(c) => format!(
            "CONNECT (v{}, c{}, k{}, id '{}'{}{})",
            c.protocol_version.level(),
            u8::from(c.clean_start),
            c.keep_alive_secs,
            c.client_id,
            c.username
                .as_ref()
                .map(|u| format!(", u'{u}'"))
                .unwrap_or_default(),
            c.will
                .as_ref()
                .map(|w| format!(
                    ", will '{}' q{} r{}",
                    w.topic,
                    qos_digit(w.qos),
                    u8::from(w.retain)
                ))
                .unwrap_or_default(),
        ),
        Packet::ConnAck(a) => {
            format!(
                "CONNACK (s{}, {:?})",
                u8::from(a.session_present),
                a.reason_code
            )
        }
        Packet::Publish(p) => format!(
            "PUBLISH (d{}, q{}, r{}, m{}, '{}', ... ({} bytes))",
            u8::from(p.dup),
            qos_digit(p.qos),
            u8::from(p.retain),
            p.packet_id,
            p.topic,
            p.payload.len()
        ),
        Packet::PubAck(r) => format!("PUBACK (m{}, {:?})", r.packet_id, r.reason_code),
        Packet::PubRec(r) => format!("PUBREC (m{}, {:?})", r.packet_id, r.reason_code),
        Packet::PubRel(r) => format!("PUBREL (m{}, {:?})", r.packet_id, r.reason_code),
        Packet::PubComp(r) => format!("PUBCOMP (m{}, {:?})", r.packet_id, r.reason_code),
        Packet::Subscribe(s) => {
            let filters: Vec<String> = s
                .subscriptions
                .iter()
                .map(|f| format!("'{}' q{}", f.filter, qos_digit(f.qos)))
                .collect();
            format!("SUBSCRIBE (m{}, {})", s.packet_id, filters.join(", "))
        }
        Packet::SubAck(s) => format!("SUBACK (m{}, {:?})", s.packet_id, s.reason_codes),
        Packet::Unsubscribe(u) => format!("UNSUBSCRIBE (m{}, {:?})", u.packet_id, u.filters),
        Packet::UnsubAck(u) => format!("UNSUBACK (m{}, {:?})", u.packet_id, u.reason_codes),
        Packet::PingReq => "PINGREQ".to_string(),
        Packet::PingResp => "PINGRESP".to_string(),
        Packet::Disconnect(d) => format!("DISCONNECT ({:?})", d.reason_code),
        Packet::Auth(a) => format!("AUTH ({:?})", a.reason_code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Properties, Publish};

    #[test]
    fn debug_line_of_a_publish_looks_like_mosquitto() {
        let packet = Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: true,
            topic: "a/b".into(),
            packet_id: 7,
            properties: Properties::default(),
            payload: bytes::Bytes::from_static(b"hello"),
        });
        assert_eq!(
            debug_line("c1", Direction::Sent, &packet),
            "Client c1 sending PUBLISH (d0, q1, r1, m7, 'a/b', ... (5 bytes))"
        );
    }

    #[test]
    fn broken_pipe_is_found_under_context() {
        let err =
            anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}

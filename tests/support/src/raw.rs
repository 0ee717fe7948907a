//! `Raw`, a TCP client that writes hand-made bytes and checks the exact bytes the
//! broker answers (mini-redis style), and the builders and parsers of those bytes
//! (CONNECT, SUBSCRIBE, PUBLISH, MQTT 5 properties). Every read has a timeout. Must not
//! use mqtk's own codec: these bytes are the independent check of it.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::peers::T;

/// A raw MQTT client: bytes in, bytes out.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    /// Connects to 127.0.0.1:`port`.
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to mqtk serve");
        stream
            .set_read_timeout(Some(T))
            .expect("set a read timeout");
        Raw { stream }
    }

    /// Connects and completes an MQTT 3.1.1 CONNECT (clean session) / CONNACK.
    pub fn v311(port: u16, client_id: &str, keep_alive: u16) -> Raw {
        let mut raw = Raw::connect(port);
        raw.send(&connect_v311(client_id, true, keep_alive));
        raw.expect(&[0x20, 0x02, 0x00, 0x00]);
        raw
    }

    /// Connects and completes an MQTT 5 CONNECT (clean start, no properties); returns
    /// the client and the CONNACK's bytes.
    pub fn v5(port: u16, client_id: &str, keep_alive: u16) -> (Raw, Vec<u8>) {
        let mut raw = Raw::connect(port);
        raw.send(&connect_v5(client_id, 0x02, keep_alive, &[]));
        let connack = raw.read_packet();
        assert_eq!(
            &connack[..4],
            &[0x20, connack[1], 0x00, 0x00],
            "CONNACK success: {connack:02X?}"
        );
        (raw, connack)
    }

    /// Writes `bytes`.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to mqtk serve");
    }

    /// Reads exactly `expected.len()` bytes and compares them.
    pub fn expect(&mut self, expected: &[u8]) {
        let mut got = vec![0u8; expected.len()];
        self.stream
            .read_exact(&mut got)
            .unwrap_or_else(|e| panic!("reading {expected:02X?}: {e}"));
        assert_eq!(got, expected, "expected {expected:02X?}, got {got:02X?}");
    }

    /// Reads one whole packet (fixed header included).
    pub fn read_packet(&mut self) -> Vec<u8> {
        let mut packet = vec![0u8; 1];
        self.stream
            .read_exact(&mut packet)
            .expect("read a packet type");
        let mut len: usize = 0;
        let mut shift = 0;
        loop {
            let mut b = [0u8; 1];
            self.stream
                .read_exact(&mut b)
                .expect("read a remaining length");
            packet.push(b[0]);
            len |= usize::from(b[0] & 0x7F) << shift;
            shift += 7;
            if b[0] & 0x80 == 0 {
                break;
            }
        }
        let start = packet.len();
        packet.resize(start + len, 0);
        self.stream
            .read_exact(&mut packet[start..])
            .expect("read a packet body");
        packet
    }

    /// Waits until the broker closes the connection; returns how long it took and the
    /// bytes it sent before closing. Panics if it stays open past `timeout`.
    pub fn expect_closed(&mut self, timeout: Duration) -> (Duration, Vec<u8>) {
        let start = Instant::now();
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("set a read timeout");
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return (start.elapsed(), got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                    ) =>
                {
                    return (start.elapsed(), got)
                }
                Err(e) => panic!("connection still open after {timeout:?} ({e}); got {got:02X?}"),
            }
        }
    }
}

/// Appends an MQTT string (two-byte length, bytes).
pub fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// Wraps a body in a fixed header with a one- or two-byte remaining length.
pub fn frame(first_byte: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first_byte];
    let mut len = body.len();
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// An MQTT 3.1.1 CONNECT with no will and no credentials.
pub fn connect_v311(client_id: &str, clean: bool, keep_alive: u16) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, b"MQTT");
    body.push(4);
    body.push(if clean { 0x02 } else { 0x00 });
    body.extend_from_slice(&keep_alive.to_be_bytes());
    put_str(&mut body, client_id.as_bytes());
    frame(0x10, &body)
}

/// An MQTT 5 CONNECT with connect `flags`, the given (already encoded) properties and
/// no will or credentials.
pub fn connect_v5(client_id: &str, flags: u8, keep_alive: u16, properties: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, b"MQTT");
    body.push(5);
    body.push(flags);
    body.extend_from_slice(&keep_alive.to_be_bytes());
    body.push(properties.len() as u8);
    body.extend_from_slice(properties);
    put_str(&mut body, client_id.as_bytes());
    frame(0x10, &body)
}

/// A 3.1.1 / 5 (no properties) SUBSCRIBE of one filter.
pub fn subscribe(packet_id: u16, filter: &str, options: u8, v5: bool) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    if v5 {
        body.push(0);
    }
    put_str(&mut body, filter.as_bytes());
    body.push(options);
    frame(0x82, &body)
}

/// A PUBLISH (no properties on 5).
pub fn publish_packet(topic: &str, qos: u8, packet_id: u16, payload: &[u8], v5: bool) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, topic.as_bytes());
    if qos > 0 {
        body.extend_from_slice(&packet_id.to_be_bytes());
    }
    if v5 {
        body.push(0);
    }
    body.extend_from_slice(payload);
    frame(0x30 | (qos << 1), &body)
}

/// One MQTT 5 property value as tests compare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prop {
    /// Byte, two-byte, four-byte or variable byte integer.
    Num(u64),
    /// UTF-8 string or binary data (lossy).
    Str(String),
    /// User property.
    Pair(String, String),
}

/// Parses a property block (without its length) into (identifier, value) pairs.
pub fn parse_props(mut bytes: &[u8]) -> Vec<(u8, Prop)> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> &'a [u8] {
        let (head, tail) = b.split_at(n);
        *b = tail;
        head
    }
    fn string(b: &mut &[u8]) -> String {
        let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
        take(b, 2);
        String::from_utf8_lossy(take(b, len)).into_owned()
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let id = take(&mut bytes, 1)[0];
        let value = match id {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => {
                Prop::Num(take(&mut bytes, 1)[0].into())
            }
            0x13 | 0x21 | 0x22 | 0x23 => {
                let b = take(&mut bytes, 2);
                Prop::Num(u16::from_be_bytes([b[0], b[1]]).into())
            }
            0x02 | 0x11 | 0x18 | 0x27 => {
                let b = take(&mut bytes, 4);
                Prop::Num(u32::from_be_bytes([b[0], b[1], b[2], b[3]]).into())
            }
            0x0B => {
                let (mut v, mut shift) = (0u64, 0);
                loop {
                    let b = take(&mut bytes, 1)[0];
                    v |= u64::from(b & 0x7F) << shift;
                    shift += 7;
                    if b & 0x80 == 0 {
                        break;
                    }
                }
                Prop::Num(v)
            }
            0x26 => {
                let k = string(&mut bytes);
                Prop::Pair(k, string(&mut bytes))
            }
            _ => Prop::Str(string(&mut bytes)),
        };
        out.push((id, value));
    }
    out
}

/// The properties of a CONNACK packet (as `read_packet` returns it; one-byte lengths).
pub fn connack_props(connack: &[u8]) -> Vec<(u8, Prop)> {
    let len = usize::from(connack[4]);
    parse_props(&connack[5..5 + len])
}

/// A received MQTT 5 PUBLISH split up: (first byte, topic, packet id, properties, payload).
pub fn parse_publish_v5(packet: &[u8]) -> (u8, String, u16, Vec<(u8, Prop)>, Vec<u8>) {
    let mut i = 1;
    while packet[i] & 0x80 != 0 {
        i += 1;
    }
    i += 1;
    let tlen = usize::from(u16::from_be_bytes([packet[i], packet[i + 1]]));
    let topic = String::from_utf8_lossy(&packet[i + 2..i + 2 + tlen]).into_owned();
    i += 2 + tlen;
    let mut packet_id = 0;
    if (packet[0] >> 1) & 0x03 > 0 {
        packet_id = u16::from_be_bytes([packet[i], packet[i + 1]]);
        i += 2;
    }
    let plen = usize::from(packet[i]);
    assert!(
        plen < 128,
        "test helper handles one-byte property lengths only"
    );
    let props = parse_props(&packet[i + 1..i + 1 + plen]);
    (
        packet[0],
        topic,
        packet_id,
        props,
        packet[i + 1 + plen..].to_vec(),
    )
}

//! The byte stream and MQTT framing for everyone (client, bench, broker), and the one
//! CONNECT/CONNACK handshake. Dependencies run one way: `handshake` → `connection` →
//! `stream`, `handshake` → `tls`; `dial` → `tls`, `ws`, `stream`; all of them only on
//! `protocol` below. Must not run QoS flows or sessions
//! (`protocol::session`), reconnect (`client`) or know the broker's state.
//!
//! - `stream`: [`Stream`], TCP inline, TLS (either side) and WebSocket boxed; writes
//!   without waiting, a cancel-safe poll of read and write at once.
//! - `connection`: [`Connection`], a `Stream` with its read and write buffers: packets
//!   in and out, read sizes that grow with what arrives.
//! - `handshake`: the CONNECT for the version tried, CONNECT → CONNACK, the one
//!   version-refused rule and the one decision to fall back to 3.1.1.
//! - `dial`: DNS, TCP (or a Unix socket, or a SOCKS5 tunnel), TLS and WebSocket to a
//!   broker.
//! - `socks`: the `--proxy` URL and the SOCKS5 CONNECT handshake (RFC 1928/1929).
//! - `tls`: PEM files, rustls configs, the client's TLS options and handshake, telling a
//!   failed TLS session from a closed connection.
//! - `ws`: MQTT over WebSocket as a byte stream, both roles.

pub mod connection;
pub mod dial;
pub mod handshake;
pub mod socks;
pub mod stream;
pub mod tls;
pub mod ws;

pub use connection::Connection;
pub use handshake::{handshake, HandshakeError, Refusal};
pub use stream::{IoEvent, Stream, Transport};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_stream_is_the_size_of_a_tcp_stream() {
        // Tens of thousands of connections: TLS and WebSocket must not grow the plain
        // ones.
        let tcp = std::mem::size_of::<tokio::net::TcpStream>();
        let stream = std::mem::size_of::<Stream>();
        assert_eq!(stream, tcp, "Stream {stream} bytes, TcpStream {tcp}");
    }
}

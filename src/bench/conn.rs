//! One bench connection, kept lean for tens of thousands of them: a TCP stream bound to a
//! chosen local address, a small read buffer that grows only when needed, one write
//! buffer, and the CONNECT/CONNACK handshake. Packets are `protocol::Packet`.
//!
//! Bench does not use `client::` for this: the client core keeps two 64 KB buffers and a
//! boxed, lock-split stream per connection (1.3 GB for 10,000 clients) and reconnects on
//! its own, which a load generator must not do. Must not run QoS flows
//! (`protocol::session` does) or keep statistics.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::protocol::{Connect, Packet, Properties, ProtocolError, ProtocolVersion, ReasonCode};

/// Largest packet accepted from the broker.
pub const MAX_PACKET_SIZE: u32 = 268_435_460;

/// Read buffer to start with; most bench packets are small.
const READ_CHUNK: usize = 4 * 1024;

/// Why a client could not connect: the kind is the key in the report's `errors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// TCP connection refused.
    Refused,
    /// No CONNACK within the connect timeout.
    TimedOut,
    /// No local port or address left (EADDRNOTAVAIL): use more --bind-addresses.
    NoLocalPort,
    /// Out of file descriptors (EMFILE, ENFILE): the open-file limit is too low for
    /// this many clients (bench warns before the run when it is).
    NoFileDescriptor,
    /// The CONNACK carried a failure reason code.
    ConnAckRefused(String),
    /// An MQTT 5 CONNECT was refused as an unknown version: CONNACK 0x84, a 3.1.1
    /// CONNACK (which does not decode as 5), or the connection closed or reset in
    /// answer, as 3.1.1-only brokers do (MQTT 3.1.1 §3.1.2.2; a broker that closes
    /// before reading the whole CONNECT resets the connection).
    VersionRefused,
    /// Any other I/O or protocol problem.
    Other(String),
}

impl ConnectFailure {
    /// The error kind in the report.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectFailure::Refused => "connect_refused",
            ConnectFailure::TimedOut => "connect_timed_out",
            ConnectFailure::NoLocalPort => "connect_no_local_port",
            ConnectFailure::NoFileDescriptor => "connect_too_many_open_files",
            ConnectFailure::ConnAckRefused(_) => "connack_refused",
            ConnectFailure::VersionRefused => "connect_version_refused",
            ConnectFailure::Other(_) => "connect_error",
        }
    }
}

/// An open MQTT connection.
pub struct Conn {
    /// The stream.
    pub stream: TcpStream,
    /// Bytes read and not yet decoded.
    pub rbuf: BytesMut,
    /// Encoded packets not yet written.
    pub wbuf: BytesMut,
    /// The version in use.
    pub version: ProtocolVersion,
}

impl Conn {
    /// Connects to `addr` from `bind` (any local address when `None`), sends `connect`
    /// and waits for a successful CONNACK, all within `timeout`. Returns the connection
    /// and the CONNACK's properties.
    pub async fn open(
        addr: SocketAddr,
        bind: Option<IpAddr>,
        connect: Connect,
        timeout: Duration,
    ) -> Result<(Conn, Properties), ConnectFailure> {
        match tokio::time::timeout(timeout, Conn::open_inner(addr, bind, connect)).await {
            Ok(result) => result,
            Err(_) => Err(ConnectFailure::TimedOut),
        }
    }

    async fn open_inner(
        addr: SocketAddr,
        bind: Option<IpAddr>,
        connect: Connect,
    ) -> Result<(Conn, Properties), ConnectFailure> {
        let io = |e: std::io::Error| match e.raw_os_error() {
            Some(libc::ECONNREFUSED) => ConnectFailure::Refused,
            Some(libc::EADDRNOTAVAIL) | Some(libc::EADDRINUSE) => ConnectFailure::NoLocalPort,
            Some(libc::EMFILE) | Some(libc::ENFILE) => ConnectFailure::NoFileDescriptor,
            _ => ConnectFailure::Other(e.to_string()),
        };
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(io)?;
        if let Some(ip) = bind {
            socket.bind(SocketAddr::new(ip, 0)).map_err(io)?;
        }
        let stream = socket.connect(addr).await.map_err(io)?;
        // Latency is what is measured: do not let Nagle hold small packets back.
        stream.set_nodelay(true).map_err(io)?;
        let version = connect.protocol_version;
        let mut conn = Conn {
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::new(),
            version,
        };
        conn.queue(&Packet::Connect(connect))
            .map_err(|e| ConnectFailure::Other(e.to_string()))?;
        conn.flush().await.map_err(io)?;
        let v5 = version == ProtocolVersion::V5;
        match conn.read_packet().await {
            Ok(Some(Packet::ConnAck(ack))) if ack.reason_code.is_success() => {
                Ok((conn, ack.properties))
            }
            Ok(Some(Packet::ConnAck(ack)))
                if v5 && ack.reason_code == ReasonCode::UnsupportedProtocolVersion =>
            {
                Err(ConnectFailure::VersionRefused)
            }
            Ok(None) if v5 => Err(ConnectFailure::VersionRefused),
            Err(e)
                if v5
                    && matches!(
                        e.kind(),
                        std::io::ErrorKind::InvalidData | std::io::ErrorKind::ConnectionReset
                    ) =>
            {
                Err(ConnectFailure::VersionRefused)
            }
            Ok(Some(Packet::ConnAck(ack))) => Err(ConnectFailure::ConnAckRefused(format!(
                "{:?}",
                ack.reason_code
            ))),
            Ok(Some(other)) => Err(ConnectFailure::Other(format!(
                "expected CONNACK, got {other:?}"
            ))),
            Ok(None) => Err(ConnectFailure::Other(
                "connection closed before CONNACK".into(),
            )),
            Err(e) => Err(ConnectFailure::Other(e.to_string())),
        }
    }

    /// Encodes `packet` onto the write buffer.
    pub fn queue(&mut self, packet: &Packet) -> Result<(), ProtocolError> {
        packet.encode(self.version, &mut self.wbuf)
    }

    /// Writes the whole write buffer.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        self.stream.write_all_buf(&mut self.wbuf).await
    }

    /// Writes what the socket takes now without waiting; the rest stays buffered.
    pub fn try_flush(&mut self) -> std::io::Result<()> {
        while !self.wbuf.is_empty() {
            match self.stream.try_write(&self.wbuf) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes::Buf::advance(&mut self.wbuf, n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next packet already in the read buffer.
    pub fn decode(&mut self) -> Result<Option<Packet>, ProtocolError> {
        Packet::decode(&mut self.rbuf, self.version, MAX_PACKET_SIZE)
    }

    /// Reads until one packet is complete; `Ok(None)` when the broker closed.
    pub async fn read_packet(&mut self) -> std::io::Result<Option<Packet>> {
        loop {
            match self.decode() {
                Ok(Some(packet)) => return Ok(Some(packet)),
                Ok(None) => {}
                Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            }
            self.rbuf.reserve(READ_CHUNK);
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Ok(None);
            }
        }
    }
}

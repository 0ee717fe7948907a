//! One bench connection, kept lean for tens of thousands of them: a TCP stream bound to a
//! chosen local address (or TLS over it, boxed so that plain connections stay small), a
//! small read buffer that grows only when needed, one write buffer, and the
//! CONNECT/CONNACK handshake. Packets are `protocol::Packet`.
//!
//! Bench does not use `client::` for this: the client core keeps two 64 KB buffers and a
//! boxed, lock-split stream per connection (1.3 GB for 10,000 clients) and reconnects on
//! its own, which a load generator must not do. Must not run QoS flows
//! (`protocol::session` does) or keep statistics.

use std::future::Future;
use std::io::{self, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf as _, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;

use crate::client::tls::{connect_tls, TlsOptions};
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
    /// The TLS handshake failed (bad certificate, wrong name, not a TLS port, …): the
    /// text says why and which flag fixes it.
    Tls(String),
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
            ConnectFailure::Tls(_) => "connect_tls",
            ConnectFailure::Other(_) => "connect_error",
        }
    }

    /// What went wrong, when the kind alone does not say it (for the summary line).
    pub fn detail(&self) -> Option<&str> {
        match self {
            ConnectFailure::Tls(text) => Some(text),
            _ => None,
        }
    }
}

/// TLS for every connection of a run: the rustls config, loaded once from the flags and
/// shared (an `Arc`) by all clients, and the host name the broker's certificate must
/// carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsTarget {
    /// The loaded `--cafile`/`--cert`/`--key`/`--insecure`.
    pub options: TlsOptions,
    /// The name checked against the broker's certificate (`-h` or the URL's host).
    pub host: String,
}

/// The byte stream of a connection. TLS is boxed: a plain connection stays the size of a
/// `TcpStream` (plus the tag), as bench keeps tens of thousands of them.
pub enum Stream {
    /// Plain MQTT over TCP.
    Tcp(TcpStream),
    /// MQTT over TLS over TCP (`mqtts://`, `--cafile`, `--insecure`, …).
    Tls(Box<TlsStream<TcpStream>>),
}

/// What one wait on the connection's socket gave.
pub enum IoEvent {
    /// A read into the read buffer: the byte count, 0 when the broker closed.
    Read(io::Result<usize>),
    /// Some of the write buffer (or TLS records held by rustls) went out.
    Wrote(io::Result<()>),
}

/// An open MQTT connection.
pub struct Conn {
    /// The stream.
    pub stream: Stream,
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
        tls: Option<&TlsTarget>,
        connect: Connect,
        timeout: Duration,
    ) -> Result<(Conn, Properties), ConnectFailure> {
        match tokio::time::timeout(timeout, Conn::open_inner(addr, bind, tls, connect)).await {
            Ok(result) => result,
            Err(_) => Err(ConnectFailure::TimedOut),
        }
    }

    async fn open_inner(
        addr: SocketAddr,
        bind: Option<IpAddr>,
        tls: Option<&TlsTarget>,
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
        let stream = match tls {
            None => Stream::Tcp(stream),
            // The handshake's future holds a whole rustls connection: boxed, so that it
            // does not grow every client task (plain ones too) by its size.
            Some(tls) => Stream::Tls(Box::new(
                Box::pin(connect_tls(stream, &tls.host, &tls.options))
                    .await
                    .map_err(|e| ConnectFailure::Tls(e.to_string()))?,
            )),
        };
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
        let read = conn.read_packet().await;
        // In TLS 1.3 the broker checks our certificate after our side of the handshake
        // is done: its refusal is an alert read here, not a 3.1.1 broker hanging up.
        if let Some(why) = read
            .as_ref()
            .err()
            .and_then(crate::net::tls::session_failure)
        {
            return Err(ConnectFailure::Tls(why));
        }
        match read {
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

    /// Writes the whole write buffer (and, with TLS, every record rustls holds).
    pub async fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.stream {
            Stream::Tcp(tcp) => tcp.write_all_buf(&mut self.wbuf).await,
            Stream::Tls(tls) => {
                tls.write_all_buf(&mut self.wbuf).await?;
                tls.flush().await
            }
        }
    }

    /// Writes what the socket takes now without waiting; the rest stays buffered.
    pub fn try_flush(&mut self) -> std::io::Result<()> {
        match &mut self.stream {
            Stream::Tcp(tcp) => {
                while !self.wbuf.is_empty() {
                    match tcp.try_write(&self.wbuf) {
                        Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                        Ok(n) => self.wbuf.advance(n),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            Stream::Tls(tls) => try_flush_tls(tls, &mut self.wbuf),
        }
    }

    /// True when bytes wait to be written: the write buffer, or TLS records rustls has
    /// encrypted but the socket did not take yet.
    pub fn wants_write(&self) -> bool {
        !self.wbuf.is_empty()
            || match &self.stream {
                Stream::Tcp(_) => false,
                Stream::Tls(tls) => tls.get_ref().1.wants_write(),
            }
    }

    /// Waits until the socket gives bytes (read into the read buffer) or, when
    /// `want_write`, takes some of what waits to be written. Cancel-safe: nothing read or
    /// written is lost when the future is dropped before it completes.
    pub async fn io(&mut self, want_write: bool) -> IoEvent {
        let Conn {
            stream, rbuf, wbuf, ..
        } = self;
        match stream {
            Stream::Tcp(tcp) => {
                // Borrowed halves of the TcpStream: no lock, no allocation.
                let (mut rd, mut wr) = tcp.split();
                tokio::select! {
                    read = rd.read_buf(rbuf) => IoEvent::Read(read),
                    written = wr.write_buf(wbuf), if want_write => IoEvent::Wrote(written.map(drop)),
                }
            }
            Stream::Tls(tls) => {
                std::future::poll_fn(|cx| poll_tls(tls, rbuf, wbuf, want_write, cx)).await
            }
        }
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
            let read = match &mut self.stream {
                Stream::Tcp(tcp) => tcp.read_buf(&mut self.rbuf).await?,
                Stream::Tls(tls) => tls.read_buf(&mut self.rbuf).await?,
            };
            if read == 0 {
                return Ok(None);
            }
        }
    }
}

/// One poll of a TLS connection: first writing (the write buffer, then the records
/// rustls holds), then reading. Both register the task's waker, so it wakes for
/// whichever comes first. The futures polled here hold only borrows, so polling them
/// once and dropping them loses nothing.
fn poll_tls(
    tls: &mut TlsStream<TcpStream>,
    rbuf: &mut BytesMut,
    wbuf: &mut BytesMut,
    want_write: bool,
    cx: &mut Context<'_>,
) -> Poll<IoEvent> {
    let mut wrote = false;
    if want_write {
        if !wbuf.is_empty() {
            match pin!(tls.write_buf(wbuf)).poll(cx) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(IoEvent::Wrote(Err(io::ErrorKind::WriteZero.into())))
                }
                Poll::Ready(Ok(_)) => wrote = true,
                Poll::Ready(Err(e)) => return Poll::Ready(IoEvent::Wrote(Err(e))),
                Poll::Pending => {}
            }
        }
        // rustls takes plaintext even when the socket is full: its records wait there.
        if tls.get_ref().1.wants_write() {
            match Pin::new(&mut *tls).poll_flush(cx) {
                Poll::Ready(Ok(())) => wrote = true,
                Poll::Ready(Err(e)) => return Poll::Ready(IoEvent::Wrote(Err(e))),
                Poll::Pending => {}
            }
        }
    }
    if let Poll::Ready(read) = pin!(tls.read_buf(rbuf)).poll(cx) {
        return Poll::Ready(IoEvent::Read(read));
    }
    if wrote {
        Poll::Ready(IoEvent::Wrote(Ok(())))
    } else {
        Poll::Pending
    }
}

/// `try_flush` over TLS: hands the write buffer to rustls (which encrypts it at once) and
/// writes its records with `try_write`, never waiting; what the socket does not take
/// stays with rustls for the event loop's write branch.
fn try_flush_tls(tls: &mut TlsStream<TcpStream>, wbuf: &mut BytesMut) -> io::Result<()> {
    let (tcp, session) = tls.get_mut();
    while !wbuf.is_empty() {
        match session.writer().write(wbuf)? {
            0 => break, // rustls' buffer is full until records go out
            n => wbuf.advance(n),
        }
    }
    let mut socket = TryWrite(tcp);
    while session.wants_write() {
        match session.write_tls(&mut socket) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A `TcpStream` as a non-blocking `io::Write`, for rustls' `write_tls`.
struct TryWrite<'a>(&'a TcpStream);

impl io::Write for TryWrite<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_stream_is_the_size_of_a_tcp_stream() {
        // Tens of thousands of connections: TLS must not grow the plain ones.
        let tcp = std::mem::size_of::<TcpStream>();
        let stream = std::mem::size_of::<Stream>();
        assert_eq!(stream, tcp, "Stream {stream} bytes, TcpStream {tcp}");
    }

    #[test]
    fn a_client_task_stays_under_4_kib() {
        // Every client task is allocated at its future's largest state: the TLS
        // handshake (a whole rustls connection) must stay boxed, or every plain client
        // grows by ~1 KB (3,944 bytes before TLS; 4,896 with the handshake inline).
        use crate::bench::client::{self, Ctx, Phase, Role};
        use std::sync::Arc;
        let config = crate::bench::BenchConfig::new(crate::bench::Target::Embedded);
        let plan = crate::bench::plan::Plan::build(&config).unwrap();
        let ctx = Arc::new(Ctx {
            config,
            plan,
            addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            epoch: std::time::Instant::now(),
            publish_properties: Properties::default(),
        });
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let (_phase_tx, phase) = tokio::sync::watch::channel(Phase::Connecting);
        let permit = Arc::new(tokio::sync::Semaphore::new(1))
            .try_acquire_owned()
            .unwrap();
        let task = client::run(Role::Publisher(0), None, ctx, tx, phase, permit);
        let size = std::mem::size_of_val(&task);
        assert!(size < 4096, "a client task is {size} bytes");
    }
}

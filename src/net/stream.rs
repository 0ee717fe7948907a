//! [`Stream`], the one byte stream of every MQTT connection (client, bench, broker): TCP
//! kept inline, so that a plain connection is the size of a `TcpStream` and allocates
//! nothing of its own; TLS (either side) and anything else (WebSocket) boxed. Besides
//! `AsyncRead`/`AsyncWrite` it writes without waiting (`try_write_from`), knows whether
//! bytes wait inside it (`wants_write`, TLS records rustls holds), and polls a read and
//! a write at once (`poll_io`). Must not know MQTT packets.

use std::future::Future;
use std::io::{self, Write as _};
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

use bytes::{Buf as _, BytesMut};
use rustls::ConnectionCommon;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

/// Any byte stream that is not plain TCP or TLS over TCP: WebSocket over either, an
/// in-memory duplex in tests.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

/// A connected byte stream.
pub enum Stream {
    /// Plain TCP, inline.
    Tcp(TcpStream),
    /// TLS over TCP, client or server side; boxed (a whole rustls connection).
    Tls(Box<TlsStream<TcpStream>>),
    /// Anything else (WebSocket over TCP or TLS), boxed; `unflushed` is true when bytes
    /// were written into it that a `poll_flush` has not pushed out yet.
    Other {
        /// The transport.
        io: Box<dyn Transport>,
        /// Written but not flushed.
        unflushed: bool,
    },
}

/// What one wait on the stream gave.
#[derive(Debug)]
pub enum IoEvent {
    /// A read into the read buffer: the byte count, 0 at the end of the stream.
    Read(io::Result<usize>),
    /// Some of the write buffer (or bytes held inside the stream) went out.
    Wrote(io::Result<()>),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stream::Tcp(_) => "Stream::Tcp",
            Stream::Tls(_) => "Stream::Tls",
            Stream::Other { .. } => "Stream::Other",
        })
    }
}

impl From<TcpStream> for Stream {
    fn from(tcp: TcpStream) -> Stream {
        Stream::Tcp(tcp)
    }
}

impl From<tokio_rustls::client::TlsStream<TcpStream>> for Stream {
    fn from(tls: tokio_rustls::client::TlsStream<TcpStream>) -> Stream {
        Stream::Tls(Box::new(TlsStream::Client(tls)))
    }
}

impl From<tokio_rustls::server::TlsStream<TcpStream>> for Stream {
    fn from(tls: tokio_rustls::server::TlsStream<TcpStream>) -> Stream {
        Stream::Tls(Box::new(TlsStream::Server(tls)))
    }
}

impl From<Box<dyn Transport>> for Stream {
    fn from(io: Box<dyn Transport>) -> Stream {
        Stream::Other {
            io,
            unflushed: false,
        }
    }
}

impl Stream {
    /// True when bytes wait inside the stream for the socket: TLS records rustls has
    /// encrypted, or a WebSocket frame not flushed yet.
    pub fn wants_write(&self) -> bool {
        match self {
            Stream::Tcp(_) => false,
            Stream::Tls(tls) => tls.get_ref().1.wants_write(),
            Stream::Other { unflushed, .. } => *unflushed,
        }
    }

    /// Writes what the socket takes now from `wbuf` (and what waits inside the stream)
    /// without waiting; the rest stays buffered for `poll_io`.
    pub fn try_write_from(&mut self, wbuf: &mut BytesMut) -> io::Result<()> {
        match self {
            Stream::Tcp(tcp) => {
                while !wbuf.is_empty() {
                    match tcp.try_write(wbuf) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => wbuf.advance(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            Stream::Tls(tls) => match &mut **tls {
                TlsStream::Client(tls) => {
                    let (tcp, session) = tls.get_mut();
                    try_write_tls(tcp, session, wbuf)
                }
                TlsStream::Server(tls) => {
                    let (tcp, session) = tls.get_mut();
                    try_write_tls(tcp, session, wbuf)
                }
            },
            Stream::Other { .. } => {
                // A poll with a waker that does nothing: what is not ready now is left
                // for `poll_io`, whose poll registers the task's waker.
                let mut cx = Context::from_waker(Waker::noop());
                match self.poll_write_from(wbuf, &mut cx) {
                    Poll::Ready(Err(e)) => Err(e),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Writes `wbuf` and what waits inside the stream, registering the waker for what
    /// does not go out now. `Ready(Ok(()))` when anything went out.
    pub fn poll_write_from(
        &mut self,
        wbuf: &mut BytesMut,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let mut wrote = false;
        if !wbuf.is_empty() {
            match pin!(self.write_buf(wbuf)).poll(cx) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(_)) => wrote = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        // rustls takes plaintext even when the socket is full: its records wait there.
        if self.wants_write() {
            match Pin::new(&mut *self).poll_flush(cx) {
                Poll::Ready(Ok(())) => wrote = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        if wrote {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// One poll of a read into `rbuf` and, when `want_write`, a write of `wbuf` (and
    /// what waits inside the stream). Both register the waker, so the task wakes for
    /// whichever comes first. Cancel-safe: the futures polled here hold only borrows.
    pub fn poll_io(
        &mut self,
        rbuf: &mut BytesMut,
        wbuf: &mut BytesMut,
        want_write: bool,
        cx: &mut Context<'_>,
    ) -> Poll<IoEvent> {
        let mut wrote = false;
        if want_write {
            match self.poll_write_from(wbuf, cx) {
                Poll::Ready(Ok(_)) => wrote = true,
                Poll::Ready(Err(e)) => return Poll::Ready(IoEvent::Wrote(Err(e))),
                Poll::Pending => {}
            }
        }
        if let Poll::Ready(read) = pin!(self.read_buf(rbuf)).poll(cx) {
            return Poll::Ready(IoEvent::Read(read));
        }
        if wrote {
            Poll::Ready(IoEvent::Wrote(Ok(())))
        } else {
            Poll::Pending
        }
    }

    /// Waits for `poll_io`. The future holds only references.
    pub fn io<'a>(
        &'a mut self,
        rbuf: &'a mut BytesMut,
        wbuf: &'a mut BytesMut,
        want_write: bool,
    ) -> impl Future<Output = IoEvent> + 'a {
        std::future::poll_fn(move |cx| self.poll_io(rbuf, wbuf, want_write, cx))
    }
}

/// `try_write_from` over TLS: hands the write buffer to rustls (which encrypts it at
/// once) and writes its records with `try_write`, never waiting; what the socket does
/// not take stays with rustls for `poll_io`.
fn try_write_tls<D>(
    tcp: &mut TcpStream,
    session: &mut ConnectionCommon<D>,
    wbuf: &mut BytesMut,
) -> io::Result<()> {
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

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
            Stream::Other { io, .. } => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
            Stream::Other { io, unflushed } => {
                let written = Pin::new(io).poll_write(cx, buf);
                if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
                    *unflushed = true;
                }
                written
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
            Stream::Other { io, unflushed } => {
                let flushed = Pin::new(io).poll_flush(cx);
                if let Poll::Ready(Ok(())) = flushed {
                    *unflushed = false;
                }
                flushed
            }
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
            Stream::Other { io, .. } => Pin::new(io).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn both_kinds_carry_bytes_both_ways() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.expect("connect");
            c.write_all(b"ping").await.expect("write");
            let mut back = [0u8; 4];
            c.read_exact(&mut back).await.expect("read");
            back
        });
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut tcp = Stream::from(tcp);
        let mut got = [0u8; 4];
        tcp.read_exact(&mut got).await.expect("read");
        tcp.write_all(&got).await.expect("write");
        tcp.flush().await.expect("flush");
        assert_eq!(&client.await.expect("client ran"), b"ping");

        let (a, mut b) = tokio::io::duplex(16);
        let mut other = Stream::from(Box::new(a) as Box<dyn Transport>);
        other.write_all(b"pong").await.expect("write");
        other.shutdown().await.expect("shutdown");
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"pong");
    }

    #[tokio::test]
    async fn try_flush_over_a_boxed_stream_leaves_the_rest_for_poll_io() {
        // A duplex of 8 bytes takes 8 now; the rest goes out as the peer reads.
        let (a, mut b) = tokio::io::duplex(8);
        let mut other = Stream::from(Box::new(a) as Box<dyn Transport>);
        let mut wbuf = BytesMut::from(&b"0123456789abcdef"[..]);
        other.try_write_from(&mut wbuf).unwrap();
        assert_eq!(wbuf.len(), 8);
        let mut rbuf = BytesMut::new();
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; 16];
            b.read_exact(&mut got).await.map(|_| got)
        });
        while !wbuf.is_empty() || other.wants_write() {
            let event = other.io(&mut rbuf, &mut wbuf, true).await;
            assert!(matches!(event, IoEvent::Wrote(Ok(()))), "{event:?}");
        }
        assert_eq!(reader.await.unwrap().unwrap(), b"0123456789abcdef");
    }
}

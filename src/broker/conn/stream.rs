//! The byte stream a connection task reads and writes, and its buffers (`Io`): a TCP
//! connection kept inline (most clients: no allocation of its own, memory per idle
//! connection), or any other transport (TLS, WebSocket) boxed; reads sized to how
//! busy the connection is, with no read buffer held while it is quiet. Must not
//! decode or interpret the bytes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::broker::conn::transport::Transport;

/// A client connection's byte stream.
pub enum Stream {
    /// Plain TCP, inline.
    Tcp(TcpStream),
    /// Anything else that carries bytes.
    Other(Box<dyn Transport>),
}

impl From<TcpStream> for Stream {
    fn from(tcp: TcpStream) -> Stream {
        Stream::Tcp(tcp)
    }
}

impl From<Box<dyn Transport>> for Stream {
    fn from(other: Box<dyn Transport>) -> Stream {
        Stream::Other(other)
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
            Stream::Other(s) => Pin::new(s).poll_read(cx, buf),
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
            Stream::Other(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Other(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Other(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// The stream plus its buffers.
pub(super) struct Io {
    pub stream: Stream,
    pub rbuf: BytesMut,
    pub wbuf: BytesMut,
    read_hint: usize,
}

/// Smallest read: what a quiet connection reads at once, into a stack buffer.
const MIN_READ: usize = 256;
/// Largest read a busy connection asks for at once.
pub(super) const MAX_READ: usize = 64 * 1024;

impl Io {
    pub fn new(stream: Stream) -> Io {
        Io {
            stream,
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            read_hint: MIN_READ,
        }
    }

    /// Reads what the socket has into `rbuf`; `Ok(0)` at the end of the stream.
    /// A quiet connection reads into a buffer on the stack and keeps only the bytes
    /// that came, so that waiting holds no read buffer (memory per idle connection);
    /// a busy one reads straight into `rbuf`, up to `read_hint` bytes at once.
    /// A poll function rather than a future, so that the waiting connection's future
    /// holds only a reference.
    pub fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if !self.is_quiet() {
            self.reserve_read();
            // `read_buf`'s future keeps no state between polls.
            return std::pin::pin!(self.stream.read_buf(&mut self.rbuf)).poll(cx);
        }
        if self.rbuf.is_empty() {
            // Also when its capacity is 0: a buffer a decoded frame was split from
            // still holds that frame's allocation.
            self.rbuf = BytesMut::new();
        }
        let mut stack = [0u8; MIN_READ];
        let mut buf = ReadBuf::new(&mut stack);
        ready!(Pin::new(&mut self.stream).poll_read(cx, &mut buf))?;
        self.rbuf.extend_from_slice(buf.filled());
        Poll::Ready(Ok(buf.filled().len()))
    }

    /// Makes room in `rbuf` for a read of `read_hint` bytes.
    pub fn reserve_read(&mut self) {
        if self.rbuf.capacity() - self.rbuf.len() < self.read_hint {
            self.rbuf.reserve(self.read_hint);
        }
    }

    /// True while reads are small: the connection is not busy.
    pub fn is_quiet(&self) -> bool {
        self.read_hint == MIN_READ
    }

    /// Adapts the next read's size to how much this one brought.
    pub fn after_read(&mut self, n: usize) {
        if n >= self.read_hint {
            self.read_hint = (self.read_hint * 2).min(MAX_READ);
        } else if n < self.read_hint / 8 {
            self.read_hint = (self.read_hint / 2).max(MIN_READ);
        }
    }

    /// Writes what is buffered (best effort, bounded in time), used on the way out.
    pub async fn write_final(&mut self) {
        let write = async {
            self.stream.write_all(&self.wbuf).await?;
            self.stream.flush().await?;
            self.stream.shutdown().await
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
        self.wbuf.clear();
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
}

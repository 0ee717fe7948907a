//! [`Connection`], the one framed MQTT connection of the client, bench and the broker: a
//! [`Stream`], a read buffer that starts small and grows with what arrives, a write
//! buffer packets are encoded into and written at once (`flush`), or without waiting
//! (`try_flush`), and a cancel-safe wait on both (`io`) for a `select!` loop. Packets
//! are `protocol::Packet`. Must not run QoS flows (`protocol::session` does), the
//! CONNECT/CONNACK exchange (`net::handshake`) or keep statistics.

use std::future::Future as _;
use std::io;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead as _, AsyncReadExt as _, AsyncWriteExt as _, ReadBuf};

use super::stream::{IoEvent, Stream};
use crate::protocol::codec::MAX_PACKET_SIZE;
use crate::protocol::{Packet, ProtocolError, ProtocolVersion};

/// Smallest read: what a quiet connection reads at once.
const MIN_READ: usize = 256;
/// First read size of a growing read buffer; most packets are small.
const FIRST_READ: usize = 4 * 1024;
/// Largest read a busy connection asks for at once.
pub const MAX_READ: usize = 64 * 1024;

/// How a connection sizes its reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// Reads of 4 KiB, doubled (to 64 KiB) each time a read fills the room there was:
    /// few wake-ups for a client receiving a stream of messages.
    Growing,
    /// Reads sized to how busy the connection is, doubled and halved between 256 bytes
    /// and 64 KiB; while quiet, into a buffer on the stack, so that a waiting
    /// connection holds no read buffer (memory per idle connection, the broker's case).
    Adaptive,
}

/// An open MQTT connection.
pub struct Connection {
    /// The byte stream.
    pub stream: Stream,
    /// Bytes read and not yet decoded.
    pub rbuf: BytesMut,
    /// Encoded packets not yet written.
    pub wbuf: BytesMut,
    /// The next read's size.
    read_hint: u32,
    /// Largest packet accepted from the peer.
    max_packet_size: u32,
    version: ProtocolVersion,
    reads: Reads,
}

impl Connection {
    /// A connection over `stream` speaking `version`, accepting packets up to MQTT's own
    /// limit, with growing reads.
    pub fn new(stream: Stream, version: ProtocolVersion) -> Connection {
        Connection {
            stream,
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            read_hint: FIRST_READ as u32,
            max_packet_size: MAX_PACKET_SIZE,
            version,
            reads: Reads::Growing,
        }
    }

    /// Switches to adaptive reads: no read buffer held while quiet (see `Reads`).
    pub fn with_adaptive_reads(mut self) -> Connection {
        self.reads = Reads::Adaptive;
        self.read_hint = MIN_READ as u32;
        self
    }

    /// The version packets are encoded and decoded in.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Sets the version (once CONNECT has said which).
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.version = version;
    }

    /// Sets the largest packet accepted from the peer (our Maximum Packet Size).
    pub fn set_max_packet_size(&mut self, max: u32) {
        self.max_packet_size = max;
    }

    /// Encodes `packet` onto the write buffer; nothing of it when it cannot be encoded.
    pub fn queue(&mut self, packet: &Packet) -> Result<(), ProtocolError> {
        packet.encode(self.version, &mut self.wbuf)
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.wbuf.len()
    }

    /// True when bytes wait to be written: the write buffer, or bytes the stream holds
    /// (TLS records rustls has encrypted but the socket did not take yet).
    pub fn wants_write(&self) -> bool {
        !self.wbuf.is_empty() || self.stream.wants_write()
    }

    /// Writes what the socket takes now without waiting; the rest stays buffered for
    /// `io(true)`.
    pub fn try_flush(&mut self) -> io::Result<()> {
        self.stream.try_write_from(&mut self.wbuf)
    }

    /// Writes the whole write buffer, and everything the stream holds.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.stream.write_all_buf(&mut self.wbuf).await?;
        self.stream.flush().await
    }

    /// Flushes and closes the writing side (TCP FIN, TLS close_notify).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        let flushed = self.flush().await;
        let closed = self.stream.shutdown().await;
        flushed.and(closed)
    }

    /// Writes what is buffered and closes, best effort and bounded in time: the way out
    /// of a connection that may be stuck.
    pub async fn write_final(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.shutdown()).await;
        self.wbuf.clear();
    }

    /// Waits until the stream gives bytes (read into the read buffer) or, when
    /// `want_write`, takes some of what waits to be written. Cancel-safe: nothing read
    /// or written is lost when the future is dropped before it completes.
    /// The future holds only a reference (it is part of every bench client's task).
    pub fn io(&mut self, want_write: bool) -> impl std::future::Future<Output = IoEvent> + '_ {
        std::future::poll_fn(move |cx| self.poll_io(want_write, cx))
    }

    /// One poll of `io`.
    pub fn poll_io(&mut self, want_write: bool, cx: &mut Context<'_>) -> Poll<IoEvent> {
        if self.reads == Reads::Adaptive && self.is_quiet() {
            return self.poll_io_quiet(want_write, cx);
        }
        let room = self.reserve_read();
        let event = ready!(self
            .stream
            .poll_io(&mut self.rbuf, &mut self.wbuf, want_write, cx));
        if let IoEvent::Read(Ok(n)) = event {
            self.grow_reads(n, room);
        }
        Poll::Ready(event)
    }

    /// Reads what the stream has into the read buffer; `Ok(0)` at its end. A poll
    /// function rather than a future, so that a waiting connection's future holds only
    /// a reference. Read sizes adapt as in `io`.
    pub fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.reads == Reads::Adaptive && self.is_quiet() {
            return self.poll_read_stack(cx);
        }
        let room = self.reserve_read();
        let read = ready!(std::pin::pin!(self.stream.read_buf(&mut self.rbuf)).poll(cx));
        if let Ok(n) = read {
            self.grow_reads(n, room);
        }
        Poll::Ready(read)
    }

    fn poll_io_quiet(&mut self, want_write: bool, cx: &mut Context<'_>) -> Poll<IoEvent> {
        let mut wrote = false;
        if want_write {
            match self.stream.poll_write_from(&mut self.wbuf, cx) {
                Poll::Ready(Err(e)) => return Poll::Ready(IoEvent::Wrote(Err(e))),
                Poll::Ready(Ok(())) => wrote = true,
                Poll::Pending => {}
            }
        }
        if let Poll::Ready(read) = self.poll_read_stack(cx) {
            return Poll::Ready(IoEvent::Read(read));
        }
        if wrote {
            Poll::Ready(IoEvent::Wrote(Ok(())))
        } else {
            Poll::Pending
        }
    }

    /// A quiet connection reads into a buffer on the stack and keeps only the bytes that
    /// came, so that waiting holds no read buffer.
    fn poll_read_stack(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.rbuf.is_empty() {
            // Also when its capacity is 0: a buffer a decoded frame was split from
            // still holds that frame's allocation.
            self.rbuf = BytesMut::new();
        }
        let mut stack = [0u8; MIN_READ];
        let mut buf = ReadBuf::new(&mut stack);
        ready!(std::pin::Pin::new(&mut self.stream).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        self.rbuf.extend_from_slice(buf.filled());
        self.after_read(n);
        Poll::Ready(Ok(n))
    }

    /// Makes room in the read buffer for the next read; returns the room there is.
    pub fn reserve_read(&mut self) -> usize {
        let hint = self.read_hint as usize;
        let low = match self.reads {
            // Top up only when little is left: a read into a nearly full buffer is
            // a wake-up for a few bytes.
            Reads::Growing => 1024.min(hint),
            Reads::Adaptive => hint,
        };
        if self.rbuf.capacity() - self.rbuf.len() < low {
            self.rbuf.reserve(hint);
        }
        self.rbuf.capacity() - self.rbuf.len()
    }

    /// True while reads are small (adaptive reads): the connection is not busy.
    pub fn is_quiet(&self) -> bool {
        self.read_hint as usize == MIN_READ
    }

    /// Adapts the next read's size to how much this one brought (adaptive reads).
    pub fn after_read(&mut self, n: usize) {
        let hint = self.read_hint as usize;
        let next = if n >= hint {
            (hint * 2).min(MAX_READ)
        } else if n < hint / 8 {
            (hint / 2).max(MIN_READ)
        } else {
            hint
        };
        self.read_hint = next as u32;
    }

    fn grow_reads(&mut self, n: usize, room: usize) {
        match self.reads {
            // A full read: more is coming than fits, read more at once.
            Reads::Growing if n == room => {
                self.read_hint = (self.read_hint * 2).min(MAX_READ as u32);
            }
            Reads::Growing => {}
            Reads::Adaptive => self.after_read(n),
        }
    }

    /// The next packet already in the read buffer: `Ok(None)` when it is not complete.
    pub fn decode(&mut self) -> Result<Option<Packet>, ProtocolError> {
        Packet::decode(&mut self.rbuf, self.version, self.max_packet_size)
    }

    /// Reads until one packet is complete; `Ok(None)` when the peer closed first. An
    /// undecodable packet is an `InvalidData` error carrying the `ProtocolError`.
    pub async fn read_packet(&mut self) -> io::Result<Option<Packet>> {
        loop {
            match self.decode() {
                Ok(Some(packet)) => return Ok(Some(packet)),
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            if self.fill().await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Reads once into the read buffer; `Ok(0)` at the end of the stream.
    pub async fn fill(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_read(cx)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn packets_go_both_ways_and_reads_grow_then_shrink() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let v = ProtocolVersion::V5;
        let mut left = Connection::new(
            Stream::from(Box::new(a) as Box<dyn crate::net::Transport>),
            v,
        );
        let mut right = Connection::new(
            Stream::from(Box::new(b) as Box<dyn crate::net::Transport>),
            v,
        )
        .with_adaptive_reads();
        assert!(right.is_quiet());
        for _ in 0..100 {
            left.queue(&Packet::PingReq).unwrap();
        }
        left.flush().await.unwrap();
        let mut got = 0;
        while got < 100 {
            match right.decode().unwrap() {
                Some(Packet::PingReq) => got += 1,
                Some(other) => panic!("{other:?}"),
                None => assert!(right.fill().await.unwrap() > 0),
            }
        }
        // 200 bytes came in reads of up to 256: still quiet, holding no read buffer.
        assert!(right.is_quiet());
        right.after_read(MIN_READ);
        assert!(!right.is_quiet());
        right.after_read(0);
        assert!(right.is_quiet());
    }
}

//! The graceful close: after the broker told a client why it closes (an MQTT 5
//! DISCONNECT, a CONNACK error) and closed its writing side, it keeps reading and
//! discarding what the client still sends for a short grace, until the client closes.
//! Closing a socket with unread bytes makes the kernel answer with a reset, and a client
//! still sending then fails with a broken pipe and never reads the reason (RFC 1122
//! §4.2.2.13; the Paho interoperability test `test_flow_control2`). Bounded three ways,
//! so the grace never holds much for long: time (`GRACE`), bytes (`MAX_DISCARD`), and
//! how many connections linger at once (`MAX_LINGERING`; past it, one closes at once).
//! Must not decode or answer anything: the connection is over.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;

use crate::net::Connection;

/// How long a closed connection reads on, at most.
pub(crate) const GRACE: Duration = Duration::from_secs(1);
/// Bytes read and discarded, at most, per connection.
const MAX_DISCARD: usize = 1 << 20;
/// Connections lingering at once, at most (each holds a socket and a small buffer).
pub(crate) const MAX_LINGERING: usize = 4096;

/// How many connections are in their grace now (one per broker, in `Shared`).
#[derive(Debug, Default)]
pub(crate) struct Lingering(AtomicUsize);

/// Gives a slot back when the grace ends, however it ends.
struct Slot<'a>(&'a Lingering);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Reads and discards until the client closes, `GRACE` passes, `MAX_DISCARD` bytes
/// came, or the read fails. Call after `write_final` (the reason sent, FIN sent).
pub(crate) async fn linger(io: &mut Connection, lingering: &Lingering) {
    if lingering.0.fetch_add(1, Ordering::Relaxed) >= MAX_LINGERING {
        lingering.0.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    let _slot = Slot(lingering);
    // The connection's own buffers go now; one small buffer is reused for every read.
    io.rbuf = BytesMut::new();
    io.wbuf = BytesMut::new();
    let mut buf = vec![0u8; 2048];
    let deadline = tokio::time::Instant::now() + GRACE;
    let mut discarded = 0;
    while discarded < MAX_DISCARD {
        match tokio::time::timeout_at(deadline, io.stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => discarded += n,
            // Closed by the client, failed, or the grace is over.
            _ => return,
        }
    }
}

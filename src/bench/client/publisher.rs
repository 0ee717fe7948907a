//! What only a publisher's client keeps (boxed in its `Driver`, so that subscribers and
//! connection-only clients do not carry it): its topic, message sequence, the messages
//! waiting for their acknowledgement and the round trips since the last hand-over, and
//! the block its payloads are cut from. Must not drive the session (`produce.rs` does).

use std::collections::HashMap;
use std::time::Instant;

use bytes::BytesMut;
use bytestring::ByteString;

use crate::bench::header::Header;

/// Payloads are cut from blocks of this size.
const PAYLOAD_BLOCK: usize = 64 * 1024;

/// What only a publisher keeps (boxed in its `Driver`).
pub(super) struct Publisher {
    pub(super) topic: ByteString,
    pub(super) next_sequence: u64,
    /// Messages produced since the last hand-over.
    pub(super) unreported_sent: u64,
    /// Session message number → when it was given to the session (for the round trip).
    pub(super) pending: HashMap<u64, Instant>,
    /// Round trips (µs) since the last hand-over.
    pub(super) round_trips: Vec<u64>,
    /// Everything is produced.
    pub(super) done: bool,
    /// When it produced its last message, ns since the epoch.
    pub(super) last_sent_ns: Option<u64>,
    payload_block: BytesMut,
}

impl Publisher {
    pub(super) fn new(topic: ByteString) -> Publisher {
        Publisher {
            topic,
            next_sequence: 0,
            unreported_sent: 0,
            pending: HashMap::new(),
            round_trips: Vec::new(),
            done: false,
            last_sent_ns: None,
            payload_block: BytesMut::new(),
        }
    }

    /// Message `seq` is acknowledged: its round trip.
    pub(super) fn delivered(&mut self, seq: u64, now: Instant) {
        if let Some(at) = self.pending.remove(&seq) {
            self.round_trips
                .push(now.duration_since(at).as_micros() as u64);
        }
    }

    pub(super) fn has_unreported(&self) -> bool {
        self.unreported_sent > 0 || !self.round_trips.is_empty()
    }

    /// The payload for `header`, `size` bytes, cut from a shared block so that a message
    /// costs no allocation of its own.
    pub(super) fn next_payload(&mut self, header: &Header, size: usize) -> bytes::Bytes {
        if self.payload_block.capacity() < size {
            self.payload_block.reserve(size.max(PAYLOAD_BLOCK));
        }
        header.encode_into(size, &mut self.payload_block);
        self.payload_block.split().freeze()
    }
}

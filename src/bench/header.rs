//! The bench payload header: which publisher sent a message, its sequence number and
//! its (intended) send time, padded to the requested payload size. Subscribers parse it
//! back to measure latency and account for loss, duplicates and reordering.
//! Must not read a clock (time comes in as nanoseconds since the run's epoch) or panic
//! on foreign payloads: a message that is not ours is an error value, counted by the caller.

use bytes::{BufMut, Bytes, BytesMut};

/// Marks a payload as written by `mqtk bench` (and its header layout version).
pub const MAGIC: [u8; 4] = *b"mqb1";

/// Encoded header length: magic, publisher id (u32), sequence (u64), send time (u64),
/// all big-endian.
pub const HEADER_LEN: usize = 4 + 4 + 8 + 8;

/// What a bench payload starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Index of the publishing client, 0-based.
    pub publisher: u32,
    /// Per-publisher sequence number, 0-based, one per message.
    pub sequence: u64,
    /// Send time in nanoseconds since the run's epoch; with `--rate`, the *intended*
    /// send time, so a stall shows up as latency (the wrk2 approach).
    pub sent_at_ns: u64,
}

/// Why a payload could not be read as a bench header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer bytes than a header.
    #[error("payload of {0} bytes is shorter than the {HEADER_LEN}-byte bench header")]
    TooShort(usize),
    /// The payload does not start with the bench magic: another client's message.
    #[error("payload is not a bench message (no bench header)")]
    NotBench,
}

impl Header {
    /// The payload for this header, zero-padded to `size` bytes (at least the header).
    pub fn encode(&self, size: usize) -> Bytes {
        let mut buf = BytesMut::with_capacity(size.max(HEADER_LEN));
        self.encode_into(size, &mut buf);
        buf.freeze()
    }

    /// Appends the header padded to `size` bytes to `buf`.
    pub fn encode_into(&self, size: usize, buf: &mut BytesMut) {
        buf.put_slice(&MAGIC);
        buf.put_u32(self.publisher);
        buf.put_u64(self.sequence);
        buf.put_u64(self.sent_at_ns);
        buf.put_bytes(0, size.saturating_sub(HEADER_LEN));
    }

    /// Reads the header at the front of `payload`; padding is ignored.
    pub fn decode(payload: &[u8]) -> Result<Header, HeaderError> {
        if payload.len() < HEADER_LEN {
            if payload.len() >= MAGIC.len() && payload[..MAGIC.len()] != MAGIC {
                return Err(HeaderError::NotBench);
            }
            return Err(HeaderError::TooShort(payload.len()));
        }
        if payload[..4] != MAGIC {
            return Err(HeaderError::NotBench);
        }
        let u32_at = |at: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&payload[at..at + 4]);
            u32::from_be_bytes(b)
        };
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&payload[at..at + 8]);
            u64::from_be_bytes(b)
        };
        Ok(Header {
            publisher: u32_at(4),
            sequence: u64_at(8),
            sent_at_ns: u64_at(16),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_pads_to_the_requested_size() {
        let h = Header {
            publisher: 7,
            sequence: 1 << 40,
            sent_at_ns: 123_456_789,
        };
        let payload = h.encode(100);
        assert_eq!(payload.len(), 100);
        assert!(payload[HEADER_LEN..].iter().all(|&b| b == 0));
        assert_eq!(Header::decode(&payload), Ok(h));
    }

    #[test]
    fn header_smaller_size_than_header_still_writes_the_whole_header() {
        let h = Header {
            publisher: u32::MAX,
            sequence: u64::MAX,
            sent_at_ns: u64::MAX,
        };
        let payload = h.encode(3);
        assert_eq!(payload.len(), HEADER_LEN);
        assert_eq!(Header::decode(&payload), Ok(h));
    }

    #[test]
    fn header_layout_is_big_endian_after_the_magic() {
        let h = Header {
            publisher: 0x01020304,
            sequence: 5,
            sent_at_ns: 6,
        };
        let payload = h.encode(HEADER_LEN);
        assert_eq!(
            &payload[..],
            &[b'm', b'q', b'b', b'1', 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 6][..]
        );
    }

    #[test]
    fn header_decode_rejects_short_and_foreign_payloads_without_panicking() {
        assert_eq!(Header::decode(b""), Err(HeaderError::TooShort(0)));
        assert_eq!(Header::decode(b"mqb"), Err(HeaderError::TooShort(3)));
        assert_eq!(Header::decode(b"mqb1abc"), Err(HeaderError::TooShort(7)));
        assert_eq!(Header::decode(b"hello"), Err(HeaderError::NotBench));
        assert_eq!(Header::decode(&[0xffu8; 64]), Err(HeaderError::NotBench));
        for len in 0..=HEADER_LEN + 1 {
            let _ = Header::decode(&vec![b'm'; len]);
        }
    }
}

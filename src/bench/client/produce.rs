//! The publisher side of a bench client: when its next message is due (as fast as
//! possible, or on the `--rate` schedule of `pacer`), and producing the messages that are
//! due into the session, each payload carrying its `Header`. Must not do I/O: the
//! client's event loop (`client.rs`) writes what the session transmits.

use std::time::{Duration, Instant};

use crate::bench::config::RunBound;
use crate::bench::header::{Header, HEADER_LEN};
use crate::bench::pacer;
use crate::protocol::{Publish, QoS};

use super::{Driver, Phase, Role, PAYLOAD_BLOCK, PUBLISH_BURST, WRITE_HIGH_WATER};

impl Driver {
    /// When the next message is due (with `--rate`, or the common start); `None` when
    /// not publishing, or the window is full (an ack will wake us).
    pub(super) fn next_due(&self, phase: Phase) -> Option<Instant> {
        let (Phase::Publishing { start_ns }, Role::Publisher(index)) = (phase, self.role) else {
            return None;
        };
        if self.publishing_done || self.window_full() {
            return None;
        }
        if self.ctx.config.rate.is_none() {
            // As fast as possible, once the common start has come.
            return Some(self.ctx.epoch + Duration::from_nanos(start_ns));
        }
        let mut due_ns = self.intended_ns(index, start_ns, self.next_sequence);
        if let RunBound::Duration(d) = self.ctx.config.bound {
            // Wake at the end of the run too, to finish even at a slow rate.
            due_ns = due_ns.min(start_ns + d.as_nanos() as u64);
        }
        Some(self.ctx.epoch + Duration::from_nanos(due_ns))
    }

    fn intended_ns(&self, index: u32, start_ns: u64, sequence: u64) -> u64 {
        let config = &self.ctx.config;
        let rate = config.rate.unwrap_or(1.0);
        pacer::intended_ns(rate, config.publishers, index, start_ns, sequence)
    }

    fn window_full(&self) -> bool {
        self.ctx.config.qos != QoS::AtMostOnce
            && self.session.inflight_len() + self.session.queued_len() >= self.window
    }

    /// Gives the session as many messages as are due and fit.
    pub(super) fn produce(&mut self, index: u32, start_ns: u64, now: Instant) {
        if self.publishing_done {
            return;
        }
        let ctx = self.ctx.clone();
        let config = &ctx.config;
        let now_ns = ctx.now_ns(now);
        if now_ns < start_ns {
            return;
        }
        for _ in 0..PUBLISH_BURST {
            if self.conn.wbuf.len() >= WRITE_HIGH_WATER || self.window_full() {
                break;
            }
            let sent_at_ns = match config.rate {
                Some(_) => self.intended_ns(index, start_ns, self.next_sequence),
                None => now_ns,
            };
            let over = match config.bound {
                RunBound::Messages(n) => self.next_sequence >= n,
                RunBound::Duration(d) => sent_at_ns.min(now_ns) >= start_ns + d.as_nanos() as u64,
            };
            if over {
                self.publishing_done = true;
                break;
            }
            if sent_at_ns > now_ns {
                break; // not due yet
            }
            let header = Header {
                publisher: index,
                sequence: self.next_sequence,
                sent_at_ns,
            };
            let publish = Publish {
                dup: false,
                qos: config.qos,
                retain: config.retain,
                topic: self.topic.clone(),
                packet_id: 0,
                properties: ctx.publish_properties.clone(),
                payload: self.next_payload(&header),
            };
            let seq = self.session.publish(publish, now);
            if config.qos != QoS::AtMostOnce {
                self.pending.insert(seq, now);
            }
            self.next_sequence += 1;
            self.unreported_sent += 1;
            self.last_sent_ns = Some(now_ns);
        }
    }

    /// The payload for `header`, cut from a shared block so that a message costs no
    /// allocation of its own.
    fn next_payload(&mut self, header: &Header) -> bytes::Bytes {
        let size = self.ctx.config.size.max(HEADER_LEN);
        if self.payload_block.capacity() < size {
            self.payload_block.reserve(size.max(PAYLOAD_BLOCK));
        }
        header.encode_into(size, &mut self.payload_block);
        self.payload_block.split().freeze()
    }
}

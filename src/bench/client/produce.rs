//! The publisher side of a bench client: when its next message is due (as fast as
//! possible, or on the `--rate` schedule of `pacer`), and producing the messages that are
//! due into the session, each payload carrying its `Header`. Must not do I/O: the
//! client's event loop (`client.rs`) writes what the session transmits.

use std::time::{Duration, Instant};

use crate::bench::config::RunBound;
use crate::bench::header::{Header, HEADER_LEN};
use crate::bench::pacer;
use crate::protocol::{Publish, QoS};

use super::publisher::Publisher;
use super::{Driver, Phase, Role, PUBLISH_BURST, WRITE_HIGH_WATER};

impl Driver {
    /// True when a publisher has produced everything (never for other roles).
    pub(super) fn publishing_done(&self) -> bool {
        self.publisher.as_ref().is_some_and(|p| p.done)
    }

    /// When the next message is due (with `--rate`, or the common start); `None` when
    /// not publishing, or the window is full (an ack will wake us).
    pub(super) fn next_due(&self, phase: Phase) -> Option<Instant> {
        let (Phase::Publishing { start_ns, .. }, Role::Publisher(index)) = (phase, self.role)
        else {
            return None;
        };
        let publisher = self.publisher.as_ref()?;
        if publisher.done || self.window_full() {
            return None;
        }
        if self.ctx.config.rate.is_none() {
            // As fast as possible, once the common start has come.
            return Some(self.ctx.epoch + Duration::from_nanos(start_ns));
        }
        let mut due_ns = self.intended_ns(index, start_ns, publisher.next_sequence);
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
        // Out of its box while producing, to borrow it beside the session.
        let Some(mut publisher) = self.publisher.take() else {
            return;
        };
        self.produce_into(&mut publisher, index, start_ns, now);
        self.publisher = Some(publisher);
    }

    fn produce_into(&mut self, p: &mut Publisher, index: u32, start_ns: u64, now: Instant) {
        if p.done {
            return;
        }
        let ctx = self.ctx.clone();
        let config = &ctx.config;
        let now_ns = ctx.now_ns(now);
        if now_ns < start_ns {
            return;
        }
        let size = config.size.max(HEADER_LEN);
        for _ in 0..PUBLISH_BURST {
            if self.conn.wbuf.len() >= WRITE_HIGH_WATER || self.window_full() {
                break;
            }
            let sent_at_ns = match config.rate {
                Some(_) => self.intended_ns(index, start_ns, p.next_sequence),
                None => now_ns,
            };
            let over = match config.bound {
                RunBound::Messages(n) => p.next_sequence >= n,
                RunBound::Duration(d) => sent_at_ns.min(now_ns) >= start_ns + d.as_nanos() as u64,
            };
            if over {
                p.done = true;
                break;
            }
            if sent_at_ns > now_ns {
                break; // not due yet
            }
            let header = Header {
                publisher: index,
                sequence: p.next_sequence,
                sent_at_ns: sent_at_ns + ctx.header_clock_ns,
            };
            let publish = Publish {
                dup: false,
                qos: config.qos,
                retain: config.retain,
                topic: p.topic.clone(),
                packet_id: 0,
                properties: ctx.publish_properties.clone(),
                payload: p.next_payload(&header, size),
            };
            let seq = self.session.publish(publish, now);
            if config.qos != QoS::AtMostOnce {
                p.pending.insert(seq, now);
            }
            p.next_sequence += 1;
            p.unreported_sent += 1;
            p.last_sent_ns = Some(now_ns);
        }
    }
}

//! The flapping side of a subscriber (`--scenario flapping`): subscriber i of N
//! unsubscribes at `start + i/N × interval` and every `--flap-interval` after, and
//! subscribes again half an interval later; each UNSUBACK and SUBACK time goes to the
//! collector with the flap, after the samples from before it. No flap starts whose
//! resubscribe would fall after the end of `--duration`, so every subscriber is back
//! for the last messages.
//! Must not decide when the run ends (the run's phase does) or count loss (the
//! collector does, excusing the gap of each flap: see `SequenceTracker`).

use std::time::{Duration, Instant};

use crate::bench::collect::Update;
use crate::bench::config::RunBound;
use crate::protocol::{Packet, Properties, Subscribe, Subscription, Unsubscribe};

use super::{Driver, Flap, Msg, Phase, Role};

impl Driver {
    /// When this subscriber's next flap step is due; `None` when it does not flap, is
    /// waiting for an acknowledgement, or the flaps are over.
    pub(super) fn next_flap(&mut self, phase: Phase) -> Option<Instant> {
        let config = &self.ctx.config;
        let (
            Phase::Publishing { start_ns, .. },
            Role::Subscriber(i),
            Some(interval),
            RunBound::Duration(d),
        ) = (phase, self.role, config.flap_interval, config.bound)
        else {
            return None;
        };
        let start = self.ctx.epoch + Duration::from_nanos(start_ns);
        let n = self.ctx.plan.subscribers.len().max(1) as f64;
        let at = *self
            .churn_at
            .get_or_insert_with(|| start + interval.mul_f64(f64::from(i) / n));
        match self.flap {
            // The resubscribe (half an interval on) must come before the end.
            Flap::Subscribed => (at + interval / 2 < start + d).then_some(at),
            Flap::Away { .. } => Some(at),
            Flap::Unsubscribing(_) | Flap::Subscribing { .. } => None,
        }
    }

    /// Takes the flap step that is due: unsubscribe, or subscribe again.
    pub(super) fn flap_step(&mut self, now: Instant) {
        let Role::Subscriber(i) = self.role else {
            return;
        };
        let Some(packet_id) = self.session.allocate_packet_id() else {
            self.count_error("flap_no_packet_id");
            return;
        };
        let interval = self.ctx.config.flap_interval.unwrap_or_default();
        let filter = self.ctx.plan.subscribers[i as usize].filter.clone();
        match self.flap {
            Flap::Subscribed => {
                self.session.send(Packet::Unsubscribe(Unsubscribe {
                    packet_id,
                    filters: vec![filter],
                    properties: Properties::default(),
                }));
                self.flap = Flap::Unsubscribing(now);
                self.churn_at = self.churn_at.map(|at| at + interval / 2);
            }
            Flap::Away { unsuback_us } => {
                self.session.send(Packet::Subscribe(Subscribe {
                    packet_id,
                    subscriptions: vec![Subscription::new(filter, self.ctx.config.qos)],
                    properties: Properties::default(),
                }));
                self.flap = Flap::Subscribing {
                    since: now,
                    unsuback_us,
                };
                self.churn_at = self.churn_at.map(|at| at + (interval - interval / 2));
            }
            Flap::Unsubscribing(_) | Flap::Subscribing { .. } => {
                self.session.release_packet_id(packet_id);
            }
        }
    }

    /// An UNSUBACK arrived.
    pub(super) fn on_unsuback(&mut self, now: Instant, refused: bool) {
        if refused {
            self.count_error("unsubscribe_refused");
        }
        if let Flap::Unsubscribing(since) = self.flap {
            let unsuback_us = now.duration_since(since).as_micros() as u64;
            self.flap = Flap::Away { unsuback_us };
        }
    }

    /// A SUBACK arrived for a flap: true when it was one (not the first subscribe).
    pub(super) fn on_flap_suback(&mut self, now: Instant) -> bool {
        let Flap::Subscribing { since, unsuback_us } = self.flap else {
            return false;
        };
        let Role::Subscriber(i) = self.role else {
            return false;
        };
        self.flap = Flap::Subscribed;
        // The samples from before go first, so the collector excuses the right gap.
        self.flush_figures();
        let receiver = self.ctx.plan.subscribers[i as usize].receiver;
        let _ = self.tx.send(Msg::Update(Update::Flapped {
            receiver,
            unsuback_us,
            suback_us: now.duration_since(since).as_micros() as u64,
        }));
        true
    }
}

//! When a run has gone quiet: the broker has done nothing for us for the drain timeout,
//! so waiting longer would only wait for messages that will never come.
//! "Doing something" is any QoS flow packet a client received (PUBLISH, PUBACK, PUBREC,
//! PUBREL, PUBCOMP), not only new deliveries: mosquitto 2.0.11 can spend seconds
//! working through a backlog of acknowledgements from a QoS 2 subscriber (PUBREC →
//! PUBREL → PUBCOMP, one packet per turn of its loop) before it sends the next message;
//! judged by deliveries alone that looked like a stall and ended the run with messages
//! counted lost that arrived a moment later.
//! Must not read the clock (the caller passes `now`) or decide what happens next.

use std::time::{Duration, Instant};

/// The run's counters that show the broker working for us.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Movement {
    /// Messages given to the sessions.
    pub sent: u64,
    /// QoS 1/2 flows finished.
    pub acked: u64,
    /// Deliveries (duplicates included).
    pub received: u64,
    /// QoS flow packets received from the broker (see the module header).
    pub flow_packets: u64,
}

/// Tracks when `Movement` last changed.
#[derive(Debug)]
pub struct QuietWatch {
    last: Movement,
    since: Instant,
}

impl QuietWatch {
    /// Nothing has moved yet; quiet is counted from `now`.
    pub fn new(now: Instant) -> QuietWatch {
        QuietWatch {
            last: Movement::default(),
            since: now,
        }
    }

    /// Takes the counters as they are at `now`.
    pub fn observe(&mut self, now: Instant, movement: Movement) {
        if movement != self.last {
            self.last = movement;
            self.since = now;
        }
    }

    /// Counts quiet from `now` again (a new stage of the run starts).
    pub fn restart(&mut self, now: Instant) {
        self.since = now;
    }

    /// True when nothing moved for `patience` up to `now`.
    pub fn is_quiet(&self, now: Instant, patience: Duration) -> bool {
        now.saturating_duration_since(self.since) >= patience
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATIENCE: Duration = Duration::from_secs(2);

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn nothing_moving_for_the_patience_is_quiet() {
        let t0 = Instant::now();
        let mut w = QuietWatch::new(t0);
        let m = Movement {
            sent: 10,
            acked: 10,
            received: 5,
            flow_packets: 30,
        };
        w.observe(at(t0, 500), m);
        w.observe(at(t0, 1_000), m);
        assert!(!w.is_quiet(at(t0, 2_000), PATIENCE));
        w.observe(at(t0, 2_500), m);
        assert!(w.is_quiet(at(t0, 2_500), PATIENCE));
    }

    /// The mosquitto case: every message is sent and acknowledged, deliveries pause for
    /// longer than the patience while the subscriber's PUBREC/PUBREL/PUBCOMP keep
    /// going, then deliveries resume. The run must not be called quiet in between.
    #[test]
    fn acknowledgement_traffic_without_deliveries_is_not_quiet() {
        let t0 = Instant::now();
        let mut w = QuietWatch::new(t0);
        let mut m = Movement {
            sent: 50_000,
            acked: 50_000,
            received: 45_230,
            flow_packets: 100_000,
        };
        for tick in 1..=10u64 {
            m.flow_packets += 400; // PUBRELs for the subscriber, no new PUBLISH
            w.observe(at(t0, tick * 500), m);
            assert!(!w.is_quiet(at(t0, tick * 500), PATIENCE), "tick {tick}");
        }
        m.received = 50_000;
        w.observe(at(t0, 5_500), m);
        assert!(!w.is_quiet(at(t0, 5_500), PATIENCE));
    }

    #[test]
    fn restart_counts_quiet_from_the_new_stage() {
        let t0 = Instant::now();
        let mut w = QuietWatch::new(t0);
        assert!(w.is_quiet(at(t0, 3_000), PATIENCE));
        w.restart(at(t0, 3_000));
        assert!(!w.is_quiet(at(t0, 4_000), PATIENCE));
        assert!(w.is_quiet(at(t0, 5_000), PATIENCE));
    }
}

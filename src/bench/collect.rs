//! The collector: merges what client tasks report (in batches, on their own ticks) into
//! the run's histograms, sequence trackers and counters, and computes the report figures
//! once at the end. One owner, fed by a channel: no lock is taken per message.
//! Must not read a clock or do I/O: times come in as nanoseconds since the run's epoch.
//!
//! Clients send samples rather than keep histograms of their own: one HDR histogram of
//! the range we need is ~170 KB, which times 10,000 subscribers would be 1.7 GB.

use std::collections::{BTreeMap, HashMap, HashSet};

use hdrhistogram::Histogram;

use super::report::{ClientFigures, LatencyStats};
use super::stats::{self, Arrival, SequenceTracker};

/// One bench message received by a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Publisher index from the header.
    pub publisher: u32,
    /// Sequence number from the header.
    pub sequence: u64,
    /// (Intended) send time from the header, ns since the epoch.
    pub sent_at_ns: u64,
    /// Receive time, ns since the epoch.
    pub received_at_ns: u64,
}

/// What a client task reports to the collector.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// CONNACK success after `connect_us` (TCP connect included).
    Connected {
        /// Connect time.
        connect_us: u64,
        /// When it happened, ns since the epoch.
        at_ns: u64,
    },
    /// The client could not connect; `kind` names why (`connect_refused`, …).
    ConnectFailed {
        /// Error kind.
        kind: &'static str,
        /// What went wrong, when the kind does not say it (a TLS handshake failure).
        detail: Option<String>,
    },
    /// A batch of received messages for `receiver` (a subscriber or shared group).
    Samples {
        /// Receiver id from the plan.
        receiver: u32,
        /// Messages in arrival order.
        samples: Vec<Sample>,
        /// Payload bytes of each (all the same size in a run).
        payload_len: usize,
    },
    /// `count` more messages published by `publisher`.
    Published {
        /// Publisher index.
        publisher: u32,
        /// Messages since the last update.
        count: u64,
    },
    /// QoS 1/2 completions with their PUBLISH→PUBACK/PUBCOMP round trips.
    Acked {
        /// Round trips in µs.
        round_trips_us: Vec<u64>,
    },
    /// QoS flow packets (PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP) received from the
    /// broker since the last update: the broker is still working for us.
    Flow {
        /// Packets since the last update.
        packets: u64,
    },
    /// Something went wrong that is not a connect failure.
    Error {
        /// Error kind (`dropped`, `protocol`, `foreign_payload`, `publish_rejected`, …).
        kind: &'static str,
    },
    /// A connected client lost its connection before the end.
    Dropped,
    /// A churning client (`--churn-rate`) disconnected on its turn, to connect again.
    Disconnected,
    /// A churning client (`--churn-rate`) connected again.
    Reconnected {
        /// Connect time of the new connection.
        connect_us: u64,
    },
    /// A flapping subscriber (`--flap-interval`) unsubscribed and subscribed again; its
    /// samples from before are all sent ahead of this.
    Flapped {
        /// Receiver id from the plan.
        receiver: u32,
        /// UNSUBSCRIBE → UNSUBACK.
        unsuback_us: u64,
        /// SUBSCRIBE → SUBACK.
        suback_us: u64,
    },
    /// A churning client disconnected and could not connect again; `kind` says why.
    ReconnectFailed {
        /// Error kind, as for `ConnectFailed`.
        kind: &'static str,
    },
}

/// What `--churn-rate` did: reconnects that worked and those that failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Churned {
    /// Reconnects that got a CONNACK.
    pub reconnects: u64,
    /// Reconnects that did not.
    pub failed: u64,
}

/// Delivery accounting at the end of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deliveries {
    /// Expected deliveries.
    pub expected: u64,
    /// Distinct deliveries received from expected publisher/receiver pairs.
    pub received: u64,
    /// Expected but missing.
    pub lost: u64,
    /// Received again.
    pub duplicates: u64,
    /// Received out of order.
    pub reordered: u64,
    /// Received by a receiver whose filter should not match the publisher's topic.
    pub unexpected: u64,
    /// Not expected: sent while the receiver was unsubscribed (`--flap-interval`).
    pub missed_while_unsubscribed: u64,
}

/// The merged state of a run.
pub struct Collector {
    latency: Histogram<u64>,
    interval: Histogram<u64>,
    round_trip: Histogram<u64>,
    connect: Histogram<u64>,
    trackers: HashMap<(u32, u32), SequenceTracker>,
    sent_by_publisher: Vec<u64>,
    /// The measured window starts here.
    measure_from_ns: u64,
    /// Messages with `sent_at_ns` before this are warm-up: not in latency or throughput.
    warmup_until_ns: u64,
    /// Counters.
    pub sent: u64,
    /// QoS 1/2 completions.
    pub acked: u64,
    /// Every delivery reported (duplicates included), for progress.
    pub received_total: u64,
    /// QoS flow packets received by the clients, for the drain timeout.
    pub flow_packets: u64,
    received_unique: u64,
    measured: u64,
    measured_bytes: u64,
    last_measured_at_ns: Option<u64>,
    warmup_excluded: u64,
    connected: u32,
    /// Connections open now: connects and reconnects minus drops and churn disconnects.
    connected_now: u32,
    failed: u32,
    dropped: u32,
    last_connect_ns: Option<u64>,
    errors: BTreeMap<String, u64>,
    error_details: BTreeMap<String, String>,
    unordered_receivers: Vec<bool>,
    churned: Churned,
    /// `--flap-interval`: flaps, and their UNSUBACK and SUBACK times (allocated at the
    /// first flap: other runs carry no histograms for them).
    flaps: Option<Box<Flaps>>,
}

/// The flaps of a run so far.
pub struct Flaps {
    /// Flaps done.
    pub count: u64,
    /// UNSUBSCRIBE → UNSUBACK times.
    pub unsuback: Histogram<u64>,
    /// SUBSCRIBE → SUBACK times.
    pub suback: Histogram<u64>,
    /// Receivers that have flapped: a tracker they open later excuses its first gap.
    flapped: HashSet<u32>,
}

impl Collector {
    /// A collector for a run with `publishers` publishing clients.
    pub fn new(publishers: u32) -> Collector {
        Collector {
            latency: stats::new_histogram(),
            interval: stats::new_histogram(),
            round_trip: stats::new_histogram(),
            connect: stats::new_histogram(),
            trackers: HashMap::new(),
            sent_by_publisher: vec![0; publishers as usize],
            measure_from_ns: 0,
            warmup_until_ns: 0,
            sent: 0,
            acked: 0,
            received_total: 0,
            flow_packets: 0,
            received_unique: 0,
            measured: 0,
            measured_bytes: 0,
            last_measured_at_ns: None,
            warmup_excluded: 0,
            connected: 0,
            connected_now: 0,
            failed: 0,
            dropped: 0,
            last_connect_ns: None,
            errors: BTreeMap::new(),
            error_details: BTreeMap::new(),
            unordered_receivers: Vec::new(),
            churned: Churned::default(),
            flaps: None,
        }
    }

    /// Receivers (by id) that are shared-subscription groups: their reordering is not
    /// counted (see `SequenceTracker::unordered`).
    pub fn set_unordered_receivers(&mut self, unordered: Vec<bool>) {
        self.unordered_receivers = unordered;
    }

    /// Publishing starts at `start_ns`; messages sent before `start_ns + warmup` are
    /// left out of latency and throughput.
    pub fn set_measure_from(&mut self, ns: u64) {
        self.measure_from_ns = ns;
        self.warmup_until_ns = ns;
    }

    /// Messages sent before `ns` are warm-up (after `set_measure_from`, which sets it
    /// to the window's start). A `--cross-shard` run without warm-up sets 0: another
    /// shard's publishers start when its barrier lets them, a few ms from this one's
    /// start, and their first messages are measured all the same.
    pub fn set_warmup_until(&mut self, ns: u64) {
        self.warmup_until_ns = ns;
    }

    /// Clients connected so far (minus none: drops are counted apart).
    pub fn connected(&self) -> u32 {
        self.connected
    }

    /// Connections open now, for `--series` and progress: a drop or a churn
    /// disconnect takes one away, a reconnect gives it back.
    pub fn connected_now(&self) -> u32 {
        self.connected_now
    }

    /// Merges one client update.
    pub fn absorb(&mut self, update: Update) {
        match update {
            Update::Connected { connect_us, at_ns } => {
                self.connected += 1;
                self.connected_now += 1;
                stats::record(&mut self.connect, connect_us);
                self.last_connect_ns = Some(self.last_connect_ns.map_or(at_ns, |t| t.max(at_ns)));
            }
            Update::ConnectFailed { kind, detail } => {
                self.failed += 1;
                self.count_error(kind);
                if let Some(detail) = detail {
                    self.error_details.entry(kind.to_string()).or_insert(detail);
                }
            }
            Update::Samples {
                receiver,
                samples,
                payload_len,
            } => {
                for s in samples {
                    self.received_total += 1;
                    let unordered = self
                        .unordered_receivers
                        .get(receiver as usize)
                        .copied()
                        .unwrap_or(false);
                    let flapped = self
                        .flaps
                        .as_ref()
                        .is_some_and(|f| f.flapped.contains(&receiver));
                    let tracker =
                        self.trackers
                            .entry((receiver, s.publisher))
                            .or_insert_with(|| {
                                let mut t = SequenceTracker::new(unordered);
                                if flapped {
                                    t.resubscribed();
                                }
                                t
                            });
                    if tracker.observe(s.sequence) == Arrival::Duplicate {
                        continue;
                    }
                    self.received_unique += 1;
                    if s.sent_at_ns < self.warmup_until_ns {
                        self.warmup_excluded += 1;
                        continue;
                    }
                    let latency_us = s.received_at_ns.saturating_sub(s.sent_at_ns) / 1_000;
                    stats::record(&mut self.latency, latency_us);
                    stats::record(&mut self.interval, latency_us);
                    self.measured += 1;
                    self.measured_bytes += payload_len as u64;
                    self.last_measured_at_ns = Some(
                        self.last_measured_at_ns
                            .map_or(s.received_at_ns, |t| t.max(s.received_at_ns)),
                    );
                }
            }
            Update::Published { publisher, count } => {
                self.sent += count;
                if let Some(sent) = self.sent_by_publisher.get_mut(publisher as usize) {
                    *sent += count;
                }
            }
            Update::Acked { round_trips_us } => {
                self.acked += round_trips_us.len() as u64;
                for rt in round_trips_us {
                    stats::record(&mut self.round_trip, rt);
                }
            }
            Update::Flow { packets } => self.flow_packets += packets,
            Update::Error { kind } => self.count_error(kind),
            Update::Dropped => {
                self.dropped += 1;
                self.connected_now = self.connected_now.saturating_sub(1);
                self.count_error("dropped");
            }
            Update::Disconnected => {
                self.connected_now = self.connected_now.saturating_sub(1);
            }
            Update::Reconnected { connect_us } => {
                self.churned.reconnects += 1;
                self.connected_now += 1;
                stats::record(&mut self.connect, connect_us);
            }
            Update::Flapped {
                receiver,
                unsuback_us,
                suback_us,
            } => self.flapped(receiver, unsuback_us, suback_us),
            Update::ReconnectFailed { kind } => {
                self.churned.failed += 1;
                self.count_error(kind);
            }
        }
    }

    fn flapped(&mut self, receiver: u32, unsuback_us: u64, suback_us: u64) {
        let flaps = self.flaps.get_or_insert_with(|| {
            Box::new(Flaps {
                count: 0,
                unsuback: stats::new_histogram(),
                suback: stats::new_histogram(),
                flapped: HashSet::new(),
            })
        });
        flaps.count += 1;
        stats::record(&mut flaps.unsuback, unsuback_us);
        stats::record(&mut flaps.suback, suback_us);
        flaps.flapped.insert(receiver);
        for ((r, _), tracker) in self.trackers.iter_mut() {
            if *r == receiver {
                tracker.resubscribed();
            }
        }
    }

    /// The flaps so far; `None` when no subscriber has flapped.
    pub fn flaps(&self) -> Option<&Flaps> {
        self.flaps.as_deref()
    }

    /// Reconnects of churning clients so far.
    pub fn churned(&self) -> Churned {
        self.churned
    }

    fn count_error(&mut self, kind: &str) {
        self.count_errors(kind, 1);
    }

    /// Adds `n` errors of `kind` (nothing when `n` is 0).
    pub fn count_errors(&mut self, kind: &str, n: u64) {
        if n > 0 {
            *self.errors.entry(kind.to_string()).or_insert(0) += n;
        }
    }

    /// Distinct deliveries so far (warm-up included), for progress and the drain.
    pub fn received_unique(&self) -> u64 {
        self.received_unique
    }

    /// Messages missing so far, for `--series`: gaps below the highest sequence each
    /// receiver has seen from each publisher (see `SequenceTracker::gaps`).
    pub fn gaps_so_far(&self) -> u64 {
        self.trackers.values().map(SequenceTracker::gaps).sum()
    }

    /// Messages sent so far by each publisher.
    pub fn sent_by_publisher(&self) -> &[u64] {
        &self.sent_by_publisher
    }

    /// The latency histogram since the last call (for progress and `--hdr-log`), reset.
    pub fn take_interval(&mut self) -> Histogram<u64> {
        let fresh = stats::new_histogram();
        std::mem::replace(&mut self.interval, fresh)
    }

    /// The whole-run latency histogram (warm-up excluded).
    pub fn latency_histogram(&self) -> &Histogram<u64> {
        &self.latency
    }

    /// The whole-run PUBLISH→PUBACK/PUBCOMP histogram.
    pub fn round_trip_histogram(&self) -> &Histogram<u64> {
        &self.round_trip
    }

    /// The connect-time histogram.
    pub fn connect_histogram(&self) -> &Histogram<u64> {
        &self.connect
    }

    /// Delivery accounting; `receivers_of(p)` lists the receivers expected to get
    /// every message of publisher `p`.
    pub fn deliveries<'a>(&self, receivers_of: impl Fn(u32) -> &'a [u32]) -> Deliveries {
        let mut d = Deliveries::default();
        for (p, &sent) in self.sent_by_publisher.iter().enumerate() {
            for &r in receivers_of(p as u32) {
                d.expected += sent;
                match self.trackers.get(&(r, p as u32)) {
                    Some(t) => {
                        let excused = t.excused.min(sent);
                        d.expected -= excused;
                        d.missed_while_unsubscribed += excused;
                        d.received += t.unique.min(sent - excused);
                        d.lost += t.lost(sent);
                    }
                    None => d.lost += sent,
                }
            }
        }
        for t in self.trackers.values() {
            d.duplicates += t.duplicates;
            d.reordered += t.reordered;
        }
        let total_unique: u64 = self.trackers.values().map(|t| t.unique).sum();
        d.unexpected = total_unique.saturating_sub(d.received);
        d
    }

    /// Distinct deliveries of each publisher's messages to the receivers expecting
    /// them (`receivers_of(p)`), whatever it sent: with `--cross-shard` most publishers
    /// are another shard's, whose sent counts this process does not know.
    pub fn received_by_publisher<'a>(&self, receivers_of: impl Fn(u32) -> &'a [u32]) -> Vec<u64> {
        (0..self.sent_by_publisher.len() as u32)
            .map(|p| {
                receivers_of(p)
                    .iter()
                    .filter_map(|&r| self.trackers.get(&(r, p)))
                    .map(|t| t.unique)
                    .sum()
            })
            .collect()
    }

    /// Connection counts for `requested` clients.
    pub fn client_figures(&self, requested: u32) -> ClientFigures {
        ClientFigures {
            requested,
            connected: self.connected,
            failed: self.failed,
            dropped: self.dropped,
        }
    }

    /// Connect time percentiles.
    pub fn connect_stats(&self) -> Option<LatencyStats> {
        stats::summarize(&self.connect)
    }

    /// Successful connections per second, from the start of the run (when the first
    /// connection is attempted) to the last CONNACK.
    pub fn connects_per_sec(&self) -> Option<f64> {
        let last = self.last_connect_ns?;
        if last == 0 {
            return None;
        }
        Some(self.connected as f64 / (last as f64 / 1e9))
    }

    /// End-to-end latency percentiles (warm-up excluded).
    pub fn latency_stats(&self) -> Option<LatencyStats> {
        stats::summarize(&self.latency)
    }

    /// PUBACK/PUBCOMP round-trip percentiles.
    pub fn round_trip_stats(&self) -> Option<LatencyStats> {
        stats::summarize(&self.round_trip)
    }

    /// Deliveries of warm-up messages.
    pub fn warmup_excluded(&self) -> u64 {
        self.warmup_excluded
    }

    /// Measured deliveries, their payload bytes, and the window they span in seconds.
    pub fn measured(&self) -> (u64, u64, f64) {
        let secs = self.last_measured_at_ns.map_or(0.0, |last| {
            last.saturating_sub(self.measure_from_ns) as f64 / 1e9
        });
        (self.measured, self.measured_bytes, secs)
    }

    /// Errors by kind.
    pub fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }

    /// The first message of each error kind that has one.
    pub fn error_details(&self) -> &BTreeMap<String, String> {
        &self.error_details
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(publisher: u32, sequence: u64, sent_at_ns: u64, latency_us: u64) -> Sample {
        Sample {
            publisher,
            sequence,
            sent_at_ns,
            received_at_ns: sent_at_ns + latency_us * 1000,
        }
    }

    #[test]
    fn fan_out_expects_each_message_once_per_subscriber() {
        let mut c = Collector::new(1);
        c.absorb(Update::Published {
            publisher: 0,
            count: 3,
        });
        for receiver in 0..4 {
            let samples = (0..3).map(|s| sample(0, s, 1_000_000 * s, 100)).collect();
            c.absorb(Update::Samples {
                receiver,
                samples,
                payload_len: 64,
            });
        }
        let receivers = [0u32, 1, 2, 3];
        let d = c.deliveries(|_| &receivers);
        assert_eq!(
            d,
            Deliveries {
                expected: 12,
                received: 12,
                ..Deliveries::default()
            }
        );
        assert_eq!(c.latency_stats().unwrap().count, 12);
        // A fifth subscriber that got nothing: its three are lost.
        let five = [0u32, 1, 2, 3, 4];
        assert_eq!(c.deliveries(|_| &five).lost, 3);
    }

    #[test]
    fn loss_duplicates_and_unexpected_deliveries_are_told_apart() {
        let mut c = Collector::new(2);
        c.absorb(Update::Published {
            publisher: 0,
            count: 5,
        });
        c.absorb(Update::Published {
            publisher: 1,
            count: 2,
        });
        let samples = [0, 1, 1, 3, 2]
            .iter()
            .map(|&s| sample(0, s, 0, 10))
            .collect();
        c.absorb(Update::Samples {
            receiver: 0,
            samples,
            payload_len: 64,
        });
        // Receiver 0 subscribed to publisher 0 only, yet publisher 1's message arrived.
        c.absorb(Update::Samples {
            receiver: 0,
            samples: vec![sample(1, 0, 0, 10)],
            payload_len: 64,
        });
        let d = c.deliveries(|p| if p == 0 { &[0] } else { &[] });
        assert_eq!(d.expected, 5);
        assert_eq!(d.received, 4);
        assert_eq!(d.lost, 1);
        assert_eq!(d.duplicates, 1);
        assert_eq!(d.reordered, 1);
        assert_eq!(d.unexpected, 1);
        assert_eq!(c.received_total, 6);
    }

    #[test]
    fn deliveries_are_counted_by_publisher_whatever_was_sent_here() {
        // --cross-shard: publisher 1 is another shard's (0 sent here); receiver 0
        // expects both, receiver 1 publisher 1 only, whose message to receiver 0
        // arrives twice.
        let mut c = Collector::new(2);
        c.absorb(Update::Published {
            publisher: 0,
            count: 2,
        });
        let samples = vec![sample(0, 0, 0, 5), sample(1, 0, 0, 5), sample(1, 0, 0, 5)];
        c.absorb(Update::Samples {
            receiver: 0,
            samples,
            payload_len: 64,
        });
        c.absorb(Update::Samples {
            receiver: 1,
            samples: vec![sample(1, 0, 0, 5), sample(0, 1, 0, 5)],
            payload_len: 64,
        });
        let by = c.received_by_publisher(|p| if p == 0 { &[0] } else { &[0, 1] });
        assert_eq!(by, [1, 2], "the duplicate and the unexpected one left out");
    }

    #[test]
    fn warmup_messages_count_for_loss_but_not_for_latency() {
        let mut c = Collector::new(1);
        c.set_measure_from(5_000_000);
        c.absorb(Update::Published {
            publisher: 0,
            count: 4,
        });
        let samples = (0..4).map(|s| sample(0, s, s * 2_000_000, 1_000)).collect();
        c.absorb(Update::Samples {
            receiver: 0,
            samples,
            payload_len: 100,
        });
        assert_eq!(c.warmup_excluded(), 3);
        assert_eq!(c.latency_stats().unwrap().count, 1);
        let (n, bytes, secs) = c.measured();
        assert_eq!((n, bytes), (1, 100));
        assert!((secs - 0.002).abs() < 1e-9, "{secs}");
        assert_eq!(c.deliveries(|_| &[0]).lost, 0);
    }

    #[test]
    fn connect_figures_and_errors_by_kind() {
        let mut c = Collector::new(0);
        c.absorb(Update::Connected {
            connect_us: 500,
            at_ns: 0,
        });
        c.absorb(Update::Connected {
            connect_us: 700,
            at_ns: 1_000_000_000,
        });
        c.absorb(Update::Connected {
            connect_us: 900,
            at_ns: 2_000_000_000,
        });
        c.absorb(Update::ConnectFailed {
            kind: "connect_timed_out",
            detail: None,
        });
        for detail in ["bad certificate", "another"] {
            c.absorb(Update::ConnectFailed {
                kind: "connect_tls",
                detail: Some(detail.into()),
            });
        }
        c.absorb(Update::Dropped);
        let f = c.client_figures(5);
        assert_eq!((f.connected, f.failed, f.dropped), (3, 3, 1));
        assert_eq!(c.connects_per_sec(), Some(1.5));
        assert_eq!(c.connect_stats().unwrap().max, 900);
        assert_eq!(c.errors().get("connect_timed_out"), Some(&1));
        assert_eq!(c.errors().get("dropped"), Some(&1));
        assert_eq!(c.errors().get("connect_tls"), Some(&2));
        // The first message of a kind is kept, once.
        assert_eq!(c.error_details().len(), 1);
        assert_eq!(c.error_details()["connect_tls"], "bad certificate");
    }

    #[test]
    fn reconnects_add_connect_times_and_failures_their_kind() {
        let mut c = Collector::new(0);
        c.absorb(Update::Connected {
            connect_us: 500,
            at_ns: 1_000,
        });
        c.absorb(Update::Reconnected { connect_us: 9_000 });
        c.absorb(Update::ReconnectFailed {
            kind: "connect_refused",
        });
        assert_eq!(
            c.churned(),
            Churned {
                reconnects: 1,
                failed: 1
            }
        );
        assert_eq!(c.connect_stats().unwrap().count, 2);
        assert_eq!(c.client_figures(1).connected, 1, "clients, not connections");
        assert_eq!(c.errors().get("connect_refused"), Some(&1));
    }

    #[test]
    fn connections_open_now_go_down_with_churn_and_drops_and_up_with_reconnects() {
        let mut c = Collector::new(0);
        for at_ns in [0, 1] {
            c.absorb(Update::Connected {
                connect_us: 500,
                at_ns,
            });
        }
        assert_eq!(c.connected_now(), 2);
        c.absorb(Update::Disconnected);
        assert_eq!(c.connected_now(), 1, "a churn disconnect");
        c.absorb(Update::ReconnectFailed {
            kind: "connect_refused",
        });
        assert_eq!(
            c.connected_now(),
            1,
            "a failed reconnect gives nothing back"
        );
        c.absorb(Update::Reconnected { connect_us: 700 });
        c.absorb(Update::Dropped);
        assert_eq!(c.connected_now(), 1, "back, then one dropped");
        assert_eq!(
            c.client_figures(2).connected,
            2,
            "the report counts clients"
        );
    }
}

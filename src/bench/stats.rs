//! The bench's statistics primitives: HDR latency histograms in microseconds (1 µs to
//! ten minutes, three significant digits) and per-publisher sequence tracking that
//! counts unique, duplicate and reordered messages.
//! Must not do I/O, read a clock or know about connections: callers hand in numbers.

use std::collections::BTreeSet;

use hdrhistogram::Histogram;

use super::report::{HistogramSettings, LatencyStats};

/// The largest latency a histogram tells apart: ten minutes. Longer ones are recorded
/// as ten minutes (they are long enough to make the point).
pub const MAX_LATENCY_US: u64 = 600_000_000;

/// Digits of precision kept at every magnitude: 1 µs at 1 ms, 1 ms at 1 s.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// The smallest value told apart.
pub const LOWEST_US: u64 = 1;

/// A latency histogram in microseconds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, MAX_LATENCY_US, SIGNIFICANT_DIGITS)
        .expect("bounds 1..MAX_LATENCY_US with 3 digits are valid for hdrhistogram")
}

/// The settings of `new_histogram`, for reports that carry histograms.
pub fn settings() -> HistogramSettings {
    HistogramSettings {
        lowest_us: LOWEST_US,
        highest_us: MAX_LATENCY_US,
        significant_digits: SIGNIFICANT_DIGITS,
    }
}

/// Records one value, clamping it into the histogram's range.
pub fn record(histogram: &mut Histogram<u64>, value_us: u64) {
    histogram.saturating_record(value_us.min(MAX_LATENCY_US));
}

/// Merges `from` into `into`; both come from `new_histogram`, so this cannot fail.
pub fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    // Same bounds and precision on both sides, and `into` is not auto-resizing but its
    // range covers every value `record` lets in; `add` only fails past the range.
    if into.add(from).is_err() {
        for v in from.iter_recorded() {
            into.saturating_record_n(
                v.value_iterated_to().min(MAX_LATENCY_US),
                v.count_at_value(),
            );
        }
    }
}

/// A histogram in HdrHistogram's compressed V2 form (deflate), base64: exact, and what
/// HdrHistogram's other tools read.
pub fn encode(histogram: &Histogram<u64>) -> String {
    use base64::Engine as _;
    use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .expect("serializing into a Vec does not fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The histogram `encode` wrote; an error says what is wrong with the text.
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    use base64::Engine as _;
    use hdrhistogram::serialization::Deserializer;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("not an HdrHistogram V2 histogram: {e:?}"))
}

/// Percentiles, mean and max of a histogram; `None` when it is empty.
pub fn summarize(histogram: &Histogram<u64>) -> Option<LatencyStats> {
    if histogram.is_empty() {
        return None;
    }
    Some(LatencyStats {
        count: histogram.len(),
        min: histogram.min(),
        p50: histogram.value_at_quantile(0.50),
        p90: histogram.value_at_quantile(0.90),
        p99: histogram.value_at_quantile(0.99),
        p999: histogram.value_at_quantile(0.999),
        max: histogram.max(),
        mean: (histogram.mean() * 10.0).round() / 10.0,
    })
}

/// How a sequence number compared with what came before from the same publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// First time seen, in order.
    InOrder,
    /// First time seen, but after a higher sequence number.
    Reordered,
    /// Seen before: the broker delivered it twice.
    Duplicate,
}

/// Out-of-order sequence numbers remembered above the lowest gap before that gap is
/// given up as lost; bounds memory when a QoS 0 broker drops messages.
const REORDER_WINDOW: usize = 65_536;

/// What one receiver (a subscriber, or a shared-subscription group) has seen from one
/// publisher. In-order arrival costs a compare and an increment; only messages that
/// arrive ahead of a gap are kept in a set.
#[derive(Debug, Clone, Default)]
pub struct SequenceTracker {
    /// Every sequence below this has been decided (received, or given up as lost).
    next: u64,
    /// Received sequences above `next`.
    ahead: BTreeSet<u64>,
    /// Highest sequence received.
    max_seen: Option<u64>,
    /// Distinct sequences received.
    pub unique: u64,
    /// Sequences received again.
    pub duplicates: u64,
    /// Sequences received after a higher one.
    pub reordered: u64,
    /// Do not count reordering: the receiver is a shared-subscription group, whose
    /// members' batches reach the collector in no particular order, and MQTT orders
    /// messages per connection only (MQTT 5.0 §4.6).
    pub unordered: bool,
    /// Sequences skipped while the receiver was unsubscribed (`--flap-interval`): not
    /// expected, so neither received nor lost.
    pub excused: u64,
    /// The receiver subscribed again: the gap up to the next arrival is excused.
    excuse_next_gap: bool,
    /// Excused ranges above an open gap (`next`), in order: skipped when `next` gets there.
    excused_holes: Vec<std::ops::Range<u64>>,
}

impl SequenceTracker {
    /// A tracker that counts loss and duplicates but not reordering (`unordered`).
    pub fn new(unordered: bool) -> SequenceTracker {
        SequenceTracker {
            unordered,
            ..SequenceTracker::default()
        }
    }

    /// The receiver was away (unsubscribed) and is back: what it misses up to its next
    /// arrival was not sent to it.
    pub fn resubscribed(&mut self) {
        self.excuse_next_gap = true;
    }

    /// Accounts for one arrival of `sequence`.
    pub fn observe(&mut self, sequence: u64) -> Arrival {
        if std::mem::take(&mut self.excuse_next_gap) {
            self.excuse_up_to(sequence);
        }
        if sequence < self.next || self.ahead.contains(&sequence) {
            // Below `next` after the window slid past a gap this may be a very late
            // first arrival; it cannot be told from a duplicate any more, and counting
            // it as one errs on the side of reporting a broker problem.
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.unique += 1;
        let arrival = match self.max_seen {
            Some(max) if sequence < max && !self.unordered => {
                self.reordered += 1;
                Arrival::Reordered
            }
            _ => Arrival::InOrder,
        };
        self.max_seen = Some(self.max_seen.map_or(sequence, |m| m.max(sequence)));
        if sequence == self.next {
            self.next += 1;
            self.advance();
        } else {
            self.ahead.insert(sequence);
            if self.ahead.len() > REORDER_WINDOW {
                // Give up on the oldest gap: those messages count as lost.
                if let Some(first) = self.ahead.pop_first() {
                    self.next = first + 1;
                    self.advance();
                }
            }
        }
        arrival
    }

    /// Excuses the sequences after the highest one seen up to `sequence`: the receiver
    /// was away. Gaps below the highest one opened while it was there: they stay.
    fn excuse_up_to(&mut self, sequence: u64) {
        let from = self.max_seen.map_or(0, |max| max + 1).max(self.next);
        if sequence <= from {
            return;
        }
        self.excused += sequence - from;
        if from == self.next {
            self.next = sequence;
        } else {
            self.excused_holes.push(from..sequence);
        }
    }

    fn advance(&mut self) {
        loop {
            if self.ahead.first() == Some(&self.next) {
                self.ahead.pop_first();
                self.next += 1;
            } else if let Some(hole) = self.excused_holes.first().cloned() {
                if hole.start > self.next {
                    break;
                }
                self.next = self.next.max(hole.end);
                self.excused_holes.remove(0);
            } else {
                break;
            }
        }
    }

    /// Sequences missing below the highest one received: lost so far, as far as this
    /// receiver can tell while messages are still in flight.
    pub fn gaps(&self) -> u64 {
        self.max_seen.map_or(0, |max| {
            (max + 1).saturating_sub(self.unique + self.excused)
        })
    }

    /// Messages missing out of `sent` (sequences `0..sent`), the excused ones left out.
    pub fn lost(&self, sent: u64) -> u64 {
        sent.saturating_sub(self.unique + self.excused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_counts_in_order_messages_as_unique() {
        let mut t = SequenceTracker::default();
        for s in 0..1000 {
            assert_eq!(t.observe(s), Arrival::InOrder);
        }
        assert_eq!(
            (t.unique, t.duplicates, t.reordered, t.lost(1000)),
            (1000, 0, 0, 0)
        );
        assert!(t.ahead.is_empty());
    }

    #[test]
    fn tracker_counts_gaps_as_lost_and_repeats_as_duplicates() {
        let mut t = SequenceTracker::default();
        for s in [0, 1, 3, 4, 4, 1, 7] {
            t.observe(s);
        }
        assert_eq!(t.unique, 5);
        assert_eq!(t.duplicates, 2);
        assert_eq!(t.reordered, 0);
        // 0..8 sent: 2, 5, 6 missing.
        assert_eq!(t.lost(8), 3);
        // 0..=7 seen up to: 2, 5, 6 missing so far.
        assert_eq!(t.gaps(), 3);
    }

    #[test]
    fn tracker_counts_late_arrivals_as_reordered_not_lost() {
        let mut t = SequenceTracker::default();
        for s in [0, 2, 3, 1, 5, 4] {
            t.observe(s);
        }
        assert_eq!(
            (t.unique, t.duplicates, t.reordered, t.lost(6)),
            (6, 0, 2, 0)
        );
        assert!(
            t.ahead.is_empty(),
            "the gap closed, nothing left to remember"
        );
        assert_eq!(t.observe(2), Arrival::Duplicate);
    }

    #[test]
    fn an_unordered_tracker_counts_loss_and_duplicates_but_not_reordering() {
        let mut t = SequenceTracker {
            unordered: true,
            ..SequenceTracker::default()
        };
        for s in [2, 0, 1, 1] {
            t.observe(s);
        }
        assert_eq!(
            (t.unique, t.duplicates, t.reordered, t.lost(4)),
            (3, 1, 0, 1)
        );
    }

    #[test]
    fn the_gap_of_a_resubscribe_is_excused_not_lost_and_later_gaps_count_again() {
        let mut t = SequenceTracker::default();
        for s in [0, 1, 3] {
            t.observe(s);
        }
        t.resubscribed();
        // Away for 4..=6; 2 went missing while it was there.
        for s in [7, 8, 10] {
            assert_eq!(t.observe(s), Arrival::InOrder);
        }
        assert_eq!(t.excused, 3, "4, 5, 6");
        assert_eq!(t.lost(11), 2, "2 and 9 went missing while subscribed");
        assert_eq!(t.gaps(), 2);
        assert_eq!(t.observe(3), Arrival::Duplicate);
        t.resubscribed();
        t.observe(11);
        assert_eq!((t.excused, t.lost(12)), (3, 2), "no gap, nothing excused");
        // The late ones close their gaps, and the excused hole is stepped over.
        assert_eq!(t.observe(2), Arrival::Reordered);
        assert_eq!(t.observe(9), Arrival::Reordered);
        assert_eq!((t.next, t.ahead.len(), t.lost(12)), (12, 0, 0));
        assert!(t.excused_holes.is_empty());
    }

    #[test]
    fn tracker_memory_stays_bounded_when_a_gap_never_closes() {
        let mut t = SequenceTracker::default();
        let n = REORDER_WINDOW as u64 + 10;
        for s in 1..=n {
            t.observe(s);
        }
        assert!(t.ahead.len() <= REORDER_WINDOW);
        assert_eq!(t.unique, n);
        assert_eq!(t.lost(n + 1), 1, "sequence 0 never came");
    }

    #[test]
    fn histogram_summary_has_percentiles_in_order() {
        let mut h = new_histogram();
        for v in 1..=10_000u64 {
            record(&mut h, v);
        }
        let s = summarize(&h).unwrap();
        assert_eq!(s.count, 10_000);
        assert!(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.p999);
        assert!(s.p999 <= s.max);
        assert!((4_990..=5_010).contains(&s.p50), "p50 = {}", s.p50);
        assert!((9_890..=9_910).contains(&s.p99), "p99 = {}", s.p99);
        assert!((s.mean - 5_000.5).abs() < 5.0, "mean = {}", s.mean);
        assert!(summarize(&new_histogram()).is_none());
    }

    #[test]
    fn histograms_round_trip_exactly_through_their_text_form() {
        let mut h = new_histogram();
        for v in [1, 7, 250, 250, 99_999, MAX_LATENCY_US] {
            record(&mut h, v);
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back, h);
        assert!(decode("not base64!").unwrap_err().contains("not base64"));
        assert!(decode("aGVsbG8=")
            .unwrap_err()
            .contains("not an HdrHistogram"));
    }

    #[test]
    fn histogram_clamps_huge_values_and_merges() {
        let mut a = new_histogram();
        let mut b = new_histogram();
        record(&mut a, u64::MAX);
        record(&mut b, 0);
        record(&mut b, 250);
        merge(&mut a, &b);
        assert_eq!(a.len(), 3);
        let s = summarize(&a).unwrap();
        assert!(s.max >= MAX_LATENCY_US && s.max <= MAX_LATENCY_US + MAX_LATENCY_US / 1000);
        assert_eq!(s.min, 0);
    }
}

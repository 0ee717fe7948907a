//! Broker statistics and the `$SYS/broker/...` topics mosquitto publishes (version,
//! uptime, clients, messages, subscriptions, retained count). Counters are relaxed
//! atomics bumped on the hot path; this file only reads them to build the topic list
//! and remembers what was published last, so that only changes go out again.
//! Must not publish or schedule anything itself (`Shared::publish_sys` does, from the
//! housekeeping tick and before a `$SYS` subscription takes the retained values).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::broker::fault::action::{KINDS, SYS_TOPICS};

/// Broker-wide counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// PUBLISH packets received from clients (and wills published).
    pub publish_received: AtomicU64,
    /// PUBLISH packets sent to clients.
    pub publish_sent: AtomicU64,
    /// Messages dropped because a session's queue was full.
    pub dropped: AtomicU64,
    /// Bytes read from clients.
    pub bytes_received: AtomicU64,
    /// Bytes written to clients.
    pub bytes_sent: AtomicU64,
    /// Network connections accepted since start.
    pub connections_total: AtomicU64,
}

/// Gauges read at the time the topics are built.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Time since start.
    pub uptime: Duration,
    /// Connected clients.
    pub clients_connected: usize,
    /// Sessions kept for disconnected clients.
    pub clients_disconnected: usize,
    /// Subscriptions.
    pub subscriptions: usize,
    /// Retained messages.
    pub retained: usize,
    /// Fault and trace counters, when either is on.
    pub fixture: Option<FixtureGauges>,
}

/// What `$SYS/broker/faults/...` and `$SYS/broker/trace/...` show.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixtureGauges {
    /// Faults fired by action (in the order of `fault::action::KINDS`), and rules in force.
    pub faults: Option<([u64; KINDS.len()], usize)>,
    /// Trace lines queued and dropped.
    pub trace: Option<(u64, u64)>,
}

/// The `$SYS` values published last.
#[derive(Debug, Default)]
pub struct SysState {
    last: Mutex<Vec<(&'static str, String)>>,
}

impl SysState {
    /// Calls `publish` for every topic whose value changed since the last refresh
    /// (all of them the first time). The gauges are read and published under one lock,
    /// so two refreshes at once cannot publish an older value after a newer one.
    pub fn refresh(
        &self,
        stats: &Stats,
        gauges: impl FnOnce() -> Gauges,
        mut publish: impl FnMut(&'static str, &str),
    ) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let topics = sys_topics(stats, gauges());
        for (topic, value) in &topics {
            if !last.iter().any(|(t, v)| t == topic && v == value) {
                publish(topic, value);
            }
        }
        *last = topics;
    }
}

/// `(topic, payload)` for every `$SYS` topic, mosquitto's names.
pub fn sys_topics(stats: &Stats, gauges: Gauges) -> Vec<(&'static str, String)> {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed).to_string();
    let received = get(&stats.publish_received);
    let sent = get(&stats.publish_sent);
    let mut topics = vec![
        (
            "$SYS/broker/version",
            format!("mqtk version {}", env!("CARGO_PKG_VERSION")),
        ),
        (
            "$SYS/broker/uptime",
            format!("{} seconds", gauges.uptime.as_secs()),
        ),
        (
            "$SYS/broker/clients/connected",
            gauges.clients_connected.to_string(),
        ),
        (
            "$SYS/broker/clients/active",
            gauges.clients_connected.to_string(),
        ),
        (
            "$SYS/broker/clients/disconnected",
            gauges.clients_disconnected.to_string(),
        ),
        (
            "$SYS/broker/clients/inactive",
            gauges.clients_disconnected.to_string(),
        ),
        (
            "$SYS/broker/clients/total",
            (gauges.clients_connected + gauges.clients_disconnected).to_string(),
        ),
        ("$SYS/broker/messages/received", received.clone()),
        ("$SYS/broker/messages/sent", sent.clone()),
        ("$SYS/broker/publish/messages/received", received),
        ("$SYS/broker/publish/messages/sent", sent),
        ("$SYS/broker/publish/messages/dropped", get(&stats.dropped)),
        ("$SYS/broker/bytes/received", get(&stats.bytes_received)),
        ("$SYS/broker/bytes/sent", get(&stats.bytes_sent)),
        (
            "$SYS/broker/subscriptions/count",
            gauges.subscriptions.to_string(),
        ),
        (
            "$SYS/broker/retained messages/count",
            gauges.retained.to_string(),
        ),
    ];
    if let Some(fixture) = gauges.fixture {
        fixture_topics(fixture, &mut topics);
    }
    topics
}

/// `$SYS/broker/faults/...` (fired in all and by action, rules in force) and
/// `$SYS/broker/trace/...` (lines, dropped).
fn fixture_topics(fixture: FixtureGauges, topics: &mut Vec<(&'static str, String)>) {
    if let Some((fired, rules)) = fixture.faults {
        let total: u64 = fired.iter().sum();
        topics.push(("$SYS/broker/faults/fired", total.to_string()));
        for (topic, n) in SYS_TOPICS.iter().zip(fired) {
            topics.push((topic, n.to_string()));
        }
        topics.push(("$SYS/broker/faults/rules", rules.to_string()));
    }
    if let Some((lines, dropped)) = fixture.trace {
        topics.push(("$SYS/broker/trace/lines", lines.to_string()));
        topics.push(("$SYS/broker/trace/dropped", dropped.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_carry_counters_and_gauges() {
        let stats = Stats::default();
        stats.publish_received.fetch_add(3, Ordering::Relaxed);
        let topics = sys_topics(
            &stats,
            Gauges {
                uptime: Duration::from_secs(7),
                clients_connected: 2,
                ..Gauges::default()
            },
        );
        let get = |t: &str| {
            topics
                .iter()
                .find(|(n, _)| *n == t)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("$SYS/broker/uptime"), "7 seconds");
        assert_eq!(get("$SYS/broker/clients/connected"), "2");
        assert_eq!(get("$SYS/broker/messages/received"), "3");
        assert!(get("$SYS/broker/version").starts_with("mqtk version "));
    }

    #[test]
    fn a_refresh_publishes_everything_first_then_only_changes() {
        let state = SysState::default();
        let stats = Stats::default();
        let mut published = Vec::new();
        let gauges = Gauges::default;
        state.refresh(&stats, gauges, |t, v| published.push((t, v.to_string())));
        assert_eq!(published.len(), sys_topics(&stats, gauges()).len());
        published.clear();
        state.refresh(&stats, gauges, |t, v| published.push((t, v.to_string())));
        assert!(published.is_empty(), "{published:?}");
        stats.publish_received.fetch_add(1, Ordering::Relaxed);
        let connected = || Gauges {
            clients_connected: 1,
            ..Gauges::default()
        };
        state.refresh(&stats, connected, |t, v| published.push((t, v.to_string())));
        published.sort();
        let names: Vec<_> = published.iter().map(|(t, v)| format!("{t} {v}")).collect();
        assert_eq!(
            names,
            [
                "$SYS/broker/clients/active 1",
                "$SYS/broker/clients/connected 1",
                "$SYS/broker/clients/total 1",
                "$SYS/broker/messages/received 1",
                "$SYS/broker/publish/messages/received 1",
            ]
        );
    }
}

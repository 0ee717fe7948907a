//! The abuse limits' bookkeeping (issue 16): the log line when a limit is hit, at most
//! one per limit every 10 s with the number of hits since the last line, so a flood
//! that hits a limit a million times a second says so without flooding stderr; and the
//! count of connections per IP address behind `--max-connections-per-ip`. Must not
//! decide what hitting a limit does: the callers refuse, drop or disconnect.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::broker::clock::clock_ms;
use crate::broker::config::BrokerConfig;
use crate::protocol::ReasonCode;

/// A limit a client can run into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `--max-queued-bytes`.
    QueuedBytes,
    /// `--max-subscriptions-per-client`.
    Subscriptions,
    /// `--max-topic-levels`.
    TopicLevels,
    /// `--max-retained`.
    Retained,
    /// `--max-retained-bytes`.
    RetainedBytes,
    /// `--max-connections-per-ip`.
    ConnectionsPerIp,
}

const LIMITS: usize = 6;

/// How often a limit's line may be logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

impl Limit {
    /// The flag that sets it.
    pub fn flag(self) -> &'static str {
        match self {
            Limit::QueuedBytes => "--max-queued-bytes",
            Limit::Subscriptions => "--max-subscriptions-per-client",
            Limit::TopicLevels => "--max-topic-levels",
            Limit::Retained => "--max-retained",
            Limit::RetainedBytes => "--max-retained-bytes",
            Limit::ConnectionsPerIp => "--max-connections-per-ip",
        }
    }
}

struct Hits {
    /// Hits not yet reported.
    count: AtomicU64,
    /// When the last line was logged (`clock_ms`), 0: never.
    logged_ms: AtomicU64,
}

// One per process (bench's embedded broker and serve run one broker each): the route
// layer, which hits most limits, has no broker handle to log through.
static HITS: [Hits; LIMITS] = [const {
    Hits {
        count: AtomicU64::new(0),
        logged_ms: AtomicU64::new(0),
    }
}; LIMITS];

/// Counts a hit of `limit`; logs `what` (always, whatever `-v`) unless a line for this
/// limit went out less than 10 s ago, in which case the next line counts this one.
/// `what` is only formatted when logged.
pub fn hit(limit: Limit, what: impl FnOnce() -> String) {
    let hits = &HITS[limit as usize];
    hits.count.fetch_add(1, Ordering::Relaxed);
    let now = clock_ms(Instant::now());
    let last = hits.logged_ms.load(Ordering::Relaxed);
    if last != 0 && now.saturating_sub(last) < LOG_EVERY.as_millis() as u64 {
        return;
    }
    // One thread wins the right to log this period.
    if hits
        .logged_ms
        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    let count = hits.count.swap(0, Ordering::Relaxed).max(1);
    let more = if count > 1 {
        format!(" ({count} times since the last such line)")
    } else {
        String::new()
    };
    crate::output::log_line(format_args!(
        "{}: Limit {} reached: {}{more}.",
        crate::broker::clock::timestamp(),
        limit.flag(),
        what()
    ));
}

/// Connections open per IP address, for `--max-connections-per-ip`.
#[derive(Debug, Default)]
pub struct PerIp {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place in `PerIp`, given back when dropped.
#[derive(Debug)]
pub struct IpSlot {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl PerIp {
    /// A place for a connection from `ip`, or `None` when `max` are open already.
    pub fn enter(&self, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            open: self.open.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// `--max-topic-levels` for a PUBLISH topic: the reason to refuse it with (logged).
pub fn check_topic(config: &BrokerConfig, client_id: &str, topic: &str) -> Result<(), ReasonCode> {
    let max = config.max_topic_levels;
    if topic_levels(topic) <= max {
        return Ok(());
    }
    hit(Limit::TopicLevels, || {
        format!("client {client_id} published to a topic of more than {max} levels; dropped")
    });
    Err(ReasonCode::TopicNameInvalid)
}

/// `--max-topic-levels` and `--max-subscriptions-per-client` for one filter of a
/// SUBSCRIBE by a session that holds `held` subscriptions (`exists`: this filter among
/// them, so it replaces one): the SUBACK reason to refuse it with (logged).
pub fn check_subscription(
    config: &BrokerConfig,
    client_id: &str,
    filter: &str,
    held: usize,
    exists: bool,
) -> Result<(), ReasonCode> {
    let max = config.max_topic_levels;
    if topic_levels(filter) > max {
        hit(Limit::TopicLevels, || {
            format!("client {client_id} subscribed to a filter of more than {max} levels; refused")
        });
        return Err(ReasonCode::TopicFilterInvalid);
    }
    let max = config.max_subscriptions_per_client;
    if !exists && held >= max {
        hit(Limit::Subscriptions, || {
            format!("client {client_id} holds {held} subscriptions; refusing {filter}")
        });
        // MQTT 5.0 §3.9.3: 0x97 Quota exceeded (3.1.1: 0x80).
        return Err(ReasonCode::QuotaExceeded);
    }
    Ok(())
}

/// The number of levels of a topic name or filter (`a/b` has 2, `$share/g/a/b` 4).
pub fn topic_levels(topic: &str) -> usize {
    topic.bytes().filter(|&b| b == b'/').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ip_gets_at_most_max_places_and_gets_them_back() {
        let per_ip = PerIp::default();
        let ip: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let a = per_ip.enter(ip, 2).expect("first");
        let _b = per_ip.enter(ip, 2).expect("second");
        assert!(per_ip.enter(ip, 2).is_none(), "third refused");
        assert!(
            per_ip.enter(other, 2).is_some(),
            "another address is not counted"
        );
        drop(a);
        assert!(
            per_ip.enter(ip, 2).is_some(),
            "a place freed is given again"
        );
    }

    #[test]
    fn levels_are_counted_by_separators() {
        assert_eq!(topic_levels(""), 1);
        assert_eq!(topic_levels("a"), 1);
        assert_eq!(topic_levels("a/b/"), 3);
        assert_eq!(topic_levels(&"a/".repeat(999)), 1000);
    }
}

//! The abuse limits' bookkeeping (issue 16): the log line when a limit is hit, at most
//! one per limit every 10 s with the number of hits since the last line, so a flood
//! that hits a limit a million times a second says so without flooding stderr; and the
//! count of connections per IP address behind `--max-connections-per-ip`, and the
//! per-address token buckets behind `--max-connect-rate`. Must not decide what hitting
//! a limit does: the callers refuse, drop or disconnect.

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
    /// `--max-connect-rate`.
    ConnectRate,
}

const LIMITS: usize = 7;

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
            Limit::ConnectRate => "--max-connect-rate",
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

/// CONNECTs taken per IP address, for `--max-connect-rate`: a token bucket per
/// address that holds at most `rate` tokens and gains `rate` a second, so an address
/// may connect `rate` times at once and then `rate` times a second.
#[derive(Debug, Default)]
pub struct ConnectRate {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Thousandths of a token.
    milli_tokens: u64,
    /// When `milli_tokens` was last brought up to date (`clock_ms`).
    at_ms: u64,
}

/// Addresses tracked before the full buckets are forgotten (a full bucket is the same
/// as none), so that many addresses cannot grow the map without bound.
const BUCKETS_KEPT: usize = 4096;

impl ConnectRate {
    /// Takes a token for a CONNECT from `ip` at `now_ms`; false when it has none left.
    pub fn take(&self, ip: IpAddr, rate: u32, now_ms: u64) -> bool {
        let full = u64::from(rate) * 1000;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= BUCKETS_KEPT && !buckets.contains_key(&ip) {
            buckets.retain(|_, b| refilled(*b, rate, now_ms) < full);
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            milli_tokens: full,
            at_ms: now_ms,
        });
        bucket.milli_tokens = refilled(*bucket, rate, now_ms).min(full);
        bucket.at_ms = bucket.at_ms.max(now_ms);
        if bucket.milli_tokens < 1000 {
            return false;
        }
        bucket.milli_tokens -= 1000;
        true
    }
}

/// The bucket's thousandths of a token at `now_ms` (one token per 1/rate s).
fn refilled(b: Bucket, rate: u32, now_ms: u64) -> u64 {
    let elapsed = now_ms.saturating_sub(b.at_ms);
    b.milli_tokens
        .saturating_add(elapsed.saturating_mul(u64::from(rate)))
}

/// `--max-connect-rate` for a CONNECT from `ip`: the reason to refuse it with (logged).
pub fn check_connect_rate(
    config: &BrokerConfig,
    rate: &ConnectRate,
    ip: IpAddr,
) -> Result<(), ReasonCode> {
    let Some(max) = config.max_connect_rate else {
        return Ok(());
    };
    if rate.take(ip, max, clock_ms(Instant::now())) {
        return Ok(());
    }
    hit(Limit::ConnectRate, || {
        format!("{ip} sent more than {max} CONNECTs a second; refusing with CONNACK 0x9F")
    });
    // MQTT 5.0 §3.2.2.2: 0x9F Connection rate exceeded (3.1.1: 3, server unavailable).
    Err(ReasonCode::ConnectionRateExceeded)
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
    fn an_ip_connects_rate_times_at_once_then_rate_a_second() {
        let rate = ConnectRate::default();
        let ip: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let taken = (0..10).filter(|_| rate.take(ip, 4, 1000)).count();
        assert_eq!(taken, 4, "a burst of the rate");
        assert!(
            rate.take(other, 4, 1000),
            "another address has its own bucket"
        );
        assert!(!rate.take(ip, 4, 1200), "0.8 tokens after 200 ms");
        assert!(rate.take(ip, 4, 1250), "one token after 250 ms");
        let taken = (0..10).filter(|_| rate.take(ip, 4, 60_000)).count();
        assert_eq!(taken, 4, "a long pause refills to the rate, not beyond");
    }

    #[test]
    fn full_buckets_are_forgotten_when_many_addresses_connected() {
        let rate = ConnectRate::default();
        for i in 0..BUCKETS_KEPT as u32 {
            assert!(rate.take(IpAddr::from(i.to_be_bytes()), 1, 0));
        }
        // 2 s later every bucket is full again: the next address makes room.
        assert!(rate.take([10, 0, 0, 1].into(), 1, 2000));
        let kept = rate.buckets.lock().unwrap().len();
        assert_eq!(kept, 1, "only the new address is kept");
    }

    #[test]
    fn levels_are_counted_by_separators() {
        assert_eq!(topic_levels(""), 1);
        assert_eq!(topic_levels("a"), 1);
        assert_eq!(topic_levels("a/b/"), 3);
        assert_eq!(topic_levels(&"a/".repeat(999)), 1000);
    }
}

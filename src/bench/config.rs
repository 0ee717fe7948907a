//! `BenchConfig`: the checked configuration of a bench run, built by `cli/bench.rs`
//! from its flags (nothing below `cli/` sees clap types), and the `%i` topic templates.
//! Must not connect or measure; `check` rejects bad combinations with a message that
//! names the flag.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::protocol::{ProtocolVersion, QoS};

use super::conn::TlsTarget;
use super::header::HEADER_LEN;
use super::shard::{Shard, StartRule};

/// Where the broker under test is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A broker at `host:port` (`-h`/`-p`/`-L`).
    Remote {
        /// Host name or address.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// Start `mqtk serve`'s broker in-process on a free port (no `-h`/`-L`).
    Embedded,
}

/// When publishing stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RunBound {
    /// Each publisher sends this many messages (`--messages`).
    Messages(u64),
    /// Publishers send for this long (`--duration`).
    Duration(Duration),
}

/// Everything a bench run needs, checked.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The broker.
    pub target: Target,
    /// MQTT version every client speaks.
    pub version: ProtocolVersion,
    /// True when `-V` chose the version: no fall back from 5 to 3.1.1.
    pub version_fixed: bool,
    /// Publish and subscription QoS.
    pub qos: QoS,
    /// Publish with the RETAIN flag.
    pub retain: bool,
    /// Payload size in bytes, header included (at least `HEADER_LEN`).
    pub size: usize,
    /// Publishing clients.
    pub publishers: u32,
    /// Subscribing clients.
    pub subscribers: u32,
    /// Clients that only connect (and disconnect) for the connection-only scenario.
    pub connect_only_clients: u32,
    /// Message count or duration.
    pub bound: RunBound,
    /// Per-publisher fixed rate (msgs/s); `None` is as fast as possible.
    pub rate: Option<f64>,
    /// Warm-up at the start of publishing, excluded from latency and throughput.
    pub warmup: Duration,
    /// QoS 1/2 messages in flight per publisher at most; `None`: the broker's Receive
    /// Maximum (20 on MQTT 3.1.1, mosquitto's default). Always capped by the broker's.
    pub inflight: Option<u16>,
    /// MQTT 5 Receive Maximum every client announces in its CONNECT: at most N QoS 1/2
    /// messages unacknowledged from the broker to one subscriber. `None` announces none,
    /// which MQTT 5 reads as 65,535 (what most clients do).
    pub receive_maximum: Option<u16>,
    /// Publisher topic template; `%i` is the publisher index.
    pub topic: String,
    /// Subscriber filter template; `%i` is the subscriber index.
    pub sub_topic: String,
    /// MQTT 5 shared subscription group: subscribers use `$share/GROUP/FILTER`.
    pub shared_group: Option<String>,
    /// New connections per second at most; `None` is unlimited.
    pub connect_rate: Option<f64>,
    /// Local source addresses, used round-robin (empty: the system picks).
    pub bind_addresses: Vec<IpAddr>,
    /// Client identifier prefix; each client appends its role and index.
    pub id_prefix: String,
    /// Keep alive in seconds.
    pub keep_alive_secs: u16,
    /// TLS for every connection (`None`: plain TCP).
    pub tls: Option<TlsTarget>,
    /// Credentials.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Vec<u8>>,
    /// How long one client may take from TCP connect to CONNACK (and SUBACK).
    pub connect_timeout: Duration,
    /// After publishing ends, how long to wait for outstanding deliveries and acks
    /// once no progress is made.
    pub drain_timeout: Duration,
    /// Write the latency histogram in the HdrHistogram interval log format.
    pub hdr_log: Option<PathBuf>,
    /// This process is one shard of a larger run (`--shard`); the counts and topics
    /// above are already its share.
    pub shard: Option<ShardPlan>,
    /// `--broker-pid`: the local broker process whose memory, descriptors and CPU the
    /// report and the series follow.
    pub broker_pid: Option<u32>,
    /// `--hold`: connection-only clients (with no publishers) stay connected this long
    /// once all are connected; `None`: they disconnect at once.
    pub hold: Option<Duration>,
    /// `--churn-rate`: the connection-only clients disconnect and connect again, this
    /// many reconnects per second in all, for the run's `--duration`.
    pub churn_rate: Option<f64>,
    /// `--flap-interval`: each subscriber unsubscribes this often while the publishers
    /// run, and subscribes again half an interval later (`--scenario flapping`).
    pub flap_interval: Option<Duration>,
}

/// A shard's place in its run, what the whole run asked for, and how shards start.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardPlan {
    pub shard: Shard,
    /// `shard::parameter_hash` of the whole run's parameters.
    pub parameter_hash: String,
    pub start: StartRule,
    /// The whole run's scenario name (a shard's share may look like another shape).
    pub scenario: String,
    /// `--cross-shard`: the clients are numbered in the whole run; `None` without it.
    pub cross: Option<CrossShard>,
}

/// A `--cross-shard` shard's place in the whole run: its publishers and subscribers are
/// numbered from the shares before it (topics, filters and payload headers carry these
/// global indices), so its subscribers can tell whose message, of which shard, arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossShard {
    /// Global index of this shard's first publisher.
    pub first_publisher: u32,
    /// Global index of this shard's first subscriber.
    pub first_subscriber: u32,
    /// Publishers of the whole run.
    pub run_publishers: u32,
    /// For each of this shard's publishers, the receivers of the whole run (on every
    /// shard) that expect its messages.
    pub heard_by: Vec<u32>,
}

impl BenchConfig {
    /// The `--cross-shard` numbering of this shard; `None` in other runs.
    pub fn cross(&self) -> Option<&CrossShard> {
        self.shard.as_ref().and_then(|s| s.cross.as_ref())
    }
}

impl BenchConfig {
    /// A configuration with the defaults of `mqtk bench`: fan-in from 10 publishers to
    /// one subscriber, QoS 0, 64 bytes, 1,000 messages each, against `target`.
    pub fn new(target: Target) -> BenchConfig {
        BenchConfig {
            target,
            version: ProtocolVersion::V5,
            version_fixed: false,
            qos: QoS::AtMostOnce,
            retain: false,
            size: 64,
            publishers: 10,
            subscribers: 1,
            connect_only_clients: 0,
            bound: RunBound::Messages(1000),
            rate: None,
            warmup: Duration::ZERO,
            inflight: None,
            receive_maximum: None,
            topic: "mqtk/bench/%i".into(),
            sub_topic: default_sub_topic("mqtk/bench/%i"),
            shared_group: None,
            connect_rate: None,
            bind_addresses: Vec::new(),
            id_prefix: format!("mqtk-bench-{}-", std::process::id()),
            keep_alive_secs: 60,
            tls: None,
            username: None,
            password: None,
            connect_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(2),
            hdr_log: None,
            shard: None,
            broker_pid: None,
            hold: None,
            churn_rate: None,
            flap_interval: None,
        }
    }

    /// Rejects combinations that cannot run, naming the flag to fix.
    pub fn check(&self) -> Result<(), String> {
        if self.size < HEADER_LEN {
            return Err(format!(
                "--size {} is smaller than the {HEADER_LEN}-byte bench header: use --size {HEADER_LEN} or more",
                self.size
            ));
        }
        if self.size > 256 * 1024 * 1024 {
            return Err(format!(
                "--size {} is over MQTT's 256 MB packet limit",
                self.size
            ));
        }
        if self.shared_group.is_some() && self.version != ProtocolVersion::V5 {
            return Err("--shared needs MQTT 5: drop -V 311".into());
        }
        if let Some(group) = &self.shared_group {
            if group.is_empty() || group.contains(['/', '+', '#']) {
                return Err(format!(
                    "--shared {group:?}: a group name is non-empty without '/', '+' or '#'"
                ));
            }
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(format!(
                    "--rate {rate}: give a positive number of messages per second"
                ));
            }
        }
        if let Some(rate) = self.connect_rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(format!(
                    "--connect-rate {rate}: give a positive number of connections per second"
                ));
            }
        }
        match self.bound {
            RunBound::Messages(0) if self.publishers > 0 => {
                return Err("--messages 0: give at least one message per publisher".into())
            }
            RunBound::Duration(d) if d.is_zero() => {
                return Err("--duration 0: give a positive duration".into())
            }
            _ => {}
        }
        if self.inflight == Some(0) {
            return Err("--inflight 0: QoS 1/2 need at least one message in flight".into());
        }
        if self.publishers + self.subscribers + self.connect_only_clients == 0 {
            return Err("no clients: give --publishers, --subscribers or --clients".into());
        }
        self.check_connect_only()?;
        self.check_flapping()?;
        if self.topic.is_empty() || self.topic.contains(['+', '#']) {
            return Err(format!(
                "--topic {:?}: a topic name is non-empty and has no '+' or '#'",
                self.topic
            ));
        }
        if self.sub_topic.is_empty() {
            return Err("--sub-topic is empty: give a topic filter".into());
        }
        Ok(())
    }

    /// `--hold` and `--churn-rate`, which shape the connection-only clients.
    fn check_connect_only(&self) -> Result<(), String> {
        if let Some(rate) = self.churn_rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(format!(
                    "--churn-rate {rate}: give a positive number of reconnects per second"
                ));
            }
            if self.connect_only_clients == 0 {
                return Err("--churn-rate: no clients to churn: give --clients N".into());
            }
            if !matches!(self.bound, RunBound::Duration(_)) {
                return Err(
                    "--churn-rate: churn runs for --duration: give one (30s, 5m, …)".into(),
                );
            }
            if self.hold.is_some() {
                return Err(
                    "--hold and --churn-rate: a churn run lasts --duration; drop --hold".into(),
                );
            }
        }
        if let Some(hold) = self.hold {
            if hold.is_zero() {
                return Err("--hold 0: give a positive duration".into());
            }
            if self.publishers + self.subscribers > 0 {
                return Err("--hold is for connection-only runs (--scenario connect): with publishers, the clients stay for the whole run".into());
            }
        }
        Ok(())
    }

    /// `--flap-interval`, which makes the subscribers flap.
    fn check_flapping(&self) -> Result<(), String> {
        let Some(interval) = self.flap_interval else {
            return Ok(());
        };
        if interval < Duration::from_millis(10) {
            return Err(format!(
                "--flap-interval {interval:?}: give 10ms or more (a subscriber stays away half of it)"
            ));
        }
        if self.subscribers == 0 || self.publishers == 0 {
            return Err(
                "--flap-interval: flapping needs publishers and subscribers: give --publishers N --subscribers N".into(),
            );
        }
        if self.shared_group.is_some() {
            return Err("--flap-interval and --shared: a group's members flap apart, so its gaps cannot be told from loss; drop one".into());
        }
        match self.bound {
            RunBound::Duration(d) if d >= interval => Ok(()),
            RunBound::Duration(_) => Err(format!(
                "--flap-interval {interval:?} is longer than --duration: no subscriber would flap"
            )),
            RunBound::Messages(_) => {
                Err("--flap-interval: flapping runs for --duration: give one (30s, 5m, …)".into())
            }
        }
    }

    /// How long connection-only clients stay connected (or churn) once all are
    /// connected, in a run without publishers.
    pub fn hold_for(&self) -> Option<Duration> {
        match (self.churn_rate, self.bound) {
            (Some(_), RunBound::Duration(d)) => Some(d),
            _ => self.hold,
        }
    }

    /// Every client the run opens.
    pub fn total_clients(&self) -> u32 {
        self.publishers + self.subscribers + self.connect_only_clients
    }

    /// The scenario's name in reports.
    pub fn scenario_name(&self) -> &'static str {
        if self.churn_rate.is_some() {
            "churn"
        } else if self.flap_interval.is_some() {
            "flapping"
        } else if self.publishers == 0 && self.subscribers == 0 {
            "connect-only"
        } else if self.shared_group.is_some() {
            "shared"
        } else if self.publishers == 1 && self.subscribers == 1 {
            "one-to-one"
        } else if self.publishers == self.subscribers && self.sub_topic.contains("%i") {
            "pairs"
        } else if self.publishers == 1 && self.subscribers > 1 {
            "fan-out"
        } else if self.subscribers <= self.publishers {
            "fan-in"
        } else {
            "custom"
        }
    }
}

/// `--sub-topic`'s default: the publish template with every level that holds `%i`
/// replaced by `+`, so `--topic 'b/%i'` alone is fan-in onto `b/+`.
pub fn default_sub_topic(topic: &str) -> String {
    topic
        .split('/')
        .map(|level| if level.contains("%i") { "+" } else { level })
        .collect::<Vec<_>>()
        .join("/")
}

/// A template with `%i` replaced by `index` (and `%%` by `%`).
pub fn expand(template: &str, index: u32) -> String {
    let mut out = String::with_capacity(template.len() + 8);
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.peek() {
                Some('i') => {
                    chars.next();
                    out.push_str(&index.to_string());
                    continue;
                }
                Some('%') => {
                    chars.next();
                    out.push('%');
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_the_index() {
        assert_eq!(expand("bench/%i", 7), "bench/7");
        assert_eq!(expand("a%ib/%i", 12), "a12b/12");
        assert_eq!(expand("100%%/%i", 1), "100%/1");
        assert_eq!(expand("plain", 3), "plain");
        assert_eq!(expand("odd%", 3), "odd%");
    }

    #[test]
    fn default_sub_topic_replaces_levels_holding_the_index() {
        assert_eq!(default_sub_topic("bench/%i"), "bench/+");
        assert_eq!(default_sub_topic("a/p%i/c"), "a/+/c");
        assert_eq!(default_sub_topic("fixed/topic"), "fixed/topic");
    }

    #[test]
    fn check_names_the_flag_to_fix() {
        let base = BenchConfig::new(Target::Embedded);
        assert_eq!(base.check(), Ok(()));
        let mut c = base.clone();
        c.size = 3;
        assert!(c.check().unwrap_err().contains("--size 3"));
        let mut c = base.clone();
        c.shared_group = Some("g".into());
        c.version = ProtocolVersion::V311;
        assert!(c.check().unwrap_err().contains("--shared"));
        let mut c = base.clone();
        c.rate = Some(0.0);
        assert!(c.check().unwrap_err().contains("--rate"));
        let mut c = base.clone();
        c.topic = "a/+".into();
        assert!(c.check().unwrap_err().contains("--topic"));
        let mut c = base.clone();
        c.qos = QoS::AtLeastOnce;
        c.inflight = Some(0);
        assert!(c.check().unwrap_err().contains("--inflight"));
    }

    #[test]
    fn scenario_names_follow_the_shape_of_the_run() {
        let mut c = BenchConfig::new(Target::Embedded);
        assert_eq!(c.scenario_name(), "fan-in");
        c.publishers = 1;
        assert_eq!(c.scenario_name(), "one-to-one");
        c.publishers = 1;
        c.subscribers = 50;
        assert_eq!(c.scenario_name(), "fan-out");
        c.publishers = 50;
        c.sub_topic = c.topic.clone();
        assert_eq!(c.scenario_name(), "pairs");
        c.shared_group = Some("g".into());
        assert_eq!(c.scenario_name(), "shared");
        c.publishers = 0;
        c.subscribers = 0;
        c.connect_only_clients = 10;
        assert_eq!(c.scenario_name(), "connect-only");
        c.churn_rate = Some(10.0);
        assert_eq!(c.scenario_name(), "churn");
    }

    #[test]
    fn hold_and_churn_are_checked_naming_the_flag() {
        let mut c = BenchConfig::new(Target::Embedded);
        c.hold = Some(Duration::from_secs(1));
        assert!(c
            .check()
            .unwrap_err()
            .contains("--hold is for connection-only runs"));
        c.publishers = 0;
        c.subscribers = 0;
        c.connect_only_clients = 10;
        assert_eq!(c.check(), Ok(()));
        assert_eq!(c.hold_for(), Some(Duration::from_secs(1)));
        c.hold = None;
        c.churn_rate = Some(5.0);
        assert!(c.check().unwrap_err().contains("give one"));
        c.bound = RunBound::Duration(Duration::from_secs(3));
        assert_eq!(c.check(), Ok(()));
        assert_eq!(c.hold_for(), Some(Duration::from_secs(3)));
        c.churn_rate = Some(0.0);
        assert!(c.check().unwrap_err().contains("--churn-rate 0"));
        c.churn_rate = Some(5.0);
        c.connect_only_clients = 0;
        c.publishers = 1;
        assert!(c.check().unwrap_err().contains("give --clients N"));
    }
}

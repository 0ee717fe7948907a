//! `BenchReport`: the one result model of a bench run (like hyperfine's BenchmarkResult).
//! Every figure is computed once, here or in the collector; the human table and the JSON
//! are renderers over `&BenchReport`. Units are in the field names; `Option` where a
//! value can be missing (no message received, no QoS 1/2 acknowledgement, …).
//! Must not measure anything or write anywhere.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The result of one `mqtk bench` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The mqtk version that produced the report.
    pub mqtk_version: String,
    /// Which broker was measured.
    pub broker: BrokerInfo,
    /// The run's parameters, so two reports can be compared.
    pub parameters: Parameters,
    /// Wall-clock start of the run, milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// Whole run, from the first connect to the last disconnect.
    pub elapsed_secs: f64,
    /// The window the throughput is computed over: from the end of the warm-up (or the
    /// first publish) to the last measured message received.
    pub measured_secs: f64,
    /// Connection figures.
    pub clients: ClientFigures,
    /// TCP connect + CONNECT/CONNACK time of every successful client.
    pub connect_time_us: Option<LatencyStats>,
    /// Successful connections per second over the connect phase.
    pub connects_per_sec: Option<f64>,
    /// Messages published (all of them, warm-up included).
    pub sent: u64,
    /// QoS 1/2 messages the broker acknowledged (PUBACK / PUBCOMP).
    pub acked: u64,
    /// Deliveries expected: each message once per matching subscriber (a shared
    /// subscription group counts once).
    pub expected: u64,
    /// Distinct deliveries received (warm-up included).
    pub received: u64,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// Deliveries received more than once.
    pub duplicates: u64,
    /// Deliveries that arrived after a later message of the same publisher.
    pub reordered: u64,
    /// Deliveries of messages sent during the warm-up: counted above, but left out of
    /// the latency and throughput figures.
    pub warmup_excluded: u64,
    /// Measured deliveries per second (received, not sent).
    pub throughput_msgs_per_sec: f64,
    /// Payload bytes delivered per second in the measured window.
    pub throughput_bytes_per_sec: f64,
    /// Messages published per second while publishers were running.
    pub sent_msgs_per_sec: f64,
    /// End-to-end latency, publish (or intended publish with `--rate`) to delivery.
    pub latency_us: Option<LatencyStats>,
    /// QoS 1: PUBLISH to PUBACK; QoS 2: PUBLISH to PUBCOMP.
    pub pub_round_trip_us: Option<LatencyStats>,
    /// Errors by kind (`connect_refused`, `connect_timed_out`, `dropped`, …).
    pub errors: BTreeMap<String, u64>,
    /// The first message of the error kinds that have one (`connect_tls`: why the TLS
    /// handshake failed); absent when there is none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_messages: BTreeMap<String, String>,
    /// CPU used by the bench itself.
    pub cpu: CpuUsage,
    /// The verdict of each `--slo` threshold, in the order given; absent without `--slo`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slo: Vec<SloVerdict>,
    /// The churn of `--scenario churn`; absent in other runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<ChurnFigures>,
    /// What the flapping subscribers did (`--scenario flapping`); absent in other runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flapping: Option<FlapFigures>,
    /// The broker process watched with `--broker-pid`; absent without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_process: Option<BrokerProcess>,
    /// The whole run's end-to-end latency histogram, HdrHistogram V2 compressed, base64,
    /// for `bench plot` (a shard's is in `shard.latency_hdr` instead); absent when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_hdr: Option<String>,
    /// The shard this report is of (`--shard`), or the shards a merged report adds up;
    /// absent for a plain run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
}

/// The broker process over the run (`--broker-pid`, read from /proc): resident memory
/// and open descriptors at the start, the end and their highest, and its CPU time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrokerProcess {
    /// The process id watched.
    pub pid: u32,
    /// Resident memory when the run started.
    pub rss_start_bytes: u64,
    /// Resident memory at the end (at the last sample, if the process exited).
    pub rss_end_bytes: u64,
    /// Highest resident memory sampled (twice a second).
    pub rss_max_bytes: u64,
    /// Open descriptors at the start; `None` when /proc/PID/fd was not readable.
    pub open_fds_start: Option<u32>,
    /// Open descriptors at the end.
    pub open_fds_end: Option<u32>,
    /// Most open descriptors sampled.
    pub open_fds_max: Option<u32>,
    /// CPU time (user + system) the broker used during the run.
    pub cpu_secs: f64,
    /// The same over the run's wall time, in percent of one core.
    pub cpu_percent: f64,
    /// True when the process was gone before the run ended.
    pub exited: bool,
}

/// A shard's identity and its exact histograms, so `bench merge` adds them up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// The run every shard shares (`--run-id`).
    pub run_id: String,
    /// This shard's index; `None` in a merged report.
    pub index: Option<u32>,
    /// Shards in the run.
    pub count: u32,
    /// Hash of the whole run's parameters: equal on every shard of one run.
    pub parameter_hash: String,
    /// The settings every histogram below was made with.
    pub histogram: HistogramSettings,
    /// End-to-end latency, HdrHistogram V2 compressed, base64; `None` when merged.
    pub latency_hdr: Option<String>,
    /// PUBLISH→PUBACK/PUBCOMP, the same way.
    pub pub_round_trip_hdr: Option<String>,
    /// Connect times, the same way.
    pub connect_time_hdr: Option<String>,
    /// The shard's per-second series (as `--series` writes it) with each second's
    /// latency histogram, for the merged series; empty in a merged report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<ShardSecond>,
    /// `--cross-shard`: where this shard's deliveries came from, for the merge's loss;
    /// absent in other sharded runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_shard: Option<CrossShardFigures>,
}

/// The deliveries of a `--cross-shard` run by publisher shard. One shard cannot know
/// its loss (other shards' publishers send to it): its report has `lost` 0 and
/// `lost_final` false; the merge computes the loss from these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossShardFigures {
    /// What the latencies compare ("clocks not shared (--cross-shard): …").
    pub clock_note: String,
    /// True in a merged report, whose `expected` and `lost` are exact; false in a
    /// shard's own, whose loss is known only after the merge.
    pub lost_final: bool,
    /// Deliveries the whole run expects of the messages this shard sent: each message
    /// once per receiver (on any shard) expecting it; in a merge, of every shard.
    pub expected_of_sent: u64,
    /// Distinct deliveries received, by the shard of their publisher (index K: from
    /// shard K's publishers).
    pub received_by_publisher_shard: Vec<u64>,
    /// Merged only: lost deliveries of each shard's publishers (expected of what it
    /// sent, less what every shard received from it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost_by_publisher_shard: Vec<u64>,
}

/// One second of a shard's series, and the latency histogram of that second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardSecond {
    /// The `--series` line of that second.
    #[serde(flatten)]
    pub point: SeriesPoint,
    /// Its latencies, HdrHistogram V2 compressed, base64.
    pub latency_hdr: String,
}

/// How the histograms were made; shards must agree for an exact merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramSettings {
    /// Smallest value told apart, µs.
    pub lowest_us: u64,
    /// Largest value recorded (larger ones are clamped), µs.
    pub highest_us: u64,
    /// Significant decimal digits kept.
    pub significant_digits: u8,
}

/// One `--slo` threshold checked against the finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloVerdict {
    /// The threshold as given: `p99<=20ms`.
    pub threshold: String,
    /// Unit of `limit` and `actual`: `us`, `msgs/s` or `count`.
    pub unit: String,
    /// The comparison: `<=`, `<`, `>=`, `>` or `=`.
    pub op: String,
    /// The limit, in `unit`.
    pub limit: f64,
    /// The run's value, in `unit`; `None` when it was not measured (no delivery).
    pub actual: Option<f64>,
    /// True when `actual op limit` holds.
    pub passed: bool,
}

/// The broker under test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrokerInfo {
    /// `host:port` as connected to.
    pub address: String,
    /// True when bench started `mqtk serve`'s broker in-process.
    pub embedded: bool,
    /// What it is, for people: "mqtk serve (embedded)", "mqtt://localhost:1883".
    pub description: String,
}

/// What was asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    /// `fan-in`, `fan-out`, `pairs`, `one-to-one`, `shared`, `connect-only`, `churn`, or
    /// `custom`.
    pub scenario: String,
    /// `5` or `3.1.1`.
    pub protocol_version: String,
    /// Publish and subscription QoS.
    pub qos: u8,
    /// Payload size, bench header included.
    pub size_bytes: usize,
    /// Publishing clients.
    pub publishers: u32,
    /// Subscribing clients.
    pub subscribers: u32,
    /// Connection-only clients.
    pub connect_only_clients: u32,
    /// Messages per publisher, when the run is bounded by count.
    pub messages_per_publisher: Option<u64>,
    /// Publishing time, when the run is bounded by time.
    pub duration_secs: Option<f64>,
    /// Fixed publish rate per publisher; `None` is as fast as possible.
    pub rate_msgs_per_sec_per_publisher: Option<f64>,
    /// Warm-up excluded from the figures.
    pub warmup_secs: f64,
    /// QoS 1/2 messages in flight per publisher at most (`--inflight`); `None`: as the broker allows.
    pub inflight: Option<u16>,
    /// Receive Maximum announced by every client (`--receive-maximum`, MQTT 5 only);
    /// `None`: none announced (65,535).
    pub receive_maximum: Option<u16>,
    /// Publisher topic template (`%i` = publisher index).
    pub topic: String,
    /// Subscriber topic filter template (`%i` = subscriber index).
    pub sub_topic: String,
    /// Shared subscription group (MQTT 5), if any.
    pub shared_group: Option<String>,
    /// New connections per second at most; `None` is unlimited.
    pub connect_rate_per_sec: Option<f64>,
    /// Local source addresses connections were spread over.
    pub bind_addresses: Vec<String>,
    /// `--hold`: how long connection-only clients stayed connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_secs: Option<f64>,
    /// `--churn-rate`: reconnects per second asked for, over all churning clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn_rate_per_sec: Option<f64>,
    /// `--flap-interval`: how often each subscriber unsubscribes, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flap_interval_secs: Option<f64>,
    /// `--cross-shard`: subscribers hear the publishers of every shard; absent (false)
    /// otherwise, so other runs' parameter hashes stay as they were.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cross_shard: bool,
}

/// What the flapping subscribers did (`--scenario flapping`). A flap is an UNSUBSCRIBE,
/// its UNSUBACK, and half an interval later a SUBSCRIBE and its SUBACK. The messages a
/// subscriber missed while away (each publisher's after the highest it had received
/// before the SUBACK, up to the first after) are left out of `expected` and `lost`, and
/// counted here; gaps that opened while it was subscribed stay lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlapFigures {
    /// Flaps done (SUBACK received).
    pub flaps: u64,
    /// Expected deliveries left out because the subscriber was unsubscribed.
    pub missed_while_unsubscribed: u64,
    /// UNSUBSCRIBE → UNSUBACK times; absent in a merge (shards carry no histogram of it).
    pub unsuback_us: Option<LatencyStats>,
    /// SUBSCRIBE → SUBACK times of the flaps; absent in a merge, as above.
    pub suback_us: Option<LatencyStats>,
}

/// What the churning clients did (`--scenario churn`): every reconnect's connect time is
/// in `connect_time_us` too, every failure's kind in `errors`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChurnFigures {
    /// Disconnects followed by a successful connect.
    pub reconnects: u64,
    /// Disconnects whose connect again failed.
    pub reconnects_failed: u64,
    /// Reconnects (both kinds) per second over the churn.
    pub reconnects_per_sec: f64,
}

/// Connection counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientFigures {
    /// Clients the run asked for.
    pub requested: u32,
    /// Clients that got a successful CONNACK.
    pub connected: u32,
    /// Clients that did not (refused, timed out, I/O error).
    pub failed: u32,
    /// Connected clients whose connection dropped before the end of the run.
    pub dropped: u32,
}

/// Percentiles of a histogram, in the unit its field name says.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Values recorded.
    pub count: u64,
    /// Smallest.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Mean, to a tenth.
    pub mean: f64,
}

/// CPU time of the bench process (getrusage), without an embedded broker's threads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// User time.
    pub user_secs: f64,
    /// System time.
    pub system_secs: f64,
    /// Bench CPU time per message sent or received; `None` when none was.
    pub per_message_us: Option<f64>,
    /// CPU time of the embedded broker's threads, when the broker ran in-process.
    pub embedded_broker_secs: Option<f64>,
    /// Bench CPU time over the run's wall time, in percent of one core.
    pub utilization_percent: f64,
    /// Threads the clients ran on; near `100 × threads` the bench, not the broker, may
    /// be the bottleneck.
    pub threads: u32,
}

impl CpuUsage {
    /// True when the bench used nearly every core it had: its figures may measure
    /// itself rather than the broker.
    pub fn saturated(&self) -> bool {
        self.utilization_percent >= 90.0 * f64::from(self.threads.max(1))
    }
}

impl BenchReport {
    /// The `--slo` thresholds that were violated.
    pub fn slo_violations(&self) -> impl Iterator<Item = &SloVerdict> {
        self.slo.iter().filter(|v| !v.passed)
    }

    /// False for one shard of a `--cross-shard` run: its `lost` is not known until the
    /// merge.
    pub fn lost_final(&self) -> bool {
        self.shard
            .as_ref()
            .and_then(|s| s.cross_shard.as_ref())
            .is_none_or(|c| c.lost_final)
    }

    /// Deliveries that count toward the exit status: lost QoS 1/2 messages.
    pub fn lost_with_guarantee(&self) -> u64 {
        if self.parameters.qos > 0 {
            self.lost
        } else {
            0
        }
    }
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// End of this window, seconds since the run started.
    pub elapsed_secs: f64,
    /// Length of this window (about 1 s; the last one may be shorter).
    pub window_secs: f64,
    /// Messages published per second in this window.
    pub sent_per_sec: f64,
    /// Deliveries received per second in this window (distinct ones).
    pub received_per_sec: f64,
    /// Median end-to-end latency of the deliveries in this window; `None` when none.
    pub p50_us: Option<u64>,
    /// 99th percentile of the same.
    pub p99_us: Option<u64>,
    /// Messages missing so far: gaps below the highest sequence each receiver has seen
    /// from each publisher. Messages still in flight are not counted; a late arrival
    /// closes its gap again. The report's `lost` is the final count.
    pub lost: u64,
    /// Clients connected at the end of this window.
    pub connected: u32,
    /// Messages published since the start.
    pub sent: u64,
    /// Distinct deliveries since the start.
    pub received: u64,
    /// `--broker-pid`: the broker's resident memory at the end of this window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_rss_bytes: Option<u64>,
    /// `--broker-pid`: the broker's open descriptors at the end of this window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_open_fds: Option<u32>,
    /// `--broker-pid`: the broker's CPU in this window, in percent of one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_cpu_percent: Option<f64>,
}

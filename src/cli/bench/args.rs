//! The flags of `mqtk bench` (`BenchArgs`, its `merge` and `k8s` subcommands) and their
//! long help: what clap parses, nothing checked yet (`bench_config` in `cli/bench.rs`
//! turns them into a `BenchConfig`). Must not run anything.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::shard;
use crate::cli::connect_args::ConnectArgs;
use crate::cli::properties::MessagePropertyArgs;
use crate::cli::values;
use crate::protocol::QoS;

/// Long help of the subcommand (`--help`, man page). Lines indented by two spaces are
/// kept as written in the man page (see `docs.rs`).
pub const LONG_ABOUT: &str = "\
Load-test an MQTT broker with simulated publishers and subscribers and report throughput,
latency percentiles, losses and duplicates (like emqtt-bench, in one run that measures
both ends).

With no -h, -p or -L it starts the mqtk broker in-process on 127.0.0.1 and a free port,
with `mqtk serve`'s defaults, and measures that. Publisher i publishes to --topic with %i
replaced by i; subscriber j subscribes to --sub-topic with %i replaced by j. The default
--sub-topic is --topic with %i replaced by `+`, so `--topic 'b/%i'` alone is fan-in and
adding `--sub-topic 'b/%i'` gives one-to-one pairs. Subscribers connect and subscribe
first; then every publisher starts at once and sends --messages K (default 1000) or for
--duration, as fast as the broker takes them or at --rate per publisher. With --rate,
sends follow a 5 ms grid: a publisher sending more often than every 5 ms sends the
messages of each 5 ms slot together at its start (latency counts from there), and every
publisher alike; slower ones send every 1/rate s, spread over their interval in 5 ms
slots. The run ends when every message is delivered and acknowledged, or when nothing has
moved for 2 s.
TLS, as for pub and sub: -L mqtts://HOST[:PORT], or -h/-p with --cafile, --cert/--key or
--insecure (port 8883 by default then). The files are read once, before the run (a bad
one is named then), and every client shares the one TLS configuration; each still makes
a full handshake (no session resumption between clients, as separate devices), so the
connect figures include it. A failed handshake counts as connect_tls in the errors and
the summary says why. TLS costs bench CPU per message (encryption both ways) and memory
per connection (rustls' buffers); the built-in broker is measured over plain TCP only,
and WebSocket (ws://, wss://) is not supported.
Connection flags that make sense for one client only (-i, -c, -x, --session-dir, --will-*,
-d, -D other than publish) are refused rather than ignored. --receive-maximum N makes
every client announce MQTT 5 Receive Maximum N: the broker then keeps at most N QoS 1/2
messages unacknowledged towards each subscriber. Without it none is announced, which
MQTT 5 reads as 65,535, as most clients do.

Scenarios (--scenario; explicit flags override what they set):
  (none)     1 publisher, 1 subscriber, --topic and its `+` filter
  fan-in     10 publishers on their own topics, 1 subscriber on a wildcard
  fan-out    1 publisher, 10 subscribers on that topic
  pairs      10 publishers and 10 subscribers, publisher i to subscriber i
  shared     10 publishers, 10 subscribers in one $share/mqtk-bench/… group:
             each message goes to one of them
  connect    100 clients that connect, hold and disconnect: connect times only;
             --hold DURATION keeps them connected that long once all are
  churn      100 clients that disconnect and connect again, --churn-rate R times a
             second in all (default 10; client i of N at i/R s, then every N/R s), for
             --duration (default 10 s); --publishers/--subscribers add steady traffic
             beside them. The report adds churn {reconnects, reconnects_failed,
             reconnects_per_sec}; every reconnect's time is in connect, every failure's
             kind in errors (a dropped churning client comes back at its next slot).
             Failed reconnects are figures, not a failed run: exit status 0
  flapping   pairs (10 and 10, 100 msgs/s each) whose subscribers unsubscribe every
             --flap-interval (default 1s; subscriber i of N first at i/N of it) and
             subscribe again half an interval later, for --duration (default 10 s).
             What a subscriber misses while away (after the highest message it had
             before the SUBACK, up to its first after) is neither expected nor lost;
             gaps from while it was subscribed stay lost. The report adds flapping
             {flaps, missed_while_unsubscribed, unsuback_us, suback_us}

The figures (the table on stdout; with --json - the table goes to stderr):
  sent, received of expected
             messages published; distinct deliveries, where each message is expected
             once per matching subscriber (once per shared group)
  lost       expected deliveries that never arrived, whatever the QoS; this includes
             messages the broker dropped because a subscriber's queue was full
  duplicates deliveries received more than once
  reordered  deliveries that arrived after a later message of the same publisher
  throughput deliveries received per second, over the window from the first publish
             (or the end of --warmup) to the last delivery; also bytes/s, and the
             rate messages were sent at
  latency    publish to delivery, from a timestamp in each payload (same host clock).
             With --rate it is measured from each message's intended send time, so a
             broker that stalls the publishers shows up as latency, not as a lower rate
  puback     QoS 1: PUBLISH to PUBACK; QoS 2: PUBLISH to PUBCOMP
  connect    TCP connect (and TLS handshake) plus CONNECT/CONNACK of each client, and
             connects per second
  bench cpu  the bench's own CPU time (and the built-in broker's); near 100% of a core
             the bench, not the broker, may be the limit: MQTK_BENCH_THREADS=N runs
             the simulated clients on N threads (default 1)
  broker pid with --broker-pid: the broker's resident memory and open files at the
             start, the end and their highest, and its CPU time (from /proc)
Percentiles are p50, p90, p99, p99.9, max and mean.

--json FILE (or - for stdout) writes the same report as one JSON object: mqtk_version,
broker {address, embedded, description}, parameters {scenario, protocol_version, qos,
size_bytes, publishers, subscribers, connect_only_clients, messages_per_publisher,
duration_secs, rate_msgs_per_sec_per_publisher, warmup_secs, inflight, receive_maximum,
topic, sub_topic,
shared_group, connect_rate_per_sec, bind_addresses}, started_unix_ms, elapsed_secs,
measured_secs, clients {requested, connected, failed, dropped}, connect_time_us,
connects_per_sec, sent, acked, expected, received, lost, duplicates, reordered,
warmup_excluded, throughput_msgs_per_sec (received), throughput_bytes_per_sec,
sent_msgs_per_sec, latency_us, pub_round_trip_us, errors {kind: count},
error_messages {kind: first message} (only kinds that have one, e.g. connect_tls), cpu
{user_secs, system_secs, per_message_us, embedded_broker_secs, utilization_percent,
threads}, and with --broker-pid broker_process {pid, rss_start_bytes, rss_end_bytes,
rss_max_bytes, open_fds_start, open_fds_end, open_fds_max, cpu_secs, cpu_percent,
exited}. Each *_us figure is {count, min, p50, p90, p99, p999, max, mean} in
microseconds, or null when nothing was measured.

Progress goes to stderr: a bar on a terminal, plain lines about once a second otherwise.

Open files: each client is a file descriptor, two with the built-in broker (its end of the
connection too), plus 64. Bench raises its open-file limit to that, past the hard limit
when it may (CAP_SYS_RESOURCE: root outside most containers; up to fs.nr_open), and says
so; when the limit stays short it warns how many clients fit and how to raise it (ulimit
-Hn, root, limits.conf, the container's nofile limit).

Shards (one run over many processes, machines or pods; see `mqtk bench merge --help`):
--shard I/N runs shard I (0-based) of N, --shard auto/N takes I from JOB_COMPLETION_INDEX
(a Kubernetes Indexed Job sets it). Each shard runs its share of the publishers,
subscribers and connection-only clients (the first shards one more when N does not
divide them); every topic starts with mqtk-run/RUN_ID/sI/ and every client id with
mqtk-RUN_ID-sI-, so shards never collide, and each shard's subscribers hear its own
publishers only: every latency sample is taken on one clock. A run whose subscribers
would hear other shards' publishers (fan-out, a wildcard fan-in) is refused; shard
pairs, shared and connect runs, with at least N of each side. --run-id (the same on every
shard, new for every run) is required unless --start-at gives the start, from which
(and the parameters) the run id is made. Each shard connects and subscribes, then sets
the retained flag mqtk-run/RUN_ID/ready/I (its payload the parameter hash) and starts
publishing when all N are on the broker (--barrier-timeout, default 120 s, then it
fails and names the missing shards), or at --start-at UNIX_TIME; it clears its flag at
the end. The report adds shard {run_id, index, count, parameter_hash, histogram
{lowest_us, highest_us, significant_digits}, latency_hdr, pub_round_trip_hdr,
connect_time_hdr} (HdrHistogram V2 compressed, base64), and the last stdout line is the
whole report, deflated and base64-encoded after `mqtk-bench-shard `, so `kubectl logs`
carries it to `mqtk bench merge -` (not with --json - or --series -: stdout is JSON then,
and the --json report is what to merge).

--series FILE (or - for stdout; the table then goes to stderr) writes one JSON object per
line for each second of the run, flushed as written: elapsed_secs, window_secs,
sent_per_sec, received_per_sec, p50_us and p99_us of that second's deliveries (null when
none), lost (messages missing so far: gaps below the highest sequence each subscriber
has seen; in-flight messages are not counted, the report's lost is final), connected,
and the sent and received totals; with --broker-pid also broker_rss_bytes,
broker_open_fds and broker_cpu_percent (of that second). The last line covers the rest of the run, shorter
than a second.

--plot FILE.svg draws the run: latency by percentile (HdrHistogram's plotter shape:
the percentile axis as 1/(1-p) on a log scale, 90/99/99.9/99.99% marked with their
latency), and, below it, deliveries received per second and the p99 of each second over
the run. `mqtk bench merge --plot` draws the merged distribution.

--slo THRESHOLDS (comma separated, or --slo repeated) checks the finished run:
METRIC OP VALUE with OP one of <= < >= > =; METRIC p50, p90, p99, p999 (or p99.9), max
or mean of the end-to-end latency, with a unit (us, ms, s); lost, duplicates, reordered
or failed (clients), counts; throughput, deliveries received per second. Each verdict is
a `slo` line of the table (pass or FAIL, and the run's value) and an entry of the JSON's
slo [{threshold, unit, op, limit, actual, passed}]. A latency threshold fails when no
message was received.

Exit status:
  0    the run finished; QoS 0 losses are reported but do not fail it
  1    QoS 1/2 messages were lost or clients failed to connect (the counts are
       printed after the report), or an error before the run
  2    the command line cannot be parsed
  3    the run finished but an --slo threshold was violated (status 1 wins when both)
  130  interrupted with Ctrl-C: the report so far is printed";

/// Examples shown after the flags in `--help`.
pub const AFTER_HELP: &str = "\
Examples:
  mqtk bench                                            the built-in broker, defaults
  mqtk bench -h localhost --publishers 10 --subscribers 1 --messages 10000 -q 1
  mqtk bench -h localhost --publishers 100 --subscribers 100 --topic 'b/%i' --sub-topic 'b/%i'
  mqtk bench --scenario fan-out --subscribers 500 --duration 30s --rate 100
  mqtk bench -h broker --publishers 1000 --connect-rate 200 --json report.json
  mqtk bench -L mqtts://broker --cafile ca.pem --scenario connect --clients 1000
  mqtk bench -h broker --scenario pairs --rate 100 --duration 1m --slo 'p99<=20ms,lost=0'
  mqtk bench -h broker --scenario pairs --publishers 400 --shard 0/4 --run-id r1 --json s0.json
  mqtk bench merge s0.json s1.json s2.json s3.json --slo 'p99<=20ms'";

/// Ready-made shapes of load; explicit flags override what they set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Many publishers on their own topics, subscribers on a wildcard over all of them.
    FanIn,
    /// Few publishers on one topic, many subscribers on that topic.
    FanOut,
    /// Publisher i to subscriber i, one topic per pair.
    Pairs,
    /// Subscribers share one `$share/GROUP/…` subscription: each message goes to one.
    Shared,
    /// Connections only: connect, hold, disconnect; measures connect times.
    Connect,
    /// Connection-only clients disconnect and reconnect at --churn-rate for --duration.
    Churn,
    /// Pairs whose subscribers unsubscribe and subscribe again every --flap-interval.
    Flapping,
}

/// Flags of `mqtk bench`.
#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true, args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// Print help (--help only: -h is the host)
    #[arg(long, action = clap::ArgAction::Help, display_order = 999)]
    help: Option<bool>,

    /// Number of publishing clients [default: 1, or as --scenario sets]
    #[arg(long, value_name = "N")]
    pub publishers: Option<u32>,

    /// Number of subscribing clients [default: 1, or as --scenario sets]
    #[arg(long, value_name = "N")]
    pub subscribers: Option<u32>,

    /// Connection-only clients (with --scenario connect) [default: 100 with it]
    #[arg(long, value_name = "N")]
    pub clients: Option<u32>,

    /// QoS of publishes and subscriptions: 0, 1 or 2
    #[arg(short = 'q', long, value_name = "QOS", value_parser = values::parse_qos, default_value = "0")]
    pub qos: QoS,

    /// Payload size in bytes (includes the timestamp used for latency)
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    pub size: usize,

    /// Messages per publisher [default: 1000 unless --duration]
    #[arg(long, value_name = "K", conflicts_with = "duration",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub messages: Option<u64>,

    /// Publish for this long instead of a count (seconds, or 30s, 2m, …)
    #[arg(long, value_name = "SECS", value_parser = values::parse_duration)]
    pub duration: Option<Duration>,

    /// Messages per second per publisher [default: as fast as possible]
    #[arg(long, value_name = "MSGS_PER_SEC")]
    pub rate: Option<f64>,

    /// Publish topic template; %i is the publisher index
    #[arg(long, value_name = "TEMPLATE", default_value = "mqtk/bench/%i")]
    pub topic: String,

    /// Subscription template; %i is the subscriber index [default: --topic with %i → +]
    #[arg(long, value_name = "TEMPLATE")]
    pub sub_topic: Option<String>,

    /// Subscribers join the shared subscription $share/GROUP/… (each message goes to one)
    #[arg(long, value_name = "GROUP")]
    pub shared: Option<String>,

    /// Ready-made load shape; explicit flags override it
    #[arg(long, value_name = "NAME", visible_alias = "preset")]
    pub scenario: Option<Scenario>,

    /// Connection-only clients stay connected this long once all are (5s, 10m, …)
    #[arg(long, value_name = "DURATION", value_parser = values::parse_duration)]
    pub hold: Option<Duration>,

    /// Reconnects per second in all: clients disconnect and connect again [default: 10 with --scenario churn]
    #[arg(long, value_name = "PER_SEC")]
    pub churn_rate: Option<f64>,

    /// Each subscriber unsubscribes this often, and subscribes again half of it later [default: 1s with --scenario flapping]
    #[arg(long, value_name = "SECS", value_parser = values::parse_duration)]
    pub flap_interval: Option<Duration>,

    /// Open at most this many connections per second while starting up
    #[arg(long, value_name = "PER_SEC")]
    pub connect_rate: Option<f64>,

    /// Spread client connections over these local addresses (comma separated), for
    /// more than ~60k connections to one broker port
    #[arg(long, value_name = "ADDR,...", value_delimiter = ',')]
    pub bind_addresses: Vec<IpAddr>,

    /// Measure nothing for this long after start (seconds, or 5s, …)
    #[arg(long, value_name = "SECS", value_parser = values::parse_duration)]
    pub warmup: Option<Duration>,

    /// At most N unacknowledged QoS 1/2 messages per publisher [default: receive maximum]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub inflight: Option<u16>,

    /// Retain published messages
    #[arg(short = 'r', long)]
    pub retain: bool,

    /// Write the JSON report to FILE, or to stdout with `-`
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<PathBuf>,

    /// Write the latency histogram in HdrHistogram log format to FILE
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,

    /// Write one JSON line per second (rates, p50/p99, lost, connected) to FILE or stdout (-)
    #[arg(long, value_name = "FILE|-")]
    pub series: Option<PathBuf>,

    /// Draw latency by percentile, and throughput and p99 over time, as an SVG picture
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Follow this local broker process's memory, open files and CPU in the report and series
    #[arg(long, value_name = "PID")]
    pub broker_pid: Option<u32>,

    /// Fail with status 3 unless every threshold holds: p99<=20ms,lost=0,throughput>=1000
    #[arg(long, value_name = "THRESHOLDS")]
    pub slo: Vec<String>,

    /// MQTT 5 properties of each message.
    #[command(flatten)]
    pub message_properties: MessagePropertyArgs,

    /// Shard flags.
    #[command(flatten)]
    pub shards: shard::ShardArgs,

    /// Connection flags (no -h/-L: bench the built-in broker).
    #[command(flatten)]
    pub connect: ConnectArgs,

    /// `bench merge`.
    #[command(subcommand)]
    pub action: Option<BenchAction>,
}

/// Subcommands of `mqtk bench`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BenchAction {
    /// Merge the reports of a run's shards (--shard I/N) into one, exactly
    #[command(long_about = MERGE_ABOUT)]
    Merge(MergeArgs),
    /// Print a Kubernetes Indexed Job that runs a sharded bench, one pod per shard
    #[command(long_about = K8S_ABOUT)]
    K8s(K8sArgs),
    /// Draw several runs' latency distributions on one SVG chart, to compare them
    #[command(long_about = PLOT_ABOUT)]
    Plot(PlotArgs),
}

/// Long help of `mqtk bench plot`.
pub const PLOT_ABOUT: &str = "\
Draw the latency distributions of several runs on one chart (latency against percentile,
the percentile axis as 1/(1-p) on a log scale, 90/99/99.9/99.99 % marked), one colour per
report, the legend giving each one's name and p99:
  mqtk bench plot before.json after.json merged.json -o compare.svg
Reports are the --json of runs, of shards, or of `bench merge`; each draws its exact curve
from the histogram it carries. A report without one (written by an older mqtk) draws a
dashed line through the percentiles it gives, marked \"percentiles only\".";

/// Flags of `mqtk bench plot`.
#[derive(Debug, Clone, Args)]
pub struct PlotArgs {
    /// Print help
    #[arg(long, action = clap::ArgAction::Help, display_order = 999)]
    help: Option<bool>,

    /// JSON reports (--json of runs, shards or merges) to draw on one chart
    #[arg(value_name = "REPORTS", required = true)]
    pub reports: Vec<PathBuf>,

    /// Write the SVG here
    #[arg(short = 'o', long, value_name = "FILE.svg", required = true)]
    pub output: PathBuf,

    /// The chart's title [default: the reports' scenarios]
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,
}

/// Long help of `mqtk bench k8s`.
pub const K8S_ABOUT: &str = "\
Print the Kubernetes manifest of a sharded run: an Indexed Job (completionMode Indexed,
completions = parallelism = --shards, restartPolicy Never, backoffLimit 0, pods spread over
nodes by anti-affinity, resource requests) whose pod I runs `mqtk bench FLAGS --shard
auto/N --run-id JOB_NAME`. The flags after -- are checked now as a shard would (a typo or a
run that crosses shards fails here, not in the cluster) and must name the broker (-h or
-L). A comment block at the top says how to collect and merge:
  kubectl logs -l job-name=JOB --tail=-1 --max-log-requests=N | mqtk bench merge -";

/// Long help of `mqtk bench merge`.
pub const MERGE_ABOUT: &str = "\
Merge the reports of the N shards of one run (each `mqtk bench --shard I/N`) into the report
of the whole run: the latency, PUBACK and connect histograms are added (percentiles are
exact, never averages of percentiles), counters and throughputs summed. Inputs are JSON
reports (--json of each shard) or any text holding the shards' last stdout lines
(`mqtk-bench-shard …`), such as `kubectl logs -l job-name=JOB`; - reads stdin.

Shards of different runs, parameters (hash), histogram settings or mqtk versions are
refused, and a missing or duplicated shard (a restarted pod) makes the run invalid: exit
status 1, never a merge of N-1. --slo applies to the merged run (status 3).

Every shard report carries its per-second series with each second's latency histogram:
--series writes the run's, one JSON line per second as a run's --series does, with the
shards' seconds lined up by wall time (each shard's start plus the second's end), counters
and rates summed, and each second's p50/p99 from the shards' histograms of it added.";

/// Flags of `mqtk bench merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Print help
    #[arg(long, action = clap::ArgAction::Help, display_order = 999)]
    help: Option<bool>,

    /// Shard reports: JSON files (--json of each shard), or logs with each shard's last
    /// line; - reads stdin
    #[arg(value_name = "FILES|-", required = true)]
    pub inputs: Vec<PathBuf>,

    /// Write the merged JSON report to FILE, or to stdout with `-`
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<PathBuf>,

    /// Draw the merged latency by percentile (and the series, when the shards have one) as an SVG picture
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Write the merged per-second series as JSON lines (as a run's --series) to FILE or -
    #[arg(long, value_name = "FILE|-")]
    pub series: Option<PathBuf>,

    /// Fail with status 3 unless every threshold holds (as for a run)
    #[arg(long, value_name = "THRESHOLDS")]
    pub slo: Vec<String>,
}

/// Flags of `mqtk bench k8s`.
#[derive(Debug, Clone, Args)]
pub struct K8sArgs {
    /// Print help
    #[arg(long, action = clap::ArgAction::Help, display_order = 999)]
    help: Option<bool>,

    /// Number of shards (pods)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub shards: u32,

    /// Container image with mqtk on its PATH (see the Dockerfile)
    #[arg(long, value_name = "IMAGE")]
    pub image: String,

    /// Namespace of the Job [default: the kubectl context's]
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// Run pods only on nodes with this label (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub node_selector: Vec<String>,

    /// Job name, also the run id [default: mqtk-bench-UNIX_TIME]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// CPU request per pod
    #[arg(long, value_name = "CPU", default_value = "1")]
    pub cpu: String,

    /// Memory request per pod
    #[arg(long, value_name = "MEMORY", default_value = "256Mi")]
    pub memory: String,

    /// The flags of `mqtk bench` for every shard, after `--`
    #[arg(last = true, value_name = "BENCH FLAGS")]
    pub bench_args: Vec<String>,
}

//! `mqtk bench`: its flags (`BenchArgs`) and `run`, which turns them into a checked
//! scenario for `crate::bench`, runs it and prints the report. Must not print directly
//! (use `output`) or measure.

use std::io::{IsTerminal, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use super::properties::MessagePropertyArgs;
use super::{values, ConnectArgs, Exit, UrlScheme};
use crate::bench::config::default_sub_topic;
use crate::bench::conn::TlsTarget;
use crate::bench::embedded::{self, Embedded};
use crate::bench::merge as bench_merge;
use crate::bench::plot;
use crate::bench::progress::{new_progress, ProgressMode};
use crate::bench::report::BrokerInfo;
use crate::bench::series::{Series, SeriesPoint, SeriesSink};
use crate::bench::{fds, render, scenario, slo, sys, BenchConfig, BenchReport, RunBound, Target};
use crate::net::tls::TlsOptions;
use crate::output;
use crate::protocol::Properties;
use crate::protocol::{ProtocolVersion, QoS};

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
  connect    100 clients that connect, hold and disconnect: connect times only

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
threads}. Each *_us figure is {count, min, p50, p90, p99, p999, max, mean} in
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
and the sent and received totals. The last line covers the rest of the run, shorter
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
    Merge(merge::MergeArgs),
    /// Print a Kubernetes Indexed Job that runs a sharded bench, one pod per shard
    #[command(long_about = K8S_ABOUT)]
    K8s(k8s::K8sArgs),
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
status 1, never a merge of N-1. --slo applies to the merged run (status 3).";

/// Runs `mqtk bench`: builds the checked configuration, raises the open-file limit,
/// finds (or starts) the broker, runs the scenario with progress on stderr, prints the
/// table and the JSON report, and fails when QoS 1/2 messages were lost or clients
/// could not connect.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.action {
        Some(BenchAction::Merge(merge_args)) => return merge::run(merge_args),
        Some(BenchAction::K8s(k8s_args)) => return k8s::run(k8s_args),
        None => {}
    }
    let config = bench_config(&args)?;
    let thresholds = slo_thresholds(&args.slo)?;
    check_json_path(args.json.as_deref())?;
    let series = series_sink(args.series.as_deref(), args.json.as_deref())?;
    check_json_path(args.plot.as_deref())?;
    let mut publish_properties = args.connect.properties()?.publish;
    args.message_properties.apply(&mut publish_properties);
    let version_fixed = config.version_fixed;
    raise_open_file_limit(&config);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("mqtk-bench")
        .build()
        .context("cannot start the async runtime")?;
    let (broker, embedded) = find_broker(&runtime, &config)?;
    output::note(format!("benchmarking {}", broker.info.description));

    let mode = if std::io::stderr().is_terminal() {
        ProgressMode::Bar
    } else {
        ProgressMode::Lines {
            interval: Duration::from_secs(1),
        }
    };
    let progress = new_progress(mode, Box::new(|line: &str| output::log_line(line)));
    let report = runtime.block_on(scenario::run(
        config,
        broker,
        publish_properties,
        progress,
        // --plot draws the series too, so it keeps the points without --series.
        (series.is_some() || args.plot.is_some()).then(|| Series::new(series)),
    ));
    drop(runtime);
    if let Some(broker) = embedded {
        broker.stop();
    }
    let outcome = report?;
    let mut report = outcome.report;
    report.slo = slo::check(&thresholds, &report);
    if let Some(path) = &args.plot {
        write_plot(path, &report, &outcome.latency, &outcome.series)?;
    }
    if !version_fixed && report.parameters.protocol_version == "3.1.1" {
        output::note("the broker refused MQTT 5: measured with MQTT 3.1.1");
        if args.connect.receive_maximum.is_some() {
            output::note("--receive-maximum was not sent: it is MQTT 5 only");
        }
    }
    let table_to_stderr = args.series.as_deref() == Some(Path::new("-"));
    print_report(&report, args.json.as_deref(), table_to_stderr)?;
    // Last on stdout, so `kubectl logs … | mqtk bench merge -` finds it; not when
    // stdout holds JSON (--json -, --series -), which a line of base64 would break.
    let stdout_is_json =
        [args.json.as_deref(), args.series.as_deref()].contains(&Some(Path::new("-")));
    if report.shard.is_some() && !stdout_is_json {
        output::stdout_line(bench_merge::to_line(&report))?;
    }
    exit_status(&report)
}

/// Writes the --plot SVG of a run (or a merged run).
pub(crate) fn write_plot(
    path: &Path,
    report: &BenchReport,
    latency: &hdrhistogram::Histogram<u64>,
    series: &[SeriesPoint],
) -> anyhow::Result<()> {
    let p = &report.parameters;
    let title = format!(
        "mqtk bench: {}, {} pub → {} sub, QoS {}, {}",
        p.scenario, p.publishers, p.subscribers, p.qos, report.broker.description
    );
    let svg = plot::svg(&title, latency, series)
        .map_err(|e| anyhow::anyhow!("cannot draw --plot {}: {e}", path.display()))?;
    std::fs::write(path, svg).with_context(|| format!("cannot write --plot {}", path.display()))
}

/// Every `--slo` threshold, read before the run so a typo costs no run.
pub(crate) fn slo_thresholds(specs: &[String]) -> anyhow::Result<Vec<slo::Threshold>> {
    let mut all = Vec::new();
    for spec in specs {
        all.extend(slo::parse(spec)?);
    }
    Ok(all)
}

/// Where `--series` lines go: stdout (`-`) or a file created now (a bad path fails
/// before the run). Each line is flushed as written, for a tool following the run.
fn series_sink(series: Option<&Path>, json: Option<&Path>) -> anyhow::Result<Option<SeriesSink>> {
    let Some(path) = series else {
        return Ok(None);
    };
    if path == Path::new("-") {
        if json == Some(Path::new("-")) {
            anyhow::bail!("--series - and --json - both want stdout; write one of them to a file");
        }
        return Ok(Some(Box::new(|line: &str| output::stdout_line(line))));
    }
    let mut file = std::fs::File::create(path)
        .with_context(|| format!("cannot create --series {}", path.display()))?;
    Ok(Some(Box::new(move |line: &str| {
        writeln!(file, "{line}")?;
        file.flush()
    })))
}

/// Finds a typo in --json now, not after a run that may take minutes.
pub(crate) fn check_json_path(json: Option<&Path>) -> anyhow::Result<()> {
    if let Some(dir) = json.filter(|p| *p != Path::new("-")) {
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent.filter(|p| !p.is_dir()) {
            anyhow::bail!(
                "--json {}: the directory {} does not exist",
                dir.display(),
                parent.display()
            );
        }
    }
    Ok(())
}

/// Raises the open-file limit for the run's clients, with a note or warning when it
/// had to (or could not).
fn raise_open_file_limit(config: &BenchConfig) {
    let in_process = config.target == Target::Embedded;
    let clients = config.total_clients();
    if let Some(limit) = sys::raise_open_file_limit(fds::needed(clients, in_process)) {
        let (note, warning) = fds::messages(&limit, clients, in_process, sys::is_root());
        note.into_iter().for_each(output::note);
        warning.into_iter().for_each(output::warning);
    }
}

/// The broker to measure: the remote one resolved, or the embedded one started (returned
/// too, to be stopped after the run).
fn find_broker(
    runtime: &tokio::runtime::Runtime,
    config: &BenchConfig,
) -> anyhow::Result<(scenario::Broker, Option<Embedded>)> {
    Ok(match &config.target {
        Target::Remote { host, port } => {
            let addr = runtime.block_on(resolve(host, *port))?;
            let scheme = if config.tls.is_some() {
                "mqtts"
            } else {
                "mqtt"
            };
            let broker = scenario::Broker {
                addr,
                info: BrokerInfo {
                    address: addr.to_string(),
                    embedded: false,
                    description: format!("{scheme}://{host}:{port} ({addr})"),
                },
                thread_prefix: None,
            };
            (broker, None)
        }
        Target::Embedded => {
            let started = Embedded::start()?;
            let addr = started.local_addr();
            let broker = scenario::Broker {
                addr,
                info: BrokerInfo {
                    address: addr.to_string(),
                    embedded: true,
                    description: format!(
                        "mqtk serve {} (embedded, in this process) on {addr}",
                        env!("CARGO_PKG_VERSION")
                    ),
                },
                thread_prefix: Some(embedded::THREAD_PREFIX),
            };
            (broker, Some(started))
        }
    })
}

/// The table on stdout, and the JSON report on stdout (`--json -`, the table then goes
/// to stderr) or in the --json file. With `--series -` the table goes to stderr too,
/// so stdout holds JSON lines only.
pub(crate) fn print_report(
    report: &BenchReport,
    json: Option<&Path>,
    table_to_stderr: bool,
) -> anyhow::Result<()> {
    let table = render::table(report);
    match json {
        _ if table_to_stderr => {
            output::log_line(table.trim_end());
            if let Some(path) = json {
                std::fs::write(path, render::json(report))
                    .with_context(|| format!("cannot write --json {}", path.display()))?;
            }
        }
        Some(path) if path == Path::new("-") => {
            output::log_line(table.trim_end());
            output::stdout_bytes(render::json(report).as_bytes())?;
        }
        Some(path) => {
            output::stdout_bytes(table.as_bytes())?;
            std::fs::write(path, render::json(report))
                .with_context(|| format!("cannot write --json {}", path.display()))?;
        }
        None => output::stdout_bytes(table.as_bytes())?,
    }
    Ok(())
}

/// Fails when the run lost QoS 1/2 messages or clients could not connect (status 1), or
/// when an `--slo` threshold was violated (status 3), with the counts.
pub(crate) fn exit_status(report: &BenchReport) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    if report.clients.failed > 0 {
        let mut text = format!(
            "{} of {} clients failed to connect",
            report.clients.failed, report.clients.requested
        );
        // Say why when the kind alone does not (a TLS handshake failure).
        let why: Vec<String> = report
            .error_messages
            .iter()
            .map(|(kind, message)| format!("{kind}: {message}"))
            .collect();
        if !why.is_empty() {
            text = format!("{text} ({})", why.join("; "));
        }
        problems.push(text);
    }
    let lost = report.lost_with_guarantee();
    if lost > 0 {
        problems.push(format!(
            "{lost} QoS {} messages lost",
            report.parameters.qos
        ));
    }
    if report.errors.contains_key("interrupted") {
        // As a shell reports a process ended by SIGINT; the report above covers the run so far.
        problems.insert(0, "interrupted".into());
        return Err(Exit::new(130, problems.join(", ")).into());
    }
    let violated: Vec<&str> = report
        .slo_violations()
        .map(|v| v.threshold.as_str())
        .collect();
    let slo_problem =
        (!violated.is_empty()).then(|| format!("--slo violated: {}", violated.join(", ")));
    // A broken run (status 1) outranks a slow one (status 3): its figures are not the
    // broker's performance.
    match (problems.is_empty(), slo_problem) {
        (true, None) => Ok(()),
        (true, Some(slo)) => Err(Exit::new(3, slo).into()),
        (false, slo) => {
            problems.extend(slo);
            Err(Exit::new(1, problems.join(", ")).into())
        }
    }
}

/// The broker address: IPv4 first, as brokers started on "localhost" often listen there.
async fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("cannot resolve -h {host}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .with_context(|| format!("-h {host} resolves to no address"))
}

/// Turns the flags into a checked `BenchConfig`: the scenario preset first, explicit
/// flags over it.
pub(crate) fn bench_config(args: &BenchArgs) -> anyhow::Result<BenchConfig> {
    let c = &args.connect;
    refuse_unusable_flags(c)?;
    let (target, url_user, url_password) = target(c);
    let mut config = BenchConfig::new(target);
    config.tls = tls_target(c, &config.target)?;
    apply_shape(args, &mut config);
    config.version = c.protocol_version.unwrap_or(ProtocolVersion::V5);
    config.version_fixed = c.protocol_version.is_some();
    config.receive_maximum = c.receive_maximum;
    if c.receive_maximum.is_some() && config.version == ProtocolVersion::V311 {
        anyhow::bail!("--receive-maximum is MQTT 5 only; drop it, or use -V 5");
    }
    config.connect_rate = args.connect_rate;
    config.bind_addresses = args.bind_addresses.clone();
    if let Some(prefix) = &c.id_prefix {
        config.id_prefix = format!("{prefix}{}-", std::process::id());
    }
    config.keep_alive_secs = c.keepalive_secs();
    config.username = c.username.clone().or(url_user);
    config.password = c.password.clone().or(url_password).map(String::into_bytes);
    config.hdr_log = args.hdr_log.clone();
    shard::apply(&args.shards, &mut config)?;
    config.check().map_err(anyhow::Error::msg)?;
    Ok(config)
}

/// Refuses WebSocket URLs and the connection flags bench would ignore.
fn refuse_unusable_flags(c: &ConnectArgs) -> anyhow::Result<()> {
    if let Some(url) = c
        .url
        .as_ref()
        .filter(|u| matches!(u.scheme, UrlScheme::Ws | UrlScheme::Wss))
    {
        anyhow::bail!(
            "-L {}://…: bench speaks MQTT over TCP or TLS, not WebSocket; use mqtt:// or mqtts://",
            if url.scheme == UrlScheme::Ws {
                "ws"
            } else {
                "wss"
            }
        );
    }
    if let Some((flag, why)) = unused_connection_flag(c)? {
        anyhow::bail!("bench does not use {flag}: {why}");
    }
    Ok(())
}

/// The broker to measure (from -L, -h, -p, or none: the embedded one), with the URL's
/// user name and password.
fn target(c: &ConnectArgs) -> (Target, Option<String>, Option<String>) {
    // As pub and sub: TLS with mqtts://, or with any TLS flag on -h/-p (port 8883 then).
    let default_port = if c.wants_tls() { 8883 } else { 1883 };
    match (&c.url, &c.host, c.port) {
        (Some(url), _, _) => (
            Target::Remote {
                host: url.host.clone(),
                port: url.port_or_default(),
            },
            url.username.clone(),
            url.password.clone(),
        ),
        (None, Some(host), port) => (
            Target::Remote {
                host: host.clone(),
                port: port.unwrap_or(default_port),
            },
            None,
            None,
        ),
        (None, None, Some(port)) => (
            Target::Remote {
                host: "localhost".into(),
                port,
            },
            None,
            None,
        ),
        (None, None, None) => (Target::Embedded, None, None),
    }
}

/// The TLS settings of a remote target when TLS is on; an error for a TLS flag on the
/// embedded broker.
fn tls_target(c: &ConnectArgs, target: &Target) -> anyhow::Result<Option<TlsTarget>> {
    if let (Target::Embedded, Some(flag)) = (target, c.tls_flag()) {
        anyhow::bail!(
            "{flag}: the built-in broker is measured over plain TCP; give the broker to \
             measure over TLS with -h HOST or -L mqtts://HOST"
        );
    }
    Ok(match target {
        Target::Remote { host, .. } if c.wants_tls() => Some(TlsTarget {
            // Read once, before the run: a bad file is named now, and every client
            // shares the one rustls config. Each client still makes a full handshake,
            // as the separate device it stands for would.
            options: TlsOptions::load(&c.tls_files())?.without_resumption(),
            host: host.clone(),
        }),
        _ => None,
    })
}

/// The scenario's shape: the preset's client counts, then the explicit flags for
/// clients, messages and topics.
fn apply_shape(args: &BenchArgs, config: &mut BenchConfig) {
    let (publishers, subscribers, clients) = match args.scenario {
        None => (1, 1, 0),
        Some(Scenario::FanIn) => (10, 1, 0),
        Some(Scenario::FanOut) => (1, 10, 0),
        Some(Scenario::Pairs) | Some(Scenario::Shared) => (10, 10, 0),
        Some(Scenario::Connect) => (0, 0, 100),
    };
    config.publishers = args.publishers.unwrap_or(publishers);
    config.subscribers = args.subscribers.unwrap_or(subscribers);
    config.connect_only_clients = args.clients.unwrap_or(clients);
    config.qos = args.qos;
    config.retain = args.retain;
    config.size = args.size;
    config.bound = match (args.messages, args.duration) {
        (_, Some(d)) => RunBound::Duration(d),
        (Some(n), None) => RunBound::Messages(n),
        (None, None) => RunBound::Messages(1000),
    };
    config.rate = args.rate;
    config.warmup = args.warmup.unwrap_or_default();
    config.inflight = args.inflight;
    config.topic = args.topic.clone();
    config.sub_topic = match (&args.sub_topic, args.scenario) {
        (Some(t), _) => t.clone(),
        (None, Some(Scenario::Pairs)) => args.topic.clone(),
        (None, _) => default_sub_topic(&args.topic),
    };
    config.shared_group = match (&args.shared, args.scenario) {
        (Some(g), _) => Some(g.clone()),
        (None, Some(Scenario::Shared)) => Some("mqtk-bench".into()),
        (None, _) => None,
    };
}

/// The first connection flag given that bench would otherwise ignore, with the reason:
/// a flag that silently does nothing would make a run measure something else than asked.
fn unused_connection_flag(c: &ConnectArgs) -> anyhow::Result<Option<(&'static str, &'static str)>> {
    let properties = c.properties()?;
    // --receive-maximum is bench's own (every client announces it).
    let connect = Properties {
        receive_maximum: None,
        ..properties.connect
    };
    let only_publish_properties = connect == Default::default()
        && properties.subscribe == Default::default()
        && properties.unsubscribe == Default::default()
        && properties.disconnect == Default::default()
        && properties.will == Default::default();
    let clean = "every simulated client connects with a clean session";
    let checks = [
        (
            c.id.is_some(),
            "-i",
            "each simulated client has its own id; use -I PREFIX",
        ),
        (c.disable_clean_session, "-c", clean),
        (c.session_expiry.is_some(), "-x", clean),
        (c.session_dir.is_some(), "--session-dir", clean),
        (
            c.will_topic.is_some(),
            "--will-topic",
            "simulated clients have no will",
        ),
        (
            c.debug,
            "-d",
            "bench does not print packets; see --json and --hdr-log",
        ),
        (
            c.maximum_packet_size.is_some(),
            "--maximum-packet-size",
            "bench sets no limit on packets",
        ),
        (
            c.topic_alias_maximum.is_some(),
            "--topic-alias-maximum",
            "bench uses no topic aliases",
        ),
        (
            !only_publish_properties,
            "-D",
            "bench sends only -D publish properties (and --message-expiry and the like)",
        ),
    ];
    Ok(checks
        .into_iter()
        .find(|(given, _, _)| *given)
        .map(|(_, flag, why)| (flag, why)))
}

mod k8s;
mod merge;
mod shard;
#[cfg(test)]
mod tests;

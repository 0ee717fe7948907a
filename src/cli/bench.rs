//! `mqtk bench`: its flags (`BenchArgs`) and `run`, which turns them into a checked
//! scenario for `crate::bench`, runs it and prints the report. Must not print directly
//! (use `output`) or measure.

use std::io::{IsTerminal, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

use super::{ConnectArgs, Exit, UrlScheme};
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
use crate::protocol::ProtocolVersion;

pub use args::{BenchAction, BenchArgs, Scenario, AFTER_HELP, K8S_ABOUT, LONG_ABOUT, MERGE_ABOUT};

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

mod args;
mod k8s;
mod merge;
mod shard;
#[cfg(test)]
mod tests;

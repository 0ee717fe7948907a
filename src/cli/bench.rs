//! `mqtk bench`: `run`, which turns the flags (`args`) into a checked scenario for
//! `crate::bench` (`check`), runs it and prints the report (`report`); `merge` and `k8s`
//! are its subcommands, `shard` the flags of a sharded run. Must not print directly
//! (use `output`) or measure.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

use crate::bench::embedded::{self, Embedded};
use crate::bench::merge as bench_merge;
use crate::bench::progress::{new_progress, ProgressMode};
use crate::bench::report::BrokerInfo;
use crate::bench::series::Series;
use crate::bench::{fds, scenario, slo, sys, BenchConfig, Target};
use crate::output;

pub use args::{BenchAction, BenchArgs, Scenario, AFTER_HELP, K8S_ABOUT, LONG_ABOUT, MERGE_ABOUT};
pub(crate) use check::bench_config;
use report::{check_json_path, exit_status, print_report, series_sink, slo_thresholds, write_plot};

/// Runs `mqtk bench`: builds the checked configuration, raises the open-file limit,
/// finds (or starts) the broker, runs the scenario with progress on stderr, prints the
/// table and the JSON report, and fails when QoS 1/2 messages were lost or clients
/// could not connect.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.action {
        Some(BenchAction::Merge(merge_args)) => return merge::run(merge_args),
        Some(BenchAction::K8s(k8s_args)) => return k8s::run(k8s_args),
        Some(BenchAction::Plot(plot_args)) => return plot::run(plot_args),
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

pub mod args;
mod check;
mod k8s;
mod merge;
mod plot;
mod report;
mod shard;
#[cfg(test)]
mod tests;

//! What `mqtk bench` and `mqtk bench merge` do with a finished report: the table, the
//! JSON file, the --series sink, the --plot picture, the --slo thresholds and the exit
//! status. Must not measure.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use crate::bench::plot;
use crate::bench::series::{SeriesPoint, SeriesSink};
use crate::bench::{render, slo, BenchReport};
use crate::cli::exit::Exit;
use crate::output;

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

/// Where `--series` lines go: stdout (`-`) or a file created now (a bad path fails
/// before the run). Each line is flushed as written, for a tool following the run.
pub(crate) fn series_sink(
    series: Option<&Path>,
    json: Option<&Path>,
) -> anyhow::Result<Option<SeriesSink>> {
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

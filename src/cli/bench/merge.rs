//! `mqtk bench merge FILES…|-`: reads shard reports (JSON files, or `kubectl logs`
//! output holding the shards' last lines), merges them with `bench::merge`, checks
//! `--slo`, and prints the table, `--json` and `--series` as a single run does. Must not compute
//! figures (`bench::merge` does) or print directly.

use std::io::Read as _;

use anyhow::Context as _;

use crate::bench::merge;
use crate::cli::exit::Exit;

/// Reads, merges and prints; exit status 1 for an invalid run (missing, duplicated or
/// mismatched shards), otherwise as a single run's.
pub fn run(args: super::args::MergeArgs) -> anyhow::Result<()> {
    let thresholds = super::report::slo_thresholds(&args.slo)?;
    super::report::check_json_path(args.json.as_deref())?;
    let mut reports = Vec::new();
    for input in &args.inputs {
        let (name, text) = if input.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read shard reports from stdin")?;
            ("stdin".to_string(), text)
        } else {
            let text = std::fs::read_to_string(input)
                .with_context(|| format!("cannot read {}", input.display()))?;
            (input.display().to_string(), text)
        };
        reports.extend(merge::reports_in(&name, &text).map_err(|e| Exit::new(1, e.to_string()))?);
    }
    let merged = merge::merge(reports).map_err(|e| Exit::new(1, e.to_string()))?;
    let mut report = merged.report;
    if let Some(mut sink) =
        super::report::series_sink(args.series.as_deref(), args.json.as_deref())?
    {
        for point in &merged.series {
            let line = serde_json::to_string(point).expect("a series point serializes");
            sink(&line).context("cannot write --series")?;
        }
    }
    if let Some(path) = &args.plot {
        super::report::write_plot(path, &report, &merged.latency, &merged.series)?;
    }
    report.slo = crate::bench::slo::check(&thresholds, &report);
    let table_to_stderr = args.series.as_deref() == Some(std::path::Path::new("-"));
    super::report::print_report(&report, args.json.as_deref(), table_to_stderr)?;
    super::report::exit_status(&report)
}

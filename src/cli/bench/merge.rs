//! `mqtk bench merge FILES…|-`: reads shard reports (JSON files, or `kubectl logs`
//! output holding the shards' last lines), merges them with `bench::merge`, checks
//! `--slo`, and prints the table and `--json` as a single run does. Must not compute
//! figures (`bench::merge` does) or print directly.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use crate::bench::merge;
use crate::cli::Exit;

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

    /// Draw the merged latency by percentile as an SVG picture
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Fail with status 3 unless every threshold holds (as for a run)
    #[arg(long, value_name = "THRESHOLDS")]
    pub slo: Vec<String>,
}

/// Reads, merges and prints; exit status 1 for an invalid run (missing, duplicated or
/// mismatched shards), otherwise as a single run's.
pub fn run(args: MergeArgs) -> anyhow::Result<()> {
    let thresholds = super::slo_thresholds(&args.slo)?;
    super::check_json_path(args.json.as_deref())?;
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
    let (mut report, latency) = merge::merge(reports).map_err(|e| Exit::new(1, e.to_string()))?;
    if let Some(path) = &args.plot {
        super::write_plot(path, &report, &latency, &[])?;
    }
    report.slo = crate::bench::slo::check(&thresholds, &report);
    super::print_report(&report, args.json.as_deref(), false)?;
    super::exit_status(&report)
}

//! `mqtk bench plot REPORTS… -o FILE.svg`: several runs' latency distributions on one
//! chart, each from the histogram its report carries (or, for a report without one, the
//! percentiles it gives). Must not draw (`bench::plot` does) or print directly.

use std::path::Path;

use anyhow::Context as _;

use crate::bench::plot::{self, Curve, CurveData};
use crate::bench::{stats, BenchReport};

/// Reads the reports and writes the comparison chart.
pub fn run(args: super::args::PlotArgs) -> anyhow::Result<()> {
    let mut curves = Vec::new();
    let mut scenarios: Vec<String> = Vec::new();
    for path in &args.reports {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let report: BenchReport = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a `mqtk bench --json` report", path.display()))?;
        let latency = curve_data(&report).with_context(|| format!("{}", path.display()))?;
        let p = &report.parameters;
        if !scenarios.contains(&p.scenario) {
            scenarios.push(p.scenario.clone());
        }
        curves.push(Curve {
            label: format!(
                "{}: {} pub → {} sub, QoS {}{}",
                name(path),
                p.publishers,
                p.subscribers,
                p.qos,
                report
                    .shard
                    .as_ref()
                    .filter(|s| s.index.is_none())
                    .map(|s| format!(", {} shards merged", s.count))
                    .unwrap_or_default()
            ),
            latency,
        });
    }
    let title = args
        .title
        .unwrap_or_else(|| format!("mqtk bench: {}", scenarios.join(", ")));
    let svg = plot::compare_svg(&title, &curves)
        .map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", args.output.display()))?;
    std::fs::write(&args.output, svg)
        .with_context(|| format!("cannot write -o {}", args.output.display()))
}

/// The report's latency histogram, else its percentiles; an error when it has neither.
fn curve_data(report: &BenchReport) -> anyhow::Result<CurveData> {
    let carried = report
        .latency_hdr
        .as_ref()
        .or(report.shard.as_ref().and_then(|s| s.latency_hdr.as_ref()));
    if let Some(text) = carried {
        let h = stats::decode(text).map_err(|why| anyhow::anyhow!("latency_hdr: {why}"))?;
        return Ok(CurveData::Histogram(h));
    }
    let Some(l) = &report.latency_us else {
        anyhow::bail!("no latency in this report (a run without deliveries): nothing to draw");
    };
    Ok(CurveData::Percentiles(vec![
        (0.0, l.min),
        (0.5, l.p50),
        (0.9, l.p90),
        (0.99, l.p99),
        (0.999, l.p999),
        (1.0, l.max),
    ]))
}

/// The file name without `.json`, for the legend.
fn name(path: &Path) -> String {
    path.file_stem()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
        .into_owned()
}

//! `--slo`: service-level thresholds such as `p99<=20ms,lost=0,throughput>=10000`,
//! parsed once before the run and checked against a finished `BenchReport` (a single
//! run's, or later a merged one's), one `SloVerdict` per threshold.
//! Must not measure, print or pick an exit status: `cli/bench.rs` does that.

use std::fmt;

use thiserror::Error;

use super::report::{BenchReport, LatencyStats, SloVerdict};

/// What a threshold is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// An end-to-end latency figure (µs): `p50`, `p90`, `p99`, `p999`, `max`, `mean`.
    Latency(Percentile),
    /// Expected deliveries that never arrived.
    Lost,
    /// Deliveries received more than once.
    Duplicates,
    /// Deliveries that arrived after a later message of the same publisher.
    Reordered,
    /// Clients that could not connect.
    Failed,
    /// Measured deliveries per second (received).
    Throughput,
}

/// Which latency figure of `LatencyStats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Percentile {
    P50,
    P90,
    P99,
    P999,
    Max,
    Mean,
}

/// How the actual value must compare with the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Le,
    Lt,
    Ge,
    Gt,
    Eq,
}

impl Op {
    fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Op::Le => actual <= limit,
            Op::Lt => actual < limit,
            Op::Ge => actual >= limit,
            Op::Gt => actual > limit,
            Op::Eq => actual == limit,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Eq => "=",
        }
    }
}

/// One checked threshold: `metric op limit`, the limit in the metric's base unit (µs for
/// latency, messages/s for throughput, a count otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub metric: Metric,
    pub op: Op,
    pub limit: f64,
    /// As the user wrote it, for the table and the JSON.
    pub text: String,
}

/// A threshold that cannot be read, with what is wrong and how to write it.
#[derive(Debug, Error, PartialEq)]
#[error("--slo {threshold:?}: {why}")]
pub struct SloError {
    threshold: String,
    why: String,
}

const HOW: &str = "write METRIC OP VALUE, e.g. p99<=20ms, lost=0, throughput>=10000; metrics: \
                   p50 p90 p99 p999 max mean (with a unit: us, ms, s), lost duplicates \
                   reordered failed (counts), throughput (msgs/s received); OP: <= < >= > =";

/// Parses one `--slo` value: thresholds separated by commas.
pub fn parse(spec: &str) -> Result<Vec<Threshold>, SloError> {
    spec.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(parse_one)
        .collect::<Result<Vec<_>, _>>()
        .and_then(|all| {
            if all.is_empty() {
                Err(error(spec, "no threshold given"))
            } else {
                Ok(all)
            }
        })
}

fn error(threshold: &str, why: impl fmt::Display) -> SloError {
    SloError {
        threshold: threshold.to_string(),
        why: format!("{why}; {HOW}"),
    }
}

fn parse_one(text: &str) -> Result<Threshold, SloError> {
    // Two-character operators first, so `<=` is not read as `<` then `=20ms`.
    let (at, op) = ["<=", ">=", "==", "<", ">", "="]
        .iter()
        .filter_map(|op| text.find(op).map(|at| (at, *op)))
        .min_by_key(|(at, op)| (*at, std::cmp::Reverse(op.len())))
        .ok_or_else(|| error(text, "no comparison in it"))?;
    let name = text[..at].trim().to_ascii_lowercase();
    let value = text[at + op.len()..].trim();
    let op = match op {
        "<=" => Op::Le,
        ">=" => Op::Ge,
        "<" => Op::Lt,
        ">" => Op::Gt,
        _ => Op::Eq,
    };
    let metric = match name.as_str() {
        "p50" => Metric::Latency(Percentile::P50),
        "p90" => Metric::Latency(Percentile::P90),
        "p99" => Metric::Latency(Percentile::P99),
        "p999" | "p99.9" => Metric::Latency(Percentile::P999),
        "max" => Metric::Latency(Percentile::Max),
        "mean" => Metric::Latency(Percentile::Mean),
        "lost" => Metric::Lost,
        "duplicates" => Metric::Duplicates,
        "reordered" => Metric::Reordered,
        "failed" => Metric::Failed,
        "throughput" => Metric::Throughput,
        other => return Err(error(text, format!("unknown metric {other:?}"))),
    };
    let limit = match metric {
        Metric::Latency(_) => latency_us(value).map_err(|why| error(text, why))?,
        _ => value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| error(text, format!("{value:?} is not a non-negative number")))?,
    };
    Ok(Threshold {
        metric,
        op,
        limit,
        text: text.to_string(),
    })
}

/// A latency limit with its unit, in µs.
fn latency_us(value: &str) -> Result<f64, String> {
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{value:?} has no unit (us, ms or s)"))?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{value:?} does not start with a number"))?;
    let scale = match unit.trim() {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        other => return Err(format!("unknown unit {other:?} (us, ms or s)")),
    };
    Ok(number * scale)
}

fn latency(stats: &LatencyStats, p: Percentile) -> f64 {
    match p {
        Percentile::P50 => stats.p50 as f64,
        Percentile::P90 => stats.p90 as f64,
        Percentile::P99 => stats.p99 as f64,
        Percentile::P999 => stats.p999 as f64,
        Percentile::Max => stats.max as f64,
        Percentile::Mean => stats.mean,
    }
}

/// The verdict of each threshold over a finished report. A latency threshold with no
/// latency measured (nothing received) is violated: there is nothing to vouch for.
pub fn check(thresholds: &[Threshold], report: &BenchReport) -> Vec<SloVerdict> {
    thresholds
        .iter()
        .map(|t| {
            let actual = match t.metric {
                Metric::Latency(p) => report.latency_us.as_ref().map(|s| latency(s, p)),
                // One --cross-shard shard's loss is known after the merge only.
                Metric::Lost => report.lost_final().then_some(report.lost as f64),
                Metric::Duplicates => Some(report.duplicates as f64),
                Metric::Reordered => Some(report.reordered as f64),
                Metric::Failed => Some(f64::from(report.clients.failed)),
                Metric::Throughput => Some(report.throughput_msgs_per_sec),
            };
            SloVerdict {
                threshold: t.text.clone(),
                unit: match t.metric {
                    Metric::Latency(_) => "us",
                    Metric::Throughput => "msgs/s",
                    _ => "count",
                }
                .to_string(),
                op: t.op.text().to_string(),
                limit: t.limit,
                actual,
                passed: actual.is_some_and(|a| t.op.holds(a, t.limit)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::render::tests::sample_report;

    #[test]
    fn parses_the_issue_example_in_base_units() {
        let t = parse("p99<=20ms, p999<=50ms,lost=0,throughput>=10000").unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(
            (t[0].metric, t[0].op, t[0].limit),
            (Metric::Latency(Percentile::P99), Op::Le, 20_000.0)
        );
        assert_eq!(t[1].limit, 50_000.0);
        assert_eq!(
            (t[2].metric, t[2].op, t[2].limit),
            (Metric::Lost, Op::Eq, 0.0)
        );
        assert_eq!(
            (t[3].metric, t[3].op, t[3].limit),
            (Metric::Throughput, Op::Ge, 10_000.0)
        );
        assert_eq!(parse("p99.9<1.5s").unwrap()[0].limit, 1_500_000.0);
        assert_eq!(parse("max < 500us").unwrap()[0].op, Op::Lt);
    }

    #[test]
    fn bad_thresholds_say_what_is_wrong_and_how_to_write_them() {
        for (spec, why) in [
            ("p99<=20", "has no unit"),
            ("p99<=20h", "unknown unit"),
            ("p42<=1ms", "unknown metric"),
            ("lost", "no comparison"),
            ("lost=-1", "not a non-negative number"),
            ("", "no threshold given"),
        ] {
            let text = parse(spec).unwrap_err().to_string();
            assert!(text.starts_with("--slo "), "{text}");
            assert!(text.contains(why), "{spec:?}: {text}");
            assert!(text.contains("e.g. p99<=20ms"), "{text}");
        }
    }

    #[test]
    fn verdicts_compare_the_report_with_each_limit() {
        // sample_report: p99 1.234 ms, lost 1, throughput 39,996 msgs/s.
        let report = sample_report();
        let t = parse("p99<=2ms,p99<1ms,lost=0,throughput>=10000,failed=0").unwrap();
        let v = check(&t, &report);
        let passed: Vec<bool> = v.iter().map(|v| v.passed).collect();
        assert_eq!(passed, [true, false, false, true, true]);
        assert_eq!(v[0].actual, Some(1_234.0));
        assert_eq!(v[2].actual, Some(1.0));
    }

    #[test]
    fn a_lone_cross_shard_has_no_loss_to_vouch_for() {
        let mut report = sample_report();
        let mut shard = crate::bench::merge::tests::cross_shard_info();
        report.shard = Some(shard.clone());
        let v = check(&parse("lost=0").unwrap(), &report);
        assert_eq!((v[0].actual, v[0].passed), (None, false));
        shard.cross_shard.as_mut().unwrap().lost_final = true;
        report.shard = Some(shard);
        assert_eq!(
            check(&parse("lost=0").unwrap(), &report)[0].actual,
            Some(1.0)
        );
    }

    #[test]
    fn a_latency_threshold_without_latency_is_violated() {
        let mut report = sample_report();
        report.latency_us = None;
        let v = check(&parse("p50<=1s").unwrap(), &report);
        assert_eq!((v[0].actual, v[0].passed), (None, false));
    }
}

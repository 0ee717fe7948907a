//! `mqtk bench merge`: shard reports in (JSON files, or the one-line form a shard prints
//! last on stdout, found among other log lines as `kubectl logs` gives them), one report
//! out. Histograms are added, so merged percentiles are exact (no averaging of
//! percentiles); counters are summed. Shards of different runs, parameters or histogram
//! settings are refused, and a missing or duplicated shard makes the run invalid.
//! Must not read files or print: the CLI hands in texts and prints the result.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};

use base64::Engine as _;
use hdrhistogram::Histogram;
use thiserror::Error;

use super::cross;
use super::merged_series;
use super::report::SeriesPoint;
use super::report::{
    BenchReport, ChurnFigures, ClientFigures, CpuUsage, CrossShardFigures, FlapFigures, ShardInfo,
};
use super::stats;

/// What a shard's last stdout line starts with; the rest is its JSON report, deflated
/// and base64-encoded.
pub const LINE_PREFIX: &str = "mqtk-bench-shard ";

/// Why shard reports cannot be merged.
#[derive(Debug, Error, PartialEq)]
pub enum MergeError {
    /// An input holds no report, or a broken one.
    #[error("{source_name}: {why}")]
    Input { source_name: String, why: String },
    /// The shards do not belong together, or some are missing.
    #[error("invalid run: {0}")]
    Invalid(String),
}

/// The one-line form of a shard report, for stdout.
pub fn to_line(report: &BenchReport) -> String {
    let json = serde_json::to_vec(report).expect("BenchReport serializes to JSON");
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    deflate
        .write_all(&json)
        .and_then(|()| deflate.finish())
        .map(|bytes| {
            format!(
                "{LINE_PREFIX}{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            )
        })
        .expect("deflating into a Vec does not fail")
}

/// The shard reports in one input: every shard line in it, or else the whole text as
/// one JSON report.
pub fn reports_in(source_name: &str, text: &str) -> Result<Vec<BenchReport>, MergeError> {
    let bad = |why: String| MergeError::Input {
        source_name: source_name.to_string(),
        why,
    };
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.find(LINE_PREFIX).map(|at| &l[at + LINE_PREFIX.len()..]))
        .collect();
    if lines.is_empty() {
        let report: BenchReport = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "neither a `mqtk bench --shard` JSON report nor log lines with `{}…` ({e})",
                LINE_PREFIX.trim_end()
            ))
        })?;
        return Ok(vec![report]);
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(line.trim())
                .map_err(|e| bad(format!("shard line {}: not base64 ({e})", i + 1)))?;
            let mut json = Vec::new();
            flate2::read::DeflateDecoder::new(bytes.as_slice())
                .read_to_end(&mut json)
                .map_err(|e| bad(format!("shard line {}: not deflated ({e})", i + 1)))?;
            serde_json::from_slice(&json)
                .map_err(|e| bad(format!("shard line {}: not a report ({e})", i + 1)))
        })
        .collect()
}

/// The shard part of a report, or why it has none.
fn shard_of(report: &BenchReport) -> Result<(&ShardInfo, u32), MergeError> {
    let shard = report.shard.as_ref().ok_or_else(|| {
        MergeError::Invalid(
            "a report without shard information (run each shard with --shard I/N)".into(),
        )
    })?;
    let index = shard
        .index
        .ok_or_else(|| MergeError::Invalid("a merged report cannot be merged again".into()))?;
    Ok((shard, index))
}

/// Checks that `reports` are the N shards of one run, exactly once each.
fn check_complete(reports: &[BenchReport]) -> Result<(), MergeError> {
    let first = reports
        .first()
        .ok_or_else(|| MergeError::Invalid("no shard report given".into()))?;
    let (first_shard, _) = shard_of(first)?;
    let mut seen: BTreeMap<u32, usize> = BTreeMap::new();
    for report in reports {
        let (shard, index) = shard_of(report)?;
        let differs = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
            MergeError::Invalid(format!(
                "shard {index} has {what} {b:?}, shard {} has {a:?}: merge the shards of one run only",
                first_shard.index.unwrap_or(0)
            ))
        };
        if shard.cross_shard.is_some() != first_shard.cross_shard.is_some() {
            let with = |cross: bool| if cross { "with" } else { "without" };
            return Err(MergeError::Invalid(format!(
                "shard {index} ran {} --cross-shard, shard {} {}: a run's shards are all cross-shard or none; merge the reports of one run only",
                with(shard.cross_shard.is_some()),
                first_shard.index.unwrap_or(0),
                with(first_shard.cross_shard.is_some()),
            )));
        }
        if shard.run_id != first_shard.run_id {
            return Err(differs("run id", &first_shard.run_id, &shard.run_id));
        }
        if shard.count != first_shard.count {
            return Err(differs("shard count", &first_shard.count, &shard.count));
        }
        if shard.parameter_hash != first_shard.parameter_hash {
            return Err(differs(
                "parameter hash",
                &first_shard.parameter_hash,
                &shard.parameter_hash,
            ));
        }
        if shard.histogram != first_shard.histogram {
            return Err(differs(
                "histogram settings",
                &first_shard.histogram,
                &shard.histogram,
            ));
        }
        if report.mqtk_version != first.mqtk_version {
            return Err(differs(
                "mqtk version",
                &first.mqtk_version,
                &report.mqtk_version,
            ));
        }
        *seen.entry(index).or_default() += 1;
    }
    let count = first_shard.count;
    let duplicated: Vec<String> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(i, _)| i.to_string())
        .collect();
    if !duplicated.is_empty() {
        return Err(MergeError::Invalid(format!(
            "shard(s) {} of run {} given more than once (a restarted shard, or the same input twice); each shard must be merged exactly once",
            duplicated.join(", "),
            first_shard.run_id
        )));
    }
    let missing: Vec<String> = (0..count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Invalid(format!(
            "shard(s) {} of {count} of run {} missing: a run is merged whole, never as N-1",
            missing.join(", "),
            first_shard.run_id
        )));
    }
    Ok(())
}

fn add_histograms(
    reports: &[BenchReport],
    field: fn(&ShardInfo) -> &Option<String>,
) -> Result<Histogram<u64>, MergeError> {
    let mut total = stats::new_histogram();
    for report in reports {
        let (shard, index) = shard_of(report)?;
        if let Some(text) = field(shard) {
            let h = stats::decode(text)
                .map_err(|why| MergeError::Invalid(format!("shard {index}'s histogram: {why}")))?;
            stats::merge(&mut total, &h);
        }
    }
    Ok(total)
}

/// The merged `--cross-shard` figures (`reports` sorted by shard); `None` for a run
/// without it.
fn cross_figures(reports: &[BenchReport]) -> Result<Option<CrossShardFigures>, MergeError> {
    let figures: Option<Vec<&CrossShardFigures>> = reports
        .iter()
        .map(|r| r.shard.as_ref().and_then(|s| s.cross_shard.as_ref()))
        .collect();
    figures
        .map(|f| cross::merge(&f).map_err(MergeError::Invalid))
        .transpose()
}

/// What a merge gives: the run's report, its latency histogram and its per-second
/// series (for `--plot` and `--series`; empty when the shards carry none).
#[derive(Debug)]
pub struct Merged {
    pub report: BenchReport,
    pub latency: Histogram<u64>,
    pub series: Vec<SeriesPoint>,
}

/// Merges the shards of one run into one report, as if one process had run it all.
pub fn merge(mut reports: Vec<BenchReport>) -> Result<Merged, MergeError> {
    check_complete(&reports)?;
    reports.sort_by_key(|r| r.shard.as_ref().and_then(|s| s.index));
    let latency = add_histograms(&reports, |s| &s.latency_hdr)?;
    let round_trip = add_histograms(&reports, |s| &s.pub_round_trip_hdr)?;
    let connect = add_histograms(&reports, |s| &s.connect_time_hdr)?;
    let first = &reports[0];
    let sum = |f: fn(&BenchReport) -> u64| reports.iter().map(f).sum::<u64>();
    let sum_f = |f: fn(&BenchReport) -> f64| reports.iter().map(f).sum::<f64>();
    let max_f = |f: fn(&BenchReport) -> f64| reports.iter().map(f).fold(0.0, f64::max);
    let mut parameters = first.parameters.clone();
    parameters.publishers = reports.iter().map(|r| r.parameters.publishers).sum();
    parameters.subscribers = reports.iter().map(|r| r.parameters.subscribers).sum();
    parameters.connect_only_clients = reports
        .iter()
        .map(|r| r.parameters.connect_only_clients)
        .sum();
    let mut errors = BTreeMap::new();
    let mut error_messages = BTreeMap::new();
    for r in &reports {
        for (kind, n) in &r.errors {
            *errors.entry(kind.clone()).or_insert(0) += n;
        }
        for (kind, text) in &r.error_messages {
            error_messages
                .entry(kind.clone())
                .or_insert_with(|| text.clone());
        }
    }
    let sent = sum(|r| r.sent);
    let received = sum(|r| r.received);
    let cross = cross_figures(&reports)?;
    // Cross-shard: each shard's expected and lost are 0 until here; the loss is what
    // the run expects of what every shard sent, less what every shard received.
    let (expected, lost) = match &cross {
        Some(c) => (c.expected_of_sent, c.lost_by_publisher_shard.iter().sum()),
        None => (sum(|r| r.expected), sum(|r| r.lost)),
    };
    let cpu_secs = sum_f(|r| r.cpu.user_secs + r.cpu.system_secs);
    let shard = first
        .shard
        .as_ref()
        .expect("checked: every report has a shard");
    let report = BenchReport {
        mqtk_version: first.mqtk_version.clone(),
        broker: first.broker.clone(),
        parameters,
        started_unix_ms: reports.iter().map(|r| r.started_unix_ms).min().unwrap_or(0),
        elapsed_secs: max_f(|r| r.elapsed_secs),
        // The shards measured at the same time: throughputs add, windows overlap.
        measured_secs: max_f(|r| r.measured_secs),
        clients: ClientFigures {
            requested: reports.iter().map(|r| r.clients.requested).sum(),
            connected: reports.iter().map(|r| r.clients.connected).sum(),
            failed: reports.iter().map(|r| r.clients.failed).sum(),
            dropped: reports.iter().map(|r| r.clients.dropped).sum(),
        },
        connect_time_us: stats::summarize(&connect),
        connects_per_sec: reports
            .iter()
            .filter_map(|r| r.connects_per_sec)
            .reduce(|a, b| a + b),
        sent,
        acked: sum(|r| r.acked),
        expected,
        received,
        lost,
        duplicates: sum(|r| r.duplicates),
        reordered: sum(|r| r.reordered),
        warmup_excluded: sum(|r| r.warmup_excluded),
        throughput_msgs_per_sec: sum_f(|r| r.throughput_msgs_per_sec),
        throughput_bytes_per_sec: sum_f(|r| r.throughput_bytes_per_sec),
        sent_msgs_per_sec: sum_f(|r| r.sent_msgs_per_sec),
        latency_us: stats::summarize(&latency),
        pub_round_trip_us: stats::summarize(&round_trip),
        errors,
        error_messages,
        cpu: CpuUsage {
            user_secs: sum_f(|r| r.cpu.user_secs),
            system_secs: sum_f(|r| r.cpu.system_secs),
            per_message_us: (sent + received > 0)
                .then(|| cpu_secs * 1e6 / (sent + received) as f64),
            embedded_broker_secs: None,
            utilization_percent: sum_f(|r| r.cpu.utilization_percent),
            threads: reports.iter().map(|r| r.cpu.threads).sum(),
        },
        slo: Vec::new(),
        // One broker, watched from its own machine: as the first shard that did saw it.
        churn: reports
            .iter()
            .filter_map(|r| r.churn)
            .reduce(|a, b| ChurnFigures {
                reconnects: a.reconnects + b.reconnects,
                reconnects_failed: a.reconnects_failed + b.reconnects_failed,
                reconnects_per_sec: a.reconnects_per_sec + b.reconnects_per_sec,
            }),
        // Flap times have no histogram in the shard reports: counts only.
        flapping: reports
            .iter()
            .filter_map(|r| r.flapping.clone())
            .map(|f| FlapFigures {
                unsuback_us: None,
                suback_us: None,
                ..f
            })
            .reduce(|a, b| FlapFigures {
                flaps: a.flaps + b.flaps,
                missed_while_unsubscribed: a.missed_while_unsubscribed
                    + b.missed_while_unsubscribed,
                ..a
            }),
        broker_process: reports.iter().find_map(|r| r.broker_process.clone()),
        latency_hdr: (!latency.is_empty()).then(|| stats::encode(&latency)),
        shard: Some(ShardInfo {
            index: None,
            latency_hdr: None,
            pub_round_trip_hdr: None,
            connect_time_hdr: None,
            series: Vec::new(),
            cross_shard: cross,
            ..shard.clone()
        }),
    };
    Ok(Merged {
        report,
        latency,
        series: merged_series::merge(&reports).map_err(MergeError::Invalid)?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bench::render::tests::sample_report;

    fn shard(index: u32, count: u32, latencies: &[u64]) -> BenchReport {
        let mut h = stats::new_histogram();
        latencies.iter().for_each(|v| stats::record(&mut h, *v));
        let mut r = sample_report();
        r.latency_us = stats::summarize(&h);
        r.shard = Some(ShardInfo {
            run_id: "r1".into(),
            index: Some(index),
            count,
            parameter_hash: "abc".into(),
            histogram: stats::settings(),
            latency_hdr: Some(stats::encode(&h)),
            pub_round_trip_hdr: Some(stats::encode(&stats::new_histogram())),
            connect_time_hdr: Some(stats::encode(&stats::new_histogram())),
            series: Vec::new(),
            cross_shard: None,
        });
        r
    }

    /// A lone cross-shard shard's information: shard 1 of 3, 12 received from shard 0.
    pub(crate) fn cross_shard_info() -> ShardInfo {
        let mut r = shard(1, 3, &[1]).shard.unwrap();
        r.cross_shard = Some(cross::shard_figures(&[12], 0, 3));
        r
    }

    /// Shard `index` of 3 of a cross-shard fan-out: shard 0's one publisher sent 100
    /// to 6 subscribers, 2 on each shard; this shard received `received` of them.
    fn cross_shard(index: u32, received: u64) -> BenchReport {
        let mut r = shard(index, 3, &[100]);
        r.sent = if index == 0 { 100 } else { 0 };
        (r.expected, r.received, r.lost) = (0, received, 0);
        r.parameters.cross_shard = true;
        let expected = if index == 0 { 600 } else { 0 };
        let mut received_by_publisher = vec![0; 3];
        received_by_publisher[0] = received;
        let s = r.shard.as_mut().unwrap();
        s.cross_shard = Some(CrossShardFigures {
            expected_of_sent: expected,
            received_by_publisher_shard: received_by_publisher,
            ..cross::shard_figures(&[], 0, 3)
        });
        r
    }

    #[test]
    fn a_cross_shard_merge_counts_loss_against_what_every_shard_sent() {
        let merged = merge(vec![
            cross_shard(2, 190),
            cross_shard(0, 200),
            cross_shard(1, 200),
        ])
        .unwrap()
        .report;
        assert_eq!(
            (merged.sent, merged.expected, merged.received, merged.lost),
            (100, 600, 590, 10)
        );
        let c = merged.shard.unwrap().cross_shard.unwrap();
        assert!(c.lost_final);
        assert_eq!(c.lost_by_publisher_shard, [10, 0, 0]);
        assert_eq!(c.clock_note, cross::CLOCK_NOTE);
    }

    #[test]
    fn cross_shard_and_other_shard_reports_do_not_merge() {
        let e = merge(vec![
            cross_shard(0, 200),
            shard(1, 3, &[1]),
            cross_shard(2, 200),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("shard 1 ran without --cross-shard, shard 0 with"),
            "{e}"
        );
    }

    #[test]
    fn merged_percentiles_come_from_the_added_histograms_not_averages() {
        // Shard 0 is fast, shard 1 slow: the p50 of the whole is no average of p50s.
        let fast: Vec<u64> = (1..=900).collect();
        let slow: Vec<u64> = (1..=100).map(|i| 100_000 + i).collect();
        let merged = merge(vec![shard(1, 2, &slow), shard(0, 2, &fast)])
            .unwrap()
            .report;
        let lat = merged.latency_us.unwrap();
        assert_eq!(lat.count, 1000);
        assert!((499..=501).contains(&lat.p50), "{lat:?}");
        assert!(lat.p99 > 100_000, "{lat:?}");
        assert_eq!(merged.sent, 20_000);
        assert_eq!(merged.parameters.publishers, 20);
        assert_eq!(merged.shard.as_ref().unwrap().index, None);
    }

    #[test]
    fn merged_percentiles_are_within_one_bucket_of_the_raw_samples() {
        // 4 shards of skewed pseudo-random latencies (an LCG: no test dependency).
        let mut x: u64 = 42;
        let mut raw = Vec::new();
        let shards: Vec<BenchReport> = (0..4)
            .map(|i| {
                let samples: Vec<u64> = (0..2_500)
                    .map(|_| {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let u = (x >> 33) % 1_000_000;
                        (u * u / 1_000_000 / (i + 1)).max(1) // 1 µs .. 1 s, shard-skewed
                    })
                    .collect();
                raw.extend(&samples);
                shard(i as u32, 4, &samples)
            })
            .collect();
        raw.sort_unstable();
        let merged = merge(shards).unwrap().report.latency_us.unwrap();
        let h = stats::new_histogram();
        for (q, got) in [
            (0.5, merged.p50),
            (0.9, merged.p90),
            (0.99, merged.p99),
            (0.999, merged.p999),
        ] {
            let rank = ((q * raw.len() as f64).ceil() as usize).max(1);
            let want = raw[rank - 1];
            assert!(h.equivalent(got, want), "q {q}: merged {got}, raw {want}");
        }
        assert_eq!(
            (merged.count, merged.max),
            (10_000, h.highest_equivalent(*raw.last().unwrap()))
        );
    }

    #[test]
    fn missing_duplicated_or_foreign_shards_make_the_run_invalid() {
        let missing = merge(vec![shard(0, 3, &[1]), shard(2, 3, &[1])]).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("shard(s) 1 of 3 of run r1 missing"),
            "{missing}"
        );
        let twice = merge(vec![
            shard(0, 2, &[1]),
            shard(0, 2, &[1]),
            shard(1, 2, &[1]),
        ])
        .unwrap_err();
        assert!(
            twice.to_string().contains("given more than once"),
            "{twice}"
        );
        let mut other = shard(1, 2, &[1]);
        other.shard.as_mut().unwrap().parameter_hash = "def".into();
        let e = merge(vec![shard(0, 2, &[1]), other]).unwrap_err();
        assert!(e.to_string().contains("parameter hash"), "{e}");
        let mut settings = shard(1, 2, &[1]);
        settings
            .shard
            .as_mut()
            .unwrap()
            .histogram
            .significant_digits = 2;
        let e = merge(vec![shard(0, 2, &[1]), settings]).unwrap_err();
        assert!(e.to_string().contains("histogram settings"), "{e}");
        let e = merge(vec![sample_report()]).unwrap_err();
        assert!(e.to_string().contains("without shard information"), "{e}");
    }

    #[test]
    fn shard_lines_are_found_among_log_lines_and_json_files_are_read_whole() {
        let a = shard(0, 2, &[5]);
        let b = shard(1, 2, &[7]);
        let logs = format!(
            "bench: 1.0s clients 2/2\n{}\nmqtk: note\n{}\n",
            to_line(&a),
            to_line(&b)
        );
        let found = reports_in("-", &logs).unwrap();
        assert_eq!(found, vec![a.clone(), b]);
        let json = serde_json::to_string_pretty(&a).unwrap();
        assert_eq!(reports_in("a.json", &json).unwrap(), vec![a]);
        let e = reports_in("x.txt", "hello").unwrap_err().to_string();
        assert!(e.starts_with("x.txt: neither"), "{e}");
    }
}

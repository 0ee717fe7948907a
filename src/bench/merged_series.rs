//! The per-second series of a merged run (`bench merge --series`, `--plot`): each
//! shard's seconds are placed on the run's clock by wall time (the shard's start plus
//! the second's end) and gathered into whole seconds of the run. Counters are summed
//! (each shard's latest value so far), rates come from those sums, and each second's
//! p50/p99 from the shards' histograms of that second added: exact, as for the whole
//! run. Must not read files or print.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::report::{BenchReport, SeriesPoint};
use super::{series, stats};

/// A shard's window ending this close after a whole second still belongs to it (the
/// series cuts its windows up to 100 ms early or late, see `series::SLACK`).
const SLACK_SECS: f64 = 0.1;

/// One second of the run, as the shards saw it.
struct Second {
    latency: Histogram<u64>,
    /// Each shard's last point in this second, by its place in `reports`.
    latest: Vec<Option<SeriesPoint>>,
    /// End of the last window in this second, seconds since the run's start.
    end_secs: f64,
}

/// The merged series of `reports` (shard reports whose `shard.series` is given); empty
/// when none carries one. An error names the shard whose histogram is broken.
pub fn merge(reports: &[BenchReport]) -> Result<Vec<SeriesPoint>, String> {
    let run_start_ms = reports.iter().map(|r| r.started_unix_ms).min().unwrap_or(0);
    let mut seconds: BTreeMap<u64, Second> = BTreeMap::new();
    for (i, report) in reports.iter().enumerate() {
        let Some(shard) = &report.shard else { continue };
        let offset_secs = (report.started_unix_ms - run_start_ms) as f64 / 1e3;
        for s in &shard.series {
            let end_secs = offset_secs + s.point.elapsed_secs;
            let at = ((end_secs - SLACK_SECS).ceil().max(1.0)) as u64;
            let second = seconds.entry(at).or_insert_with(|| Second {
                latency: stats::new_histogram(),
                latest: vec![None; reports.len()],
                end_secs: 0.0,
            });
            let h = stats::decode(&s.latency_hdr).map_err(|why| {
                format!(
                    "shard {}'s series at {} s: {why}",
                    shard.index.unwrap_or(i as u32),
                    s.point.elapsed_secs
                )
            })?;
            stats::merge(&mut second.latency, &h);
            second.latest[i] = Some(s.point.clone());
            second.end_secs = second.end_secs.max(end_secs);
        }
    }
    let mut latest: Vec<Option<SeriesPoint>> = vec![None; reports.len()];
    let mut before = (0.0, 0, 0);
    let mut points = Vec::with_capacity(seconds.len());
    for (at, second) in seconds {
        for (kept, new) in latest.iter_mut().zip(second.latest) {
            if new.is_some() {
                *kept = new;
            }
        }
        let end_secs = (at as f64).min(second.end_secs.max(at as f64 - 1.0));
        let point = sum(
            &latest,
            &second.latency,
            before.0,
            end_secs,
            (before.1, before.2),
        );
        before = (end_secs, point.sent, point.received);
        points.push(point);
    }
    Ok(points)
}

/// The run's point of the window from `start_secs` to `end_secs`: the shards' latest
/// counters summed, and the rates since the counters `(sent, received)` before.
fn sum(
    latest: &[Option<SeriesPoint>],
    latency: &Histogram<u64>,
    start_secs: f64,
    end_secs: f64,
    (sent_before, received_before): (u64, u64),
) -> SeriesPoint {
    let shards = || latest.iter().flatten();
    let sent: u64 = shards().map(|p| p.sent).sum();
    let received: u64 = shards().map(|p| p.received).sum();
    let secs = end_secs - start_secs;
    let rate = |n: u64| series::per_sec(n, secs);
    let quantile = |q: f64| (!latency.is_empty()).then(|| latency.value_at_quantile(q));
    let broker = shards().find(|p| p.broker_rss_bytes.is_some());
    SeriesPoint {
        elapsed_secs: (end_secs * 1000.0).round() / 1000.0,
        window_secs: (secs * 1000.0).round() / 1000.0,
        sent_per_sec: rate(sent.saturating_sub(sent_before)),
        received_per_sec: rate(received.saturating_sub(received_before)),
        p50_us: quantile(0.50),
        p99_us: quantile(0.99),
        lost: shards().map(|p| p.lost).sum(),
        connected: shards().map(|p| p.connected).sum(),
        sent,
        received,
        broker_rss_bytes: broker.and_then(|p| p.broker_rss_bytes),
        broker_open_fds: broker.and_then(|p| p.broker_open_fds),
        broker_cpu_percent: broker.and_then(|p| p.broker_cpu_percent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::render::tests::sample_report;
    use crate::bench::report::{ShardInfo, ShardSecond};

    fn point(elapsed_secs: f64, sent: u64, connected: u32) -> SeriesPoint {
        SeriesPoint {
            elapsed_secs,
            window_secs: 1.0,
            sent_per_sec: 0.0,
            received_per_sec: 0.0,
            p50_us: None,
            p99_us: None,
            lost: 1,
            connected,
            sent,
            received: sent,
            broker_rss_bytes: None,
            broker_open_fds: None,
            broker_cpu_percent: None,
        }
    }

    fn shard(started_unix_ms: u64, seconds: &[(f64, u64, u64)]) -> BenchReport {
        let mut r = sample_report();
        r.started_unix_ms = started_unix_ms;
        r.shard = Some(ShardInfo {
            run_id: "r1".into(),
            index: Some(0),
            count: 2,
            parameter_hash: "abc".into(),
            histogram: stats::settings(),
            latency_hdr: None,
            pub_round_trip_hdr: None,
            connect_time_hdr: None,
            series: seconds
                .iter()
                .map(|&(at, sent, latency_us)| {
                    let mut h = stats::new_histogram();
                    stats::record(&mut h, latency_us);
                    ShardSecond {
                        point: point(at, sent, 5),
                        latency_hdr: stats::encode(&h),
                    }
                })
                .collect(),
            cross_shard: None,
        });
        r
    }

    #[test]
    fn shards_seconds_line_up_by_wall_time_and_add_up() {
        // Shard 1 started 300 ms later: its window ending at 0.999 s is the run's 2nd
        // second, and its short last window joins the 3rd.
        let a = shard(
            10_000,
            &[(0.999, 100, 100), (2.0, 300, 200), (2.9, 400, 300)],
        );
        let b = shard(
            10_300,
            &[(0.999, 50, 10_000), (1.95, 150, 20_000), (2.5, 180, 30_000)],
        );
        let points = merge(&[a, b]).unwrap();
        let at: Vec<f64> = points.iter().map(|p| p.elapsed_secs).collect();
        assert_eq!(
            at,
            [0.999, 2.0, 2.9],
            "the last window's end in each second"
        );
        let sent: Vec<u64> = points.iter().map(|p| p.sent).collect();
        assert_eq!(sent, [100, 350, 580], "each shard's latest count, summed");
        assert_eq!(
            points[1].sent_per_sec, 249.8,
            "250 in the 1.001 s since 0.999 s"
        );
        assert_eq!(points[2].connected, 10);
        assert_eq!(points[2].lost, 2);
        // The 2nd second holds a 200 µs and a 10 ms sample: p50 the one, p99 the other.
        assert_eq!(points[1].p50_us, Some(200));
        assert!(points[1].p99_us.unwrap() >= 10_000, "{:?}", points[1]);
        assert_eq!(points[0].p99_us, Some(100));
    }

    #[test]
    fn reports_without_a_series_give_none() {
        assert!(merge(&[sample_report()]).unwrap().is_empty());
    }
}

//! `--series FILE|-`: one JSON object per line for each second of the run (elapsed,
//! sent/s, received/s, p50/p99 of that second, lost so far, connected clients), each
//! line flushed as it is written so another tool can follow the run.
//! Must not read a clock or measure: the run's driver hands in the elapsed time, the
//! counters and each tick's latency histogram. It writes through the sink it is given
//! (the CLI's: a file, or stdout through `output`).

use std::io;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::broker_proc;
pub use super::report::SeriesPoint;
use super::stats;
use super::sys::ProcSample;

/// Where the lines go: called once per line (without its newline), and expected to
/// flush. Lines are small and come once a second, so a blocking write is fine here.
pub type SeriesSink = Box<dyn FnMut(&str) -> io::Result<()> + Send>;

/// The run's counters at one tick, as the collector has them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub connected: u32,
    /// The broker process (`--broker-pid`) at this tick, while it runs.
    pub broker: Option<ProcSample>,
}

/// How long a window lasts before its line is written.
const WINDOW: Duration = Duration::from_secs(1);
/// Ticks come a little late (timer jitter): a tick this close to the second closes it,
/// so windows stay about 1 s instead of skipping to the next tick.
const SLACK: Duration = Duration::from_millis(100);

/// The series being written: the open window's histogram and where it started, and
/// the points so far (one a second: small even for a day's soak), for `--plot`.
pub struct Series {
    sink: Option<SeriesSink>,
    points: Vec<SeriesPoint>,
    window: Histogram<u64>,
    window_start: Duration,
    /// When the open window's line is due: whole seconds since the start.
    due: Duration,
    at_start: Counters,
    /// The first write error; nothing more is written after it.
    failed: Option<io::Error>,
    /// A shard keeps each window's latency histogram (encoded, as `stats::encode`), for
    /// the merged series of `bench merge`; `None`: not kept.
    histograms: Option<Vec<String>>,
}

/// What a finished series gives: its points, and each one's latency histogram when
/// they were kept (`Series::keeping_histograms`), else none.
pub type Finished = (Vec<SeriesPoint>, Vec<String>);

impl Series {
    /// A series writing to `sink`, or only keeping its points.
    pub fn new(sink: Option<SeriesSink>) -> Series {
        Series {
            sink,
            points: Vec::new(),
            window: stats::new_histogram(),
            window_start: Duration::ZERO,
            due: WINDOW,
            at_start: Counters::default(),
            failed: None,
            histograms: None,
        }
    }

    /// Keeps each window's latency histogram too (a shard's, for `bench merge`).
    pub fn keeping_histograms(mut self) -> Series {
        self.histograms = Some(Vec::new());
        self
    }

    /// One tick of the run: adds the tick's latencies to the window, and writes the
    /// window's line once it has lasted a second.
    pub fn tick(&mut self, elapsed: Duration, now: Counters, interval: &Histogram<u64>) {
        stats::merge(&mut self.window, interval);
        // The broker's CPU of the first window counts from its first sample.
        if self.points.is_empty() && self.at_start.broker.is_none() {
            self.at_start.broker = now.broker;
        }
        if elapsed + SLACK >= self.due {
            self.write_window(elapsed, now);
            while self.due <= elapsed + SLACK {
                self.due += WINDOW;
            }
        }
    }

    /// The run is over: writes the last, possibly shorter, window, and returns every
    /// point, or the first write error.
    pub fn finish(mut self, elapsed: Duration, now: Counters) -> io::Result<Finished> {
        if elapsed > self.window_start {
            self.write_window(elapsed, now);
        }
        let histograms = self.histograms.unwrap_or_default();
        self.failed.map_or(Ok((self.points, histograms)), Err)
    }

    fn write_window(&mut self, elapsed: Duration, now: Counters) {
        let point = point(self.window_start, elapsed, self.at_start, now, &self.window);
        if let Some(kept) = &mut self.histograms {
            kept.push(stats::encode(&self.window));
        }
        self.window.reset();
        self.window_start = elapsed;
        self.at_start = now;
        if let Some(sink) = self.sink.as_mut().filter(|_| self.failed.is_none()) {
            let line = serde_json::to_string(&point)
                .expect("SeriesPoint has only string keys and finite-or-null numbers");
            if let Err(e) = sink(&line) {
                self.failed = Some(e);
            }
        }
        self.points.push(point);
    }
}

/// `n` events in `secs` seconds as a rate with one decimal (0 for an empty window).
pub fn per_sec(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        (n as f64 / secs * 10.0).round() / 10.0
    } else {
        0.0
    }
}

/// The line of the window from `start` to `end`.
fn point(
    start: Duration,
    end: Duration,
    before: Counters,
    now: Counters,
    latency: &Histogram<u64>,
) -> SeriesPoint {
    let secs = end.saturating_sub(start).as_secs_f64();
    let rate = |n: u64| per_sec(n, secs);
    let quantile = |q: f64| (!latency.is_empty()).then(|| latency.value_at_quantile(q));
    SeriesPoint {
        elapsed_secs: (end.as_secs_f64() * 1000.0).round() / 1000.0,
        window_secs: (secs * 1000.0).round() / 1000.0,
        sent_per_sec: rate(now.sent.saturating_sub(before.sent)),
        received_per_sec: rate(now.received.saturating_sub(before.received)),
        p50_us: quantile(0.50),
        p99_us: quantile(0.99),
        lost: now.lost,
        connected: now.connected,
        sent: now.sent,
        received: now.received,
        broker_rss_bytes: now.broker.map(|b| b.rss_bytes),
        broker_open_fds: now.broker.and_then(|b| b.open_fds),
        broker_cpu_percent: match (before.broker, now.broker) {
            (Some(b), Some(n)) => broker_proc::cpu_percent(&b, &n, secs),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn collecting() -> (Series, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = lines.clone();
        let series = Series::new(Some(Box::new(move |line: &str| {
            out.lock().unwrap().push(line.to_string());
            Ok(())
        })));
        (series, lines)
    }

    fn at(sent: u64, received: u64) -> Counters {
        Counters {
            sent,
            received,
            lost: 0,
            connected: 2,
            broker: None,
        }
    }

    #[test]
    fn one_line_per_second_with_that_seconds_rates_and_percentiles() {
        let (mut series, lines) = collecting();
        let ms = Duration::from_millis;
        let mut h = stats::new_histogram();
        series.tick(ms(0), at(0, 0), &h);
        stats::record(&mut h, 100);
        series.tick(ms(500), at(500, 400), &h);
        // A tick a little early still closes the second.
        series.tick(ms(999), at(1000, 900), &stats::new_histogram());
        let mut slow = stats::new_histogram();
        stats::record(&mut slow, 5_000);
        series.tick(ms(1500), at(1500, 1400), &slow);
        series.tick(ms(1999), at(2000, 2000), &stats::new_histogram());
        let (kept, histograms) = series.finish(ms(2250), at(2000, 2000)).unwrap();
        assert_eq!(kept.len(), 3, "the points are kept for --plot too");
        assert!(histograms.is_empty(), "only a shard keeps them");
        let points: Vec<SeriesPoint> = lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(points.len(), 3, "two whole seconds and the last quarter");
        assert_eq!(points[0].elapsed_secs, 0.999);
        assert_eq!(points[0].sent_per_sec, 1001.0);
        assert_eq!(points[0].received_per_sec, 900.9);
        assert_eq!((points[0].p50_us, points[0].p99_us), (Some(100), Some(100)));
        assert_eq!(points[1].received_per_sec, 1100.0);
        let p99 = points[1].p99_us.unwrap();
        assert!(
            (5_000..=5_005).contains(&p99),
            "the second's own latencies: {p99}"
        );
        assert_eq!(points[2].window_secs, 0.251);
        assert_eq!((points[2].p50_us, points[2].sent_per_sec), (None, 0.0));
        assert_eq!(points[2].received, 2000);
    }

    #[test]
    fn a_watched_broker_adds_its_memory_files_and_cpu_of_each_second() {
        let (mut series, lines) = collecting();
        let broker = |rss_bytes, cpu_ms| {
            Some(ProcSample {
                rss_bytes,
                open_fds: Some(7),
                cpu: crate::bench::sys::CpuTimes {
                    user: Duration::from_millis(cpu_ms),
                    system: Duration::ZERO,
                },
            })
        };
        let h = stats::new_histogram();
        let with = |broker| Counters { broker, ..at(0, 0) };
        series.tick(Duration::ZERO, with(broker(1_000, 100)), &h);
        series.tick(Duration::from_secs(1), with(broker(2_000, 600)), &h);
        series.finish(Duration::from_secs(2), with(None)).unwrap();
        let lines = lines.lock().unwrap();
        let first: SeriesPoint = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(first.broker_rss_bytes, Some(2_000));
        assert_eq!(first.broker_open_fds, Some(7));
        assert_eq!(first.broker_cpu_percent, Some(50.0), "500 ms of CPU in 1 s");
        assert!(
            !lines[1].contains("broker_"),
            "no broker fields once it is gone: {}",
            lines[1]
        );
        assert!(!lines[0].is_empty());
    }

    #[test]
    fn a_failed_write_stops_the_series_and_is_returned_at_the_end() {
        let mut calls = 0;
        let mut series = Series::new(Some(Box::new(move |_: &str| {
            calls += 1;
            assert_eq!(calls, 1, "nothing is written after the first error");
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
        })));
        let h = stats::new_histogram();
        series.tick(Duration::from_secs(1), at(1, 1), &h);
        series.tick(Duration::from_secs(2), at(2, 2), &h);
        let err = series.finish(Duration::from_secs(3), at(3, 3)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}

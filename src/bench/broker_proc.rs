//! `--broker-pid PID`: the broker process watched over the run (resident memory, open
//! descriptors, CPU), sampled on every tick of the run's loop, so a soak shows a leak.
//! Must not read a clock (the driver hands in the elapsed time) or print; /proc is read
//! through `sys`.

use std::time::Duration;

use super::report::BrokerProcess;
use super::sys::{self, ProcSample};

/// The samples of one process: the first, the last, and the highest seen.
#[derive(Debug, Clone)]
pub struct BrokerWatch {
    pid: u32,
    first: ProcSample,
    last: ProcSample,
    max_rss_bytes: u64,
    max_open_fds: Option<u32>,
    /// The process was gone at a sample after the first.
    exited: bool,
}

impl BrokerWatch {
    /// Starts watching `pid`; `None` when there is no such process.
    pub fn start(pid: u32) -> Option<BrokerWatch> {
        sys::pid_sample(pid).map(|first| BrokerWatch::from_first(pid, first))
    }

    fn from_first(pid: u32, first: ProcSample) -> BrokerWatch {
        BrokerWatch {
            pid,
            first,
            last: first,
            max_rss_bytes: first.rss_bytes,
            max_open_fds: first.open_fds,
            exited: false,
        }
    }

    /// Takes a sample now; the last one stays when the process is gone.
    pub fn observe(&mut self) {
        match sys::pid_sample(self.pid) {
            Some(sample) => self.absorb(sample),
            None => self.exited = true,
        }
    }

    fn absorb(&mut self, sample: ProcSample) {
        self.last = sample;
        self.max_rss_bytes = self.max_rss_bytes.max(sample.rss_bytes);
        self.max_open_fds = self.max_open_fds.max(sample.open_fds);
    }

    /// The latest sample, for `--series`; `None` once the process is gone.
    pub fn latest(&self) -> Option<ProcSample> {
        (!self.exited).then_some(self.last)
    }

    /// The report's figures for a run of `elapsed`.
    pub fn figures(&self, elapsed: Duration) -> BrokerProcess {
        let cpu = self.last.cpu.since(&self.first.cpu).total().as_secs_f64();
        let secs = elapsed.as_secs_f64();
        BrokerProcess {
            pid: self.pid,
            rss_start_bytes: self.first.rss_bytes,
            rss_end_bytes: self.last.rss_bytes,
            rss_max_bytes: self.max_rss_bytes,
            open_fds_start: self.first.open_fds,
            open_fds_end: self.last.open_fds,
            open_fds_max: self.max_open_fds,
            cpu_secs: cpu,
            cpu_percent: if secs > 0.0 {
                (cpu * 100.0 / secs * 10.0).round() / 10.0
            } else {
                0.0
            },
            exited: self.exited,
        }
    }
}

/// CPU used between two samples, in percent of one core over `secs`.
pub fn cpu_percent(before: &ProcSample, now: &ProcSample, secs: f64) -> Option<f64> {
    (secs > 0.0).then(|| {
        let used = now.cpu.since(&before.cpu).total().as_secs_f64();
        (used * 100.0 / secs * 10.0).round() / 10.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::sys::CpuTimes;

    fn sample(rss_bytes: u64, fds: u32, cpu_ms: u64) -> ProcSample {
        ProcSample {
            rss_bytes,
            open_fds: Some(fds),
            cpu: CpuTimes {
                user: Duration::from_millis(cpu_ms),
                system: Duration::ZERO,
            },
        }
    }

    #[test]
    fn figures_keep_the_first_the_last_and_the_highest_sample() {
        let mut watch = BrokerWatch::from_first(7, sample(1_000, 10, 0));
        watch.absorb(sample(5_000, 110, 500));
        watch.absorb(sample(2_000, 12, 1_000));
        let f = watch.figures(Duration::from_secs(4));
        assert_eq!(f.pid, 7);
        assert_eq!(
            (f.rss_start_bytes, f.rss_end_bytes, f.rss_max_bytes),
            (1_000, 2_000, 5_000)
        );
        assert_eq!(
            (f.open_fds_start, f.open_fds_end, f.open_fds_max),
            (Some(10), Some(12), Some(110))
        );
        assert_eq!((f.cpu_secs, f.cpu_percent), (1.0, 25.0));
        assert!(!f.exited);
        assert_eq!(
            cpu_percent(&sample(0, 0, 0), &sample(0, 0, 250), 0.5),
            Some(50.0)
        );
    }

    #[test]
    fn a_process_that_goes_away_keeps_its_last_figures_and_says_so() {
        let mut watch = BrokerWatch::start(std::process::id()).unwrap();
        watch.observe();
        assert!(watch.latest().is_some());
        watch.pid = u32::MAX; // no such process: as if it had exited
        watch.observe();
        assert!(watch.latest().is_none());
        assert!(watch.figures(Duration::from_secs(1)).exited);
        assert!(BrokerWatch::start(u32::MAX).is_none());
    }
}

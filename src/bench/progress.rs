//! Progress while a bench runs, on stderr: one factory gives an indicatif bar on a
//! terminal and plain periodic lines otherwise (as hyperfine does). It is fed a
//! `Snapshot` of merged counters on each collector tick.
//! Must not measure: measuring code only updates counters, this only draws them.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::render::{count, micros};

/// The merged counters at one tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Time since the run started.
    pub elapsed: Duration,
    /// Clients connected now.
    pub connected: u64,
    /// Clients the run asks for.
    pub clients: u64,
    /// Messages sent so far.
    pub sent: u64,
    /// Deliveries received so far.
    pub received: u64,
    /// Deliveries expected at the end, when known in advance (`--messages`).
    pub expected: Option<u64>,
    /// p99 latency over the last tick, µs.
    pub p99_us: Option<u64>,
}

/// Something that shows progress.
pub trait Progress: Send {
    /// A new snapshot, at most a few times a second.
    fn update(&mut self, snapshot: &Snapshot);
    /// The run is over: clear the bar (the report follows).
    fn finish(&mut self);
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// An indicatif bar (stderr is a terminal).
    Bar,
    /// A plain line every `interval` (stderr is a file or a pipe).
    Lines {
        /// Time between lines.
        interval: Duration,
    },
    /// Nothing (`--quiet`, or `--json -` on a terminal where it would mix).
    Hidden,
}

/// Where plain progress lines go (the caller's `output` function for stderr).
pub type LineSink = Box<dyn FnMut(&str) + Send>;

/// The progress factory: a bar, plain lines handed to `out`, or nothing.
pub fn new_progress(mode: ProgressMode, out: LineSink) -> Box<dyn Progress> {
    match mode {
        ProgressMode::Bar => Box::new(Bar::new()),
        ProgressMode::Lines { interval } => Box::new(Lines {
            out,
            interval,
            last: None,
        }),
        ProgressMode::Hidden => Box::new(Hidden),
    }
}

struct Hidden;

impl Progress for Hidden {
    fn update(&mut self, _: &Snapshot) {}
    fn finish(&mut self) {}
}

struct Bar {
    bar: ProgressBar,
    last: Option<Snapshot>,
}

impl Bar {
    fn new() -> Bar {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
        Bar { bar, last: None }
    }
}

impl Progress for Bar {
    fn update(&mut self, s: &Snapshot) {
        if let Some(expected) = s.expected {
            if self.bar.length() != Some(expected) {
                self.bar.set_length(expected);
                let style =
                    ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {percent:>3}% {msg}")
                        .expect("the template is a valid indicatif template")
                        .progress_chars("=> ");
                self.bar.set_style(style);
            }
        } else if self.last.is_none() {
            let style = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .expect("the template is a valid indicatif template");
            self.bar.set_style(style);
        }
        self.bar.set_position(s.received);
        self.bar.set_message(line(s, self.last.as_ref()));
        self.last = Some(s.clone());
    }

    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}

struct Lines {
    out: LineSink,
    interval: Duration,
    last: Option<Snapshot>,
}

impl Progress for Lines {
    fn update(&mut self, s: &Snapshot) {
        let due = self
            .last
            .as_ref()
            .is_none_or(|last| s.elapsed >= last.elapsed + self.interval);
        if !due {
            return;
        }
        let text = format!(
            "bench: {:>6.1}s {}",
            s.elapsed.as_secs_f64(),
            line(s, self.last.as_ref())
        );
        (self.out)(&text);
        self.last = Some(s.clone());
    }

    fn finish(&mut self) {}
}

/// `clients 200/200  sent 10,000 (5,000/s)  received 9,800 (4,900/s)  p99 1.2 ms`
fn line(s: &Snapshot, last: Option<&Snapshot>) -> String {
    let mut text = format!("clients {}/{}", count(s.connected), count(s.clients));
    let secs = last
        .map_or(s.elapsed, |l| s.elapsed.saturating_sub(l.elapsed))
        .as_secs_f64();
    let rate = |now: u64, before: u64| {
        if secs > 0.0 {
            count((now.saturating_sub(before) as f64 / secs).round() as u64)
        } else {
            "0".into()
        }
    };
    if s.sent > 0 || s.received > 0 {
        let (sent0, recv0) = last.map_or((0, 0), |l| (l.sent, l.received));
        text.push_str(&format!(
            "  sent {} ({}/s)",
            count(s.sent),
            rate(s.sent, sent0)
        ));
        text.push_str(&format!(
            "  received {} ({}/s)",
            count(s.received),
            rate(s.received, recv0)
        ));
    }
    if let Some(p99) = s.p99_us {
        text.push_str(&format!("  p99 {}", micros(p99)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<String>>>);
    impl Shared {
        fn sink(&self) -> LineSink {
            let lines = self.0.clone();
            Box::new(move |line| lines.lock().unwrap().push(line.to_string()))
        }
    }

    #[test]
    fn plain_lines_come_once_per_interval_with_rates() {
        let out = Shared::default();
        let mut p = new_progress(
            ProgressMode::Lines {
                interval: Duration::from_secs(1),
            },
            out.sink(),
        );
        let snap = |ms: u64, sent: u64, received: u64| Snapshot {
            elapsed: Duration::from_millis(ms),
            connected: 3,
            clients: 4,
            sent,
            received,
            expected: Some(100),
            p99_us: Some(1_500),
        };
        p.update(&snap(1000, 10, 8));
        p.update(&snap(1500, 20, 18)); // not due yet
        p.update(&snap(2000, 30, 28));
        p.finish();
        let lines = out.0.lock().unwrap().clone();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(
            lines[0],
            "bench:    1.0s clients 3/4  sent 10 (10/s)  received 8 (8/s)  p99 1.5 ms"
        );
        assert_eq!(
            lines[1],
            "bench:    2.0s clients 3/4  sent 30 (20/s)  received 28 (20/s)  p99 1.5 ms"
        );
    }

    #[test]
    fn hidden_progress_writes_nothing() {
        let out = Shared::default();
        let mut p = new_progress(ProgressMode::Hidden, out.sink());
        p.update(&Snapshot::default());
        p.finish();
        assert!(out.0.lock().unwrap().is_empty());
    }
}

//! Progress of a long `mqtk pub` run (--rate, --replay, --loop) on stderr: an
//! indicatif bar with an ETA when the amount of work is known (messages to repeat, or
//! the bytes of a stdin that is a file), a spinner otherwise; messages sent and their
//! rate beside it. Drawn only when stderr is a terminal: in a pipe or a file it is
//! nothing, as the bars of `mqtk bench` and `mqtk test`. The caller counts; this only
//! draws.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress display; see the module comment.
pub struct Progress {
    bar: ProgressBar,
    messages: u64,
    pass: Option<u64>,
    started: Instant,
    drawn_at: Option<Instant>,
}

/// How often the message count is redrawn at most.
const REDRAW: Duration = Duration::from_millis(100);

impl Progress {
    /// A display for `total` units of work (`None`: unknown); hidden unless `wanted`
    /// and stderr is a terminal.
    pub fn new(wanted: bool, total: Option<u64>) -> Progress {
        let bar = if wanted && std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr_with_hz(4))
        } else {
            ProgressBar::hidden()
        };
        let template = match total {
            Some(_) => "{elapsed:>4} [{bar:30}] {percent:>3}% ETA {eta} {msg}",
            None => "{spinner} {elapsed:>4} {msg}",
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("the template is a valid indicatif template")
                .progress_chars("=> "),
        );
        if total.is_none() {
            bar.enable_steady_tick(Duration::from_millis(250));
        }
        Progress {
            bar,
            messages: 0,
            pass: None,
            started: Instant::now(),
            drawn_at: None,
        }
    }

    /// One more message sent.
    pub fn message_sent(&mut self) {
        self.messages += 1;
        if self.bar.is_hidden() {
            return;
        }
        let now = Instant::now();
        if self.drawn_at.is_some_and(|at| now < at + REDRAW) {
            return;
        }
        self.drawn_at = Some(now);
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            self.messages as f64 / secs
        } else {
            0.0
        };
        let pass = self.pass.map(|p| format!("pass {p}, ")).unwrap_or_default();
        self.bar
            .set_message(format!("{pass}{} messages ({rate:.0}/s)", self.messages));
    }

    /// The work done so far, in the unit of `total`.
    pub fn set_position(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// A new pass over the input (--loop): shown beside the count.
    pub fn set_pass(&mut self, pass: u64) {
        self.pass = Some(pass);
    }

    /// The run is over: the bar goes away.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

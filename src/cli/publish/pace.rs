//! When `mqtk pub` sends each message: `--rate N[/s]` (evenly spread, at most N a
//! second), `--replay` (the recorded gaps, divided by `--speed`) and `--repeat-delay`.
//! The schedule is a plain struct that takes the time as an argument (`due`), so it is
//! tested without a clock; `wait` is the one place that sleeps. Must not know where
//! the messages come from.

use std::time::Duration;

use tokio::time::Instant;

/// How messages are spaced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Pacing {
    /// As fast as the broker takes them.
    Free,
    /// `--repeat-delay`: this long after the previous message was handed over.
    Delay(Duration),
    /// `--rate`: one message every interval.
    Rate(Duration),
    /// `--replay`: the recorded gaps divided by the speed (> 0; `--speed 0` is `Free`).
    Replay(f64),
}

impl Pacing {
    /// From the flags: `--replay` at `replay_speed` wins, then `--rate`'s interval,
    /// then `--repeat-delay`.
    pub fn new(
        replay_speed: Option<f64>,
        rate: Option<Duration>,
        repeat_delay: Option<Duration>,
    ) -> Pacing {
        match (replay_speed, rate, repeat_delay) {
            (Some(0.0), _, _) => Pacing::Free,
            (Some(speed), _, _) => Pacing::Replay(speed),
            (None, Some(interval), _) => Pacing::Rate(interval),
            (None, None, Some(delay)) => Pacing::Delay(delay),
            (None, None, None) => Pacing::Free,
        }
    }
}

/// The schedule of one run: when the next message is due.
#[derive(Debug)]
pub(super) struct Schedule {
    pacing: Pacing,
    /// When the previous message was due (`None`: none yet, or a new pass began).
    previous: Option<Instant>,
    /// --replay: the first message's due time and recorded time, of this pass.
    origin: Option<(Instant, u128)>,
}

impl Schedule {
    pub fn new(pacing: Pacing) -> Schedule {
        Schedule {
            pacing,
            previous: None,
            origin: None,
        }
    }

    /// A new pass over the input (--loop): its first message goes at once.
    pub fn restart(&mut self) {
        self.previous = None;
        self.origin = None;
    }

    /// When the next message is due, given the time `now` and its recorded time.
    pub fn due(&mut self, now: Instant, recorded_ns: Option<u128>) -> Instant {
        let due = match (self.pacing, self.previous) {
            (Pacing::Replay(speed), _) => self.replay_due(now, recorded_ns, speed),
            (Pacing::Free, _) | (_, None) => now,
            (Pacing::Delay(delay), Some(_)) => now + delay,
            (Pacing::Rate(interval), Some(previous)) => {
                // Keep the grid (timer rounding must not slow the rate down), but a
                // stall (a slow stdin) is not made up for with a burst.
                let next = previous + interval;
                if next + interval < now {
                    now
                } else {
                    next
                }
            }
        };
        self.previous = Some(due);
        due
    }

    /// --replay: the first message of a pass goes at once, each other one at its
    /// recorded distance from the first, divided by `speed`. A message without a
    /// recorded time, or recorded before the first, goes right after the previous one.
    fn replay_due(&mut self, now: Instant, recorded_ns: Option<u128>, speed: f64) -> Instant {
        let previous = self.previous.unwrap_or(now);
        let Some(recorded) = recorded_ns else {
            return previous;
        };
        let &mut (start, first) = self.origin.get_or_insert((now, recorded));
        let Some(gap_ns) = recorded.checked_sub(first) else {
            return previous;
        };
        let scaled = Duration::from_secs_f64(gap_ns as f64 / 1e9 / speed);
        (start + scaled).max(previous)
    }

    /// Sleeps until the next message is due.
    pub async fn wait(&mut self, recorded_ns: Option<u128>) {
        if self.pacing == Pacing::Free {
            return;
        }
        let now = Instant::now();
        let due = self.due(now, recorded_ns);
        if due > now {
            tokio::time::sleep_until(due).await;
        }
    }
}

/// Parses `--rate`: `N`, `N/s`, `N/m` or `N/h` messages, into the interval between two.
pub(super) fn parse_rate(s: &str) -> Result<Duration, String> {
    let (number, per_secs) = match s.trim().split_once('/') {
        None => (s.trim(), 1.0),
        Some((n, "s")) => (n, 1.0),
        Some((n, "m")) => (n, 60.0),
        Some((n, "h")) => (n, 3600.0),
        Some(_) => return Err(format!("`{s}`: give the rate as N, N/s, N/m or N/h")),
    };
    let n: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a rate: give N, N/s, N/m or N/h (e.g. 100/s)"))?;
    if !n.is_finite() || n <= 0.0 {
        return Err(format!("`{s}`: the rate must be more than 0"));
    }
    Duration::try_from_secs_f64(per_secs / n).map_err(|_| format!("`{s}` is too slow a rate"))
}

/// Parses `--speed`: a factor of 0 or more.
pub(super) fn parse_speed(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!(
            "`{s}` is not a speed: give a factor (2: twice as fast, 0.5: half, 0: no gaps)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_rate_keeps_its_grid_but_does_not_burst_after_a_stall() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Pacing::Rate(ms(10)));
        assert_eq!(s.due(t0, None), t0);
        assert_eq!(s.due(t0 + ms(1), None), t0 + ms(10));
        // Woken late (timer rounding): the next one stays on the grid.
        assert_eq!(s.due(t0 + ms(12), None), t0 + ms(20));
        // A long stall: start again from now.
        assert_eq!(s.due(t0 + ms(500), None), t0 + ms(500));
    }

    #[test]
    fn a_replay_keeps_the_recorded_gaps_divided_by_the_speed() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Pacing::Replay(2.0));
        let at = |s_: &mut Schedule, now: u64, rec_ms: u128| {
            s_.due(t0 + ms(now), Some(rec_ms * 1_000_000))
        };
        assert_eq!(at(&mut s, 0, 1000), t0);
        assert_eq!(at(&mut s, 1, 1400), t0 + ms(200));
        assert_eq!(at(&mut s, 300, 3000), t0 + ms(1000));
        // Out of order, or without a time: right after the previous one.
        assert_eq!(at(&mut s, 300, 10), t0 + ms(1000));
        assert_eq!(s.due(t0 + ms(300), None), t0 + ms(1000));
        // A new pass starts at once.
        s.restart();
        assert_eq!(at(&mut s, 2000, 1000), t0 + ms(2000));
        assert_eq!(at(&mut s, 2000, 1100), t0 + ms(2050));
    }

    #[test]
    fn rates_and_speeds_parse_or_say_how_to_write_them() {
        assert_eq!(parse_rate("100"), Ok(ms(10)));
        assert_eq!(parse_rate("100/s"), Ok(ms(10)));
        assert_eq!(parse_rate("60/m"), Ok(ms(1000)));
        assert_eq!(parse_rate("3600/h"), Ok(ms(1000)));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("5/d").unwrap_err().contains("N/s"));
        assert!(parse_rate("fast").is_err());
        assert_eq!(parse_speed("0"), Ok(0.0));
        assert!(parse_speed("-1").is_err());
    }
}

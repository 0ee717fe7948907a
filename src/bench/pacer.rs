//! Pacing for `--rate`: the schedule (`intended_ns`, a 5 ms grid) and the pacer, one
//! timer per worker thread for every paced publisher on it. A publisher
//! waiting for its next message's intended send time registers here instead of moving a
//! timer of its own; at each tick the pacer wakes every publisher that is due, and they
//! write in one burst on the same turn of the runtime.
//!
//! Why: with a timer per publisher, tokio wakes its driver (an eventfd write and one more
//! `epoll_wait`) each time a publisher moves its timer ahead of the driver's next wake,
//! which was once per message, and publishers firing at different moments each woke the
//! broker and our subscribers on their own. Measured by `scripts/bench-serve`. The timer
//! is a timerfd on Linux: tokio's timer rounds up to the next millisecond, and with
//! `--rate` that lateness counts as latency (it is measured from the intended send time).
//!
//! State is per thread (the workers are single-threaded runtimes, so a task is always
//! polled on the thread it registered on); `run` drives it and must run on that thread.
//! A `Tick` polled on a thread without a running pacer keeps a timer of its own.
//! Must not know what publishers do when woken.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::time::Sleep;

/// Width of the slots of the `--rate` schedule (see `intended_ns`).
pub const PACE_SLOT: Duration = Duration::from_millis(5);
/// "Never" for the pacer's timer.
const FAR: Duration = Duration::from_secs(7 * 86_400);

#[derive(Default)]
struct Pacer {
    /// Waiting ticks by due time, then a number unique on this thread.
    waiting: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
    /// The pacer task, to wake when a tick due earlier than its timer comes in.
    driver: Option<Waker>,
    /// When the pacer's timer is set for (`None`: no pacer runs on this thread).
    driver_at: Option<Instant>,
    /// Turns of the pacer's loop, for tests: it must sleep, not spin, between ticks.
    turns: u64,
}

thread_local! {
    static PACER: RefCell<Pacer> = RefCell::default();
}

/// Resolves at `due` (or the pacer's first tick after it).
pub fn until(due: Instant) -> Tick {
    Tick {
        due,
        key: None,
        own_timer: None,
    }
}

/// A wait for one intended send time; see `until`.
pub struct Tick {
    due: Instant,
    /// Where this tick waits in the pacer, once registered.
    key: Option<(Instant, u64)>,
    /// Used on a thread where no pacer runs.
    own_timer: Option<Pin<Box<Sleep>>>,
}

impl Future for Tick {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.due {
            self.unregister();
            return Poll::Ready(());
        }
        if let Some(timer) = &mut self.own_timer {
            return timer.as_mut().poll(cx);
        }
        let due = self.due;
        let key = self.key;
        let registered = PACER.with(|pacer| {
            let mut pacer = pacer.borrow_mut();
            let driver_at = pacer.driver_at?;
            let key = match key {
                Some(key) if pacer.waiting.contains_key(&key) => key,
                _ => {
                    pacer.next_id += 1;
                    (due, pacer.next_id)
                }
            };
            match pacer.waiting.get_mut(&key) {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                Some(waker) => *waker = cx.waker().clone(),
                None => {
                    pacer.waiting.insert(key, cx.waker().clone());
                }
            }
            if due < driver_at {
                if let Some(driver) = &pacer.driver {
                    driver.wake_by_ref();
                }
            }
            Some(key)
        });
        match registered {
            Some(key) => {
                self.key = Some(key);
                Poll::Pending
            }
            None => {
                let mut timer = Box::pin(tokio::time::sleep_until(due.into()));
                let poll = timer.as_mut().poll(cx);
                self.own_timer = Some(timer);
                poll
            }
        }
    }
}

impl Tick {
    fn unregister(&mut self) {
        if let Some(key) = self.key.take() {
            // try_with: a tick dropped while the thread ends has nothing to unregister.
            let _ = PACER.try_with(|pacer| pacer.borrow_mut().waiting.remove(&key));
        }
    }
}

impl Drop for Tick {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// Drives this thread's pacer until dropped: sleeps until the earliest waiting tick,
/// then wakes every tick that is due.
pub async fn run() {
    run_with(Alarm::new()).await
}

async fn run_with(mut alarm: Alarm) {
    let _running = Running::start();
    // When the alarm is set to fire (`None`: it has fired, or was never set).
    let mut armed: Option<Instant> = None;
    std::future::poll_fn(|cx| loop {
        let now = Instant::now();
        let next = PACER.with(|pacer| {
            let mut pacer = pacer.borrow_mut();
            pacer.turns += 1;
            while let Some(entry) = pacer.waiting.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                entry.remove().wake();
            }
            if !pacer
                .driver
                .as_ref()
                .is_some_and(|d| d.will_wake(cx.waker()))
            {
                pacer.driver = Some(cx.waker().clone());
            }
            pacer.waiting.first_key_value().map(|((at, _), _)| *at)
        });
        match next {
            Some(at) if armed != Some(at) => {
                alarm.set(at);
                armed = Some(at);
            }
            Some(_) => {}
            // Nothing waits. A one-shot alarm that has fired needs no disarming, and one
            // still set (its ticks were dropped) may fire for nothing: either costs less
            // than a system call on every slot, when the publishers just woken have not
            // registered their next tick yet.
            None if armed.is_some_and(|at| at <= now) => armed = None,
            None => {}
        }
        // Ticks due before this wake the pacer; later ones wait for it.
        let driver_at = armed.unwrap_or(now + FAR);
        PACER.with(|pacer| pacer.borrow_mut().driver_at = Some(driver_at));
        if alarm.poll_fired(cx).is_pending() {
            return Poll::<()>::Pending;
        }
    })
    .await
}

/// The pacer's timer. On Linux a timerfd: it fires at the instant asked (within the
/// kernel's timer slack), where tokio's timer rounds up to the next millisecond, which a
/// paced run would report as latency; and arming it does not wake the runtime's driver.
enum Alarm {
    #[cfg(target_os = "linux")]
    TimerFd(timerfd::TimerFd),
    Tokio(Pin<Box<Sleep>>),
}

impl Alarm {
    fn new() -> Alarm {
        #[cfg(target_os = "linux")]
        if let Ok(fd) = timerfd::TimerFd::new() {
            return Alarm::TimerFd(fd);
        }
        Alarm::Tokio(Box::pin(tokio::time::sleep(FAR)))
    }

    /// Fires at `at` (once), replacing any earlier setting.
    fn set(&mut self, at: Instant) {
        match self {
            #[cfg(target_os = "linux")]
            Alarm::TimerFd(fd) => {
                if fd.set(at).is_err() {
                    // Not expected; a tokio timer is still correct, only coarser.
                    *self = Alarm::Tokio(Box::pin(tokio::time::sleep_until(at.into())));
                }
            }
            Alarm::Tokio(sleep) => sleep.as_mut().reset(at.into()),
        }
    }

    /// Ready once per firing: afterwards the alarm is unset until `set` again.
    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self {
            #[cfg(target_os = "linux")]
            Alarm::TimerFd(fd) => fd.poll_fired(cx),
            Alarm::Tokio(sleep) => {
                std::task::ready!(sleep.as_mut().poll(cx));
                // An elapsed Sleep stays ready: move it away, as a fired timerfd is.
                sleep.as_mut().reset((Instant::now() + FAR).into());
                Poll::Ready(())
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod timerfd {
    //! A one-shot CLOCK_MONOTONIC timerfd (the clock of `Instant` on Linux) in tokio.

    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::task::{Context, Poll};
    use std::time::{Duration, Instant};

    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    pub struct TimerFd {
        fd: AsyncFd<OwnedFd>,
    }

    impl TimerFd {
        pub fn new() -> io::Result<TimerFd> {
            // SAFETY: timerfd_create takes no pointers; the fd is owned from here on.
            let fd = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: fd is a fresh descriptor nobody else owns; the AsyncFd owns it
            // (and so keeps it open) for as long as it is registered.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: as above. Needs the runtime's I/O driver, which the workers enable.
            let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
            Ok(TimerFd { fd })
        }

        /// Arms the timer for `at`, relative to now so no clock conversion is needed:
        /// the kernel starts counting after our `now`, so it never fires early.
        pub fn set(&self, at: Instant) -> io::Result<()> {
            let after = at
                .saturating_duration_since(Instant::now())
                .max(Duration::from_nanos(1));
            // SAFETY: itimerspec is plain data.
            let mut spec: libc::itimerspec = unsafe { std::mem::zeroed() };
            spec.it_value.tv_sec = after.as_secs().min(i64::MAX as u64) as libc::time_t;
            spec.it_value.tv_nsec = after.subsec_nanos() as libc::c_long;
            // SAFETY: spec outlives the call; the old value is not asked for.
            let rc = unsafe {
                libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut())
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }

        /// Ready once the timer has expired (consuming the expiry).
        pub fn poll_fired(&self, cx: &mut Context<'_>) -> Poll<()> {
            loop {
                let Poll::Ready(Ok(mut guard)) = self.fd.poll_read_ready(cx) else {
                    return Poll::Pending;
                };
                let mut expirations = [0u8; 8];
                // SAFETY: reads at most 8 bytes into a buffer of 8.
                let n = unsafe {
                    libc::read(
                        self.fd.as_raw_fd(),
                        expirations.as_mut_ptr().cast(),
                        expirations.len(),
                    )
                };
                // Read or not, nothing more is to be read until it fires again.
                guard.clear_ready();
                if n == 8 {
                    return Poll::Ready(());
                }
            }
        }
    }
}

/// Marks the pacer running on this thread, and stopped again when dropped.
struct Running;

impl Running {
    fn start() -> Running {
        PACER.with(|pacer| pacer.borrow_mut().driver_at = Some(Instant::now() + FAR));
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = PACER.try_with(|pacer| {
            let mut pacer = pacer.borrow_mut();
            pacer.driver_at = None;
            pacer.driver = None;
            // Whoever still waits re-polls and falls back to a timer of its own.
            for (_, waker) in std::mem::take(&mut pacer.waiting) {
                waker.wake();
            }
        });
    }
}

/// The intended send time of publisher `index`'s message `sequence` at `rate` messages
/// per second each, `publishers` in all. Sends are batched on a grid of `PACE_SLOT`: a
/// publisher faster than one message a slot has every message of a slot due at the
/// slot's start, and they go out together in one write; slower publishers send each
/// message `1 / rate` after the last, dealt into slots across one interval so that
/// those in a slot send together (one wake-up of the pacer, and of the broker) while a
/// large, slow fleet is still spread over the interval. Latency is measured from this
/// time, so a burst's queueing in the broker counts, the pacer's own lateness too.
pub fn intended_ns(rate: f64, publishers: u32, index: u32, start_ns: u64, sequence: u64) -> u64 {
    let interval_ns = 1e9 / rate;
    let slot_ns = PACE_SLOT.as_nanos() as u64;
    if interval_ns < slot_ns as f64 {
        let ideal_ns = (sequence as f64 * interval_ns) as u64;
        return start_ns + ideal_ns / slot_ns * slot_ns;
    }
    let slots = (interval_ns / slot_ns as f64)
        .floor()
        .clamp(1.0, publishers.max(1) as f64);
    let offset_ns = (index as f64 % slots) * interval_ns / slots;
    start_ns + (sequence as f64 * interval_ns) as u64 + offset_ns as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishers_faster_than_a_slot_send_each_slot_together() {
        // 1,000 msgs/s each: five messages a 5 ms slot, all due at its start, for
        // every publisher alike.
        for index in 0..10 {
            let due: Vec<u64> = (0..11)
                .map(|k| intended_ns(1000.0, 10, index, 7, k))
                .collect();
            let ms = 1_000_000;
            assert_eq!(due[..5], [7; 5]);
            assert_eq!(due[5..10], [7 + 5 * ms; 5]);
            assert_eq!(due[10], 7 + 10 * ms);
        }
        // 500 msgs/s: 2.5 a slot on average; 1,000 messages still take 2 s.
        assert_eq!(intended_ns(500.0, 1, 0, 0, 2), 0);
        assert_eq!(intended_ns(500.0, 1, 0, 0, 3), 5_000_000);
        assert_eq!(intended_ns(500.0, 1, 0, 0, 1000), 2_000_000_000);
    }

    #[test]
    fn a_publisher_at_one_message_a_slot_keeps_its_own_pace() {
        // 200 msgs/s: one message every 5 ms, every publisher in the one slot.
        for index in 0..3 {
            assert_eq!(intended_ns(200.0, 3, index, 0, 4), 20_000_000);
        }
    }

    #[test]
    fn slow_publishers_are_spread_over_the_interval_in_slots() {
        // 10 msgs/s each: a 100 ms interval holds 20 slots of 5 ms.
        let starts: Vec<u64> = (0..40).map(|i| intended_ns(10.0, 40, i, 0, 0)).collect();
        assert_eq!(starts[0], 0);
        assert_eq!(starts[1], 5_000_000);
        assert_eq!(starts[19], 95_000_000);
        assert_eq!(starts[20], 0, "publisher 20 shares slot 0");
        assert_eq!(intended_ns(10.0, 40, 1, 0, 2), 205_000_000);
        // Never more slots than publishers: two publishers split the interval in two.
        assert_eq!(intended_ns(10.0, 2, 1, 0, 0), 50_000_000);
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn ticks_resolve_no_earlier_than_due_with_one_pacer() {
        runtime().block_on(async {
            let pacer = tokio::spawn(run());
            tokio::task::yield_now().await;
            let start = Instant::now();
            let dues: Vec<Instant> = (1..=5)
                .map(|i| start + Duration::from_millis(3 * i))
                .collect();
            let tasks: Vec<_> = dues
                .iter()
                .map(|&due| {
                    tokio::spawn(async move {
                        until(due).await;
                        Instant::now()
                    })
                })
                .collect();
            for (task, due) in tasks.into_iter().zip(dues) {
                let woke = tokio::time::timeout(Duration::from_secs(5), task)
                    .await
                    .expect("tick never came")
                    .unwrap();
                assert!(woke >= due);
            }
            assert!(PACER.with(|p| p.borrow().waiting.is_empty()));
            pacer.abort();
        });
    }

    #[test]
    fn with_a_tokio_alarm_the_pacer_sleeps_between_ticks() {
        // An elapsed tokio Sleep stays ready: were it left so, the pacer would turn
        // round (yielding to tokio's budget now and then) while nothing is due.
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            runtime().block_on(async {
                let alarm = Alarm::Tokio(Box::pin(tokio::time::sleep(FAR)));
                let pacer = tokio::spawn(run_with(alarm));
                tokio::task::yield_now().await;
                for _ in 0..3 {
                    let due = Instant::now() + Duration::from_millis(2);
                    until(due).await;
                    assert!(Instant::now() >= due);
                    // Nothing waits for a while: the fired alarm must not stay ready.
                    let before = PACER.with(|p| p.borrow().turns);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let idle_turns = PACER.with(|p| p.borrow().turns) - before;
                    assert!(idle_turns <= 2, "{idle_turns} turns with nothing due");
                }
                pacer.abort();
            });
            let _ = done.send(());
        });
        finished
            .recv_timeout(Duration::from_secs(10))
            .expect("the pacer spun or a tick never came");
    }

    #[test]
    fn an_earlier_tick_moves_the_pacer_timer_forward() {
        runtime().block_on(async {
            let pacer = tokio::spawn(run());
            tokio::task::yield_now().await;
            let late = tokio::spawn(until(Instant::now() + Duration::from_secs(3600)));
            tokio::task::yield_now().await;
            let early = Instant::now() + Duration::from_millis(5);
            tokio::time::timeout(Duration::from_secs(5), until(early))
                .await
                .expect("the early tick waited for the late one");
            assert!(Instant::now() >= early);
            late.abort();
            pacer.abort();
        });
    }

    #[test]
    fn a_dropped_tick_leaves_the_pacer() {
        runtime().block_on(async {
            let pacer = tokio::spawn(run());
            tokio::task::yield_now().await;
            let due = Instant::now() + Duration::from_secs(3600);
            let waited = tokio::time::timeout(Duration::from_millis(5), until(due)).await;
            assert!(waited.is_err());
            assert!(PACER.with(|p| p.borrow().waiting.is_empty()));
            pacer.abort();
        });
    }

    #[test]
    fn without_a_pacer_a_tick_keeps_its_own_timer() {
        runtime().block_on(async {
            let due = Instant::now() + Duration::from_millis(5);
            tokio::time::timeout(Duration::from_secs(5), until(due))
                .await
                .expect("tick never came");
            assert!(Instant::now() >= due);
        });
    }
}

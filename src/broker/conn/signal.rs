//! What wakes a connection task besides its socket and its mailbox: a takeover by a
//! new connection with the same client identifier, the broker's shutdown, and the
//! broker-wide keep-alive sweep. One small shared struct per connection with one
//! waker, instead of a channel, a shutdown receiver and a timer per connection, keeps
//! every idle connection's future and heap small (memory per idle connection,
//! scripts/serve-memory); mosquitto checks keep alives in its main loop the same way.
//! Must not decide anything: the connection task does (keep alive: `Session`).

use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use tokio::sync::oneshot;

use crate::broker::clock::clock_ms;
use crate::broker::persist::kept_session::KeptSession;

/// How often the broker looks for connections whose keep alive ran out: a silent
/// client is disconnected at most this long after 1.5 times its keep alive.
pub const SWEEP_PERIOD: Duration = Duration::from_millis(250);

/// Where a new connection sends the session of the connection it takes over.
pub type TakeOverReply = oneshot::Sender<Option<KeptSession>>;

const TAKEOVER: u8 = 1;
const SHUTDOWN: u8 = 2;
const TIMER: u8 = 4;
/// The task has ended: a takeover request is refused.
const CLOSED: u8 = 8;

/// `deadline_ms` when there is no keep alive.
const NO_DEADLINE: u64 = u64::MAX;

/// Why a connection task was woken.
#[derive(Debug)]
pub enum Wake {
    /// Another connection took the client identifier over: hand the session to it.
    TakeOver(TakeOverReply),
    /// The broker is stopping.
    Shutdown,
    /// The keep-alive deadline the task published has passed: run the session's timer.
    Timer,
}

/// A connection task's wake-up flags, shared with the session store (takeover,
/// shutdown) and the keep-alive sweep.
#[derive(Debug)]
pub struct Signal {
    flags: AtomicU8,
    /// The task's keep-alive deadline (`clock_ms`), read by the sweep.
    deadline_ms: AtomicU64,
    waker: AtomicWaker,
    /// Boxed: 8 bytes instead of 16 in every connection's signal; made only by a
    /// takeover.
    takeover: Mutex<Option<Box<TakeOverReply>>>,
}

impl Default for Signal {
    fn default() -> Self {
        Signal {
            flags: AtomicU8::new(0),
            deadline_ms: AtomicU64::new(NO_DEADLINE),
            waker: AtomicWaker::new(),
            takeover: Mutex::new(None),
        }
    }
}

impl Signal {
    fn raise(&self, flag: u8) {
        self.flags.fetch_or(flag, Ordering::AcqRel);
        self.waker.wake();
    }

    /// Asks the connection to close and hand its session over through `reply`; gives
    /// `reply` back if the connection task has ended already.
    pub fn take_over(&self, reply: TakeOverReply) -> Result<(), TakeOverReply> {
        let mut slot = self.takeover.lock().unwrap_or_else(|e| e.into_inner());
        if self.flags.load(Ordering::Acquire) & CLOSED != 0 {
            return Err(reply);
        }
        *slot = Some(Box::new(reply));
        drop(slot);
        self.raise(TAKEOVER);
        Ok(())
    }

    /// Tells the connection the broker is stopping.
    pub fn shut_down(&self) {
        self.raise(SHUTDOWN);
    }

    /// The sweep: wakes the task if its keep-alive deadline is at or before `now_ms`.
    pub fn sweep(&self, now_ms: u64) {
        if self.deadline_ms.load(Ordering::Relaxed) <= now_ms
            && self.flags.load(Ordering::Relaxed) & TIMER == 0
        {
            self.raise(TIMER);
        }
    }

    /// The task publishes when its session's timer is due next (`None`: never).
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        // Rounded up, so that the session finds the deadline passed when woken.
        let ms = deadline.map_or(NO_DEADLINE, |t| clock_ms(t) + 1);
        if self.deadline_ms.load(Ordering::Relaxed) != ms {
            self.deadline_ms.store(ms, Ordering::Relaxed);
        }
    }

    /// The takeover request, if one came (the task ends and hands its session over).
    pub fn take_reply(&self) -> Option<TakeOverReply> {
        let reply = self
            .takeover
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.flags.fetch_and(!TAKEOVER, Ordering::AcqRel);
        reply.map(|r| *r)
    }

    /// The task has ended: later takeover requests are refused; one that came in
    /// between is given back.
    pub fn close(&self) -> Option<TakeOverReply> {
        let mut slot = self.takeover.lock().unwrap_or_else(|e| e.into_inner());
        self.flags.fetch_or(CLOSED, Ordering::AcqRel);
        slot.take().map(|r| *r)
    }

    /// `wait` by hand, for a task polling it together with other things.
    pub fn poll_wake(&self, cx: &mut Context<'_>, timer: bool) -> Poll<Wake> {
        if let Some(wake) = self.check(timer) {
            return Poll::Ready(wake);
        }
        self.waker.register(cx.waker());
        // A flag raised before the registration: seen now.
        match self.check(timer) {
            Some(wake) => Poll::Ready(wake),
            None => Poll::Pending,
        }
    }

    fn check(&self, timer: bool) -> Option<Wake> {
        let flags = self.flags.load(Ordering::Acquire);
        if flags & TAKEOVER != 0 {
            if let Some(reply) = self.take_reply() {
                return Some(Wake::TakeOver(reply));
            }
        }
        if flags & SHUTDOWN != 0 {
            return Some(Wake::Shutdown);
        }
        if timer && flags & TIMER != 0 {
            self.flags.fetch_and(!TIMER, Ordering::AcqRel);
            return Some(Wake::Timer);
        }
        None
    }

    /// Resolves with the next reason to wake; `timer: false` waits for a takeover or
    /// shutdown only (the timer flag stays for later). Cancel-safe; the future is a
    /// reference (memory per idle connection).
    pub fn wait(&self, timer: bool) -> impl Future<Output = Wake> + '_ {
        poll_fn(move |cx| self.poll_wake(cx, timer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_is_small() {
        // Every connection has one (memory per idle connection).
        assert!(std::mem::size_of::<Signal>() <= 56);
    }

    #[tokio::test]
    async fn a_takeover_wakes_the_task_and_hands_it_the_reply() {
        let signal = std::sync::Arc::new(Signal::default());
        let waiter = {
            let signal = signal.clone();
            tokio::spawn(async move { signal.wait(false).await })
        };
        tokio::task::yield_now().await;
        let (tx, rx) = oneshot::channel();
        signal.take_over(tx).expect("accepted");
        match waiter.await.expect("task ran") {
            Wake::TakeOver(reply) => reply.send(None).expect("receiver alive"),
            other => panic!("expected a takeover, got {other:?}"),
        }
        assert!(rx.await.expect("reply sent").is_none());
    }

    #[tokio::test]
    async fn a_closed_signal_refuses_takeovers_and_gives_back_a_late_one() {
        let signal = Signal::default();
        let (tx, _rx) = oneshot::channel();
        signal.take_over(tx).expect("accepted");
        assert!(
            signal.close().is_some(),
            "the request that came is given back"
        );
        let (tx, _rx) = oneshot::channel();
        assert!(signal.take_over(tx).is_err());
    }

    #[tokio::test]
    async fn the_sweep_wakes_only_a_task_whose_deadline_passed() {
        let signal = Signal::default();
        let now = Instant::now();
        signal.set_deadline(Some(now + Duration::from_secs(3)));
        signal.sweep(clock_ms(now));
        let quick = tokio::time::timeout(Duration::from_millis(20), signal.wait(true)).await;
        assert!(quick.is_err(), "not due yet");
        signal.sweep(clock_ms(now + Duration::from_secs(4)));
        // Waiting for takeover or shutdown only leaves the timer flag alone.
        let quick = tokio::time::timeout(Duration::from_millis(20), signal.wait(false)).await;
        assert!(quick.is_err());
        assert!(matches!(signal.wait(true).await, Wake::Timer));
        signal.set_deadline(None);
        signal.sweep(u64::MAX - 1);
        signal.shut_down();
        assert!(matches!(signal.wait(true).await, Wake::Shutdown));
    }
}

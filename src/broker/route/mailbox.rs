//! A session's mailbox: the bounded queue publishers push deliveries into without
//! waiting, and the flags they read (online, dropped count, when it was last drained).
//! It lives as long as the session, across network connections, so it is also the
//! offline queue. Must not block a publisher: a full mailbox refuses the delivery
//! (`--max-queued`); waiting for space is the publisher's choice (`flow`), helped by
//! `drained_within` and `space`, and never happens under a lock.
//!
//! The channel is made at the first delivery, not with the session: tokio allocates a
//! block of 32 slots and its shared state up front (~0.8 KB), which most idle
//! connections never use (memory per idle connection, scripts/serve-memory).

use crate::broker::clock::clock_ms;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use tokio::sync::{mpsc, Notify};

use crate::broker::hooks::Persistence;
use crate::broker::limits::Limit;
use crate::broker::route::message::Delivery;
use crate::protocol::QoS;

/// The sending half of a session's queue, shared by the subscription tree.
#[derive(Debug)]
pub struct Mailbox {
    /// Unique per session (a new clean session gets a new id).
    pub session_id: u64,
    /// The client identifier, for logs.
    pub client_id: Arc<str>,
    /// Made by the first push (`sender`); the receiver waits in `lazy` for the `Inbox`.
    tx: OnceLock<mpsc::Sender<Delivery>>,
    /// At most this many queued deliveries (u32: packs with the flags).
    capacity: u32,
    /// At most this many bytes (topic + payload) queued (`--max-queued-bytes`, at most
    /// `MAX_BYTES_LIMIT`; `u32::MAX`: no limit, nothing counted), though an empty
    /// queue takes any one message.
    max_bytes: u32,
    /// Bytes queued now: below `MAX_BYTES_LIMIT` plus one packet, so a u32 (memory
    /// per idle connection).
    queued_bytes: AtomicU32,
    /// The channel's receiver, from its making until the `Inbox` takes it.
    lazy: Mutex<Option<mpsc::Receiver<Delivery>>>,
    /// The inbox was closed: no channel is made any more (written under `lazy`).
    closed: AtomicBool,
    /// Woken when the channel is made, for the `Inbox` waiting for it (a waker, not a
    /// `Notify`: the waiting future is then only a reference).
    made: AtomicWaker,
    online: AtomicBool,
    /// Its connection task waits for other sessions' queues (`flow`) and takes nothing
    /// out meanwhile: publishers must not wait for it to get below `flow::CONGESTED`
    /// (two clients publishing to each other would wait in a circle).
    paused: AtomicBool,
    /// A publisher waited `flow::MAX_WAIT` for this congested queue in vain: it drains slower
    /// than it is filled, and nobody waits for it again until it is short (`flow`).
    slow: AtomicBool,
    dropped: AtomicU64,
    /// `--data-dir` with a kept session: QoS 1/2 deliveries are stored before queuing.
    stored: AtomicBool,
    persistence: OnceLock<Arc<dyn Persistence>>,
    /// When the connection task last took deliveries out (`clock_ms`); 0: never;
    /// `WAITING`: it is waiting for them now.
    last_drained_ms: AtomicU64,
    /// Publishers waiting in `wait_for_space`: the drainer notifies only when > 0.
    waiters: AtomicU32,
    /// Signalled when the drainer frees slots while someone waits.
    space: Notify,
}

/// The largest `--max-queued-bytes` kept as given (2 GiB); above it, this.
const MAX_BYTES_LIMIT: usize = 1 << 31;

/// `last_drained_ms` while the connection task waits for deliveries.
const WAITING: u64 = u64::MAX;

/// How stale `last_drained_ms` may get before the drainer rewrites it.
const CLOCK_STEP_MS: u64 = 5;

/// Why a delivery was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// The queue holds `--max-queued` messages already: the message is dropped for
    /// this session (and counted).
    Full,
    /// QoS 0 to a session without a connection is not queued (like mosquitto's
    /// default `queue_qos0_messages false`), and the session is gone.
    Offline,
}

impl Mailbox {
    /// A mailbox holding at most `capacity` (at least 1) waiting deliveries.
    #[cfg(test)]
    pub fn new(session_id: u64, client_id: Arc<str>, capacity: usize) -> (Arc<Mailbox>, Inbox) {
        Mailbox::bounded(session_id, client_id, capacity, 0)
    }

    /// A mailbox holding at most `capacity` (at least 1) waiting deliveries and at most
    /// `max_bytes` bytes of them (0: no limit; beyond 2 GiB: 2 GiB).
    pub fn bounded(
        session_id: u64,
        client_id: Arc<str>,
        capacity: usize,
        max_bytes: usize,
    ) -> (Arc<Mailbox>, Inbox) {
        let mailbox = Mailbox {
            session_id,
            client_id,
            tx: OnceLock::new(),
            capacity: u32::try_from(capacity.max(1)).unwrap_or(u32::MAX),
            max_bytes: match max_bytes {
                0 => u32::MAX,
                n => n.min(MAX_BYTES_LIMIT) as u32,
            },
            queued_bytes: AtomicU32::new(0),
            lazy: Mutex::new(None),
            closed: AtomicBool::new(false),
            made: AtomicWaker::new(),
            online: AtomicBool::new(true),
            paused: AtomicBool::new(false),
            slow: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            stored: AtomicBool::new(false),
            persistence: OnceLock::new(),
            last_drained_ms: AtomicU64::new(0),
            waiters: AtomicU32::new(0),
            space: Notify::new(),
        };
        let mailbox = Arc::new(mailbox);
        let inbox = Inbox {
            mailbox: mailbox.clone(),
            rx: None,
        };
        (mailbox, inbox)
    }

    /// The channel's sending half, made on first use; `None` once the inbox is closed.
    fn sender(&self) -> Option<&mpsc::Sender<Delivery>> {
        if let Some(tx) = self.tx.get() {
            return Some(tx);
        }
        // Once per session: the lock orders the making against `Inbox::close`.
        let mut lazy = self.lazy.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(Ordering::Relaxed) {
            return None;
        }
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(self.capacity as usize);
            *lazy = Some(rx);
            tx
        });
        drop(lazy);
        self.made.wake();
        Some(tx)
    }

    /// Queues a delivery without waiting. A refused QoS 1/2 delivery is counted in
    /// `dropped`; the delivery comes back so a shared subscription can try another member.
    pub fn push(&self, mut delivery: Delivery) -> Result<(), (PushError, Delivery)> {
        if delivery.qos == QoS::AtMostOnce && !self.is_online() {
            return Err((PushError::Offline, delivery));
        }
        let size = delivery.size();
        if !self.has_room_for(size) {
            return Err((PushError::Full, delivery));
        }
        // A stored session's QoS 1/2 message is written to the store before it is queued,
        // so it is durable before the publisher gets its PUBACK/PUBREC. Shared-group
        // deliveries are not stored (another member may take them).
        let store = match self.persistence.get() {
            Some(p)
                if self.is_stored()
                    && delivery.qos != QoS::AtMostOnce
                    && delivery.group().is_none() =>
            {
                if self.is_full() {
                    return Err((PushError::Full, delivery));
                }
                let qid = p.message_queued(&self.client_id, &delivery).unwrap_or(0);
                delivery.set_qid(qid);
                Some(p)
            }
            _ => None,
        };
        let Some(tx) = self.sender() else {
            return Err((PushError::Offline, delivery));
        };
        // Counted before it can be taken out (which subtracts it).
        self.count_bytes(size, true);
        let refused = match tx.try_send(delivery) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Full(d)) => (PushError::Full, d),
            Err(mpsc::error::TrySendError::Closed(d)) => (PushError::Offline, d),
        };
        self.count_bytes(size, false);
        if let (Some(p), qid @ 1..) = (store, refused.1.qid()) {
            p.message_taken(&self.client_id, qid, None);
        }
        Err(refused)
    }

    /// Queues a delivery loaded from the store at start (already stored).
    pub fn push_restored(&self, delivery: Delivery) -> bool {
        let size = delivery.size();
        let Some(tx) = self.sender() else {
            return false;
        };
        self.count_bytes(size, true);
        let queued = tx.try_send(delivery).is_ok();
        if !queued {
            self.count_bytes(size, false);
        }
        queued
    }

    /// False when `size` more bytes would pass `--max-queued-bytes` (an empty queue
    /// takes any one message: it is bounded by the maximum packet size); logged.
    fn has_room_for(&self, size: usize) -> bool {
        let queued = self.queued_bytes.load(Ordering::Relaxed) as usize;
        if self.max_bytes == u32::MAX
            || queued == 0
            || queued.saturating_add(size) <= self.max_bytes as usize
        {
            return true;
        }
        crate::broker::limits::hit(Limit::QueuedBytes, || {
            format!(
                "the queue of client {} holds {queued} bytes; a message of {size} bytes \
                 is dropped for it or waits",
                self.client_id
            )
        });
        false
    }

    /// Adds (`in`) or takes away the bytes of a delivery, when `--max-queued-bytes` is
    /// on. One delivery is at most a packet (256 MB), so the sum stays within a u32.
    fn count_bytes(&self, size: usize, into: bool) {
        if self.max_bytes == u32::MAX {
            return;
        }
        let size = size as u32;
        if into {
            self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        } else {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
        }
    }

    /// Bytes (topic + payload) queued.
    #[cfg(test)]
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Relaxed) as usize
    }

    /// Stores this session's queue from now on (`Some`), or stops (`None`).
    pub fn set_stored(&self, persistence: Option<&Arc<dyn Persistence>>) {
        if let Some(p) = persistence {
            let _ = self.persistence.set(p.clone());
        }
        self.stored.store(persistence.is_some(), Ordering::Relaxed);
    }

    /// True while the session is kept in the store.
    pub fn is_stored(&self) -> bool {
        self.stored.load(Ordering::Relaxed)
    }

    /// Counts one message dropped for this session.
    pub fn count_drop(&self) -> u64 {
        self.dropped.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Messages dropped so far because the queue was full.
    #[cfg(test)]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// True while a network connection serves the session.
    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Relaxed)
    }

    /// Marks the session connected or not.
    pub fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::Relaxed);
    }

    /// True when the queue has no free slot, or holds `--max-queued-bytes`.
    pub fn is_full(&self) -> bool {
        self.tx.get().is_some_and(|tx| tx.capacity() == 0)
            || (self.max_bytes != u32::MAX
                && self.queued_bytes.load(Ordering::Relaxed) >= self.max_bytes)
    }

    /// Deliveries waiting in the queue.
    pub fn len(&self) -> usize {
        self.tx
            .get()
            .map_or(0, |tx| tx.max_capacity() - tx.capacity())
    }

    /// True while its connection task waits for other queues (`set_paused`).
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// True while marked as draining slower than it is filled (`set_slow`).
    pub fn is_slow(&self) -> bool {
        self.slow.load(Ordering::Relaxed)
    }

    /// Marks the queue as draining slower than it is filled (`flow`), or not.
    pub fn set_slow(&self, slow: bool) {
        self.slow.store(slow, Ordering::Relaxed);
    }

    /// Marks the connection task as waiting for other queues (`flow`) or not. Pausing
    /// wakes the publishers waiting for this queue, to look again and see they must
    /// not wait for it.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
        if paused {
            fence(Ordering::SeqCst);
            if self.waiters.load(Ordering::Relaxed) > 0 {
                self.space.notify_waiters();
            }
        }
    }

    /// The connection task took deliveries out at `now`: the mailbox is live, and
    /// publishers waiting for room get woken.
    pub fn note_drained(&self, now: Instant) {
        self.note_woken(now);
        // Pairs with the fence in `wait_for_space`: either the waiter sees the freed
        // slot on its retry, or we see it registered and wake it.
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::Relaxed) > 0 {
            self.space.notify_waiters();
        }
    }

    /// The connection task is about to wait for deliveries (among other things): until
    /// it wakes, the mailbox is live however long that takes to be scheduled.
    pub fn note_waiting(&self) {
        // Written only on a change: publishers read this cache line on every push.
        if self.last_drained_ms.load(Ordering::Relaxed) != WAITING {
            self.last_drained_ms.store(WAITING, Ordering::Relaxed);
        }
    }

    /// The connection task woke at `now` (for a delivery or anything else): it was
    /// ready until now; from here the drain window runs.
    pub fn note_woken(&self, now: Instant) {
        let last = self.last_drained_ms.load(Ordering::Relaxed);
        let ms = clock_ms(now);
        if last == WAITING || last == 0 || ms.saturating_sub(last) >= CLOCK_STEP_MS {
            self.last_drained_ms.store(ms, Ordering::Relaxed);
        }
    }

    /// True when its connection task is waiting for deliveries or took some out within
    /// `window` of `now` (the drain window is `flow`'s).
    pub fn drained_within(&self, window: Duration, now: Instant) -> bool {
        let last = self.last_drained_ms.load(Ordering::Relaxed);
        last == WAITING
            || (last != 0 && clock_ms(now).saturating_sub(last) <= window.as_millis() as u64)
    }

    /// Waits until the drainer frees slots or `timeout` passes. Register first, then
    /// retry the push, then call this: a slot freed in between is never missed.
    pub async fn wait_for_space(&self, timeout: Duration) {
        self.wait_while(timeout, || self.is_full()).await;
    }

    /// Waits until at most `len` deliveries are queued, the connection task pauses, or
    /// `timeout` passes (the caller looks again in any case).
    pub async fn wait_for_len(&self, len: usize, timeout: Duration) {
        self.wait_while(timeout, || self.len() > len && !self.is_paused())
            .await;
    }

    async fn wait_while(&self, timeout: Duration, waiting: impl Fn() -> bool) {
        let notified = self.space.notified();
        let _registered = Waiter::register(&self.waiters);
        fence(Ordering::SeqCst);
        // The caller looked before we registered: look once more.
        if waiting() {
            let _ = tokio::time::timeout(timeout, notified).await;
        }
    }
}

/// One registered waiter; unregisters when dropped, also when the wait is cancelled.
struct Waiter<'a>(&'a AtomicU32);

impl<'a> Waiter<'a> {
    fn register(count: &'a AtomicU32) -> Waiter<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Waiter(count)
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The receiving half of a mailbox, owned by the session.
#[derive(Debug)]
pub struct Inbox {
    mailbox: Arc<Mailbox>,
    rx: Option<mpsc::Receiver<Delivery>>,
}

impl Inbox {
    /// The mailbox this is the receiving end of.
    pub fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }

    /// Takes the receiver once the first push made the channel.
    fn take(&mut self) -> Option<&mut mpsc::Receiver<Delivery>> {
        if self.rx.is_none() && self.mailbox.tx.get().is_some() {
            let mut lazy = self.mailbox.lazy.lock().unwrap_or_else(|e| e.into_inner());
            self.rx = lazy.take();
        }
        self.rx.as_mut()
    }

    /// The next delivery; `None` once closed and empty. Cancel-safe.
    #[cfg(test)]
    pub fn recv(&mut self) -> impl std::future::Future<Output = Option<Delivery>> + '_ {
        std::future::poll_fn(|cx| self.poll_recv(cx))
    }

    /// `recv` by hand. Cancel-safe.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        if self.take().is_none() {
            if self.is_closed() {
                return Poll::Ready(None);
            }
            // Registered before looking again: a channel made in between is not missed.
            self.mailbox.made.register(cx.waker());
            if self.take().is_none() {
                return if self.is_closed() {
                    Poll::Ready(None)
                } else {
                    Poll::Pending
                };
            }
        }
        let polled = match self.rx.as_mut() {
            Some(rx) => rx.poll_recv(cx),
            None => Poll::Ready(None),
        };
        if let Poll::Ready(Some(d)) = &polled {
            self.taken(d);
        }
        polled
    }

    fn taken(&self, delivery: &Delivery) {
        self.mailbox.count_bytes(delivery.size(), false);
    }

    fn is_closed(&self) -> bool {
        // Written under the lock, read under it: ordered with the channel's making.
        let _lazy = self.mailbox.lazy.lock().unwrap_or_else(|e| e.into_inner());
        self.mailbox.closed.load(Ordering::Relaxed)
    }

    /// A delivery if one is queued.
    pub fn try_recv(&mut self) -> Result<Delivery, mpsc::error::TryRecvError> {
        let got = match self.take() {
            Some(rx) => rx.try_recv(),
            None => Err(mpsc::error::TryRecvError::Empty),
        };
        if let Ok(d) = &got {
            self.taken(d);
        }
        got
    }

    /// Refuses further pushes; what is queued can still be taken.
    pub fn close(&mut self) {
        let mut lazy = self.mailbox.lazy.lock().unwrap_or_else(|e| e.into_inner());
        self.mailbox.closed.store(true, Ordering::Relaxed);
        if self.rx.is_none() {
            self.rx = lazy.take();
        }
        drop(lazy);
        if let Some(rx) = self.rx.as_mut() {
            rx.close();
        }
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        // As when a receiver is dropped: pushes are refused from now.
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::Bytes;

    use super::*;
    use crate::broker::route::message::Message;
    use crate::protocol::Properties;

    fn delivery(qos: QoS) -> Delivery {
        let msg = Arc::new(Message {
            topic: "t".into(),
            payload: Bytes::from_static(b"x"),
            qos,
            retain: false,
            properties: Properties::default(),
            publisher: 1,
            received_at: Instant::now(),
        });
        Delivery::new(msg, qos, false, Vec::new(), None)
    }

    fn sized(payload: usize) -> Delivery {
        let msg = Arc::new(Message {
            topic: "t".into(),
            payload: Bytes::from(vec![0; payload]),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Properties::default(),
            publisher: 1,
            received_at: Instant::now(),
        });
        Delivery::new(msg, QoS::AtLeastOnce, false, Vec::new(), None)
    }

    #[test]
    fn max_bytes_refuses_what_does_not_fit_and_taking_out_makes_room() {
        let (mb, mut inbox) = Mailbox::bounded(1, "a".into(), 100, 250);
        // An empty queue takes any one message, however big.
        assert!(mb.push(sized(999)).is_ok());
        assert!(matches!(mb.push(sized(9)), Err((PushError::Full, _))));
        assert!(mb.is_full());
        assert!(inbox.try_recv().is_ok());
        assert_eq!(mb.queued_bytes(), 0);
        assert!(mb.push(sized(99)).is_ok());
        assert!(mb.push(sized(99)).is_ok());
        assert_eq!(mb.queued_bytes(), 200);
        assert!(matches!(mb.push(sized(99)), Err((PushError::Full, _))));
        assert!(mb.push(sized(49)).is_ok(), "exactly 250 fits");
        while inbox.try_recv().is_ok() {}
        assert_eq!(mb.queued_bytes(), 0);
    }

    #[test]
    fn a_mailbox_stays_small() {
        // Every session has one (memory per idle connection); 176 since
        // --max-queued-bytes (its limit and count, 8 bytes).
        let size = std::mem::size_of::<Mailbox>();
        assert!(size <= 176, "a Mailbox is {size} bytes");
    }

    #[test]
    fn an_idle_mailbox_makes_no_channel_until_the_first_push() {
        let (mb, mut inbox) = Mailbox::new(1, "a".into(), 2);
        assert!(mb.tx.get().is_none());
        assert!(!mb.is_full());
        assert!(inbox.try_recv().is_err());
        assert!(mb.tx.get().is_none(), "polling the inbox makes nothing");
        mb.push(delivery(QoS::AtLeastOnce)).expect("queued");
        mb.push(delivery(QoS::AtLeastOnce)).expect("queued");
        assert!(mb.is_full());
        assert!(inbox.try_recv().is_ok());
        assert!(!mb.is_full());
    }

    #[test]
    fn a_closed_mailbox_refuses_pushes_even_before_its_channel_exists() {
        let (mb, mut inbox) = Mailbox::new(1, "a".into(), 2);
        inbox.close();
        let (why, _) = mb.push(delivery(QoS::AtLeastOnce)).expect_err("closed");
        assert_eq!(why, PushError::Offline);
        let (mb, inbox) = Mailbox::new(2, "b".into(), 2);
        drop(inbox);
        assert!(mb.push(delivery(QoS::ExactlyOnce)).is_err());
    }

    #[tokio::test]
    async fn a_waiting_inbox_wakes_when_the_first_push_makes_the_channel() {
        let (mb, mut inbox) = Mailbox::new(1, "a".into(), 2);
        let pusher = {
            let mb = mb.clone();
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                mb.push(delivery(QoS::AtMostOnce)).expect("queued");
            })
        };
        let got = tokio::time::timeout(Duration::from_secs(5), inbox.recv()).await;
        assert!(matches!(got, Ok(Some(_))), "the delivery arrives");
        pusher.await.expect("pusher ran");
        inbox.close();
        assert!(inbox.recv().await.is_none(), "closed and empty");
    }
}

//! Publisher back-pressure: a message (any QoS) that found a live subscriber's queue full
//! (`Routed::blocked`) makes its publisher's connection task wait for room, bounded in
//! time, instead of dropping it. Meanwhile that task reads nothing more from its
//! socket, so TCP slows the publishing client down (what single-threaded mosquitto gets
//! by reading sockets only as fast as it delivers). A session that stopped draining
//! (nothing taken out within `DRAIN_WINDOW`) or went offline never slows anyone: its
//! deliveries are dropped and counted as before. QoS 0 waits too: a live subscriber
//! loses nothing to a burst, as with mosquitto, whose QoS 0 queue for an online client
//! has no count limit; "at most once" still allows the drop when it stops draining.
//! Long before a queue is full, one that holds more than `CONGESTED` deliveries makes
//! the publisher wait the same way until it is down to `UNCONGESTED` (nothing is
//! dropped for that): publishers then go at their subscribers' pace and a message waits
//! in a short queue, not behind thousands (p99 latency at full speed,
//! scripts/bench-serve). A publisher that waits is marked paused, and nobody waits for
//! a paused session's queue to shorten, so two clients publishing to each other
//! cannot wait for each other.
//! Must not hold a lock across `.await` (it runs after the router released its read
//! lock) and must not do I/O.

use std::time::{Duration, Instant};

use crate::broker::route::mailbox::{Mailbox, PushError, DRAIN_WINDOW};
use crate::broker::route::router::{Blocked, Routed};
use crate::broker::shared::Shared;

/// The longest a publisher waits for room for one message, all its subscribers
/// together; then what still does not fit is dropped.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// A live subscriber's queue longer than this after a message was queued makes the
/// publisher wait (`Blocked` without delivery) until it is down to `UNCONGESTED`.
/// Far below `--max-queued`: nothing is dropped for it, the publisher is only slowed
/// to what its subscribers take, so a message waits in a short queue here and the
/// latency stays low when publishers are faster than subscribers.
pub const CONGESTED: usize = 64;

/// Where a congested queue lets its publishers read on again.
pub const UNCONGESTED: usize = CONGESTED / 2;

/// Queues each blocked delivery as room appears, and waits for each congested queue to
/// drain to `UNCONGESTED`, while its session keeps draining and until `MAX_WAIT` after
/// the first try; drops (and counts) the deliveries left. `me` is the waiting
/// publisher's own queue, marked paused meanwhile so that nobody waits for it in turn.
/// Cancel-safe: what is not settled stays in `blocked` (last element first), for
/// `give_up`.
pub async fn deliver_blocked(shared: &Shared, me: &Mailbox, blocked: &mut Vec<Blocked>) {
    me.set_paused(true);
    let _unpause = Unpause(me);
    let deadline = Instant::now() + MAX_WAIT;
    let mut gave_up = Vec::new();
    while let Some(Blocked { mailbox, delivery }) = blocked.pop() {
        let Some(delivery) = delivery else {
            // Queued already: wait while the queue is long and its session live.
            let now = Instant::now();
            if mailbox.len() > UNCONGESTED
                && now < deadline
                && mailbox.is_draining(now)
                && !mailbox.is_paused()
            {
                let wait = (deadline - now).min(DRAIN_WINDOW);
                let waiting_for = mailbox.clone();
                blocked.push(Blocked {
                    mailbox,
                    delivery: None,
                });
                waiting_for.wait_for_len(UNCONGESTED, wait).await;
            }
            continue;
        };
        match mailbox.push(delivery) {
            Ok(()) | Err((PushError::Offline, _)) => {}
            Err((PushError::Full, delivery)) => {
                let now = Instant::now();
                let item = Blocked {
                    mailbox,
                    delivery: Some(delivery),
                };
                if now >= deadline || !item.mailbox.is_draining(now) {
                    gave_up.push(item);
                    continue;
                }
                // Wake at the latest when the drain window could lapse, to look again.
                let wait = (deadline - now).min(DRAIN_WINDOW);
                let mailbox = item.mailbox.clone();
                blocked.push(item);
                mailbox.wait_for_space(wait).await;
            }
        }
    }
    give_up(shared, gave_up);
}

/// Clears the paused mark, also when the wait is cancelled.
struct Unpause<'a>(&'a Mailbox);

impl Drop for Unpause<'_> {
    fn drop(&mut self) {
        self.0.set_paused(false);
    }
}

/// Drops what is still blocked (unless its queue has room by now), counted and logged
/// like any full queue.
pub fn give_up(shared: &Shared, blocked: Vec<Blocked>) {
    if blocked.is_empty() {
        return;
    }
    let mut routed = Routed::default();
    shared.router.drop_blocked(blocked, &mut routed);
    shared.log_dropped(&routed);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;
    use crate::broker::config::BrokerConfig;
    use crate::broker::route::mailbox::Mailbox;
    use crate::broker::route::message::{Delivery, Message};
    use crate::broker::route::subscriptions::SubOptions;
    use crate::protocol::{Properties, QoS};

    fn message(qos: QoS) -> Arc<Message> {
        Arc::new(Message {
            topic: "t".into(),
            payload: Bytes::from_static(b"x"),
            qos,
            retain: false,
            properties: Properties::default(),
            publisher: 99,
            received_at: Instant::now(),
        })
    }

    fn delivery(qos: QoS) -> Delivery {
        Delivery::new(message(qos), qos, false, Vec::new(), None)
    }

    /// The waiting publisher's own queue.
    fn publisher() -> Arc<Mailbox> {
        Mailbox::new(99, "publisher".into(), 1).0
    }

    /// `deliver_blocked` for `blocked` in a task of its own: how long it waited and how
    /// many deliveries it left unsettled.
    fn spawn_waiter(
        shared: &Arc<Shared>,
        mut blocked: Vec<Blocked>,
    ) -> tokio::task::JoinHandle<(Duration, usize)> {
        let shared = shared.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            deliver_blocked(&shared, &publisher(), &mut blocked).await;
            (started.elapsed(), blocked.len())
        })
    }

    fn subscribe(shared: &Shared, mailbox: &Arc<Mailbox>) {
        let options = SubOptions {
            qos: QoS::ExactlyOnce,
            no_local: false,
            retain_as_published: false,
            subscription_id: None,
        };
        shared.router.subscribe("t", None, mailbox, options);
    }

    #[test]
    fn a_full_queue_blocks_at_any_qos_only_while_its_session_drains() {
        let shared = Shared::new(BrokerConfig::default());
        let (mb, mut rx) = Mailbox::new(1, "sub".into(), 1);
        subscribe(&shared, &mb);
        assert!(mb.push(delivery(QoS::AtLeastOnce)).is_ok());
        let now = Instant::now();
        // Never drained: a subscriber that is not reading drops, as before.
        let routed = shared.router.publish(message(QoS::AtLeastOnce), now);
        assert_eq!((routed.dropped, routed.blocked.len()), (1, 0));
        rx.try_recv().expect("one queued");
        mb.push(delivery(QoS::AtLeastOnce)).expect("room again");
        mb.note_drained(now);
        assert!(mb.is_draining(now));
        let routed = shared.router.publish(message(QoS::AtLeastOnce), now);
        assert_eq!((routed.dropped, routed.blocked.len()), (0, 1));
        // QoS 0 waits for a draining session too.
        let routed = shared.router.publish(message(QoS::AtMostOnce), now);
        assert_eq!((routed.dropped, routed.blocked.len()), (0, 1));
        // The drain window lapses: no longer live.
        assert!(!mb.is_draining(now + 2 * DRAIN_WINDOW));
        // Waiting for deliveries counts as live however late it gets scheduled; once
        // woken, the window runs from then.
        mb.note_waiting();
        assert!(mb.is_draining(now + 10 * DRAIN_WINDOW));
        mb.note_woken(now);
        assert!(!mb.is_draining(now + 2 * DRAIN_WINDOW));
        mb.set_online(false);
        assert!(
            !mb.is_draining(now),
            "an offline session never slows anyone"
        );
    }

    #[tokio::test]
    async fn a_waiting_publisher_queues_as_soon_as_the_subscriber_drains() {
        let shared = Arc::new(Shared::new(BrokerConfig::default()));
        let (mb, mut rx) = Mailbox::new(1, "sub".into(), 1);
        subscribe(&shared, &mb);
        mb.push(delivery(QoS::AtLeastOnce)).expect("empty queue");
        mb.note_drained(Instant::now());
        let routed = shared
            .router
            .publish(message(QoS::ExactlyOnce), Instant::now());
        assert_eq!(routed.blocked.len(), 1);
        let waiter = spawn_waiter(&shared, routed.blocked);
        tokio::task::yield_now().await;
        // The subscriber takes one message out: the waiter's message takes its place.
        let first = rx.recv().await.expect("queued");
        assert_eq!(first.qos, QoS::AtLeastOnce);
        mb.note_drained(Instant::now());
        let (waited, left) = waiter.await.expect("waiter ran");
        assert_eq!(left, 0);
        assert!(waited < MAX_WAIT, "woken by the drain, not the timeout");
        let second = rx.try_recv().expect("the blocked message was queued");
        assert_eq!(second.qos, QoS::ExactlyOnce);
        assert_eq!(mb.dropped(), 0);
    }

    #[tokio::test]
    async fn a_long_live_queue_makes_the_publisher_wait_until_it_is_drained_dropping_nothing() {
        let shared = Arc::new(Shared::new(BrokerConfig::default()));
        let (mb, mut rx) = Mailbox::new(1, "sub".into(), 1000);
        subscribe(&shared, &mb);
        for _ in 0..CONGESTED {
            mb.push(delivery(QoS::AtLeastOnce)).expect("room");
        }
        mb.note_drained(Instant::now());
        // Queued (no loss), and the publisher is asked to wait.
        let routed = shared
            .router
            .publish(message(QoS::AtLeastOnce), Instant::now());
        assert_eq!((routed.delivered, routed.dropped), (1, 0));
        assert_eq!(routed.blocked.len(), 1);
        assert!(routed.blocked[0].delivery.is_none());
        assert_eq!(mb.len(), CONGESTED + 1);
        let waiter = spawn_waiter(&shared, routed.blocked);
        tokio::task::yield_now().await;
        while mb.len() > UNCONGESTED {
            rx.recv().await.expect("queued");
        }
        mb.note_drained(Instant::now());
        let (waited, left) = waiter.await.expect("waiter ran");
        assert_eq!(left, 0);
        assert!(waited < DRAIN_WINDOW, "woken by the drain: {waited:?}");
        assert_eq!(mb.dropped(), 0);
        // A queue at or below the threshold asks nobody to wait.
        let routed = shared
            .router
            .publish(message(QoS::AtMostOnce), Instant::now());
        assert!(routed.blocked.is_empty());
    }

    #[tokio::test]
    async fn nobody_waits_for_the_queue_of_a_paused_publisher() {
        let shared = Arc::new(Shared::new(BrokerConfig::default()));
        let (mb, _rx) = Mailbox::new(1, "both".into(), 1000);
        subscribe(&shared, &mb);
        for _ in 0..=CONGESTED {
            mb.push(delivery(QoS::AtMostOnce)).expect("room");
        }
        mb.note_drained(Instant::now());
        mb.set_paused(true);
        let routed = shared
            .router
            .publish(message(QoS::AtMostOnce), Instant::now());
        assert!(routed.blocked.is_empty(), "paused: not waited for");
        // Paused while someone already waits for it: the waiter is woken and stops.
        mb.set_paused(false);
        let routed = shared
            .router
            .publish(message(QoS::AtMostOnce), Instant::now());
        assert_eq!(routed.blocked.len(), 1);
        let waiter = spawn_waiter(&shared, routed.blocked);
        tokio::task::yield_now().await;
        // `mb`'s owner now waits in turn (as in a circle).
        mb.set_paused(true);
        let (waited, _) = waiter.await.expect("waiter ran");
        assert!(waited < DRAIN_WINDOW, "woken by the pause: {waited:?}");
        assert_eq!(mb.dropped(), 0);
    }

    #[tokio::test]
    async fn a_subscriber_that_stops_draining_is_given_up_on_within_the_window() {
        let shared = Shared::new(BrokerConfig::default());
        let (mb, _rx) = Mailbox::new(1, "stuck".into(), 1);
        subscribe(&shared, &mb);
        mb.push(delivery(QoS::AtLeastOnce)).expect("empty queue");
        mb.note_drained(Instant::now());
        let mut routed = shared
            .router
            .publish(message(QoS::AtLeastOnce), Instant::now());
        assert_eq!(routed.blocked.len(), 1);
        let started = Instant::now();
        deliver_blocked(&shared, &publisher(), &mut routed.blocked).await;
        let waited = started.elapsed();
        assert!(routed.blocked.is_empty());
        assert_eq!(
            mb.dropped(),
            1,
            "dropped and counted once the window lapsed"
        );
        assert!(
            waited >= DRAIN_WINDOW && waited <= MAX_WAIT,
            "waited {waited:?}"
        );
    }
}

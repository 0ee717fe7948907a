//! Publisher back-pressure, decided here only: the type (`Blocked`), when a delivery
//! blocks (`push`, which the router calls for each receiving session), the waiting
//! (`deliver_blocked`, in the publisher's connection task) and the giving up
//! (`give_up`). A message (any QoS) that found a live subscriber's queue full makes its
//! publisher's connection task wait for room, bounded in time, instead of dropping it. Meanwhile that task reads nothing more from its
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
//! cannot wait for each other. A congested queue that a publisher waited `MAX_WAIT` for
//! in vain (a subscriber far slower than its publishers, which would otherwise hold
//! every publisher to its pace) is marked slow: nobody waits for it until it is down to
//! `UNCONGESTED` again; meanwhile it fills up to `--max-queued` and then drops, as a
//! queue that stopped draining does (and as mosquitto does for every client). A full
//! queue never marks it (with `--max-queued` below `CONGESTED`, publishers still wait).
//! Must not hold a lock across `.await` (waiting runs after the router released its
//! read lock), must not do I/O, and must not count or log drops (the router counts,
//! `Shared` logs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::broker::route::mailbox::{Mailbox, PushError};
use crate::broker::route::message::Delivery;

/// The longest a publisher waits for room for one message, all its subscribers
/// together; then what still does not fit is dropped.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// A mailbox drained within this window counts as live: a publisher may wait for room
/// in it. Longer than a scheduling hiccup, short enough that a subscriber that stopped
/// reading stalls publishers once, for at most this long.
pub const DRAIN_WINDOW: Duration = Duration::from_millis(200);

/// A live subscriber's queue longer than this after a message was queued makes the
/// publisher wait (`Blocked` without delivery) until it is down to `UNCONGESTED`.
/// Far below `--max-queued`: nothing is dropped for it, the publisher is only slowed
/// to what its subscribers take, so a message waits in a short queue here and the
/// latency stays low when publishers are faster than subscribers.
pub const CONGESTED: usize = 64;

/// Where a congested queue lets its publishers read on again.
pub const UNCONGESTED: usize = CONGESTED / 2;

/// A delivery waiting for room in a live session's queue, or (`delivery: None`) a
/// live session's queue that holds more than `CONGESTED` deliveries after this
/// message was queued in it: the publisher waits until it is drained below
/// `UNCONGESTED` before reading on, so that publishers go no faster than their
/// subscribers and messages wait in the publishers rather than in a long queue here.
#[derive(Debug)]
pub struct Blocked {
    /// The session's queue.
    pub mailbox: Arc<Mailbox>,
    /// What to queue; `None`: queued already.
    pub delivery: Option<Delivery>,
}

/// What became of one delivery offered to a mailbox, for the router to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// In the queue.
    Queued,
    /// Not queued yet: the publisher waits for room (a `Blocked` was added).
    Waits,
    /// Dropped: the queue is full and its session is not draining it.
    Dropped,
    /// The session is offline and keeps no queue.
    Offline,
}

/// True when a publisher may wait for `mailbox`: its session is online and its
/// connection task waits for deliveries or took some out within `DRAIN_WINDOW`, so a
/// full queue is a flood, not a subscriber that stopped reading.
pub fn is_live(mailbox: &Mailbox, now: Instant) -> bool {
    mailbox.is_online() && mailbox.drained_within(DRAIN_WINDOW, now)
}

/// True when a publisher may wait for `mailbox`: live, and not marked slow.
fn may_wait_for(mailbox: &Mailbox, now: Instant) -> bool {
    is_live(mailbox, now) && !mailbox.is_slow()
}

/// Offers `delivery` to `mailbox` without waiting. A full queue of a live session adds
/// the delivery to `blocked` for the publisher to wait on; a live queue left longer
/// than `CONGESTED` adds a `Blocked` without delivery (nobody waits for a paused
/// session's queue to shorten).
pub fn push(
    mailbox: &Arc<Mailbox>,
    delivery: Delivery,
    now: Instant,
    blocked: &mut Vec<Blocked>,
) -> Pushed {
    match mailbox.push(delivery) {
        Ok(()) => {
            let len = mailbox.len();
            if len <= UNCONGESTED && mailbox.is_slow() {
                mailbox.set_slow(false);
            }
            if len > CONGESTED && may_wait_for(mailbox, now) && !mailbox.is_paused() {
                blocked.push(Blocked {
                    mailbox: mailbox.clone(),
                    delivery: None,
                });
            }
            Pushed::Queued
        }
        Err((PushError::Full, delivery)) if may_wait_for(mailbox, now) => {
            blocked.push(Blocked {
                mailbox: mailbox.clone(),
                delivery: Some(delivery),
            });
            Pushed::Waits
        }
        Err((PushError::Full, _)) => Pushed::Dropped,
        Err((PushError::Offline, _)) => Pushed::Offline,
    }
}

/// Queues each blocked delivery as room appears, and waits for each congested queue to
/// drain to `UNCONGESTED`, while its session keeps draining and until `MAX_WAIT` after
/// the first try; returns the deliveries left, for `give_up`. `me` is the waiting
/// publisher's own queue, marked paused meanwhile so that nobody waits for it in turn
/// (`None`: it has none, no subscription, so nobody can wait for it).
/// Cancel-safe: what is not settled stays in `blocked` (last element first), for
/// `give_up`.
pub async fn deliver_blocked(me: Option<&Mailbox>, blocked: &mut Vec<Blocked>) -> Vec<Blocked> {
    if let Some(me) = me {
        me.set_paused(true);
    }
    let _unpause = me.map(Unpause);
    let deadline = Instant::now() + MAX_WAIT;
    let mut gave_up = Vec::new();
    while let Some(Blocked { mailbox, delivery }) = blocked.pop() {
        let Some(delivery) = delivery else {
            // Queued already: wait while the queue is long and its session live.
            let now = Instant::now();
            let long = mailbox.len() > UNCONGESTED;
            if long && now >= deadline && is_live(&mailbox, now) && !mailbox.is_paused() {
                mailbox.set_slow(true);
            }
            if long && now < deadline && may_wait_for(&mailbox, now) && !mailbox.is_paused() {
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
                if now >= deadline || !may_wait_for(&item.mailbox, now) {
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
    gave_up
}

/// Clears the paused mark, also when the wait is cancelled.
struct Unpause<'a>(&'a Mailbox);

impl Drop for Unpause<'_> {
    fn drop(&mut self) {
        self.0.set_paused(false);
    }
}

/// Stops waiting for what is still blocked: each delivery is queued if its queue has
/// room by now, dropped otherwise; `count` hears of each (`Queued` or `Dropped`).
pub fn give_up(blocked: Vec<Blocked>, mut count: impl FnMut(&Arc<Mailbox>, Pushed)) {
    for Blocked { mailbox, delivery } in blocked {
        let Some(delivery) = delivery else { continue };
        let pushed = match mailbox.push(delivery) {
            Ok(()) => Pushed::Queued,
            Err((PushError::Full, _)) => Pushed::Dropped,
            Err((PushError::Offline, _)) => Pushed::Offline,
        };
        count(&mailbox, pushed);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::broker::config::BrokerConfig;
    use crate::broker::route::mailbox::{Inbox, Mailbox};
    use crate::broker::route::message::{Message, SubOptions};
    use crate::broker::shared::Shared;
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
            let gave_up = deliver_blocked(Some(&publisher()), &mut blocked).await;
            shared.give_up(gave_up);
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

    /// A subscribed queue, `CONGESTED` long and live (drained just now).
    fn congested(shared: &Shared, client_id: &str) -> (Arc<Mailbox>, Inbox) {
        let (mb, rx) = Mailbox::new(1, client_id.into(), 1000);
        subscribe(shared, &mb);
        for _ in 0..CONGESTED {
            mb.push(delivery(QoS::AtLeastOnce)).expect("room");
        }
        mb.note_drained(Instant::now());
        (mb, rx)
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
        assert!(is_live(&mb, now));
        let routed = shared.router.publish(message(QoS::AtLeastOnce), now);
        assert_eq!((routed.dropped, routed.blocked.len()), (0, 1));
        // QoS 0 waits for a draining session too.
        let routed = shared.router.publish(message(QoS::AtMostOnce), now);
        assert_eq!((routed.dropped, routed.blocked.len()), (0, 1));
        // The drain window lapses: no longer live.
        assert!(!is_live(&mb, now + 2 * DRAIN_WINDOW));
        // Waiting for deliveries counts as live however late it gets scheduled; once
        // woken, the window runs from then.
        mb.note_waiting();
        assert!(is_live(&mb, now + 10 * DRAIN_WINDOW));
        mb.note_woken(now);
        assert!(!is_live(&mb, now + 2 * DRAIN_WINDOW));
        mb.set_online(false);
        assert!(!is_live(&mb, now), "an offline session never slows anyone");
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
        let (mb, mut rx) = congested(&shared, "sub");
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
    async fn a_queue_waited_for_in_vain_is_not_waited_for_until_it_is_short() {
        let shared = Arc::new(Shared::new(BrokerConfig::default()));
        // Live all along (drained a little every 100 ms), but never short enough.
        let (mb, mut rx) = congested(&shared, "slow");
        let routed = shared
            .router
            .publish(message(QoS::AtLeastOnce), Instant::now());
        assert_eq!(routed.blocked.len(), 1);
        let waiter = spawn_waiter(&shared, routed.blocked);
        while !waiter.is_finished() {
            mb.note_drained(Instant::now());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (waited, _) = waiter.await.expect("waiter ran");
        assert!(waited >= MAX_WAIT, "waited {waited:?}");
        assert!(mb.is_slow(), "marked slow after MAX_WAIT in vain");
        mb.note_drained(Instant::now());
        let routed = shared
            .router
            .publish(message(QoS::AtLeastOnce), Instant::now());
        assert!(routed.blocked.is_empty(), "slow: not waited for");
        assert_eq!(mb.dropped(), 0, "nothing dropped while there is room");
        // Drained to UNCONGESTED: waited for again.
        while mb.len() > UNCONGESTED - 1 {
            rx.recv().await.expect("queued");
        }
        let routed = shared
            .router
            .publish(message(QoS::AtLeastOnce), Instant::now());
        assert!(!mb.is_slow(), "short again: no longer slow");
        assert!(routed.blocked.is_empty(), "short: nobody waits");
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
        let gave_up = deliver_blocked(Some(&publisher()), &mut routed.blocked).await;
        shared.give_up(gave_up);
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

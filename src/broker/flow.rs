//! Publisher back-pressure: a message (any QoS) that found a live subscriber's queue full
//! (`Routed::blocked`) makes its publisher's connection task wait for room, bounded in
//! time, instead of dropping it. Meanwhile that task reads nothing more from its
//! socket, so TCP slows the publishing client down (what single-threaded mosquitto gets
//! by reading sockets only as fast as it delivers). A session that stopped draining
//! (nothing taken out within `DRAIN_WINDOW`) or went offline never slows anyone: its
//! deliveries are dropped and counted as before. QoS 0 waits too: a live subscriber
//! loses nothing to a burst, as with mosquitto, whose QoS 0 queue for an online client
//! has no count limit; "at most once" still allows the drop when it stops draining.
//! Must not hold a lock across `.await` (it runs after the router released its read
//! lock) and must not do I/O.

use std::time::{Duration, Instant};

use super::mailbox::{PushError, DRAIN_WINDOW};
use super::router::{Blocked, Routed};
use super::state::Shared;

/// The longest a publisher waits for room for one message, all its subscribers
/// together; then what still does not fit is dropped.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// Queues each blocked delivery as room appears, while its session keeps draining and
/// until `MAX_WAIT` after the first try; drops (and counts) the rest. Cancel-safe: a
/// delivery not queued yet stays in `blocked` (last element first), for `give_up`.
pub async fn deliver_blocked(shared: &Shared, blocked: &mut Vec<Blocked>) {
    let deadline = Instant::now() + MAX_WAIT;
    let mut gave_up = Vec::new();
    while let Some(Blocked { mailbox, delivery }) = blocked.pop() {
        match mailbox.push(delivery) {
            Ok(()) | Err((PushError::Offline, _)) => {}
            Err((PushError::Full, delivery)) => {
                let now = Instant::now();
                let item = Blocked { mailbox, delivery };
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
    use crate::broker::mailbox::Mailbox;
    use crate::broker::message::{Delivery, Message};
    use crate::broker::state::BrokerConfig;
    use crate::broker::subscriptions::SubOptions;
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
        let mut routed = shared
            .router
            .publish(message(QoS::ExactlyOnce), Instant::now());
        assert_eq!(routed.blocked.len(), 1);
        let waiter = {
            let shared = shared.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                deliver_blocked(&shared, &mut routed.blocked).await;
                (started.elapsed(), routed.blocked.len())
            })
        };
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
        deliver_blocked(&shared, &mut routed.blocked).await;
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

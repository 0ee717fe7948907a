//! Routing: from one published message to the mailboxes of the sessions that receive
//! it, and the retained store. The subscription tree sits behind a `RwLock`:
//! publishers take the read lock (many at once, on every core), only SUBSCRIBE,
//! UNSUBSCRIBE and session ends take the write lock. Each mailbox push is a
//! non-blocking `try_send`. A delivery (any QoS) that finds a live (recently drained)
//! session's queue full comes back in `Routed::blocked` for the publisher to wait on
//! after the lock is released (`flow`); any other full queue drops the message for that
//! session alone, so a subscriber that stopped reading never slows a publisher.
//! No lock is held across `.await`. Must not encode packets or know about connections.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use crate::broker::route::flow::{self, Blocked, Pushed};
use crate::broker::route::mailbox::Mailbox;
use crate::broker::route::message::{Delivery, Message, SubOptions};
use crate::broker::route::retained::RetainedStore;
use crate::broker::route::subscriptions::{Matched, SharedGroup, SubscriptionTree};
use crate::broker::sys::Stats;
use crate::protocol::{topic, QoS};

/// The routing state shared by every connection task.
#[derive(Debug, Default)]
pub struct Router {
    subscriptions: RwLock<SubscriptionTree>,
    retained: RwLock<RetainedStore>,
    /// Broker-wide counters for `$SYS`.
    pub stats: Stats,
}

/// What happened to one published message.
#[derive(Debug, Default)]
pub struct Routed {
    /// At least one subscription matched the topic (even one of an offline session, one
    /// with a full queue, or a no-local one of the publisher itself, as in mosquitto):
    /// false answers an MQTT 5 QoS 1/2 publish with 0x10 No matching subscribers.
    pub matched: bool,
    /// Sessions it was queued for.
    pub delivered: usize,
    /// Matching sessions whose queue was full.
    pub dropped: usize,
    /// Their client identifiers (for the log).
    pub dropped_for: Vec<Arc<str>>,
    /// A retained message the retained store refused (`--max-retained`,
    /// `--max-retained-bytes`): delivered, but not kept.
    pub retained_refused: bool,
    /// QoS 1/2 deliveries refused by a full queue of a session that is draining: the
    /// publisher may wait for room (`flow::deliver_blocked`) or drop them (`drop_blocked`).
    pub blocked: Vec<Blocked>,
}

impl Router {
    /// An empty router.
    #[cfg(test)]
    pub fn new() -> Router {
        Router::default()
    }

    /// An empty router whose retained store keeps at most `max` messages and
    /// `max_bytes` bytes (`--max-retained`, `--max-retained-bytes`).
    pub fn with_retained_limits(max: usize, max_bytes: usize) -> Router {
        Router {
            retained: RwLock::new(RetainedStore::with_limits(max, max_bytes)),
            ..Router::default()
        }
    }

    fn subs(&self) -> RwLockReadGuard<'_, SubscriptionTree> {
        // A poisoned lock means a panic happened while writing; the tree is still
        // structurally sound (no unsafe code), so keep serving.
        self.subscriptions.read().unwrap_or_else(|e| e.into_inner())
    }

    fn subs_mut(&self) -> RwLockWriteGuard<'_, SubscriptionTree> {
        self.subscriptions
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn retained_mut(&self) -> RwLockWriteGuard<'_, RetainedStore> {
        self.retained.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Routes a message to every matching subscription (one copy per session with the
    /// highest QoS of its matching subscriptions and all their identifiers, MQTT 5.0
    /// §3.3.4; one member per shared group) and stores it when it is retained.
    pub fn publish(&self, msg: Arc<Message>, now: Instant) -> Routed {
        // Stored under the tree's read lock, so that a subscription made meanwhile gets
        // it once: live here, or retained from `subscribe_with_retained`, never both.
        let tree = self.subs();
        let mut routed = Routed::default();
        if msg.retain {
            routed.retained_refused = !self.retained_mut().set(msg.clone());
        }
        if msg.is_expired(now) {
            return routed;
        }
        let mut matched = Vec::new();
        tree.collect(&msg.topic, &mut matched);
        routed.matched = !matched.is_empty();
        let mut plain: Vec<(&Arc<Mailbox>, &SubOptions)> = Vec::with_capacity(matched.len());
        for m in &matched {
            match m {
                Matched::Plain(mailbox, options) => plain.push((mailbox, options)),
                Matched::Shared(group) => {
                    let options = group.members.first().map(|(_, o)| *o);
                    if let Some(options) = options {
                        let delivery = Delivery::new(
                            msg.clone(),
                            msg.qos.min(options.qos),
                            options.retain_as_published && msg.retain,
                            Vec::new(),
                            Some(group.key.clone()),
                        );
                        self.push_shared(group, delivery, None, &mut routed);
                    }
                }
            }
        }
        plain.sort_unstable_by_key(|(m, _)| m.session_id);
        for same_session in plain.chunk_by(|a, b| a.0.session_id == b.0.session_id) {
            let mailbox = same_session[0].0;
            let mut qos: Option<QoS> = None;
            let mut retain_as_published = false;
            let mut subscription_ids = Vec::new();
            for (_, options) in same_session {
                if options.no_local && mailbox.session_id == msg.publisher {
                    continue;
                }
                qos = qos.max(Some(msg.qos.min(options.qos)));
                retain_as_published |= options.retain_as_published;
                subscription_ids.extend(options.subscription_id);
            }
            let Some(qos) = qos else { continue };
            let delivery = Delivery::new(
                msg.clone(),
                qos,
                retain_as_published && msg.retain,
                subscription_ids,
                None,
            );
            self.push(mailbox, delivery, now, &mut routed);
        }
        routed
    }

    fn push(&self, mailbox: &Arc<Mailbox>, delivery: Delivery, now: Instant, routed: &mut Routed) {
        let pushed = flow::push(mailbox, delivery, now, &mut routed.blocked);
        self.count(mailbox, pushed, routed);
    }

    fn count(&self, mailbox: &Mailbox, pushed: Pushed, routed: &mut Routed) {
        match pushed {
            Pushed::Queued => routed.delivered += 1,
            Pushed::Dropped => {
                mailbox.count_drop();
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                routed.dropped += 1;
                routed.dropped_for.push(mailbox.client_id.clone());
            }
            Pushed::Waits | Pushed::Offline => {}
        }
    }

    /// Gives up on blocked deliveries (`flow::give_up`): each is dropped for its
    /// session (and counted), unless its queue has room by now.
    pub fn drop_blocked(&self, blocked: Vec<Blocked>, routed: &mut Routed) {
        flow::give_up(blocked, |mailbox, pushed| {
            self.count(mailbox, pushed, routed)
        });
    }

    /// Gives a shared-subscription message to one member, preferring connected
    /// members with room, in turn (MQTT 5.0 §4.8.2), never to session `except`.
    fn push_shared(
        &self,
        group: &SharedGroup,
        mut delivery: Delivery,
        except: Option<u64>,
        routed: &mut Routed,
    ) {
        for pass in 0..2 {
            for (mailbox, options) in group.rotation() {
                if Some(mailbox.session_id) == except
                    || (pass == 0 && (!mailbox.is_online() || mailbox.is_full()))
                {
                    continue;
                }
                delivery.qos = delivery.msg.qos.min(options.qos);
                delivery.set_subscription_ids(options.subscription_id.into_iter().collect());
                match mailbox.push(delivery) {
                    Ok(()) => {
                        routed.delivered += 1;
                        return;
                    }
                    Err((_, d)) => delivery = d,
                }
            }
        }
        if delivery.qos != QoS::AtMostOnce
            && group
                .members
                .iter()
                .any(|(m, _)| Some(m.session_id) != except)
        {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            routed.dropped += 1;
        }
    }

    /// A session left shared group `delivery.group` with this message unacknowledged:
    /// give it to another member (MQTT 5.0 §4.8.2). False when no member took it.
    pub fn requeue_shared(&self, delivery: Delivery, leaving: u64, now: Instant) -> bool {
        let Some(key) = delivery.group().cloned() else {
            return false;
        };
        if delivery.msg.is_expired(now) {
            return false;
        }
        let Some((share, filter)) = topic::parse_shared(&key) else {
            return false;
        };
        let tree = self.subs();
        let Some(group) = tree.shared_group(share, filter) else {
            return false;
        };
        let mut routed = Routed::default();
        self.push_shared(group, delivery, Some(leaving), &mut routed);
        routed.delivered > 0
    }

    /// Adds a subscription; true when it replaced an existing one.
    pub fn subscribe(
        &self,
        filter: &str,
        share: Option<&str>,
        mailbox: &Arc<Mailbox>,
        options: SubOptions,
    ) -> bool {
        self.subs_mut().subscribe(filter, share, mailbox, options)
    }

    /// Adds a subscription as `subscribe` does, and when `wants_retained(existed)` says
    /// so, returns the retained messages for it, read under the tree's write lock: a
    /// retained message published meanwhile (stored under the read lock, see `publish`)
    /// reaches the new subscription once, either here or live.
    pub fn subscribe_with_retained(
        &self,
        filter: &str,
        share: Option<&str>,
        mailbox: &Arc<Mailbox>,
        options: SubOptions,
        now: Instant,
        wants_retained: impl FnOnce(bool) -> bool,
    ) -> (bool, Vec<Arc<Message>>) {
        let mut tree = self.subs_mut();
        let existed = tree.subscribe(filter, share, mailbox, options);
        let retained = if wants_retained(existed) {
            self.retained_for(filter, now)
        } else {
            Vec::new()
        };
        drop(tree);
        (existed, retained)
    }

    /// Removes a subscription; true when it existed.
    pub fn unsubscribe(&self, filter: &str, share: Option<&str>, session_id: u64) -> bool {
        self.subs_mut().unsubscribe(filter, share, session_id)
    }

    /// The retained messages a new subscription to `filter` receives.
    pub fn retained_for(&self, filter: &str, now: Instant) -> Vec<Arc<Message>> {
        self.retained
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .matching(filter, now)
    }

    /// Drops expired retained messages.
    pub fn prune_retained(&self, now: Instant) -> usize {
        self.retained_mut().prune_expired(now)
    }

    /// (subscriptions, retained messages) for `$SYS`.
    pub fn counts(&self) -> (usize, usize) {
        let subs = self.subs().len();
        let retained = self
            .retained
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        (subs, retained)
    }
}

#[cfg(test)]
mod tests {
    use crate::broker::route::mailbox::Inbox;
    use bytes::Bytes;

    use super::*;
    use crate::protocol::Properties;

    fn msg(topic: &str, qos: QoS, retain: bool, publisher: u64) -> Arc<Message> {
        Arc::new(Message {
            topic: topic.into(),
            payload: Bytes::from_static(b"payload"),
            qos,
            retain,
            properties: Properties::default(),
            publisher,
            received_at: Instant::now(),
        })
    }

    fn opts(qos: QoS, id: Option<u32>) -> SubOptions {
        SubOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            subscription_id: id,
        }
    }

    fn drain(rx: &mut Inbox) -> Vec<Delivery> {
        let mut out = Vec::new();
        while let Ok(d) = rx.try_recv() {
            out.push(d);
        }
        out
    }

    #[test]
    fn overlapping_subscriptions_give_one_copy_with_max_qos_and_all_ids() {
        let router = Router::new();
        let (mb, mut rx) = Mailbox::new(1, "a".into(), 10);
        router.subscribe("t/+", None, &mb, opts(QoS::AtLeastOnce, Some(1)));
        router.subscribe("t/#", None, &mb, opts(QoS::ExactlyOnce, Some(2)));
        let m = msg("t/x", QoS::ExactlyOnce, false, 9);
        let routed = router.publish(m.clone(), Instant::now());
        assert_eq!((routed.delivered, routed.dropped), (1, 0));
        assert!(routed.dropped_for.is_empty() && routed.blocked.is_empty());
        let got = drain(&mut rx);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].qos, QoS::ExactlyOnce);
        let mut ids = got[0].subscription_ids().to_vec();
        ids.sort();
        assert_eq!(ids, vec![1, 2]);
        assert!(
            Arc::ptr_eq(&got[0].msg, &m),
            "the payload is shared, not copied"
        );
    }

    #[test]
    fn qos_is_the_minimum_of_published_and_granted() {
        let router = Router::new();
        let (mb, mut rx) = Mailbox::new(1, "a".into(), 10);
        router.subscribe("t", None, &mb, opts(QoS::AtLeastOnce, None));
        router.publish(msg("t", QoS::ExactlyOnce, false, 9), Instant::now());
        router.publish(msg("t", QoS::AtMostOnce, false, 9), Instant::now());
        let qos: Vec<QoS> = drain(&mut rx).iter().map(|d| d.qos).collect();
        assert_eq!(qos, vec![QoS::AtLeastOnce, QoS::AtMostOnce]);
    }

    #[test]
    fn no_local_skips_the_publisher_and_retain_as_published_keeps_the_flag() {
        let router = Router::new();
        let (mb, mut rx) = Mailbox::new(1, "a".into(), 10);
        let mut o = opts(QoS::AtMostOnce, None);
        o.no_local = true;
        router.subscribe("t", None, &mb, o);
        router.publish(msg("t", QoS::AtMostOnce, true, 1), Instant::now());
        assert!(drain(&mut rx).is_empty());
        o.no_local = false;
        o.retain_as_published = true;
        router.subscribe("t", None, &mb, o);
        router.publish(msg("t", QoS::AtMostOnce, true, 1), Instant::now());
        router.publish(msg("t", QoS::AtMostOnce, false, 1), Instant::now());
        let retain: Vec<bool> = drain(&mut rx).iter().map(|d| d.retain).collect();
        assert_eq!(retain, vec![true, false]);
    }

    #[test]
    fn a_full_mailbox_drops_for_that_subscriber_only() {
        let router = Router::new();
        let (slow, mut slow_rx) = Mailbox::new(1, "slow".into(), 2);
        let (fast, mut fast_rx) = Mailbox::new(2, "fast".into(), 100);
        router.subscribe("t", None, &slow, opts(QoS::AtLeastOnce, None));
        router.subscribe("t", None, &fast, opts(QoS::AtLeastOnce, None));
        for _ in 0..5 {
            router.publish(msg("t", QoS::AtLeastOnce, false, 9), Instant::now());
        }
        assert_eq!(drain(&mut slow_rx).len(), 2);
        assert_eq!(slow.dropped(), 3);
        assert_eq!(drain(&mut fast_rx).len(), 5);
        assert_eq!(router.stats.dropped.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn qos0_is_not_queued_for_an_offline_session() {
        let router = Router::new();
        let (mb, mut rx) = Mailbox::new(1, "a".into(), 10);
        router.subscribe("t", None, &mb, opts(QoS::AtLeastOnce, None));
        mb.set_online(false);
        router.publish(msg("t", QoS::AtMostOnce, false, 9), Instant::now());
        router.publish(msg("t", QoS::AtLeastOnce, false, 9), Instant::now());
        let got = drain(&mut rx);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].qos, QoS::AtLeastOnce);
    }

    #[test]
    fn shared_group_gives_each_message_to_one_member_and_requeues() {
        let router = Router::new();
        let (a, mut a_rx) = Mailbox::new(1, "a".into(), 10);
        let (b, mut b_rx) = Mailbox::new(2, "b".into(), 10);
        router.subscribe("s/#", Some("g"), &a, opts(QoS::AtLeastOnce, None));
        router.subscribe("s/#", Some("g"), &b, opts(QoS::AtLeastOnce, None));
        for _ in 0..10 {
            router.publish(msg("s/x", QoS::AtLeastOnce, false, 9), Instant::now());
        }
        let (got_a, got_b) = (drain(&mut a_rx), drain(&mut b_rx));
        assert_eq!(got_a.len() + got_b.len(), 10);
        assert!(
            !got_a.is_empty() && !got_b.is_empty(),
            "round robin uses both members"
        );
        assert_eq!(got_a[0].group().map(|g| &**g), Some("$share/g/s/#"));
        // a leaves with its messages unacknowledged: b gets them.
        router.unsubscribe("s/#", Some("g"), 1);
        for d in got_a.clone() {
            assert!(router.requeue_shared(d, 1, Instant::now()));
        }
        assert_eq!(drain(&mut b_rx).len(), got_a.len());
    }

    #[test]
    fn a_retained_message_published_while_subscribing_arrives_once() {
        // A publisher and a subscriber race on each round: the new subscription gets the
        // message once, as retained or live, never both and never neither.
        let router = Arc::new(Router::new());
        for round in 0..300u64 {
            let topic = format!("r/{round}");
            let (mb, mut rx) = Mailbox::new(round + 100, "s".into(), 10);
            let start = Arc::new(std::sync::Barrier::new(2));
            let publisher = {
                let (router, start) = (router.clone(), start.clone());
                let m = msg(&topic, QoS::AtMostOnce, true, 9);
                std::thread::spawn(move || {
                    start.wait();
                    router.publish(m, Instant::now());
                })
            };
            start.wait();
            let options = opts(QoS::AtMostOnce, None);
            let (_, retained) =
                router
                    .subscribe_with_retained(&topic, None, &mb, options, Instant::now(), |_| true);
            publisher.join().unwrap();
            let live = drain(&mut rx).len();
            assert_eq!(
                live + retained.len(),
                1,
                "round {round}: {live} live, {} retained",
                retained.len()
            );
        }
    }

    #[test]
    fn retained_messages_are_stored_and_deleted() {
        let router = Router::new();
        router.publish(msg("r/1", QoS::AtMostOnce, true, 9), Instant::now());
        assert_eq!(router.retained_for("r/#", Instant::now()).len(), 1);
        let empty = Arc::try_unwrap(msg("r/1", QoS::AtMostOnce, true, 9)).expect("only reference");
        router.publish(
            Arc::new(Message {
                payload: Bytes::new(),
                ..empty
            }),
            Instant::now(),
        );
        assert!(router.retained_for("r/#", Instant::now()).is_empty());
        assert_eq!(
            crate::protocol::topic::parse_shared("$share/g/a/b"),
            Some(("g", "a/b"))
        );
        assert_eq!(crate::protocol::topic::parse_shared("$share/g"), None);
    }
}

//! The routed application message, what a subscription asked for (`SubOptions`), and
//! one subscriber's copy of a message. A `Message` is built once per incoming PUBLISH
//! and shared (`Arc`) by every subscriber; a `Delivery` adds only what differs per
//! subscriber (QoS, retain flag, subscription identifiers, shared group). Must not do I/O or read a clock (time is an argument).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;

use crate::protocol::{Properties, Publish, QoS};

/// One application message as the broker received it. Never copied per subscriber.
#[derive(Debug)]
pub struct Message {
    /// Topic name (alias already resolved).
    pub topic: ByteString,
    /// Payload, shared with the frame it was decoded from.
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: QoS,
    /// Retain flag it was published with.
    pub retain: bool,
    /// Properties forwarded unchanged (MQTT 5.0 §3.3.2.3), without topic alias and
    /// subscription identifiers, which are per connection.
    pub properties: Properties,
    /// The publishing session, for No Local (MQTT 5.0 §3.8.3.1); 0 for the broker.
    pub publisher: u64,
    /// When the broker received it: the Message Expiry Interval counts from here.
    pub received_at: Instant,
}

impl Message {
    /// The message of an incoming PUBLISH from session `publisher`.
    pub fn from_publish(publish: Publish, publisher: u64, now: Instant) -> Message {
        let mut properties = publish.properties;
        properties.topic_alias = None;
        properties.subscription_identifiers.clear();
        Message {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            properties,
            publisher,
            received_at: now,
        }
    }

    /// True once its Message Expiry Interval has passed (MQTT 5.0 §3.3.2.3.3).
    pub fn is_expired(&self, now: Instant) -> bool {
        match self.properties.message_expiry_interval {
            Some(secs) => now >= self.received_at + Duration::from_secs(secs.into()),
            None => false,
        }
    }

    /// The expiry interval left, rounded up, to send to a subscriber: "the
    /// received value minus the time the message has been waiting" (§3.3.2.3.3).
    pub fn remaining_expiry(&self, now: Instant) -> Option<u32> {
        let secs = self.properties.message_expiry_interval?;
        let waited = now.saturating_duration_since(self.received_at);
        let waited_secs = u32::try_from(waited.as_secs()).unwrap_or(u32::MAX);
        Some(secs.saturating_sub(waited_secs).max(1))
    }
}

/// One subscriber's copy of a message: a pointer to the shared message plus what the
/// matching subscription decided. Kept small (24 bytes): it is what a session's queue
/// holds, so it sets the memory of every idle connection's mailbox.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The shared message.
    pub msg: Arc<Message>,
    /// min(published QoS, granted QoS).
    pub qos: QoS,
    /// Retain flag to send: set for retained messages sent on subscribe, or kept as
    /// published with Retain As Published.
    pub retain: bool,
    /// Subscription identifiers and shared group, when there are any (rare).
    extra: Option<Box<Extra>>,
}

#[derive(Debug, Clone)]
struct Extra {
    subscription_ids: Vec<u32>,
    group: Option<SharedKey>,
    /// Its entry in the durable queue of a stored session (`--data-dir`), 0 if none.
    qid: u64,
}

/// A shared subscription's identity: `$share/GROUP/FILTER` as written.
pub type SharedKey = Arc<str>;

/// What one subscription asked for (MQTT 5.0 §3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubOptions {
    /// Granted QoS.
    pub qos: QoS,
    /// Don't send the session its own messages.
    pub no_local: bool,
    /// Keep the RETAIN flag as published.
    pub retain_as_published: bool,
    /// Subscription identifier to put in forwarded PUBLISH packets.
    pub subscription_id: Option<u32>,
}

impl Delivery {
    /// What it counts against `--max-queued-bytes`: topic and payload.
    pub fn size(&self) -> usize {
        self.msg.topic.len() + self.msg.payload.len()
    }

    /// A delivery with the subscription identifiers of the matching subscriptions
    /// (MQTT 5.0 §3.3.4) and the shared subscription it came through, to give it to
    /// another member if this session ends before acknowledging it (§4.8.2).
    pub fn new(
        msg: Arc<Message>,
        qos: QoS,
        retain: bool,
        subscription_ids: Vec<u32>,
        group: Option<SharedKey>,
    ) -> Delivery {
        let extra = (!subscription_ids.is_empty() || group.is_some()).then(|| {
            Box::new(Extra {
                subscription_ids,
                group,
                qid: 0,
            })
        });
        Delivery {
            msg,
            qos,
            retain,
            extra,
        }
    }

    /// The subscription identifiers to send.
    pub fn subscription_ids(&self) -> &[u32] {
        self.extra.as_ref().map_or(&[], |e| &e.subscription_ids)
    }

    /// The shared subscription it came through.
    pub fn group(&self) -> Option<&SharedKey> {
        self.extra.as_ref().and_then(|e| e.group.as_ref())
    }

    /// Replaces the subscription identifiers (a shared message changing member).
    pub fn set_subscription_ids(&mut self, ids: Vec<u32>) {
        let old = self.extra.take();
        let qid = old.as_ref().map_or(0, |e| e.qid);
        let group = old.and_then(|e| e.group);
        *self = Delivery::new(self.msg.clone(), self.qos, self.retain, ids, group);
        self.set_qid(qid);
    }

    /// Its entry in a stored session's durable queue (`--data-dir`), 0 if none.
    pub fn qid(&self) -> u64 {
        self.extra.as_ref().map_or(0, |e| e.qid)
    }

    /// Records its durable queue entry (only stored sessions pay for the allocation).
    pub fn set_qid(&mut self, qid: u64) {
        if qid == 0 && self.extra.is_none() {
            return;
        }
        self.extra
            .get_or_insert_with(|| {
                Box::new(Extra {
                    subscription_ids: Vec::new(),
                    group: None,
                    qid: 0,
                })
            })
            .qid = qid;
    }

    /// The PUBLISH to send (packet id 0; the session assigns one for QoS 1/2).
    /// Topic and payload are pointer copies.
    pub fn to_publish(&self, now: Instant) -> Publish {
        let mut properties = self.msg.properties.clone();
        properties.message_expiry_interval = self.msg.remaining_expiry(now);
        properties.subscription_identifiers = self.subscription_ids().to_vec();
        Publish {
            dup: false,
            qos: self.qos,
            retain: self.retain,
            topic: self.msg.topic.clone(),
            packet_id: 0,
            properties,
            payload: self.msg.payload.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(expiry: Option<u32>, now: Instant) -> Message {
        let properties = Properties {
            message_expiry_interval: expiry,
            topic_alias: Some(3),
            ..Default::default()
        };
        Message::from_publish(
            Publish {
                dup: false,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: "a/b".into(),
                packet_id: 7,
                properties,
                payload: Bytes::from_static(b"x"),
            },
            1,
            now,
        )
    }

    #[test]
    fn expiry_is_decremented_by_the_time_waited() {
        let t0 = Instant::now();
        let m = message(Some(10), t0);
        assert_eq!(m.remaining_expiry(t0 + Duration::from_secs(4)), Some(6));
        assert!(!m.is_expired(t0 + Duration::from_secs(9)));
        assert!(m.is_expired(t0 + Duration::from_secs(10)));
        assert_eq!(message(None, t0).remaining_expiry(t0), None);
    }

    #[test]
    fn topic_alias_is_not_forwarded_and_payload_is_shared() {
        let t0 = Instant::now();
        let m = Arc::new(message(None, t0));
        assert_eq!(m.properties.topic_alias, None);
        let d = Delivery::new(m.clone(), QoS::AtMostOnce, false, vec![5], None);
        assert_eq!(std::mem::size_of::<Delivery>(), 24);
        let p = d.to_publish(t0);
        assert_eq!(p.payload.as_ptr(), m.payload.as_ptr());
        assert_eq!(p.properties.subscription_identifiers, vec![5]);
        assert_eq!(p.qos, QoS::AtMostOnce);
    }
}

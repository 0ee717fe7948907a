//! Last wills: turning a CONNECT's will into a message, and the wills waiting for
//! their MQTT 5 Will Delay Interval (§3.1.3.2.2): published when the delay passes or
//! the session ends, whichever comes first, and cancelled when the client reconnects
//! in time. Must not publish by itself: it returns what is due.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::broker::route::message::Message;
use crate::protocol::{Properties, Will};

/// The will of a connection as the message it becomes, and its delay.
#[derive(Debug)]
pub struct PendingWill {
    /// The message to publish.
    pub message: Message,
    /// MQTT 5 Will Delay Interval; zero on 3.1.1.
    pub delay: Duration,
}

impl PendingWill {
    /// The will of a CONNECT from session `publisher`. Will properties become the
    /// PUBLISH properties; the delay is not forwarded (MQTT 5.0 §3.1.3.2).
    pub fn from_will(will: &Will, publisher: u64, now: Instant) -> PendingWill {
        let mut properties: Properties = will.properties.clone();
        let delay = Duration::from_secs(properties.will_delay_interval.take().unwrap_or(0).into());
        PendingWill {
            message: Message {
                topic: will.topic.clone(),
                payload: will.payload.clone(),
                qos: will.qos,
                retain: will.retain,
                properties,
                publisher,
                received_at: now,
            },
            delay,
        }
    }
}

/// Wills waiting for their delay, by client identifier.
#[derive(Debug, Default)]
pub struct DelayedWills {
    pending: HashMap<Arc<str>, (Instant, Message)>,
}

impl DelayedWills {
    /// No will waiting.
    pub fn new() -> DelayedWills {
        DelayedWills::default()
    }

    /// Keeps `message` until `due`.
    pub fn schedule(&mut self, client_id: Arc<str>, due: Instant, message: Message) {
        self.pending.insert(client_id, (due, message));
    }

    /// The client reconnected before the delay passed: the will is not sent.
    pub fn cancel(&mut self, client_id: &str) -> bool {
        self.pending.remove(client_id).is_some()
    }

    /// The client's session ended: its will, if still waiting, is due now.
    pub fn take(&mut self, client_id: &str) -> Option<Message> {
        self.pending.remove(client_id).map(|(_, m)| m)
    }

    /// The wills whose delay has passed by `now`.
    pub fn take_due(&mut self, now: Instant) -> Vec<Message> {
        let due: Vec<Arc<str>> = self
            .pending
            .iter()
            .filter(|(_, (t, _))| *t <= now)
            .map(|(id, _)| id.clone())
            .collect();
        due.iter()
            .filter_map(|id| self.pending.remove(id))
            .map(|(_, m)| m)
            .collect()
    }

    /// True when no will waits.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::protocol::QoS;

    fn will(delay: Option<u32>) -> Will {
        let properties = Properties {
            will_delay_interval: delay,
            content_type: Some("text/plain".into()),
            ..Default::default()
        };
        Will {
            topic: "w".into(),
            payload: Bytes::from_static(b"gone"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties,
        }
    }

    #[test]
    fn will_properties_become_publish_properties_without_the_delay() {
        let now = Instant::now();
        let w = PendingWill::from_will(&will(Some(5)), 9, now);
        assert_eq!(w.delay, Duration::from_secs(5));
        assert_eq!(w.message.properties.will_delay_interval, None);
        assert_eq!(
            w.message.properties.content_type.as_deref(),
            Some("text/plain")
        );
        assert!(w.message.retain);
        assert_eq!(w.message.qos, QoS::AtLeastOnce);
    }

    #[test]
    fn delayed_wills_are_due_after_the_delay_unless_cancelled() {
        let now = Instant::now();
        let mut wills = DelayedWills::new();
        wills.schedule(
            "a".into(),
            now + Duration::from_secs(2),
            PendingWill::from_will(&will(None), 1, now).message,
        );
        wills.schedule(
            "b".into(),
            now + Duration::from_secs(2),
            PendingWill::from_will(&will(None), 2, now).message,
        );
        assert!(wills.take_due(now + Duration::from_secs(1)).is_empty());
        assert!(wills.cancel("b"));
        let due = wills.take_due(now + Duration::from_secs(2));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].publisher, 1);
        assert!(wills.is_empty());
    }
}

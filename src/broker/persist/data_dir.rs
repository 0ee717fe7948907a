//! `--data-dir`: the broker's `Persistence` hook backed by the redb [`Store`]: retained
//! messages and stored sessions (settings, subscriptions, queue, QoS 1/2 state). Converts
//! between the broker's types (monotonic `Instant`) and the store's records (wall-clock
//! time, so a message's expiry interval keeps counting across a restart).
//! A store error is reported through the log callback, never a panic: the broker keeps
//! serving from memory, and the log says durability is lost.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use std::time::{Duration, UNIX_EPOCH};

use crate::broker::hooks::{Persistence, RestoredSession, SessionSnapshot};
use crate::broker::persist::database::{
    SessionRecord, Store, StoredMessage, StoredSession, StoredSubscription,
};
use crate::broker::route::message::{Delivery, Message, SubOptions};
use crate::protocol::session::StoreChange;
use crate::protocol::{ProtocolVersion, Publish, QoS};

/// Where store errors go (the broker's log at level 0: always shown).
pub type ErrorSink = Arc<dyn Fn(String) + Send + Sync>;

/// Retained messages kept in the durable store.
pub struct DurablePersistence {
    store: Arc<Store>,
    on_error: ErrorSink,
}

impl std::fmt::Debug for DurablePersistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurablePersistence")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl DurablePersistence {
    /// Persistence over an open store.
    pub fn new(store: Arc<Store>, on_error: ErrorSink) -> Self {
        DurablePersistence { store, on_error }
    }
}

/// The wall-clock time of a monotonic instant in the past.
fn wall_clock(at: Instant) -> SystemTime {
    let now = Instant::now();
    SystemTime::now() - now.saturating_duration_since(at)
}

/// The monotonic instant of a wall-clock time in the past (now if in the future).
fn monotonic(at: SystemTime) -> Instant {
    let age = SystemTime::now().duration_since(at).unwrap_or_default();
    Instant::now().checked_sub(age).unwrap_or_else(Instant::now)
}

fn to_record(message: &Message) -> StoredMessage {
    StoredMessage {
        publish: Publish {
            dup: false,
            qos: message.qos,
            retain: message.retain,
            topic: message.topic.clone(),
            packet_id: 0,
            properties: message.properties.clone(),
            payload: message.payload.clone(),
        },
        received: wall_clock(message.received_at),
    }
}

fn from_record(record: StoredMessage) -> Message {
    let mut message = Message::from_publish(record.publish, 0, monotonic(record.received));
    message.retain = true;
    message
}

impl DurablePersistence {
    fn report(&self, what: &str, result: Result<(), crate::broker::persist::database::StoreError>) {
        if let Err(err) = result {
            (self.on_error)(format!("{what} not stored durably: {err}"));
        }
    }
}

fn delivery_record(delivery: &Delivery) -> StoredMessage {
    let mut properties = delivery.msg.properties.clone();
    properties.subscription_identifiers = delivery.subscription_ids().to_vec();
    StoredMessage {
        publish: Publish {
            dup: false,
            qos: delivery.qos,
            retain: delivery.retain,
            topic: delivery.msg.topic.clone(),
            packet_id: 0,
            properties,
            payload: delivery.msg.payload.clone(),
        },
        received: wall_clock(delivery.msg.received_at),
    }
}

fn restored_delivery(qid: u64, record: StoredMessage) -> Delivery {
    let subscription_ids = record.publish.properties.subscription_identifiers.clone();
    let (qos, retain) = (record.publish.qos, record.publish.retain);
    let msg = Arc::new(Message::from_publish(
        record.publish,
        0,
        monotonic(record.received),
    ));
    let mut delivery = Delivery::new(msg, qos, retain, subscription_ids, None);
    delivery.set_qid(qid);
    delivery
}

fn session_record(snapshot: &SessionSnapshot) -> SessionRecord {
    SessionRecord {
        protocol_level: snapshot.version.level(),
        expiry_secs: snapshot.expiry_secs,
        disconnected_at_ms: snapshot.disconnected_at.map(|t| {
            let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
            u64::try_from(ms).unwrap_or(u64::MAX)
        }),
        subscriptions: snapshot
            .subscriptions
            .iter()
            .map(|(filter, o)| StoredSubscription {
                filter: filter.clone(),
                qos: o.qos as u8,
                no_local: o.no_local,
                retain_as_published: o.retain_as_published,
                retain_handling: 0,
                subscription_id: o.subscription_id,
            })
            .collect(),
    }
}

fn restored_session(stored: StoredSession) -> RestoredSession {
    let record = stored.record;
    let version = if record.protocol_level == 5 {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    };
    let snapshot = SessionSnapshot {
        version,
        expiry_secs: record.expiry_secs,
        disconnected_at: record
            .disconnected_at_ms
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
        subscriptions: record
            .subscriptions
            .into_iter()
            .map(|s| {
                let qos = match s.qos {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => QoS::ExactlyOnce,
                };
                let options = SubOptions {
                    qos,
                    no_local: s.no_local,
                    retain_as_published: s.retain_as_published,
                    subscription_id: s.subscription_id,
                };
                (s.filter, options)
            })
            .collect(),
    };
    RestoredSession {
        client_id: stored.client_id,
        snapshot,
        queued: stored
            .queued
            .into_iter()
            .map(|(qid, m)| restored_delivery(qid, m))
            .collect(),
        state: stored.state,
    }
}

impl Persistence for DurablePersistence {
    fn retained_changed(&self, topic: &str, message: Option<&Arc<Message>>) {
        let record = message.map(|m| to_record(m));
        if let Err(err) = self.store.set_retained(topic, record.as_ref()) {
            (self.on_error)(format!(
                "retained message on {topic} not stored durably: {err}"
            ));
        }
    }

    fn load_retained(&self) -> Vec<Message> {
        match self.store.retained() {
            Ok(records) => records.into_iter().map(from_record).collect(),
            Err(err) => {
                (self.on_error)(format!("cannot load retained messages: {err}"));
                Vec::new()
            }
        }
    }

    fn keeps_sessions(&self) -> bool {
        true
    }

    fn session_saved(&self, client_id: &str, session: &SessionSnapshot) {
        let record = session_record(session);
        self.report("session", self.store.put_session(client_id, &record));
    }

    fn session_removed(&self, client_id: &str) {
        self.report("session end", self.store.remove_session(client_id));
    }

    fn message_queued(&self, client_id: &str, delivery: &Delivery) -> Option<u64> {
        let qid = self.store.next_qid();
        match self.store.queue(client_id, qid, &delivery_record(delivery)) {
            Ok(()) => Some(qid),
            Err(err) => {
                (self.on_error)(format!("queued message not stored durably: {err}"));
                None
            }
        }
    }

    fn message_taken(&self, client_id: &str, qid: u64, change: Option<&StoreChange>) {
        self.report("queue change", self.store.unqueue(client_id, qid, change));
    }

    fn session_changed(&self, client_id: &str, change: &StoreChange) {
        self.report("session state", self.store.apply(client_id, change));
    }

    fn begin_group(&self) {
        self.store.begin_group();
    }

    fn end_group(&self) {
        self.report("group of changes", self.store.end_group());
    }

    fn load_sessions(&self) -> Vec<RestoredSession> {
        match self.store.sessions() {
            Ok(sessions) => sessions.into_iter().map(restored_session).collect(),
            Err(err) => {
                (self.on_error)(format!("cannot load stored sessions: {err}"));
                Vec::new()
            }
        }
    }
}

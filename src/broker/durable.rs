//! `--data-dir`: the broker's `Persistence` hook backed by the redb [`Store`]. Converts
//! between the broker's `Message` (monotonic `Instant`) and the store's records
//! (wall-clock time, so a message's expiry interval keeps counting across a restart).
//! A store error is reported through the log callback, never a panic: the broker keeps
//! serving from memory, and the log says durability is lost.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::hooks::Persistence;
use super::message::Message;
use super::store::{Store, StoredMessage};
use crate::protocol::Publish;

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
}

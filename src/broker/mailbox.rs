//! A session's mailbox: the bounded queue publishers push deliveries into without
//! waiting, and the flags they read (online, dropped count). It lives as long as the
//! session, across network connections, so it is also the offline queue.
//! Must not block a publisher: a full mailbox refuses the delivery (`--max-queued`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

use super::hooks::Persistence;
use super::message::Delivery;
use crate::protocol::QoS;

/// The sending half of a session's queue, shared by the subscription tree.
#[derive(Debug)]
pub struct Mailbox {
    /// Unique per session (a new clean session gets a new id).
    pub session_id: u64,
    /// The client identifier, for logs.
    pub client_id: Arc<str>,
    tx: mpsc::Sender<Delivery>,
    online: AtomicBool,
    dropped: AtomicU64,
    /// `--data-dir` with a kept session: QoS 1/2 deliveries are stored before queuing.
    stored: AtomicBool,
    persistence: OnceLock<Arc<dyn Persistence>>,
}

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
    pub fn new(
        session_id: u64,
        client_id: Arc<str>,
        capacity: usize,
    ) -> (Arc<Mailbox>, mpsc::Receiver<Delivery>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let mailbox = Mailbox {
            session_id,
            client_id,
            tx,
            online: AtomicBool::new(true),
            dropped: AtomicU64::new(0),
            stored: AtomicBool::new(false),
            persistence: OnceLock::new(),
        };
        (Arc::new(mailbox), rx)
    }

    /// Queues a delivery without waiting. A refused QoS 1/2 delivery is counted in
    /// `dropped`; the delivery comes back so a shared subscription can try another member.
    pub fn push(&self, mut delivery: Delivery) -> Result<(), (PushError, Delivery)> {
        if delivery.qos == QoS::AtMostOnce && !self.is_online() {
            return Err((PushError::Offline, delivery));
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
        let refused = match self.tx.try_send(delivery) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Full(d)) => (PushError::Full, d),
            Err(mpsc::error::TrySendError::Closed(d)) => (PushError::Offline, d),
        };
        if let (Some(p), qid @ 1..) = (store, refused.1.qid()) {
            p.message_taken(&self.client_id, qid, None);
        }
        Err(refused)
    }

    /// Queues a delivery loaded from the store at start (already stored).
    pub fn push_restored(&self, delivery: Delivery) -> bool {
        self.tx.try_send(delivery).is_ok()
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

    /// True when the queue has no free slot.
    pub fn is_full(&self) -> bool {
        self.tx.capacity() == 0
    }
}

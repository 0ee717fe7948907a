//! The seams where access control and persistence plug into the broker: an
//! `Authenticator` asked at CONNECT, SUBSCRIBE and PUBLISH, and a `Persistence` told
//! about retained messages. The defaults allow everything and keep nothing, which is
//! `mqtk serve` with no `--password-file`, `--acl-file` or `--data-dir`.
//! Must not do I/O on the hot path in the defaults; implementations live in their own
//! files (`access/`, `persist/data_dir.rs`).

use std::sync::Arc;

use crate::broker::route::message::{Delivery, Message, SubOptions};
use crate::protocol::session::{PersistedState, StoreChange};
use crate::protocol::{Connect, ProtocolVersion, ReasonCode};

/// Who a connected client is, as access control sees it.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    /// Client identifier (assigned one included).
    pub client_id: Arc<str>,
    /// User name from CONNECT.
    pub username: Option<String>,
}

/// Access control: checked at CONNECT, and per topic at SUBSCRIBE and PUBLISH.
pub trait Authenticator: Send + Sync + std::fmt::Debug {
    /// Accepts or refuses a CONNECT (reason code for the CONNACK, e.g.
    /// `BadUserNameOrPassword` or `NotAuthorized`).
    fn connect(&self, connect: &Connect) -> Result<(), ReasonCode> {
        let _ = connect;
        Ok(())
    }

    /// May `client` publish to `topic`? A refused QoS 1/2 publish is acknowledged with
    /// `NotAuthorized` on MQTT 5 and silently dropped on 3.1.1, like mosquitto.
    fn can_publish(&self, client: &ClientIdentity, topic: &str) -> bool {
        let _ = (client, topic);
        true
    }

    /// May `client` subscribe to `filter`? Refused filters get SUBACK 0x87 (0x80 on 3.1.1).
    fn can_subscribe(&self, client: &ClientIdentity, filter: &str) -> bool {
        let _ = (client, filter);
        true
    }

    /// May a message on `topic` be delivered to `client` (mosquitto's read access)?
    /// Checked for every delivery, retained messages included.
    fn can_receive(&self, client: &ClientIdentity, topic: &str) -> bool {
        let _ = (client, topic);
        true
    }
}

/// Everything allowed: anonymous access, no ACL.
#[derive(Debug, Default)]
pub struct AllowAll;

impl Authenticator for AllowAll {}

/// Durable storage (`--data-dir`). Called outside every lock, from the task that made
/// the change; an implementation that blocks should hand the work to its own thread.
pub trait Persistence: Send + Sync + std::fmt::Debug {
    /// A retained message was set (`Some`) or deleted (`None`) for `topic`.
    fn retained_changed(&self, topic: &str, message: Option<&Arc<Message>>) {
        let _ = (topic, message);
    }

    /// The retained messages to load at start.
    fn load_retained(&self) -> Vec<Message> {
        Vec::new()
    }

    /// Whether kept sessions are stored; when false the calls below never come.
    fn keeps_sessions(&self) -> bool {
        false
    }

    /// A kept session's settings or subscriptions changed (connect, SUBSCRIBE,
    /// UNSUBSCRIBE, disconnect).
    fn session_saved(&self, client_id: &str, session: &SessionSnapshot) {
        let _ = (client_id, session);
    }

    /// A stored session ended for good (clean start, expiry, session expiry 0).
    fn session_removed(&self, client_id: &str) {
        let _ = client_id;
    }

    /// A QoS 1/2 message is about to enter a stored session's queue: store it and return
    /// its queue id, before the publisher is acknowledged. `None`: not stored.
    fn message_queued(&self, client_id: &str, delivery: &Delivery) -> Option<u64> {
        let _ = (client_id, delivery);
        None
    }

    /// Queue entry `qid` left the queue: `change` (the session's `OutgoingQueued`) took
    /// it over, or `None` when it was dropped.
    fn message_taken(&self, client_id: &str, qid: u64, change: Option<&StoreChange>) {
        let _ = (client_id, qid, change);
    }

    /// A stored session's QoS 1/2 state changed (`protocol::session` store events).
    fn session_changed(&self, client_id: &str, change: &StoreChange) {
        let _ = (client_id, change);
    }

    /// The changes this thread makes until `end_group` are kept together: after a crash
    /// all of them or none (a QoS 2 message's queue copies and its packet id record).
    /// The thread must not wait for other threads in between.
    fn begin_group(&self) {}

    /// Ends the group `begin_group` opened on this thread.
    fn end_group(&self) {}

    /// The stored sessions to bring back at start.
    fn load_sessions(&self) -> Vec<RestoredSession> {
        Vec::new()
    }
}

/// What is stored of a kept session besides its queue and QoS state.
#[derive(Debug, Clone)]
pub struct SessionSnapshot {
    /// The protocol version of its last connection.
    pub version: ProtocolVersion,
    /// Session Expiry Interval in seconds (`u32::MAX`: never).
    pub expiry_secs: u32,
    /// When its connection ended; `None` while connected.
    pub disconnected_at: Option<std::time::SystemTime>,
    /// Its subscriptions by filter as written.
    pub subscriptions: Vec<(String, SubOptions)>,
}

/// A stored session as loaded at start.
#[derive(Debug)]
pub struct RestoredSession {
    /// Client identifier.
    pub client_id: String,
    /// Settings and subscriptions.
    pub snapshot: SessionSnapshot,
    /// Queued deliveries with their queue ids, oldest first.
    pub queued: Vec<Delivery>,
    /// Its QoS 1/2 flows.
    pub state: PersistedState,
}

/// Memory only.
#[derive(Debug, Default)]
pub struct NoPersistence;

impl Persistence for NoPersistence {}

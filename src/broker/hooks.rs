//! The seams where access control and persistence plug into the broker: an
//! `Authenticator` asked at CONNECT, SUBSCRIBE and PUBLISH, and a `Persistence` told
//! about retained messages. The defaults allow everything and keep nothing, which is
//! `mqtk serve` with no `--password-file`, `--acl-file` or `--data-dir`.
//! Must not do I/O on the hot path in the defaults; implementations live in their own
//! files (auth.rs, acl.rs, …).

use std::sync::Arc;

use super::message::Message;
use crate::protocol::{Connect, ReasonCode};

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
}

/// Memory only.
#[derive(Debug, Default)]
pub struct NoPersistence;

impl Persistence for NoPersistence {}

//! Stored sessions (`--data-dir`): what a connection task tells the `Persistence` hook so
//! a kept session survives a crash of serve (`restore.rs` brings them back at start).
//!
//! The durable record of a kept session is its settings and subscriptions (saved on
//! connect, SUBSCRIBE, UNSUBSCRIBE and disconnect), its queue (each QoS 1/2 message is
//! stored by `Mailbox::push` before the publisher is acknowledged), and its QoS 1/2 state
//! (the `protocol::session` store events, written before the packets they allow go out).
//! A queued message moves from the queue to the QoS state in one store transaction, so a
//! crash neither loses nor doubles it. Must not do I/O itself: the hook does.

use std::sync::Arc;
use std::time::SystemTime;

use crate::broker::conn::connection::Conn;
use crate::broker::hooks::{Persistence, SessionSnapshot};
use crate::broker::route::message::Delivery;
use crate::protocol::session::StoreChange;

impl Conn {
    /// The persistence hook when this connection's session is stored.
    fn store(&self) -> Option<&Arc<dyn Persistence>> {
        let persistence = &self.shared.config.persistence;
        self.kept.is_stored().then_some(persistence)
    }

    /// Saves the session's settings and subscriptions (`online`: still connected).
    pub(super) fn save_session(&self, online: bool) {
        if let Some(store) = self.store() {
            store.session_saved(&self.identity.client_id, &snapshot(self, online));
        }
    }

    /// A store event of the session: written before what it allows is sent.
    pub(super) fn on_store(&mut self, change: StoreChange) {
        let Some(store) = self.store().cloned() else {
            return;
        };
        let client_id = &self.identity.client_id;
        if let StoreChange::OutgoingQueued { seq, .. } = &change {
            let pending = self.extra.as_mut().and_then(|e| e.pending_qids.remove(seq));
            if let Some(qid) = pending {
                store.message_taken(client_id, qid, Some(&change));
                return;
            }
        }
        store.session_changed(client_id, &change);
    }

    /// A stored delivery left the queue without entering the session (expired, not
    /// allowed, too big, QoS 0): forget it.
    pub(super) fn drop_stored(&self, delivery: &Delivery) {
        if delivery.qid() != 0 {
            self.shared.config.persistence.message_taken(
                &self.identity.client_id,
                delivery.qid(),
                None,
            );
        }
    }
}

fn snapshot(conn: &Conn, online: bool) -> SessionSnapshot {
    SessionSnapshot {
        version: conn.version,
        expiry_secs: conn.session_expiry,
        disconnected_at: (!online).then(SystemTime::now),
        subscriptions: conn
            .kept
            .subscriptions
            .iter()
            .map(|(filter, options)| (filter.to_string(), *options))
            .collect(),
    }
}

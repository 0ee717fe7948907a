//! Stored sessions (`--data-dir`): what a connection task tells the `Persistence` hook so
//! a kept session survives a crash of serve, and how stored sessions come back at start.
//!
//! The durable record of a kept session is its settings and subscriptions (saved on
//! connect, SUBSCRIBE, UNSUBSCRIBE and disconnect), its queue (each QoS 1/2 message is
//! stored by `Mailbox::push` before the publisher is acknowledged), and its QoS 1/2 state
//! (the `protocol::session` store events, written before the packets they allow go out).
//! A queued message moves from the queue to the QoS state in one store transaction, so a
//! crash neither loses nor doubles it. Must not do I/O itself: the hook does.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::broker::conn::connection::Conn;
use crate::broker::hooks::{Persistence, RestoredSession, SessionSnapshot};
use crate::broker::persist::kept_session::KeptSession;
use crate::broker::route::mailbox::Mailbox;
use crate::broker::route::message::Delivery;
use crate::broker::shared::Shared;
use crate::protocol::session::{Role, Session, SessionConfig, StoreChange};
use crate::protocol::topic;
use crate::small_map::SmallMap;
use smol_str::SmolStr;

impl Conn {
    /// The persistence hook when this connection's session is stored.
    fn store(&self) -> Option<&Arc<dyn Persistence>> {
        let persistence = &self.shared.config.persistence;
        self.kept.mailbox.is_stored().then_some(persistence)
    }

    /// Saves the session's settings and subscriptions (`online`: still connected).
    pub(crate) fn save_session(&self, online: bool) {
        if let Some(store) = self.store() {
            store.session_saved(&self.identity.client_id, &snapshot(self, online));
        }
    }

    /// A store event of the session: written before what it allows is sent.
    pub(crate) fn on_store(&mut self, change: StoreChange) {
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
    pub(crate) fn drop_stored(&self, delivery: &Delivery) {
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

/// Brings the stored sessions back as offline kept sessions: subscriptions in the router,
/// queued messages in their mailboxes, QoS state restored, expiry counted from when they
/// disconnected. Call after the retained messages are loaded, so those are not queued.
pub(crate) fn restore_sessions(shared: &Shared, now: Instant) -> usize {
    let persistence = &shared.config.persistence;
    if !persistence.keeps_sessions() {
        return 0;
    }
    let restored = persistence.load_sessions();
    let count = restored.len();
    for session in restored {
        restore(shared, session, now);
    }
    count
}

fn restore(shared: &Shared, stored: RestoredSession, now: Instant) {
    let client_id: Arc<str> = stored.client_id.as_str().into();
    let snapshot = stored.snapshot;
    let session_id = shared.next_id();
    let (mailbox, rx) = Mailbox::new(session_id, client_id.clone(), shared.config.max_queued);
    mailbox.set_online(false);
    mailbox.set_stored(Some(&shared.config.persistence));
    for delivery in stored.queued {
        if !mailbox.push_restored(delivery) {
            break;
        }
    }
    let mut config = SessionConfig::new(snapshot.version, Role::Server);
    config.persist = true;
    let session = Session::restore(config, stored.state, now);
    let mut subscriptions = SmallMap::new();
    for (filter, options) in snapshot.subscriptions {
        let (share, inner) = topic::split_shared(&filter);
        shared.router.subscribe(inner, share, &mailbox, options);
        subscriptions.insert(SmolStr::new(&filter), options);
    }
    let kept = KeptSession {
        mailbox,
        rx,
        session,
        subscriptions,
        shared_inflight: None,
    };
    // Expiry counts from the disconnection; one that crashed while connected starts
    // counting now.
    let expires_at = (snapshot.expiry_secs != u32::MAX).then(|| {
        let elapsed = snapshot
            .disconnected_at
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .unwrap_or_default();
        let expiry = std::time::Duration::from_secs(snapshot.expiry_secs.into());
        now + expiry.saturating_sub(elapsed)
    });
    let conn_id = shared.next_id();
    let control = Arc::new(crate::broker::conn::signal::Signal::default());
    let mut sessions = shared.sessions();
    let _ = sessions.connect(client_id.clone(), conn_id, control, now);
    let _ = sessions.disconnect(&client_id, conn_id, Some(kept), expires_at);
}

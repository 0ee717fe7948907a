//! Stored sessions back at start (`--data-dir`): each comes back as an offline kept
//! session, with its subscriptions in the router, its queue in its mailbox, its QoS 1/2
//! state and its remaining expiry. Must not do I/O itself: the `Persistence` hook loads.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::broker::conn::signal::Signal;
use crate::broker::hooks::RestoredSession;
use crate::broker::persist::kept_session::KeptSession;
use crate::broker::shared::Shared;
use crate::protocol::session::{Role, Session, SessionConfig};
use crate::protocol::topic;
use smol_str::SmolStr;

/// Brings the stored sessions back as offline kept sessions: subscriptions in the router,
/// queued messages in their mailboxes, QoS state restored, expiry counted from when they
/// disconnected. Call after the retained messages are loaded, so those are not queued.
pub(super) fn restore_sessions(shared: &Shared, now: Instant) -> usize {
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
    let mut config = SessionConfig::new(snapshot.version, Role::Server);
    config.persist = true;
    let session = Session::restore(config, stored.state, now);
    let mut kept = KeptSession::new(shared.next_id(), session);
    kept.set_online(false);
    kept.set_stored(Some(&shared.config.persistence));
    // A mailbox only for a session that has a queue or a subscription (`KeptSession`).
    if !stored.queued.is_empty() || !snapshot.subscriptions.is_empty() {
        let mailbox = kept.mailbox_made(&client_id, &shared.config).clone();
        for delivery in stored.queued {
            if !mailbox.push_restored(delivery) {
                break;
            }
        }
        for (filter, options) in snapshot.subscriptions {
            let (share, inner) = topic::split_shared(&filter);
            shared.router.subscribe(inner, share, &mailbox, options);
            kept.subscriptions.insert(SmolStr::new(&filter), options);
        }
    }
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
    let control = Arc::new(Signal::default());
    let mut sessions = shared.sessions();
    let _ = sessions.connect(client_id.clone(), conn_id, control, now);
    let _ = sessions.disconnect(&client_id, conn_id, Some(kept), expires_at);
}

//! The session store: which client identifiers are connected (and how to reach their
//! connection task for a takeover) and which sessions are kept offline until they
//! expire (MQTT 5.0 §3.1.2.11.2, MQTT 3.1.1 §3.1.2.4). Generic over the kept state so
//! that it is tested without sockets. Must not touch subscriptions or queues itself:
//! it hands sessions to their owner, one owner at a time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// A session's place in the store.
#[derive(Debug)]
enum Slot<S, C> {
    /// A connection task owns the session; `control` reaches it.
    Online { conn_id: u64, control: C },
    /// Nobody is connected; the session waits until its expiry (`None`: forever).
    /// Boxed with its expiry so that every slot of the map is small: 16 bytes with
    /// `Online` (memory per connection).
    Offline(Box<(S, Option<Instant>)>),
}

/// What a new connection finds under its client identifier.
#[derive(Debug)]
pub enum Previous<S, C> {
    /// Nothing: a new session.
    None,
    /// A kept session, now owned by the caller.
    Offline(S),
    /// A live connection: ask it (through `control`) to hand its session over.
    Online(C),
}

/// Client identifier → session. One `Mutex` around it, taken on connect and
/// disconnect only, never per message.
#[derive(Debug)]
pub struct SessionStore<S, C> {
    slots: HashMap<Arc<str>, Slot<S, C>>,
}

impl<S, C> Default for SessionStore<S, C> {
    fn default() -> Self {
        SessionStore {
            slots: HashMap::new(),
        }
    }
}

impl<S, C> SessionStore<S, C> {
    /// An empty store.
    pub fn new() -> Self {
        SessionStore::default()
    }

    /// Registers connection `conn_id` as the owner of `client_id` and returns what was
    /// there. An offline session that expired by `now` counts as none (and is returned
    /// in the second element so its subscriptions can be removed).
    pub fn connect(
        &mut self,
        client_id: Arc<str>,
        conn_id: u64,
        control: C,
        now: Instant,
    ) -> (Previous<S, C>, Option<S>) {
        let previous = self
            .slots
            .insert(client_id, Slot::Online { conn_id, control });
        match previous {
            None => (Previous::None, None),
            Some(Slot::Online { control, .. }) => (Previous::Online(control), None),
            Some(Slot::Offline(kept)) => {
                let (session, expires_at) = *kept;
                if expires_at.is_some_and(|t| t <= now) {
                    (Previous::None, Some(session))
                } else {
                    (Previous::Offline(session), None)
                }
            }
        }
    }

    /// Connection `conn_id` ends. If it still owns `client_id`, its session is kept
    /// until `expires_at` (or dropped when `session` is `None`) and `Ok` is returned.
    /// If another connection took the client identifier over meanwhile, the session is
    /// given back in `Err` to be handed to the new owner.
    pub fn disconnect(
        &mut self,
        client_id: &str,
        conn_id: u64,
        session: Option<S>,
        expires_at: Option<Instant>,
    ) -> Result<(), Option<S>> {
        match self.slots.get(client_id) {
            Some(Slot::Online { conn_id: owner, .. }) if *owner == conn_id => {}
            _ => return Err(session),
        }
        match session {
            Some(session) => {
                if let Some(slot) = self.slots.get_mut(client_id) {
                    *slot = Slot::Offline(Box::new((session, expires_at)));
                }
            }
            None => {
                self.slots.remove(client_id);
            }
        }
        Ok(())
    }

    /// Removes and returns the offline sessions whose expiry has passed.
    pub fn take_expired(&mut self, now: Instant) -> Vec<(Arc<str>, S)> {
        let expired: Vec<Arc<str>> = self
            .slots
            .iter()
            .filter(
                |(_, slot)| matches!(slot, Slot::Offline(kept) if kept.1.is_some_and(|t| t <= now)),
            )
            .map(|(id, _)| id.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|id| match self.slots.remove(&id) {
                Some(Slot::Offline(kept)) => Some((id, kept.0)),
                _ => None,
            })
            .collect()
    }

    /// The control handle of every connected client.
    pub fn online(&self) -> impl Iterator<Item = &C> {
        self.slots.values().filter_map(|slot| match slot {
            Slot::Online { control, .. } => Some(control),
            Slot::Offline(_) => None,
        })
    }

    /// (connected, kept offline) counts for `$SYS`.
    pub fn counts(&self) -> (usize, usize) {
        let online = self
            .slots
            .values()
            .filter(|s| matches!(s, Slot::Online { .. }))
            .count();
        (online, self.slots.len() - online)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_slot_is_two_words() {
        // One per client in the store's table (memory per connection).
        assert_eq!(std::mem::size_of::<Slot<String, Arc<u8>>>(), 16);
    }

    type Store = SessionStore<&'static str, u32>;

    #[test]
    fn a_kept_session_goes_to_the_next_connection() {
        let now = Instant::now();
        let mut store = Store::new();
        assert!(matches!(
            store.connect("c".into(), 1, 10, now),
            (Previous::None, None)
        ));
        assert_eq!(store.counts(), (1, 0));
        store.disconnect("c", 1, Some("state"), None).unwrap();
        assert_eq!(store.counts(), (0, 1));
        assert!(matches!(
            store.connect("c".into(), 2, 20, now),
            (Previous::Offline("state"), None)
        ));
    }

    #[test]
    fn a_clean_session_is_forgotten_on_disconnect() {
        let now = Instant::now();
        let mut store = Store::new();
        store.connect("c".into(), 1, 10, now);
        store.disconnect("c", 1, None, None).unwrap();
        assert_eq!(store.counts(), (0, 0));
        assert!(matches!(
            store.connect("c".into(), 2, 20, now),
            (Previous::None, None)
        ));
    }

    #[test]
    fn takeover_reaches_the_old_connection_which_hands_its_session_over() {
        let now = Instant::now();
        let mut store = Store::new();
        store.connect("c".into(), 1, 10, now);
        assert!(matches!(
            store.connect("c".into(), 2, 20, now),
            (Previous::Online(10), None)
        ));
        // The old connection ends after the new one registered: it must not store.
        assert_eq!(
            store.disconnect("c", 1, Some("state"), None),
            Err(Some("state"))
        );
        assert_eq!(store.counts(), (1, 0));
    }

    #[test]
    fn expired_sessions_are_taken_out() {
        let now = Instant::now();
        let mut store = Store::new();
        store.connect("a".into(), 1, 10, now);
        store.connect("b".into(), 2, 20, now);
        store
            .disconnect("a", 1, Some("a-state"), Some(now + Duration::from_secs(5)))
            .unwrap();
        store.disconnect("b", 2, Some("b-state"), None).unwrap();
        assert!(store.take_expired(now + Duration::from_secs(4)).is_empty());
        let expired = store.take_expired(now + Duration::from_secs(5));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].1, "a-state");
        assert_eq!(store.counts(), (0, 1));
        // An expired session found at connect time is not resumed.
        store.connect("x".into(), 3, 30, now);
        store
            .disconnect("x", 3, Some("x-state"), Some(now))
            .unwrap();
        assert!(matches!(
            store.connect("x".into(), 4, 40, now),
            (Previous::None, Some("x-state"))
        ));
    }
}

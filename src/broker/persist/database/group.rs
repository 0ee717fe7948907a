//! Groups of changes that one thread makes and the store commits in one transaction, so
//! a crash keeps all of them or none: a QoS 2 message's copies in its subscribers'
//! queues together with the record of its packet identifier in the publisher's session.
//! Committed apart, a SIGKILL between the two made the publisher's resend after the
//! restart a second copy (found by `scripts/soak --minutes 60`: 3 in 175,000).
//!
//! A group is opened by a thread and left open only while that thread runs synchronous
//! code (a connection's `drive`), so the thread identifies it. Its write transaction
//! begins at the group's first change: other threads' changes wait for the commit (redb
//! has one writer), and the thread that holds the group never waits for them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::thread::ThreadId;

/// The open groups, by the thread that opened each. `None`: opened, nothing written yet.
#[derive(Default)]
pub(super) struct Groups {
    open: Mutex<HashMap<ThreadId, Option<redb::WriteTransaction>>>,
}

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Groups")
            .field("open", &self.map().len())
            .finish()
    }
}

impl Groups {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<ThreadId, Option<redb::WriteTransaction>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a group for this thread (one already open stays as it is).
    pub(super) fn open(&self) {
        self.map()
            .entry(std::thread::current().id())
            .or_insert(None);
    }

    /// This thread's group, taken out while a change is written: `None` when the thread
    /// has none, `Some(None)` when it has written nothing yet.
    pub(super) fn take(&self) -> Option<Option<redb::WriteTransaction>> {
        let mut map = self.map();
        let slot = map.get_mut(&std::thread::current().id())?;
        Some(slot.take())
    }

    /// Puts back the transaction `take` gave out (or `None` after a failed change, which
    /// dropped, and so aborted, what the group had written).
    pub(super) fn put_back(&self, txn: Option<redb::WriteTransaction>) {
        if let Some(slot) = self.map().get_mut(&std::thread::current().id()) {
            *slot = txn;
        }
    }

    /// Closes this thread's group: its transaction, to commit, if it wrote anything.
    pub(super) fn close(&self) -> Option<redb::WriteTransaction> {
        self.map().remove(&std::thread::current().id()).flatten()
    }
}

//! The durable store of `serve --data-dir DIR`: retained messages and kept sessions
//! (subscriptions, queued messages, QoS 1/2 state) in one redb database, `DIR/mqtk.redb`.
//!
//! Why redb: a well-kept, pure-Rust embedded key-value store with ACID transactions whose
//! commit is crash-safe by design (copy-on-write B-trees, a checksummed commit slot), so a
//! SIGKILL at any moment leaves the last committed state, and a damaged or foreign file is
//! an error at open, not silent loss. A hand-written log would need its own checksums,
//! torn-tail handling and compaction, which is exactly what redb already does.
//!
//! `--fsync always`: every change is committed with `Durability::Immediate` before the call
//! returns, so whatever the broker acknowledges after the call survives a crash.
//! `--fsync every-N-ms`: changes are committed with `Durability::None` (in the database,
//! not yet synced) and a flusher thread makes them durable every N ms; a crash loses at
//! most the last N ms of acknowledged changes.
//!
//! Must not know the broker's in-memory types: it stores protocol `Publish` packets (encoded
//! with the codec as MQTT 5 PUBLISH) and plain records.

// redb::Error is large; it only travels on the write path, whose cost is a disk commit.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::protocol::session::{PersistedOutgoing, PersistedState, StoreChange};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};

mod codec;
mod error;
mod group;
mod guard;
mod open;
mod records;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod sample;

use codec::{decode_message, decode_outgoing, encode_message, encode_outgoing};
pub use error::StoreError;
pub use records::{SessionRecord, StoredMessage, StoredSession, StoredSubscription};

const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const RETAINED: TableDefinition<&str, &[u8]> = TableDefinition::new("retained");
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
const QUEUED: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("queued");
const OUTGOING: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("outgoing");
const INCOMING: TableDefinition<(&str, u16), ()> = TableDefinition::new("incoming_qos2");

/// Written in `meta` under `format`; anything else is a foreign store.
const FORMAT: &str = "mqtk-store-1";
/// The database file inside the data directory.
pub const FILE_NAME: &str = "mqtk.redb";

/// When changes reach the disk (`--fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before every acknowledgement.
    Always,
    /// At most this long after the change.
    Every(Duration),
}

impl FsyncPolicy {
    /// Parse `always` or `every-N-ms`.
    pub fn parse(text: &str) -> Result<FsyncPolicy, String> {
        if text == "always" {
            return Ok(FsyncPolicy::Always);
        }
        let ms = text
            .strip_prefix("every-")
            .and_then(|rest| rest.strip_suffix("-ms").or_else(|| rest.strip_suffix("ms")))
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|n| (1..=60_000).contains(n));
        match ms {
            Some(ms) => Ok(FsyncPolicy::Every(Duration::from_millis(ms))),
            None => Err(format!(
                "invalid --fsync {text:?}: use always or every-N-ms with N from 1 to 60000 (e.g. every-100-ms)"
            )),
        }
    }
}

/// The open store. Cheap to share (`Arc`); every method is a short transaction.
#[derive(Debug)]
pub struct Store {
    /// Dropped under `guard::catch`: redb panicked closing some damaged files.
    db: Arc<guard::QuietDrop<Database>>,
    path: PathBuf,
    durability: Durability,
    dirty: Arc<AtomicBool>,
    flusher: Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
    /// The next queue id to hand out (one more than the largest stored).
    next_qid: AtomicU64,
    /// Changes that commit together (`begin_group`/`end_group`).
    groups: group::Groups,
}

impl Store {
    /// Open (or create) `DIR/mqtk.redb`. A file that is not an mqtk store is an error.
    /// A damaged file is [`StoreError::Damaged`], never a panic (redb's panics on
    /// damaged files are caught, `guard`), and is left untouched.
    pub fn open(dir: &Path, policy: FsyncPolicy) -> Result<Store, StoreError> {
        let path = dir.join(FILE_NAME);
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let db = Arc::new(guard::QuietDrop::new(open::database(&path)?));
        let mut store = Store {
            db,
            path,
            durability: match policy {
                FsyncPolicy::Always => Durability::Immediate,
                FsyncPolicy::Every(_) => Durability::None,
            },
            dirty: Arc::new(AtomicBool::new(false)),
            flusher: None,
            next_qid: AtomicU64::new(1),
            groups: group::Groups::default(),
        };
        let checked = guard::catch(|| {
            store.check_format()?;
            store.largest_qid()
        });
        let largest = match checked {
            Ok(Ok(largest)) => largest,
            Ok(Err(err)) => return Err(store.damaged(err)),
            Err(panic) => return Err(open::damaged(&store.path, format!("redb {panic}"))),
        };
        store.next_qid.store(largest + 1, Ordering::Relaxed);
        if let FsyncPolicy::Every(period) = policy {
            store.flusher = Some(spawn_flusher(store.db.clone(), store.dirty.clone(), period));
        }
        Ok(store)
    }

    fn fail(&self, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Failed {
            path: self.path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// A read of the whole store failed: the file is damaged (a record that does not
    /// decode, or a redb error), or redb panicked reading it.
    fn load<T>(&self, read: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        match guard::catch(read) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(self.damaged(err)),
            Err(panic) => Err(open::damaged(&self.path, format!("redb {panic}"))),
        }
    }

    fn damaged(&self, err: StoreError) -> StoreError {
        match err {
            StoreError::Failed { reason, .. } => open::damaged(&self.path, reason),
            other => other,
        }
    }

    fn check_format(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.fail(e))?;
            let found = meta
                .get("format")
                .map_err(|e| self.fail(e))?
                .map(|v| v.value().to_string());
            let empty = meta.len().map_err(|e| self.fail(e))? == 0;
            match found {
                Some(f) if f == FORMAT => {}
                None if empty && self.has_no_other_tables(&txn)? => {
                    meta.insert("format", FORMAT).map_err(|e| self.fail(e))?;
                }
                found => {
                    return Err(StoreError::Foreign {
                        path: self.path.display().to_string(),
                        found,
                    })
                }
            }
        }
        self.commit(txn, Durability::Immediate)
    }

    fn has_no_other_tables(&self, txn: &redb::WriteTransaction) -> Result<bool, StoreError> {
        let tables = txn.list_tables().map_err(|e| self.fail(e))?;
        Ok(tables
            .into_iter()
            .all(|t| redb::TableHandle::name(&t) == "meta"))
    }

    fn commit(
        &self,
        mut txn: redb::WriteTransaction,
        durability: Durability,
    ) -> Result<(), StoreError> {
        let deferred = matches!(durability, Durability::None);
        txn.set_durability(durability).map_err(|e| self.fail(e))?;
        txn.commit().map_err(|e| self.fail(e))?;
        if deferred {
            self.dirty.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Runs `f` in one write transaction committed with the `--fsync` policy, or, while
    /// this thread has a group open, in the group's transaction.
    fn write(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<(), StoreError> {
        if let Some(open) = self.groups.take() {
            let txn = match open {
                Some(txn) => txn,
                None => self.db.begin_write().map_err(|e| self.fail(e))?,
            };
            let written = f(&txn);
            // A failed change aborts the group's transaction (dropped): durability of
            // what it held is lost, and the error says so.
            self.groups.put_back(written.is_ok().then_some(txn));
            return written.map_err(|e| self.fail(e));
        }
        let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        f(&txn).map_err(|e| self.fail(e))?;
        self.commit(txn, self.durability)
    }

    /// Opens a group on this thread: its changes until `end_group` commit together, in
    /// one transaction. The thread must not wait for other threads until `end_group`.
    pub fn begin_group(&self) {
        self.groups.open();
    }

    /// Commits the changes of this thread's group (nothing when it wrote none).
    pub fn end_group(&self) -> Result<(), StoreError> {
        match self.groups.close() {
            Some(txn) => self.commit(txn, self.durability),
            None => Ok(()),
        }
    }

    fn largest_qid(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = match txn.open_table(QUEUED) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(self.fail(e)),
        };
        let mut largest = 0;
        for entry in table.iter().map_err(|e| self.fail(e))? {
            let (key, _) = entry.map_err(|e| self.fail(e))?;
            largest = largest.max(key.value().1);
        }
        Ok(largest)
    }

    /// A queue id never used in this store.
    pub fn next_qid(&self) -> u64 {
        self.next_qid.fetch_add(1, Ordering::Relaxed)
    }

    /// Make every change so far durable now (shutdown, tests).
    pub fn sync(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        self.commit(txn, Durability::Immediate)?;
        self.dirty.store(false, Ordering::Release);
        Ok(())
    }

    /// Set (`Some`) or delete (`None`) the retained message of `topic`.
    pub fn set_retained(
        &self,
        topic: &str,
        message: Option<&StoredMessage>,
    ) -> Result<(), StoreError> {
        let encoded = message
            .map(encode_message)
            .transpose()
            .map_err(|e| self.fail(e))?;
        self.write(|txn| {
            let mut table = txn.open_table(RETAINED)?;
            match &encoded {
                Some(bytes) => table.insert(topic, bytes.as_slice())?,
                None => table.remove(topic)?,
            };
            Ok(())
        })
    }

    /// Every retained message. A file that cannot be read is [`StoreError::Damaged`].
    pub fn retained(&self) -> Result<Vec<StoredMessage>, StoreError> {
        self.load(|| self.read_retained())
    }

    fn read_retained(&self) -> Result<Vec<StoredMessage>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = match txn.open_table(RETAINED) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.fail(e)),
        };
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.fail(e))? {
            let (topic, value) = entry.map_err(|e| self.fail(e))?;
            let message = decode_message(value.value())
                .map_err(|e| self.fail(format!("retained message {:?}: {e}", topic.value())))?;
            out.push(message);
        }
        Ok(out)
    }

    /// Create or update a kept session's settings and subscriptions.
    pub fn put_session(&self, client_id: &str, record: &SessionRecord) -> Result<(), StoreError> {
        let json = serde_json::to_vec(record).map_err(|e| self.fail(e))?;
        self.write(|txn| {
            txn.open_table(SESSIONS)?
                .insert(client_id, json.as_slice())?;
            Ok(())
        })
    }

    /// Forget a session and everything queued or in flight for it.
    pub fn remove_session(&self, client_id: &str) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(SESSIONS)?.remove(client_id)?;
            txn.open_table(QUEUED)?
                .retain_in((client_id, 0)..=(client_id, u64::MAX), |_, _| false)?;
            txn.open_table(OUTGOING)?
                .retain_in((client_id, 0)..=(client_id, u64::MAX), |_, _| false)?;
            txn.open_table(INCOMING)?
                .retain_in((client_id, 0)..=(client_id, u16::MAX), |_, _| false)?;
            Ok(())
        })
    }

    /// A message was queued for a kept session under queue id `qid`.
    pub fn queue(
        &self,
        client_id: &str,
        qid: u64,
        message: &StoredMessage,
    ) -> Result<(), StoreError> {
        let bytes = encode_message(message).map_err(|e| self.fail(e))?;
        self.write(|txn| {
            txn.open_table(QUEUED)?
                .insert((client_id, qid), bytes.as_slice())?;
            Ok(())
        })
    }

    /// The queued message `qid` left the queue; `change` (if any) is the QoS state change
    /// that took it over, written in the same transaction so it is never lost or doubled.
    pub fn unqueue(
        &self,
        client_id: &str,
        qid: u64,
        change: Option<&StoreChange>,
    ) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(QUEUED)?.remove((client_id, qid))?;
            if let Some(change) = change {
                apply_change(txn, client_id, change)?;
            }
            Ok(())
        })
    }

    /// Record one change of a session's QoS 1/2 state (`protocol::session` events).
    pub fn apply(&self, client_id: &str, change: &StoreChange) -> Result<(), StoreError> {
        self.write(|txn| apply_change(txn, client_id, change))
    }

    /// Every kept session with its queue and QoS state. A file that cannot be read is
    /// [`StoreError::Damaged`].
    pub fn sessions(&self) -> Result<Vec<StoredSession>, StoreError> {
        self.load(|| self.read_sessions())
    }

    fn read_sessions(&self) -> Result<Vec<StoredSession>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let mut out = Vec::new();
        let sessions = match txn.open_table(SESSIONS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(out),
            Err(e) => return Err(self.fail(e)),
        };
        let queued = txn.open_table(QUEUED).ok();
        let outgoing = txn.open_table(OUTGOING).ok();
        let incoming = txn.open_table(INCOMING).ok();
        for entry in sessions.iter().map_err(|e| self.fail(e))? {
            let (id, value) = entry.map_err(|e| self.fail(e))?;
            let client_id = id.value().to_string();
            let record: SessionRecord = serde_json::from_slice(value.value())
                .map_err(|e| self.fail(format!("session {client_id:?}: {e}")))?;
            let range = (client_id.as_str(), 0)..=(client_id.as_str(), u64::MAX);
            let mut session = StoredSession {
                client_id: client_id.clone(),
                record,
                queued: Vec::new(),
                state: PersistedState::default(),
            };
            if let Some(table) = &queued {
                for item in table.range(range.clone()).map_err(|e| self.fail(e))? {
                    let (key, value) = item.map_err(|e| self.fail(e))?;
                    let message = decode_message(value.value()).map_err(|e| self.fail(e))?;
                    session.queued.push((key.value().1, message));
                }
            }
            if let Some(table) = &outgoing {
                for item in table.range(range.clone()).map_err(|e| self.fail(e))? {
                    let (key, value) = item.map_err(|e| self.fail(e))?;
                    let seq = key.value().1;
                    let (publish, released) =
                        decode_outgoing(value.value()).map_err(|e| self.fail(e))?;
                    session.state.outgoing.insert(
                        seq,
                        PersistedOutgoing {
                            seq,
                            publish,
                            released,
                        },
                    );
                }
            }
            if let Some(table) = &incoming {
                let range = (client_id.as_str(), 0)..=(client_id.as_str(), u16::MAX);
                for item in table.range(range).map_err(|e| self.fail(e))? {
                    let (key, _) = item.map_err(|e| self.fail(e))?;
                    session.state.incoming_qos2.insert(key.value().1);
                }
            }
            out.push(session);
        }
        Ok(out)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.flusher.take() {
            drop(stop);
            let _ = thread.join();
        }
        if self.dirty.load(Ordering::Acquire) {
            // redb may panic committing on a damaged file: a crash at shutdown is no better.
            let _ = guard::catch(|| self.sync());
        }
    }
}

/// Every `period`, make the commits since the last sync durable (one fsync for all).
fn spawn_flusher(
    db: Arc<guard::QuietDrop<Database>>,
    dirty: Arc<AtomicBool>,
    period: Duration,
) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("mqtk-store-fsync".into())
        .spawn(move || loop {
            match stopped.recv_timeout(period) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            if dirty.swap(false, Ordering::AcqRel) {
                let synced = db.begin_write().is_ok_and(|mut txn| {
                    txn.set_durability(Durability::Immediate).is_ok() && txn.commit().is_ok()
                });
                if !synced {
                    // Try again on the next tick; the changes stay in the database.
                    dirty.store(true, Ordering::Release);
                }
            }
        })
        .expect("spawning a thread only fails when the system is out of resources");
    (stop, thread)
}

fn apply_change(
    txn: &redb::WriteTransaction,
    client_id: &str,
    change: &StoreChange,
) -> Result<(), redb::Error> {
    let mut outgoing = txn.open_table(OUTGOING)?;
    match change {
        StoreChange::OutgoingQueued { seq, publish } => {
            let bytes = encode_outgoing(publish, false).map_err(redb_err)?;
            outgoing.insert((client_id, *seq), bytes.as_slice())?;
        }
        StoreChange::OutgoingSent { seq, packet_id } => {
            let current = outgoing.get((client_id, *seq))?.map(|v| v.value().to_vec());
            if let Some(bytes) = current {
                let (mut publish, released) = decode_outgoing(&bytes).map_err(redb_err)?;
                publish.packet_id = *packet_id;
                let bytes = encode_outgoing(&publish, released).map_err(redb_err)?;
                outgoing.insert((client_id, *seq), bytes.as_slice())?;
            }
        }
        StoreChange::OutgoingReleased { seq } => {
            let current = outgoing.get((client_id, *seq))?.map(|v| v.value().to_vec());
            if let Some(bytes) = current {
                let (publish, _) = decode_outgoing(&bytes).map_err(redb_err)?;
                let bytes = encode_outgoing(&publish, true).map_err(redb_err)?;
                outgoing.insert((client_id, *seq), bytes.as_slice())?;
            }
        }
        StoreChange::OutgoingDone { seq } => {
            outgoing.remove((client_id, *seq))?;
        }
        StoreChange::IncomingReceived { packet_id } => {
            txn.open_table(INCOMING)?
                .insert((client_id, *packet_id), ())?;
        }
        StoreChange::IncomingReleased { packet_id } => {
            txn.open_table(INCOMING)?.remove((client_id, *packet_id))?;
        }
    }
    Ok(())
}

fn redb_err(reason: String) -> redb::Error {
    redb::Error::Corrupted(reason)
}

#[cfg(test)]
mod open_tests;
#[cfg(test)]
mod tests;

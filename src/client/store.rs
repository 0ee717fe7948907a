//! The client-side session store of `--session-dir DIR`: one append-only log per client
//! id holding the session's durable changes (`StoreChange`), so unacknowledged outgoing
//! QoS 1/2 messages and incoming QoS 2 state survive a SIGKILL.
//!
//! Why a log of our own while `serve --data-dir` uses redb: the state
//! is a short queue whose entries live for a round trip, the access is append + replay
//! once at start, and the durability point is exactly "fsync before the next packet is
//! written". A log gives that with one write and one fsync per batch of packets (group
//! commit). redb was measured in its place on `seq 100000 | mqtk pub -l -q 1
//! --session-dir`: it needs the same fsync per batch but rewrites its B-tree pages on
//! each commit (several writes instead of one), so it used more CPU per message and did
//! not reach the log's throughput, which is the rule for replacing it. Records carry a
//! length and a CRC-32 (`crc32fast`), so a record torn by a crash is recognised and cut
//! off, while damage in the middle is reported instead of guessed around. When the log
//! grows it is compacted: the live state is written to a new file, fsynced and renamed
//! over the old one (atomic on POSIX), then the directory is fsynced.
//!
//! A lock file held with `flock(2)` keeps a second live process with the same id
//! and directory out. Must not know the QoS rules: it only records and replays.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::{Buf, BufMut, BytesMut};

use super::error::ClientError;
use crate::protocol::session::{PersistedOutgoing, PersistedState, StoreChange};
use crate::protocol::{Packet, ProtocolVersion, Publish};

/// First bytes of every store file: a magic and the format version.
const MAGIC: &[u8; 12] = b"MQTK-SESSION";
const FORMAT: u32 = 1;
const HEADER_LEN: usize = 16;
/// Compact when the log passes this size (or twice the size after the last compaction).
const COMPACT_AT: u64 = 4 * 1024 * 1024;

const TAG_OUTGOING: u8 = 1;
const TAG_SENT: u8 = 2;
const TAG_RELEASED: u8 = 3;
const TAG_DONE: u8 = 4;
const TAG_INCOMING: u8 = 5;
const TAG_INCOMING_RELEASED: u8 = 6;

/// An open store: the log file, its lock, and the state it holds.
pub struct Store {
    path: PathBuf,
    dir: PathBuf,
    file: File,
    _lock: File,
    state: PersistedState,
    pending: BytesMut,
    log_len: u64,
    compact_at: u64,
}

impl Store {
    /// Opens (or creates) the store of `client_id` in `dir`, takes its lock and replays
    /// it. Fails when another process holds the lock or the file is damaged or foreign.
    pub fn open(dir: &Path, client_id: &str) -> Result<Store, ClientError> {
        if client_id.is_empty() {
            return Err(ClientError::Store {
                path: dir.to_path_buf(),
                reason: "--session-dir needs a client id: give one with -i".into(),
            });
        }
        let io_err = |path: &Path, what: &str, e: std::io::Error| ClientError::Store {
            path: path.to_path_buf(),
            reason: format!("cannot {what}: {}", super::error::io_reason(&e)),
        };
        fs::create_dir_all(dir).map_err(|e| io_err(dir, "create the directory", e))?;
        let name = file_name(client_id);
        let lock_path = dir.join(format!("{name}.lock"));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(&lock_path, "open the lock file", e))?;
        match try_lock(&lock) {
            Ok(true) => {}
            Ok(false) => {
                return Err(ClientError::Store {
                    path: dir.to_path_buf(),
                    reason: format!(
                        "another mqtk process is using the session of client id `{client_id}` \
                         (lock {} is held); stop it or use another -i",
                        lock_path.display()
                    ),
                })
            }
            Err(e) => return Err(io_err(&lock_path, "lock", e)),
        }
        let path = dir.join(format!("{name}.session"));
        let state = match fs::read(&path) {
            Ok(bytes) => replay(&path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PersistedState::default(),
            Err(e) => return Err(io_err(&path, "read", e)),
        };
        let mut store = Store {
            file: write_snapshot(&path, dir, &state)?,
            path,
            dir: dir.to_path_buf(),
            _lock: lock,
            state,
            pending: BytesMut::new(),
            log_len: 0,
            compact_at: COMPACT_AT,
        };
        store.log_len = store.file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(store)
    }

    /// The state as of the last change recorded.
    pub fn state(&self) -> &PersistedState {
        &self.state
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a change; it is durable after the next `commit`.
    pub fn record(&mut self, change: &StoreChange) {
        self.state.apply(change);
        encode_record(&mut self.pending, change);
    }

    /// True when changes wait for `commit`.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes the recorded changes and fsyncs: call before writing the packets that
    /// follow them. Compacts the log when it has grown.
    pub fn commit(&mut self) -> Result<(), ClientError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let write = self
            .file
            .write_all(&self.pending)
            .and_then(|()| self.file.sync_data());
        write.map_err(|e| self.error("write", e))?;
        self.log_len += self.pending.len() as u64;
        self.pending.clear();
        if self.log_len >= self.compact_at {
            self.file = write_snapshot(&self.path, &self.dir, &self.state)?;
            self.log_len = self.file.metadata().map(|m| m.len()).unwrap_or(0);
            self.compact_at = COMPACT_AT.max(self.log_len * 2);
        }
        Ok(())
    }

    fn error(&self, what: &str, e: std::io::Error) -> ClientError {
        ClientError::Store {
            path: self.path.clone(),
            reason: format!("cannot {what}: {}", super::error::io_reason(&e)),
        }
    }
}

/// Takes an exclusive advisory lock on `file` without waiting: `Ok(false)` when another
/// open file description holds it. The lock goes away with the descriptor, so a
/// process killed with SIGKILL leaves none behind. (`flock(2)`, which is what
/// `File::try_lock` does on Unix; that API needs Rust 1.89, above our MSRV.)
fn try_lock(file: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock only reads the descriptor number, which `file` keeps open.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// The file name of a client id: safe characters kept, the others as `%XX`.
fn file_name(client_id: &str) -> String {
    let mut name = String::new();
    for byte in client_id.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.') && !(name.is_empty() && byte == b'.')
        {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    name
}

/// Writes `state` as a fresh log next to `path`, fsyncs it, renames it over `path`,
/// fsyncs the directory, and returns the new file opened for appending.
fn write_snapshot(path: &Path, dir: &Path, state: &PersistedState) -> Result<File, ClientError> {
    let err = |what: &str, e: std::io::Error| ClientError::Store {
        path: path.to_path_buf(),
        reason: format!("cannot {what}: {}", super::error::io_reason(&e)),
    };
    let mut buf = BytesMut::new();
    buf.put_slice(MAGIC);
    buf.put_u32(FORMAT);
    for out in state.outgoing.values() {
        encode_outgoing(&mut buf, out);
    }
    for &packet_id in &state.incoming_qos2 {
        encode_record(&mut buf, &StoreChange::IncomingReceived { packet_id });
    }
    let tmp = path.with_extension("session.tmp");
    let mut file = File::create(&tmp).map_err(|e| err("create a compacted copy", e))?;
    file.write_all(&buf)
        .and_then(|()| file.sync_all())
        .map_err(|e| err("write a compacted copy", e))?;
    fs::rename(&tmp, path).map_err(|e| err("replace the log", e))?;
    // The rename is durable only once the directory is.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| err("open for appending", e))
}

fn encode_record(buf: &mut BytesMut, change: &StoreChange) {
    let mut body = BytesMut::new();
    match change {
        StoreChange::OutgoingQueued { seq, publish } => {
            let out = PersistedOutgoing {
                seq: *seq,
                publish: publish.clone(),
                released: false,
            };
            return encode_outgoing(buf, &out);
        }
        StoreChange::OutgoingSent { seq, packet_id } => {
            body.put_u8(TAG_SENT);
            body.put_u64(*seq);
            body.put_u16(*packet_id);
        }
        StoreChange::OutgoingReleased { seq } => {
            body.put_u8(TAG_RELEASED);
            body.put_u64(*seq);
        }
        StoreChange::OutgoingDone { seq } => {
            body.put_u8(TAG_DONE);
            body.put_u64(*seq);
        }
        StoreChange::IncomingReceived { packet_id } => {
            body.put_u8(TAG_INCOMING);
            body.put_u16(*packet_id);
        }
        StoreChange::IncomingReleased { packet_id } => {
            body.put_u8(TAG_INCOMING_RELEASED);
            body.put_u16(*packet_id);
        }
    }
    frame(buf, &body);
}

/// An outgoing message with its packet id and stage, the PUBLISH in MQTT 5 encoding
/// (which keeps every property).
fn encode_outgoing(buf: &mut BytesMut, out: &PersistedOutgoing) {
    let mut body = BytesMut::new();
    body.put_u8(TAG_OUTGOING);
    body.put_u64(out.seq);
    body.put_u16(out.publish.packet_id);
    body.put_u8(u8::from(out.released));
    // The codec wants a packet id on QoS 1/2; the real one (maybe 0) is kept above.
    let publish = Publish {
        packet_id: out.publish.packet_id.max(1),
        dup: false,
        ..out.publish.clone()
    };
    // The message was built by this program and accepted before: it encodes.
    if Packet::Publish(publish)
        .encode(ProtocolVersion::V5, &mut body)
        .is_err()
    {
        return;
    }
    frame(buf, &body);
}

fn frame(buf: &mut BytesMut, body: &[u8]) {
    buf.put_u32_le(body.len() as u32);
    buf.put_u32_le(crc32(body));
    buf.put_slice(body);
}

/// Rebuilds the state from a log file's bytes. A torn last record (the process died
/// while appending) is ignored; anything else that does not parse is an error.
fn replay(path: &Path, bytes: &[u8]) -> Result<PersistedState, ClientError> {
    let damaged = |reason: String| {
        ClientError::Store {
        path: path.to_path_buf(),
        reason: format!("{reason}; move the file away to start with an empty session (its unacknowledged messages are then lost)"),
    }
    };
    if bytes.len() < HEADER_LEN || &bytes[..12] != MAGIC {
        return Err(damaged(
            "not an mqtk session store, or its header is damaged".into(),
        ));
    }
    let format = u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    if format != FORMAT {
        return Err(damaged(format!(
            "written by another version of mqtk (store format {format}; this mqtk reads format {FORMAT})"
        )));
    }
    let mut state = PersistedState::default();
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < 8 {
            break; // torn header of the last record
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let Some(body) = rest.get(8..8 + len) else {
            break;
        }; // torn body of the last record
        if crc32(body) != crc {
            if 8 + len == rest.len() {
                break; // the last record, torn
            }
            return Err(damaged(format!(
                "record at byte {at} is damaged (checksum mismatch)"
            )));
        }
        let change = decode_body(body)
            .ok_or_else(|| damaged(format!("record at byte {at} cannot be read")))?;
        state.apply(&change);
        if let StoreChange::OutgoingQueued { seq, .. } = &change {
            // A compacted outgoing record carries its packet id and stage too.
            let (packet_id, released) = (u16::from_be_bytes([body[9], body[10]]), body[11] != 0);
            if let Some(out) = state.outgoing.get_mut(seq) {
                out.publish.packet_id = packet_id;
                out.released = released;
            }
        }
        at += 8 + len;
    }
    Ok(state)
}

fn decode_body(body: &[u8]) -> Option<StoreChange> {
    let mut buf = body;
    if buf.is_empty() {
        return None;
    }
    let tag = buf.get_u8();
    let need = |buf: &[u8], n: usize| (buf.len() >= n).then_some(());
    Some(match tag {
        TAG_OUTGOING => {
            need(buf, 11)?;
            let seq = buf.get_u64();
            let _packet_id = buf.get_u16();
            let _released = buf.get_u8();
            let mut raw = BytesMut::from(buf);
            match Packet::decode(&mut raw, ProtocolVersion::V5, u32::MAX).ok()?? {
                Packet::Publish(publish) if raw.is_empty() => {
                    StoreChange::OutgoingQueued { seq, publish }
                }
                _ => return None,
            }
        }
        TAG_SENT => {
            need(buf, 10)?;
            StoreChange::OutgoingSent {
                seq: buf.get_u64(),
                packet_id: buf.get_u16(),
            }
        }
        TAG_RELEASED => {
            need(buf, 8)?;
            StoreChange::OutgoingReleased { seq: buf.get_u64() }
        }
        TAG_DONE => {
            need(buf, 8)?;
            StoreChange::OutgoingDone { seq: buf.get_u64() }
        }
        TAG_INCOMING => {
            need(buf, 2)?;
            StoreChange::IncomingReceived {
                packet_id: buf.get_u16(),
            }
        }
        TAG_INCOMING_RELEASED => {
            need(buf, 2)?;
            StoreChange::IncomingReleased {
                packet_id: buf.get_u16(),
            }
        }
        _ => return None,
    })
}

/// CRC-32 (IEEE 802.3, the one of zlib and PNG): the checksum of format 1 records.
fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
mod tests;

//! The client session store of `--session-dir` (`client::store::Store`) recovering from
//! arbitrary file contents: a torn tail is cut off, damage is an error, and whatever it
//! recovers is stable: opening the same directory again gives the same state.
//!
//! Input: a mode byte, then either the whole file (even mode) or patches (odd mode:
//! offset, byte pairs) applied to a real log with outgoing QoS 1/2 messages in several
//! stages and incoming QoS 2 ids, which reaches the records behind the CRC check.
//! Set TMPDIR to a tmpfs (`scripts/fuzz-all` uses /dev/shm): the store fsyncs.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mqtk::client::store::Store;
use mqtk::protocol::session::StoreChange;
use mqtk::protocol::{Properties, Publish, QoS};

const CLIENT_ID: &str = "fuzz";

fn publish(qos: QoS, topic: &str) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        packet_id: 0,
        properties: Properties::default(),
        payload: Bytes::from_static(b"payload"),
    }
}

/// A log as the store writes it, once per process.
fn template() -> &'static [u8] {
    static TEMPLATE: OnceLock<Vec<u8>> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut store = Store::open(dir.path(), CLIENT_ID).expect("a new store");
        let changes = [
            StoreChange::OutgoingQueued { seq: 1, publish: publish(QoS::AtLeastOnce, "a") },
            StoreChange::OutgoingQueued { seq: 2, publish: publish(QoS::ExactlyOnce, "b/c") },
            StoreChange::OutgoingQueued { seq: 3, publish: publish(QoS::ExactlyOnce, "d") },
            StoreChange::OutgoingSent { seq: 1, packet_id: 1 },
            StoreChange::OutgoingSent { seq: 2, packet_id: 2 },
            StoreChange::OutgoingReleased { seq: 2 },
            StoreChange::IncomingReceived { packet_id: 9 },
            StoreChange::IncomingReceived { packet_id: 10 },
            StoreChange::IncomingReleased { packet_id: 9 },
            StoreChange::OutgoingDone { seq: 1 },
        ];
        for change in &changes {
            store.record(change);
            store.commit().expect("commit to a temporary directory");
        }
        std::fs::read(store.path()).expect("the log just written")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        let mut file = template().to_vec();
        for patch in rest.chunks_exact(3) {
            let at = usize::from(u16::from_le_bytes([patch[0], patch[1]]));
            match file.get_mut(at) {
                Some(byte) => *byte = patch[2],
                None => file.truncate(at % (file.len() + 1)),
            }
        }
        file
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join(format!("{CLIENT_ID}.session")), &file).expect("write");
    let Ok(store) = Store::open(dir.path(), CLIENT_ID) else {
        return;
    };
    let first = store.state().clone();
    drop(store);
    let again = Store::open(dir.path(), CLIENT_ID).expect("a store we wrote opens again");
    assert_eq!(again.state(), &first, "the state changed between two opens");
});

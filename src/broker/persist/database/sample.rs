//! A store file as `serve --data-dir` leaves it, and the damage the `redb_store` fuzz
//! target applies to it: written once for the fuzz target (feature `fuzzing`) and for the
//! tests that replay its findings (`open_tests`), so that a finding replays byte for byte.
//! Not part of mqtk's interface.

use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::{SessionRecord, Store, StoredMessage, StoredSubscription, FILE_NAME};
use crate::broker::persist::FsyncPolicy;
use crate::protocol::session::StoreChange;
use crate::protocol::{Properties, Publish, QoS};

fn message(topic: &str, qos: QoS) -> StoredMessage {
    let properties = Properties {
        message_expiry_interval: Some(3600),
        user_properties: vec![("k".into(), "v".into())],
        ..Properties::default()
    };
    StoredMessage {
        publish: Publish {
            dup: false,
            qos,
            retain: true,
            topic: topic.into(),
            packet_id: 0,
            properties,
            payload: Bytes::from_static(b"retained payload"),
        },
        // Fixed, so that the file is the same on every run.
        received: SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_662_400),
    }
}

/// Writes, in the empty directory `dir`, a store holding retained messages, a kept session
/// with a subscription, a queue and QoS 1/2 state; returns the file's bytes.
pub fn store_file(dir: &Path) -> Vec<u8> {
    {
        let store = Store::open(dir, FsyncPolicy::Always).expect("a new store");
        for topic in ["a", "a/b", "sensors/1/temp"] {
            store
                .set_retained(topic, Some(&message(topic, QoS::AtLeastOnce)))
                .expect("a retained message stored");
        }
        let record = SessionRecord {
            protocol_level: 5,
            expiry_secs: 600,
            disconnected_at_ms: Some(1_764_662_400_000),
            subscriptions: vec![StoredSubscription {
                filter: "a/#".into(),
                qos: 2,
                no_local: false,
                retain_as_published: true,
                retain_handling: 1,
                subscription_id: Some(7),
            }],
        };
        store.put_session("c1", &record).expect("a session stored");
        for _ in 0..3 {
            let qid = store.next_qid();
            let queued = message("a/b", QoS::ExactlyOnce);
            store.queue("c1", qid, &queued).expect("a message queued");
        }
        let publish = message("a", QoS::ExactlyOnce).publish;
        let changes = [
            StoreChange::OutgoingQueued { seq: 1, publish },
            StoreChange::OutgoingSent {
                seq: 1,
                packet_id: 4,
            },
            StoreChange::IncomingReceived { packet_id: 9 },
        ];
        for change in &changes {
            store.apply("c1", change).expect("a QoS change stored");
        }
    }
    std::fs::read(dir.join(FILE_NAME)).expect("the store just written")
}

/// The file a fuzz input stands for: a mode byte, then either the whole file (even mode)
/// or patches of `template` (odd mode: 3 bytes of offset, little-endian, and 1 byte of
/// value; an offset past the end truncates the file at that offset modulo its length + 1).
/// `None` for an empty input.
pub fn damaged(template: &[u8], input: &[u8]) -> Option<Vec<u8>> {
    let (&mode, rest) = input.split_first()?;
    if mode % 2 == 0 {
        return Some(rest.to_vec());
    }
    let mut file = template.to_vec();
    for patch in rest.chunks_exact(4) {
        let at = usize::from(patch[0]) | usize::from(patch[1]) << 8 | usize::from(patch[2]) << 16;
        match file.get_mut(at) {
            Some(byte) => *byte = patch[3],
            None => file.truncate(at % (file.len() + 1)),
        }
    }
    Some(file)
}

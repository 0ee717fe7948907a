//! `serve --data-dir`'s redb store (`broker::persist::Store`) loading a damaged file:
//! `Store::open`, then the retained messages and the kept sessions, as `serve` does at
//! start. A damaged or foreign file is an error the user can act on, never a panic.
//!
//! Input: a mode byte, then either the whole file (even mode) or patches (odd mode:
//! 3 bytes of offset, 1 byte of value; an offset past the end truncates) applied to a
//! real store holding retained messages, a kept session with subscriptions, a queue
//! and QoS state. Set TMPDIR to a tmpfs (`scripts/fuzz-all` uses /dev/shm).
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mqtk::broker::persist::database::{
    SessionRecord, StoredMessage, StoredSubscription, FILE_NAME,
};
use mqtk::broker::persist::{FsyncPolicy, Store};
use mqtk::protocol::session::StoreChange;
use mqtk::protocol::{Properties, Publish, QoS};

fn message(topic: &str, qos: QoS) -> StoredMessage {
    let mut properties = Properties::default();
    properties.message_expiry_interval = Some(3600);
    properties.user_properties = vec![("k".into(), "v".into())];
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
        received: SystemTime::now(),
    }
}

/// A store file as `serve --data-dir` leaves it, once per process.
fn template() -> &'static [u8] {
    static TEMPLATE: OnceLock<Vec<u8>> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        {
            let store = Store::open(dir.path(), FsyncPolicy::Always).expect("a new store");
            for topic in ["a", "a/b", "sensors/1/temp"] {
                store.set_retained(topic, Some(&message(topic, QoS::AtLeastOnce))).unwrap();
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
            store.put_session("c1", &record).unwrap();
            for _ in 0..3 {
                let qid = store.next_qid();
                store.queue("c1", qid, &message("a/b", QoS::ExactlyOnce)).unwrap();
            }
            let mut publish = message("a", QoS::ExactlyOnce).publish;
            publish.packet_id = 0;
            store.apply("c1", &StoreChange::OutgoingQueued { seq: 1, publish }).unwrap();
            store.apply("c1", &StoreChange::OutgoingSent { seq: 1, packet_id: 4 }).unwrap();
            store.apply("c1", &StoreChange::IncomingReceived { packet_id: 9 }).unwrap();
        }
        std::fs::read(dir.path().join(FILE_NAME)).expect("the store just written")
    })
}

/// `Store::open` with a panic hook that neither prints nor aborts: libfuzzer-sys's hook
/// aborts at the panic, before the `catch_unwind` in `Store::open` (redb 2.6 asserts on
/// some damaged files) can turn it into an error, so every caught panic was reported as
/// a crash. A panic `Store::open` does not catch still reaches libfuzzer-sys's own
/// `catch_unwind`, which aborts: a crash, as it should be.
fn open_quietly(dir: &std::path::Path) -> Result<Store, mqtk::broker::persist::database::StoreError> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let opened = Store::open(dir, FsyncPolicy::Always);
    std::panic::set_hook(hook);
    opened
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        let mut file = template().to_vec();
        for patch in rest.chunks_exact(4) {
            let at = usize::from(patch[0])
                | usize::from(patch[1]) << 8
                | usize::from(patch[2]) << 16;
            match file.get_mut(at) {
                Some(byte) => *byte = patch[3],
                None => file.truncate(at % (file.len() + 1)),
            }
        }
        file
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join(FILE_NAME), &file).expect("write");
    let Ok(store) = open_quietly(dir.path()) else {
        return;
    };
    let _ = store.retained();
    let _ = store.sessions();
});

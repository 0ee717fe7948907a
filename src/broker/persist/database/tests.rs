//! Tests of the durable store: round trips through a reopened database, session state
//! changes, foreign and damaged files, `--fsync` parsing.

use super::*;
use crate::protocol::{Publish, QoS};
use bytes::Bytes;
use std::time::UNIX_EPOCH;

fn publish(topic: &str, payload: &str, qos: QoS, packet_id: u16) -> Publish {
    let mut p = Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        packet_id,
        properties: Default::default(),
        payload: Bytes::from(payload.to_string()),
    };
    p.properties.message_expiry_interval = Some(60);
    p.properties.content_type = Some("text/plain".into());
    p
}

fn message(topic: &str, payload: &str, qos: QoS) -> StoredMessage {
    let mut publish = publish(topic, payload, qos, 0);
    publish.retain = true;
    StoredMessage {
        publish,
        received: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
    }
}

#[test]
fn fsync_policy_parses_always_and_every_n_ms() {
    assert_eq!(FsyncPolicy::parse("always"), Ok(FsyncPolicy::Always));
    assert_eq!(
        FsyncPolicy::parse("every-100-ms"),
        Ok(FsyncPolicy::Every(Duration::from_millis(100)))
    );
    assert_eq!(
        FsyncPolicy::parse("every-5ms"),
        Ok(FsyncPolicy::Every(Duration::from_millis(5)))
    );
    for bad in ["never", "every-0-ms", "every--ms", "every-10-s", ""] {
        let err = FsyncPolicy::parse(bad).unwrap_err();
        assert!(err.contains("--fsync"), "{bad}: {err}");
    }
}

#[test]
fn retained_messages_survive_reopening_with_properties_and_time() {
    let dir = tempfile::tempdir().unwrap();
    for policy in [
        FsyncPolicy::Always,
        FsyncPolicy::Every(Duration::from_millis(5)),
    ] {
        let sub = dir.path().join(format!("{policy:?}"));
        {
            let store = Store::open(&sub, policy).unwrap();
            store
                .set_retained("a/b", Some(&message("a/b", "one", QoS::AtLeastOnce)))
                .unwrap();
            store
                .set_retained("a/c", Some(&message("a/c", "two", QoS::AtMostOnce)))
                .unwrap();
            store
                .set_retained("a/b", Some(&message("a/b", "three", QoS::ExactlyOnce)))
                .unwrap();
            store.set_retained("a/c", None).unwrap();
        }
        let store = Store::open(&sub, policy).unwrap();
        let retained = store.retained().unwrap();
        assert_eq!(retained, vec![message("a/b", "three", QoS::ExactlyOnce)]);
    }
}

#[test]
fn sessions_keep_subscriptions_queue_and_qos_state() {
    let dir = tempfile::tempdir().unwrap();
    let record = SessionRecord {
        protocol_level: 5,
        expiry_secs: u32::MAX,
        disconnected_at_ms: Some(42),
        subscriptions: vec![StoredSubscription {
            filter: "x/#".into(),
            qos: 2,
            no_local: true,
            retain_as_published: false,
            retain_handling: 1,
            subscription_id: Some(7),
        }],
    };
    {
        let store = Store::open(dir.path(), FsyncPolicy::Always).unwrap();
        store.put_session("c1", &record).unwrap();
        store.put_session("gone", &record).unwrap();
        for qid in 1..=3 {
            store
                .queue(
                    "c1",
                    qid,
                    &message("x/1", &format!("m{qid}"), QoS::AtLeastOnce),
                )
                .unwrap();
            store
                .queue("gone", qid, &message("x/1", "g", QoS::AtLeastOnce))
                .unwrap();
        }
        // Message 1 moves into the QoS state and is sent; 2 is sent and acknowledged.
        let queued = StoreChange::OutgoingQueued {
            seq: 10,
            publish: publish("x/1", "m1", QoS::ExactlyOnce, 0),
        };
        store.unqueue("c1", 1, Some(&queued)).unwrap();
        store
            .apply(
                "c1",
                &StoreChange::OutgoingSent {
                    seq: 10,
                    packet_id: 99,
                },
            )
            .unwrap();
        store
            .apply("c1", &StoreChange::OutgoingReleased { seq: 10 })
            .unwrap();
        let second = StoreChange::OutgoingQueued {
            seq: 11,
            publish: publish("x/1", "m2", QoS::AtLeastOnce, 0),
        };
        store.unqueue("c1", 2, Some(&second)).unwrap();
        store
            .apply("c1", &StoreChange::OutgoingDone { seq: 11 })
            .unwrap();
        store
            .apply("c1", &StoreChange::IncomingReceived { packet_id: 5 })
            .unwrap();
        store
            .apply("c1", &StoreChange::IncomingReceived { packet_id: 6 })
            .unwrap();
        store
            .apply("c1", &StoreChange::IncomingReleased { packet_id: 5 })
            .unwrap();
        store.remove_session("gone").unwrap();
    }
    let store = Store::open(dir.path(), FsyncPolicy::Always).unwrap();
    assert_eq!(
        store.next_qid(),
        4,
        "queue ids continue after the largest stored"
    );
    let sessions = store.sessions().unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let s = &sessions[0];
    assert_eq!(s.client_id, "c1");
    assert_eq!(s.record, record);
    assert_eq!(s.queued.len(), 1);
    assert_eq!(s.queued[0].0, 3);
    assert_eq!(s.queued[0].1.publish.payload, Bytes::from("m3"));
    assert_eq!(s.state.outgoing.len(), 1);
    let out = &s.state.outgoing[&10];
    assert!(out.released);
    assert_eq!(out.publish.packet_id, 99);
    assert_eq!(out.publish.qos, QoS::ExactlyOnce);
    assert_eq!(
        s.state.incoming_qos2.iter().copied().collect::<Vec<_>>(),
        vec![6]
    );
}

#[test]
fn a_foreign_or_damaged_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(FILE_NAME),
        b"this is not a database at all, just text\n",
    )
    .unwrap();
    let err = Store::open(dir.path(), FsyncPolicy::Always)
        .unwrap_err()
        .to_string();
    assert!(err.contains(FILE_NAME), "{err}");

    // A redb database written by someone else.
    let other = tempfile::tempdir().unwrap();
    {
        let db = Database::create(other.path().join(FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            const T: TableDefinition<&str, &str> = TableDefinition::new("theirs");
            txn.open_table(T).unwrap().insert("k", "v").unwrap();
        }
        txn.commit().unwrap();
    }
    let err = Store::open(other.path(), FsyncPolicy::Always)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an mqtk data store"), "{err}");
}

#[test]
fn every_n_ms_changes_become_durable_without_an_explicit_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), FsyncPolicy::Every(Duration::from_millis(5))).unwrap();
    store
        .set_retained("t", Some(&message("t", "p", QoS::AtMostOnce)))
        .unwrap();
    let synced = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(5));
        !store.dirty.load(Ordering::Acquire)
    });
    assert!(synced, "the flusher thread never synced");
}

/// fuzz/redb_store found it: a store file cut shorter than its header says made redb
/// panic inside `Store::open`; it must be an error instead.
#[test]
fn a_truncated_store_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    {
        let store = Store::open(dir.path(), FsyncPolicy::Always).expect("a new store");
        drop(store);
    }
    let path = dir.path().join(FILE_NAME);
    let len = std::fs::metadata(&path).expect("the store file").len();
    for cut in [len / 2, 4096, 1000] {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        file.set_len(cut).expect("truncate");
        drop(file);
        let opened = std::panic::catch_unwind(|| Store::open(dir.path(), FsyncPolicy::Always));
        assert!(
            opened.is_ok(),
            "Store::open panicked on a file cut to {cut} bytes"
        );
    }
}

/// What another thread (or a restart) sees of `client_id`: queued ids and the incoming
/// QoS 2 ids.
fn seen(store: &Store, client_id: &str) -> (Vec<u64>, Vec<u16>) {
    let sessions = store.sessions().unwrap();
    let Some(s) = sessions.iter().find(|s| s.client_id == client_id) else {
        return (Vec::new(), Vec::new());
    };
    let queued = s.queued.iter().map(|(qid, _)| *qid).collect();
    (queued, s.state.incoming_qos2.iter().copied().collect())
}

#[test]
fn a_group_commits_its_changes_together_and_other_threads_wait_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), FsyncPolicy::Always).unwrap());
    let record = SessionRecord {
        protocol_level: 5,
        expiry_secs: u32::MAX,
        disconnected_at_ms: None,
        subscriptions: Vec::new(),
    };
    for id in ["sub", "pub", "other"] {
        store.put_session(id, &record).unwrap();
    }
    store.begin_group();
    store
        .queue("sub", 1, &message("q/2", "m", QoS::ExactlyOnce))
        .unwrap();
    // Another thread's change waits for the group (one writer), so it cannot land between
    // the group's changes.
    let other = {
        let store = store.clone();
        std::thread::spawn(move || {
            store
                .apply("other", &StoreChange::IncomingReceived { packet_id: 9 })
                .unwrap()
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(!other.is_finished(), "the other writer waits for the group");
    assert_eq!(
        seen(&store, "sub"),
        (vec![], vec![]),
        "nothing committed yet"
    );
    store
        .apply("pub", &StoreChange::IncomingReceived { packet_id: 7 })
        .unwrap();
    store.end_group().unwrap();
    other.join().unwrap();
    assert_eq!(seen(&store, "sub"), (vec![1], vec![]));
    assert_eq!(seen(&store, "pub"), (vec![], vec![7]));
    assert_eq!(seen(&store, "other"), (vec![], vec![9]));
    // A group with no change commits nothing and leaves the thread ungrouped.
    store.begin_group();
    store.end_group().unwrap();
    store
        .apply("pub", &StoreChange::IncomingReleased { packet_id: 7 })
        .unwrap();
    assert_eq!(seen(&store, "pub"), (vec![], vec![]));
}

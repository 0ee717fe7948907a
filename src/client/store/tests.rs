//! Tests of the session store: replay after reopening, the lock, a torn last record,
//! damage in the middle, a foreign format, compaction, file names, the checksum and a
//! log written by an earlier mqtk.

use bytes::Bytes;

use super::*;
use crate::protocol::{Properties, QoS};

fn publish(payload: &str, qos: QoS) -> Publish {
    let mut properties = Properties::default();
    properties.user_properties.push(("k".into(), "v".into()));
    Publish {
        dup: false,
        qos,
        retain: true,
        topic: "a/b".into(),
        packet_id: 0,
        properties,
        payload: Bytes::copy_from_slice(payload.as_bytes()),
    }
}

fn sample(store: &mut Store) {
    store.record(&StoreChange::OutgoingQueued {
        seq: 1,
        publish: publish("one", QoS::AtLeastOnce),
    });
    store.record(&StoreChange::OutgoingSent {
        seq: 1,
        packet_id: 10,
    });
    store.record(&StoreChange::OutgoingQueued {
        seq: 2,
        publish: publish("two", QoS::ExactlyOnce),
    });
    store.record(&StoreChange::OutgoingSent {
        seq: 2,
        packet_id: 11,
    });
    store.record(&StoreChange::OutgoingReleased { seq: 2 });
    store.record(&StoreChange::OutgoingQueued {
        seq: 3,
        publish: publish("three", QoS::ExactlyOnce),
    });
    store.record(&StoreChange::OutgoingDone { seq: 1 });
    store.record(&StoreChange::IncomingReceived { packet_id: 7 });
    store.record(&StoreChange::IncomingReceived { packet_id: 8 });
    store.record(&StoreChange::IncomingReleased { packet_id: 7 });
}

fn expected() -> PersistedState {
    let mut state = PersistedState::default();
    let mut two = publish("two", QoS::ExactlyOnce);
    two.packet_id = 11;
    state.outgoing.insert(
        2,
        PersistedOutgoing {
            seq: 2,
            publish: two,
            released: true,
        },
    );
    state.outgoing.insert(
        3,
        PersistedOutgoing {
            seq: 3,
            publish: publish("three", QoS::ExactlyOnce),
            released: false,
        },
    );
    state.incoming_qos2.insert(8);
    state
}

#[test]
fn changes_survive_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "client-1").unwrap();
    assert!(store.state().is_empty());
    sample(&mut store);
    store.commit().unwrap();
    assert_eq!(store.state(), &expected());
    drop(store);
    let store = Store::open(dir.path(), "client-1").unwrap();
    assert_eq!(store.state(), &expected());
    // Reopening compacted it; a third open reads the compacted form.
    drop(store);
    assert_eq!(
        Store::open(dir.path(), "client-1").unwrap().state(),
        &expected()
    );
}

#[test]
fn uncommitted_changes_are_not_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "c").unwrap();
    sample(&mut store);
    assert!(store.has_pending());
    // Leak instead of drop: what a SIGKILL leaves behind (the lock goes with the fd).
    let path = store.path().to_path_buf();
    drop(store);
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(bytes.len(), HEADER_LEN);
}

#[test]
fn a_second_open_of_the_same_id_is_refused_while_the_first_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path(), "same").unwrap();
    let err = Store::open(dir.path(), "same")
        .err()
        .expect("second open must fail");
    assert!(
        err.to_string()
            .contains("another mqtk process is using the session of client id `same`"),
        "{err}"
    );
    // Another id in the same directory is independent.
    Store::open(dir.path(), "other").unwrap();
    drop(first);
    Store::open(dir.path(), "same").unwrap();
}

#[test]
fn a_torn_last_record_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "c").unwrap();
    sample(&mut store);
    store.commit().unwrap();
    store.record(&StoreChange::OutgoingDone { seq: 2 });
    let mut torn = store.pending.clone();
    let path = store.path().to_path_buf();
    drop(store);
    torn.truncate(torn.len() - 3);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&torn)
        .unwrap();
    assert_eq!(Store::open(dir.path(), "c").unwrap().state(), &expected());
}

#[test]
fn damage_in_the_middle_is_an_error_not_a_guess() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "c").unwrap();
    sample(&mut store);
    store.commit().unwrap();
    let path = store.path().to_path_buf();
    drop(store);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[HEADER_LEN + 12] ^= 0xFF;
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(dir.path(), "c")
        .err()
        .expect("damaged store must not open");
    let text = err.to_string();
    assert!(
        text.contains("is damaged (checksum mismatch)") && text.contains("move the file away"),
        "{text}"
    );
}

#[test]
fn a_store_of_another_format_or_no_store_at_all_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.session");
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&7u32.to_be_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(dir.path(), "c").err().unwrap().to_string();
    assert!(
        err.contains("another version of mqtk (store format 7; this mqtk reads format 1)"),
        "{err}"
    );
    std::fs::write(&path, b"hello, world, this is not a store").unwrap();
    let err = Store::open(dir.path(), "c").err().unwrap().to_string();
    assert!(err.contains("not an mqtk session store"), "{err}");
}

#[test]
fn the_log_is_compacted_when_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "c").unwrap();
    let big = "x".repeat(10_000);
    for seq in 1..=600u64 {
        store.record(&StoreChange::OutgoingQueued {
            seq,
            publish: publish(&big, QoS::AtLeastOnce),
        });
        store.record(&StoreChange::OutgoingSent {
            seq,
            packet_id: seq as u16,
        });
        if seq != 300 {
            store.record(&StoreChange::OutgoingDone { seq });
        }
        store.commit().unwrap();
    }
    let len = std::fs::metadata(store.path()).unwrap().len();
    assert!(
        len < 3 * 1024 * 1024,
        "log of {len} bytes was not compacted"
    );
    drop(store);
    let store = Store::open(dir.path(), "c").unwrap();
    let only: Vec<_> = store
        .state()
        .outgoing
        .values()
        .map(|o| (o.seq, o.publish.packet_id))
        .collect();
    assert_eq!(only, vec![(300, 300)]);
}

#[test]
fn client_ids_become_safe_file_names() {
    assert_eq!(file_name("abc-1_2.x"), "abc-1_2.x");
    assert_eq!(file_name("a/b c"), "a%2Fb%20c");
    assert_eq!(file_name(".."), "%2E.");
    assert_eq!(file_name("é"), "%C3%A9");
}

#[test]
fn an_empty_client_id_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(dir.path(), "").err().unwrap().to_string();
    assert!(err.contains("give one with -i"), "{err}");
}

#[test]
fn the_checksum_is_crc32_ieee() {
    // The check value of CRC-32/ISO-HDLC (IEEE 802.3, zlib, PNG): what format 1 uses.
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

/// The log `sample` leaves behind, as written by the format 1 store before its CRC-32
/// came from `crc32fast`: the format on disk is unchanged.
const FORMAT_1_LOG: &str = "\
4d51544b2d53455353494f4e0000000120000000c3f4026d01000000000000000100000033120003612f62\
0001072600016b0001766f6e650b000000048bfcd2020000000000000001000a20000000a9cc99da010000\
00000000000200000035120003612f620001072600016b00017674776f0b000000cb05bda7020000000000\
000002000b0900000047498a3103000000000000000222000000d39f38840100000000000000030000003514\
0003612f620001072600016b0001767468726565090000003475e2cc040000000000000001030000005a8e\
ee6705000703000000cb9351f7050008030000000330a865060007";

#[test]
fn a_log_written_by_an_earlier_mqtk_still_opens() {
    let bytes: Vec<u8> = (0..FORMAT_1_LOG.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&FORMAT_1_LOG[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(bytes.len(), 243);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.session"), &bytes).unwrap();
    assert_eq!(Store::open(dir.path(), "c").unwrap().state(), &expected());
    // And what this mqtk writes for the same changes is the same bytes.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), "c").unwrap();
    sample(&mut store);
    store.commit().unwrap();
    assert_eq!(std::fs::read(store.path()).unwrap(), bytes);
}

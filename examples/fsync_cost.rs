//! Measures what each `serve --fsync` mode costs at the store: the time one durable
//! change (what serve does before a PUBACK to a message for a kept session) takes, and the
//! changes per second one writer gets. Run by `scripts/bench-fsync`; prints a table.
//! Usage: fsync_cost [CHANGES] [DIR]   (DIR: where the database goes, default a temp dir)
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use mqtk::broker::persist::database::{FsyncPolicy, Store, StoredMessage};
use mqtk::protocol::{Publish, QoS};

fn main() {
    let mut args = std::env::args().skip(1);
    let changes: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let base = args.next().map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir_in(base.unwrap_or_else(std::env::temp_dir))
        .expect("cannot create a temp dir");
    println!("{changes} changes of one 100-byte QoS 1 message each, one writer");
    println!(
        "{:<14} {:>12} {:>10} {:>10} {:>10}",
        "--fsync", "changes/s", "p50 µs", "p99 µs", "max µs"
    );
    for (name, policy) in [
        ("always", FsyncPolicy::Always),
        ("every-10-ms", FsyncPolicy::Every(Duration::from_millis(10))),
        (
            "every-100-ms",
            FsyncPolicy::Every(Duration::from_millis(100)),
        ),
        (
            "every-1000-ms",
            FsyncPolicy::Every(Duration::from_millis(1000)),
        ),
    ] {
        let dir = tmp.path().join(name);
        let store = Store::open(&dir, policy).expect("cannot open the store");
        let mut latencies = Vec::with_capacity(changes as usize);
        let start = Instant::now();
        for i in 0..changes {
            let message = StoredMessage {
                publish: Publish {
                    dup: false,
                    qos: QoS::AtLeastOnce,
                    retain: false,
                    topic: "bench/fsync".into(),
                    packet_id: 0,
                    properties: Default::default(),
                    payload: Bytes::from(vec![b'x'; 100]),
                },
                received: SystemTime::now(),
            };
            let t = Instant::now();
            store.queue("client", i, &message).expect("queue failed");
            latencies.push(t.elapsed());
        }
        let elapsed = start.elapsed();
        latencies.sort();
        let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_micros();
        println!(
            "{:<14} {:>12.0} {:>10} {:>10} {:>10}",
            name,
            changes as f64 / elapsed.as_secs_f64(),
            pick(0.5),
            pick(0.99),
            pick(1.0)
        );
    }
}

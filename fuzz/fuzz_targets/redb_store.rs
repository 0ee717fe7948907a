//! `serve --data-dir`'s redb store (`broker::persist::Store`) loading a damaged file:
//! `Store::open`, then the retained messages and the kept sessions, as `serve` does at
//! start, then closing it. A damaged or foreign file is an error the user can act on,
//! never a panic: `Store` catches redb's panics itself, so any panic or abort here is a
//! crash of `serve`.
//!
//! Input (`database::sample::damaged`): a mode byte, then either the whole file (even
//! mode) or patches (odd mode: 3 bytes of offset, 1 byte of value; an offset past the
//! end truncates) applied to a real store (`database::sample::store_file`) holding
//! retained messages, a kept session with subscriptions, a queue and QoS state. Set
//! TMPDIR to a tmpfs (`scripts/fuzz-all` uses /dev/shm).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mqtk::broker::persist::database::{sample, FILE_NAME};
use mqtk::broker::persist::{FsyncPolicy, Store};

/// The undamaged store file, once per process.
fn template() -> &'static [u8] {
    static TEMPLATE: OnceLock<Vec<u8>> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        sample::store_file(dir.path())
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(file) = sample::damaged(template(), data) else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join(FILE_NAME), &file).expect("write");
    let Ok(store) = Store::open(dir.path(), FsyncPolicy::Always) else {
        return;
    };
    let _ = store.retained();
    let _ = store.sessions();
});

//! Opening damaged, old, foreign and busy store files (issue 16): an error that names the
//! file and says what to do, never a panic, and the file left as it was. The inputs the
//! `redb_store` fuzz target found are replayed from `fuzz/regressions/redb_store/`.

use std::path::{Path, PathBuf};

use super::{sample, FsyncPolicy, Store, StoreError, FILE_NAME};

/// Opens and loads `dir` as `serve` does at start, then closes it; the error, if any.
/// A panic fails the test with the input's name (an abort ends the test binary).
fn open_and_load(dir: &Path, name: &str) -> Option<StoreError> {
    let result = std::panic::catch_unwind(|| {
        let store = Store::open(dir, FsyncPolicy::Always)?;
        store.retained()?;
        store.sessions()?;
        drop(store);
        Ok::<(), StoreError>(())
    });
    result
        .unwrap_or_else(|_| panic!("{name}: the store panicked instead of returning an error"))
        .err()
}

/// A data directory whose store file holds `bytes`.
fn data_dir_with(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(FILE_NAME);
    std::fs::write(&path, bytes).expect("write the store file");
    (dir, path)
}

fn template() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    sample::store_file(dir.path())
}

/// Every input in fuzz/regressions/redb_store/ (issue 16: five crashes of redb 2.6 on
/// damaged files, among them an 8 TiB allocation and a panic in `Database::drop`).
#[test]
fn the_redb_store_fuzz_findings_are_errors_not_crashes() {
    let template = template();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/redb_store");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .expect("fuzz/regressions/redb_store")
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 5, "the five findings of issue 16 are there");
    for input in &inputs {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(input).expect("read the input");
        let Some(file) = sample::damaged(&template, &bytes) else {
            continue;
        };
        let (data_dir, path) = data_dir_with(&file);
        if let Some(err) = open_and_load(data_dir.path(), &name) {
            let shown = err.to_string();
            assert!(
                shown.contains(&path.display().to_string()),
                "{name}: the error names the file: {shown}"
            );
        }
    }
}

#[test]
fn the_undamaged_sample_store_loads() {
    let (dir, _) = data_dir_with(&template());
    let store = Store::open(dir.path(), FsyncPolicy::Always).expect("the sample store opens");
    assert_eq!(store.retained().expect("retained").len(), 3);
    let sessions = store.sessions().expect("sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].queued.len(), 3);
}

#[test]
fn a_damaged_store_is_named_left_untouched_and_the_error_says_to_move_it_aside() {
    let mut file = template();
    // The magic number: redb cannot tell this file from any other.
    file[0] ^= 0xff;
    let (dir, path) = data_dir_with(&file);
    let err = open_and_load(dir.path(), "bad magic").expect("an error");
    assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains(&path.display().to_string()), "{shown}");
    assert!(shown.contains("move it aside"), "{shown}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        file,
        "the file is left as it was"
    );
}

/// redb's reads do not verify checksums: without the check at open, this flipped byte
/// was served as the message's payload.
#[test]
fn a_flipped_byte_in_a_stored_message_is_found_at_open_not_served() {
    let mut file = template();
    let payload = b"retained payload";
    // Every copy: copy-on-write leaves older ones in pages no longer in use.
    let copies: Vec<usize> = (0..file.len() - payload.len())
        .filter(|&at| file[at..].starts_with(payload))
        .collect();
    assert!(!copies.is_empty(), "payloads are stored as they are");
    for at in copies {
        file[at] = b'R';
    }
    let (dir, path) = data_dir_with(&file);
    let err = open_and_load(dir.path(), "flipped payload").expect("an error");
    assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        file,
        "the file is left as it was"
    );
}

#[test]
fn a_store_of_an_older_mqtk_is_refused_and_left_untouched() {
    let mut file = template();
    // Both commit slots claim redb's file format 2 (redb 2.x, mqtk before redb 4).
    file[64] = 2;
    file[64 + 128] = 2;
    let (dir, path) = data_dir_with(&file);
    let err = open_and_load(dir.path(), "format 2").expect("an error");
    assert!(
        matches!(err, StoreError::OldFormat { version: 2, .. }),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(shown.contains("older mqtk"), "{shown}");
    assert!(shown.contains(&path.display().to_string()), "{shown}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        file,
        "the file is left as it was"
    );
}

#[test]
fn a_text_file_in_place_of_the_store_is_an_error_and_left_untouched() {
    let file = b"listener 1883\nallow_anonymous true\n".repeat(200);
    let (dir, path) = data_dir_with(&file);
    let err = open_and_load(dir.path(), "text").expect("an error");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        file,
        "the file is left as it was"
    );
}

#[test]
fn a_store_already_open_is_an_error_that_says_so() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let _first = Store::open(dir.path(), FsyncPolicy::Always).expect("a new store");
    let err = Store::open(dir.path(), FsyncPolicy::Always).expect_err("already open");
    assert!(err.to_string().contains("another process"), "{err}");
}

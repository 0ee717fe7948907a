//! `mqtk serve --data-dir` on a store file it cannot read (issue 16): exit status 1 and
//! one `mqtk: ` error that names the file and says what to do, never a panic, and the file
//! left byte for byte as it was. Damaged files of every kind are in the store's own tests
//! (`broker::persist::database::open_tests`, with the fuzz findings); here, the CLI edge.

use std::path::Path;

use support::{mosquitto_pub, mqtk, output, p, text, Serve};

/// The bytes of a store that serve wrote and closed, holding one retained message.
fn a_store_written_by_serve(dir: &Path) -> Vec<u8> {
    let data = dir.join("good");
    let mut serve = Serve::start(&["--data-dir", p(&data)]);
    let out = output(mosquitto_pub(serve.port()).args(["-t", "keep", "-m", "1", "-r", "-q", "1"]));
    assert!(out.status.success());
    assert!(serve.stop().success());
    std::fs::read(data.join("mqtk.redb")).expect("serve wrote its store")
}

/// Runs serve on a data directory holding `bytes` as its store; its stderr, once it has
/// checked that serve refused it as it should.
fn refused(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let data = dir.join(name);
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("mqtk.redb");
    std::fs::write(&file, bytes).unwrap();
    let out = output(mqtk().args(["serve", "-p", "0", "--data-dir", p(&data)]));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{name}: {err}");
    assert!(
        err.starts_with("mqtk: ") && !err.contains("panicked"),
        "{name}: {err}"
    );
    assert!(
        err.contains(&file.display().to_string()),
        "{name}: names the file: {err}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        bytes,
        "{name}: the file is left as it was"
    );
    err
}

#[test]
fn serve_refuses_a_damaged_store_file_and_says_to_move_it_aside() {
    let dir = tempfile::tempdir().unwrap();
    let mut damaged = a_store_written_by_serve(dir.path());
    damaged[0] ^= 0xff;
    let err = refused(dir.path(), "damaged", &damaged);
    assert!(
        err.contains("is damaged") && err.contains("move it aside"),
        "{err}"
    );
}

#[test]
fn serve_refuses_a_store_of_an_older_mqtk_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = a_store_written_by_serve(dir.path());
    // Both commit slots say redb file format 2: what mqtk wrote with redb 2.
    old[64] = 2;
    old[64 + 128] = 2;
    let err = refused(dir.path(), "old", &old);
    assert!(err.contains("older mqtk"), "{err}");
}

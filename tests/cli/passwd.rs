//! `mqtk passwd` against the real mosquitto: files it writes are accepted by the mosquitto
//! broker and by mosquitto_passwd, and files mosquitto_passwd writes are edited in place.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::{mosquitto_pub, mqtk, ok, output, Mosquitto};

fn mqtk_passwd(args: &[&str]) -> Output {
    output(mqtk().arg("passwd").args(args))
}

fn mosquitto_passwd(args: &[&str]) -> Output {
    let out = Command::new("mosquitto_passwd")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("mosquitto_passwd not found ({e}): apt-get install mosquitto"));
    assert!(out.status.success(), "mosquitto_passwd {args:?}: {out:?}");
    out
}

/// Publishes one QoS 1 message as `user`/`password` with mosquitto_pub; whether the
/// broker let it connect.
fn can_connect(port: u16, user: &str, password: &str) -> bool {
    output(mosquitto_pub(port).args(["-u", user, "-P", password, "-t", "t", "-m", "x", "-q", "1"]))
        .status
        .success()
}

fn start_mosquitto_with_password_file(dir: tempfile::TempDir, file: &Path) -> Mosquitto {
    Mosquitto::start_in(
        dir,
        &format!("allow_anonymous false\npassword_file {}\n", file.display()),
    )
}

#[test]
fn mosquitto_accepts_a_password_file_written_by_mqtk_passwd() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    let f = file.to_str().unwrap();
    ok(&mqtk_passwd(&["-c", "-b", f, "alice", "s3cret"]));
    ok(&mqtk_passwd(&["-b", f, "bob", "hunter 2"]));
    ok(&mqtk_passwd(&[
        "-b",
        "-H",
        "sha512",
        f,
        "carol",
        "pässwörd",
    ]));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("alice:$7$101$"), "{text}");
    assert!(text.contains("\ncarol:$6$"), "{text}");

    let broker = start_mosquitto_with_password_file(dir, &file);
    let port = broker.port();
    assert!(can_connect(port, "alice", "s3cret"), "{}", broker.log());
    assert!(can_connect(port, "bob", "hunter 2"));
    assert!(can_connect(port, "carol", "pässwörd"));
    assert!(!can_connect(port, "alice", "wrong"));
    assert!(!can_connect(port, "dave", "s3cret"));
}

#[test]
fn a_file_made_by_mosquitto_passwd_is_edited_in_place_keeping_other_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    let f = file.to_str().unwrap();
    mosquitto_passwd(&["-c", "-b", f, "alice", "a"]);
    mosquitto_passwd(&["-b", f, "bob", "b"]);
    let original = std::fs::read_to_string(&file).unwrap();
    let alice_line = original.lines().next().unwrap().to_string();
    // No comment line here: mosquitto_passwd 2.0.11 calls a `#` line corrupt and then
    // truncates the file (mqtk passwd keeps comments: see the unit tests).

    ok(&mqtk_passwd(&["-b", f, "bob", "b2"]));
    ok(&mqtk_passwd(&["-b", f, "carol", "c"]));
    ok(&mqtk_passwd(&["-D", f, "alice"]));
    ok(&mqtk_passwd(&["-b", f, "alice", "a"]));
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("bob:$7$"), "{text}");
    assert!(lines[1].starts_with("carol:$7$"), "{text}");
    assert!(
        lines[2].starts_with("alice:$7$") && lines[2] != alice_line,
        "{text}"
    );
    // mosquitto_passwd still reads and edits what mqtk wrote.
    mosquitto_passwd(&["-b", f, "dave", "d"]);

    let broker = start_mosquitto_with_password_file(dir, &file);
    let port = broker.port();
    assert!(can_connect(port, "alice", "a"), "{}", broker.log());
    assert!(can_connect(port, "bob", "b2"));
    assert!(!can_connect(port, "bob", "b"));
    assert!(can_connect(port, "carol", "c"));
    assert!(can_connect(port, "dave", "d"));
}

#[test]
fn mistakes_are_errors_that_say_what_to_do_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    let f = file.to_str().unwrap();

    let out = mqtk_passwd(&["-b", f, "alice", "a"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("-c"), "{err}");
    assert!(!file.exists());

    ok(&mqtk_passwd(&["-c", "-b", f, "alice", "a"]));
    let before = std::fs::read_to_string(&file).unwrap();
    for (args, needle) in [
        (vec![f, "bob", "b"], "-b"),
        (vec!["-D", f, "nobody"], "nobody"),
        (vec!["-b", f, "a:b", "x"], "':'"),
    ] {
        let out = mqtk_passwd(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.starts_with("mqtk: ") && err.contains(needle),
            "{args:?}: {err}"
        );
    }
    std::fs::write(&file, format!("{before}broken line\n")).unwrap();
    let out = mqtk_passwd(&["-b", f, "bob", "b"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{before}broken line\n")
    );
}

//! Regression tests for what the QA pass found by using mqtk as a user would: bad files,
//! closed pipes, messages too large. One test per bug, named for the behaviour that must
//! hold. Must not: duplicate the owners' tests (usage.rs, tests/client/publish.rs,
//! tests/serve/).

use std::process::Stdio;
use std::time::Duration;

use support::eqnice;
use support::{mosquitto_pub, mqtk, output, spawn_lines, Serve};

const T: Duration = Duration::from_secs(20);

#[test]
fn serve_names_a_missing_config_password_or_acl_file_once_with_its_flag() {
    for (flag, expected) in [
        (
            "-c",
            "mqtk: cannot read config file /nonexistent/qa: No such file or directory (os error 2)\n",
        ),
        (
            "--password-file",
            "mqtk: --password-file /nonexistent/qa: No such file or directory (os error 2)\n",
        ),
        (
            "--acl-file",
            "mqtk: --acl-file: /nonexistent/qa: No such file or directory (os error 2)\n",
        ),
    ] {
        let out = output(mqtk()
            .args(["serve", "-p", "0", flag, "/nonexistent/qa"])
            .stdin(Stdio::null()));
        assert_eq!(out.status.code(), Some(1), "{flag}");
        assert!(out.stdout.is_empty(), "{flag}: nothing on stdout");
        eqnice!(expected, String::from_utf8_lossy(&out.stderr));
    }
}

/// QA: a bad line read `--password-file: line 2: PATH: reason`, the path after the line
/// number; the path follows the flag, as for every other file flag.
#[test]
fn serve_names_a_bad_password_file_line_after_the_flag_and_path() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("passwd");
    std::fs::write(&path, "# users\nalice\n").expect("writable temp dir");
    let path = path.to_str().expect("temp paths are UTF-8");
    let out = output(
        mqtk()
            .args(["serve", "-p", "0", "--password-file", path])
            .stdin(Stdio::null()),
    );
    assert_eq!(out.status.code(), Some(1));
    eqnice!(
        format!("mqtk: --password-file {path}: line 2: expected username:hash\n"),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_closed_stderr_does_not_make_mqtk_panic() {
    // The error goes to a stderr nobody reads any more (`mqtk … 2>&1 | head -0`): the
    // exit status is still the error's, not Rust's panic status 101.
    let port = support::free_port();
    let mut child = mqtk()
        .args([
            "pub",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "t",
            "-m",
            "x",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mqtk runs");
    drop(child.stderr.take());
    let mut status = None;
    let exited = support::wait_until(T, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert_eq!(status.and_then(|s| s.code()), Some(1));
}

#[test]
fn serve_v_keeps_serving_when_its_log_reader_goes_away() {
    // `mqtk serve -vv 2>&1 | head`: once head exits, every log line fails to write.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let child = mqtk()
        .args(["serve", "-p", "0", "-vv"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(writer)
        .spawn()
        .expect("mqtk runs");
    // Killed when the test ends, even by a failed assertion.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut guard = KillOnDrop(child);
    let child = &mut guard.0;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(T).expect("a listening line");
    let port: u16 = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("not a listening line: {line:?}"));
    for i in 0..3 {
        let out =
            output(mosquitto_pub(port).args(["-q", "1", "-t", "log/closed", "-m", &i.to_string()]));
        assert!(
            out.status.success(),
            "publish {i} after the log reader left"
        );
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut status = None;
    let exited = support::wait_until(T, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    assert!(exited, "serve did not stop on SIGTERM");
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}

#[test]
fn pub_refuses_a_message_larger_than_mqtt_allows_instead_of_reconnecting_forever() {
    // MQTT's remaining length tops out at 268,435,455 bytes (3.1.1 §2.2.3): a 256 MiB
    // payload plus its header cannot be sent to any broker. A sparse file keeps the disk
    // out of it.
    let serve = Serve::start(&[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("huge");
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(256 * 1024 * 1024).expect("sparse file");
    for v in ["5", "311"] {
        let mut cmd = mqtk();
        cmd.args(["pub", "-V", v, "-q", "1", "-t", "huge", "-f"])
            .arg(&path)
            .args(serve.host_args());
        let mut run = spawn_lines(&mut cmd);
        let status = run.expect_exit(T);
        let stderr = run.stderr();
        assert_eq!(status.code(), Some(1), "-V {v}: {stderr}");
        assert!(
            stderr.starts_with("mqtk: 1 of 1 messages were not sent: ")
                && stderr.contains("268435455")
                && !stderr.contains("reconnect"),
            "-V {v}: {stderr}"
        );
    }
}

#[test]
fn bench_refuses_a_json_file_it_cannot_write_before_running_not_after() {
    // A typo in --json used to be found only when the (maybe long) run was over.
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no/such/dir/report.json");
    let out = output(
        mqtk()
            .args(["bench", "--publishers", "1", "--messages", "1", "--json"])
            .arg(&missing)
            .stdin(Stdio::null()),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("mqtk: --json ") && stderr.contains("no/such/dir"),
        "{stderr}"
    );
    assert!(!stderr.contains("benchmarking"), "it ran first: {stderr}");
    assert!(out.stdout.is_empty(), "no report table either");
}

#[test]
fn pub_gives_up_when_the_broker_closes_every_connection_before_acknowledging() {
    // MQTT 3.1.1 has no maximum packet size in CONNACK: a broker that cannot take the
    // message just closes the connection, and resending it on every reconnect looped
    // for ever (`mosquitto_pub` does not reconnect at all).
    let serve = Serve::start(&["--max-packet-size", "1000"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("2k");
    std::fs::write(&path, [b'x'; 2000]).expect("write");
    let mut cmd = mqtk();
    cmd.args(["pub", "-V", "311", "-q", "1", "-t", "big", "-f"])
        .arg(&path)
        .args(serve.host_args());
    let mut run = spawn_lines(&mut cmd);
    let status = run.expect_exit(T);
    let stderr = run.stderr();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("closed the connection")
            && last.contains("1 of 1 messages were not acknowledged"),
        "{stderr}"
    );
}

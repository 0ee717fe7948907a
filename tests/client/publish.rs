//! `mqtk pub` against the real mosquitto broker, with mosquitto_sub as the receiving
//! peer: text and binary payloads, -l streaming at QoS 1 in order, retain, repeat,
//! exit statuses and messages, the fallback to MQTT 3.1.1, and the --session-dir
//! store surviving SIGKILL with exactly-once delivery.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{
    child_exit, child_output, mosquitto_pub, mosquitto_sub, mqtk, ok, output, spawn_lines,
    Mosquitto, Running,
};

const WAIT: Duration = Duration::from_secs(20);

/// mosquitto_sub on `filters` plus a probe topic with a retained message: once the
/// probe line is printed the subscription is in place. Prints `-v` lines unless
/// `extra` has a -F.
fn ready_mosquitto_sub(broker: &Mosquitto, filters: &[&str], extra: &[&str]) -> Running {
    let probe = format!("probe/{}", std::process::id());
    let status = mosquitto_pub(broker.port())
        .args(["-t", &probe, "-m", "ready", "-r"])
        .status()
        .unwrap();
    assert!(status.success());
    let mut cmd = mosquitto_sub(broker.port());
    cmd.args(["-t", &probe, "-v"]);
    for f in filters {
        cmd.args(["-t", f]);
    }
    cmd.args(extra);
    let mut sub = spawn_lines(&mut cmd);
    sub.expect_line(|l| l.starts_with(&format!("{probe} ")), WAIT);
    sub
}

fn mqtk_pub(broker: &Mosquitto, args: &[&str]) -> std::process::Output {
    output(mqtk().arg("pub").args(broker.host_args()).args(args))
}

#[test]
fn pub_message_arrives_as_text_at_mosquitto_sub() {
    let broker = Mosquitto::start();
    let mut sub = ready_mosquitto_sub(&broker, &["t/text"], &[]);
    let out = mqtk_pub(&broker, &["-t", "t/text", "-m", "héllo wörld ✓"]);
    ok(&out);
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "pub must be quiet without -d"
    );
    sub.expect_line(|l| l == "t/text héllo wörld ✓", WAIT);
}

#[test]
fn pub_file_with_all_256_byte_values_arrives_byte_for_byte() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bytes.bin");
    let payload: Vec<u8> = (0..=255u8).cycle().take(256 * 40 + 7).collect();
    std::fs::write(&path, &payload).unwrap();
    let mut sub = ready_mosquitto_sub(&broker, &["t/bin"], &["-F", "%t %x"]);
    for qos in ["0", "1", "2"] {
        let out = mqtk_pub(
            &broker,
            &["-t", "t/bin", "-q", qos, "-f", path.to_str().unwrap()],
        );
        ok(&out);
        let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
        sub.expect_line(|l| l == format!("t/bin {hex}"), WAIT);
    }
}

#[test]
fn seq_100000_piped_into_pub_l_at_qos1_arrives_complete_and_in_order() {
    // mosquitto's default queue of 1,000 messages per client would drop messages to a
    // subscriber that falls behind; unlimited here, since the test is about mqtk.
    let broker = Mosquitto::start_with("max_queued_messages 0\n");
    let mut sub = ready_mosquitto_sub(&broker, &["t/seq"], &["-q", "1", "-C", "100001"]);
    let mut publisher = mqtk()
        .arg("pub")
        .args(broker.host_args())
        .args(["-t", "t/seq", "-l", "-q", "1"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = publisher.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let lines: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
        stdin.write_all(lines.as_bytes()).unwrap();
    });
    writer.join().unwrap();
    ok(&child_output(publisher, Duration::from_secs(60)));
    let lines = sub.rest_of_lines(Duration::from_secs(60));
    assert_eq!(
        lines.len(),
        100_000,
        "last lines: {:?}",
        &lines[lines.len().saturating_sub(3)..]
    );
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line, &format!("t/seq {}", i + 1), "line {i} out of order");
    }
    assert!(sub.expect_exit(WAIT).success());
}

#[test]
fn pub_l_publishes_each_line_as_it_arrives() {
    let broker = Mosquitto::start();
    let mut sub = ready_mosquitto_sub(&broker, &["t/stream"], &["-F", "%t [%p]"]);
    let mut publisher = mqtk()
        .arg("pub")
        .args(broker.host_args())
        .args(["-t", "t/stream", "-l", "-q", "1"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = publisher.stdin.take().unwrap();
    // Each line must arrive while stdin is still open (tail -f style).
    for word in ["first", "", "third line"] {
        stdin.write_all(format!("{word}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
        sub.expect_line(|l| l == format!("t/stream [{word}]"), WAIT);
    }
    stdin.write_all(b"no newline at the end").unwrap();
    drop(stdin);
    sub.expect_line(|l| l == "t/stream [no newline at the end]", WAIT);
    ok(&child_output(publisher, WAIT));
}

#[test]
fn retained_qos2_message_reaches_a_later_subscriber_with_its_flags() {
    let broker = Mosquitto::start();
    ok(&mqtk_pub(
        &broker,
        &["-t", "t/ret", "-m", "kept", "-r", "-q", "2"],
    ));
    let out = output(mosquitto_sub(broker.port()).args([
        "-t",
        "t/ret",
        "-C",
        "1",
        "-W",
        "5",
        "-F",
        "%t|%p|%r|%q",
        "-q",
        "2",
    ]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "t/ret|kept|1|2\n");
    // -n -r clears it.
    ok(&mqtk_pub(&broker, &["-t", "t/ret", "-n", "-r"]));
    let out = output(mosquitto_sub(broker.port()).args(["-t", "t/ret", "-C", "1", "-W", "1"]));
    assert_eq!(out.status.code(), Some(27), "no retained message is left");
}

#[test]
fn repeat_publishes_the_message_n_times() {
    let broker = Mosquitto::start();
    let mut sub = ready_mosquitto_sub(&broker, &["t/rep"], &[]);
    ok(&mqtk_pub(
        &broker,
        &[
            "-t",
            "t/rep",
            "-m",
            "again",
            "--repeat",
            "3",
            "--repeat-delay",
            "0.05",
            "-q",
            "1",
        ],
    ));
    for _ in 0..3 {
        sub.expect_line(|l| l == "t/rep again", WAIT);
    }
    assert!(sub
        .wait_for_line(|l| l.starts_with("t/rep"), Duration::from_millis(300))
        .is_none());
}

#[test]
fn user_properties_and_content_type_travel_with_the_message() {
    let broker = Mosquitto::start();
    let mut sub = ready_mosquitto_sub(&broker, &["t/props"], &["-V", "5", "-F", "%t %C %P %E"]);
    let out = mqtk_pub(
        &broker,
        &[
            "-t",
            "t/props",
            "-m",
            "x",
            "--content-type",
            "text/plain",
            "--user-property",
            "k=v",
            "--message-expiry",
            "60",
        ],
    );
    ok(&out);
    sub.expect_line(|l| l.starts_with("t/props text/plain k:v "), WAIT);
}

#[test]
fn an_unreachable_broker_is_a_clear_error() {
    let port = support::free_port();
    let out = output(mqtk().args([
        "pub",
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-t",
        "a",
        "-m",
        "x",
    ]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!("mqtk: cannot connect to 127.0.0.1:{port}: connection refused\n")
    );
}

#[test]
fn a_refused_connection_names_the_reason_code() {
    let broker = Mosquitto::start_with("allow_anonymous false\n");
    let out = mqtk_pub(&broker, &["-t", "a", "-m", "x"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "mqtk: broker refused the connection: not authorized (0x87)\n"
    );
    let out = mqtk_pub(&broker, &["-t", "a", "-m", "x", "-V", "311"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "mqtk: broker refused the connection: not authorized (return code 5)\n"
    );
}

#[test]
fn bad_topics_and_missing_flags_are_errors_naming_the_flag() {
    let broker = Mosquitto::start();
    let out = mqtk_pub(&broker, &["-t", "a/#", "-m", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("mqtk: -t a/#: invalid topic name"));
    let out = mqtk_pub(&broker, &["-m", "x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("-t: give the topic"));
    let out = mqtk_pub(&broker, &["-t", "a", "-f", "/nonexistent/file"]);
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("mqtk: -f /nonexistent/file: cannot read the file"));
}

#[test]
fn pub_reports_how_many_messages_were_not_acknowledged_when_the_broker_goes_away() {
    // One message in flight at a time, so most are still waiting when the broker dies.
    let mut broker = Mosquitto::start_with("max_inflight_messages 1\n");
    let mut cmd = mqtk();
    cmd.arg("pub").args(broker.host_args()).args([
        "-t",
        "t/gone",
        "-l",
        "-q",
        "1",
        "--no-reconnect",
        "-d",
    ]);
    let mut publisher = spawn_lines(&mut cmd);
    let mut stdin = publisher.stdin().expect("stdin is piped");
    stdin.write_all(b"1\n2\n3\n").unwrap();
    stdin.flush().unwrap();
    // Wait for the first PUBACK, then kill the broker while stdin stays open.
    publisher.expect_stderr(|e| e.contains("received PUBACK"), WAIT);
    broker.stop();
    // stdin stays open (think `tail -f`): pub must end on its own.
    let status = publisher.expect_exit(WAIT);
    drop(stdin);
    let text = publisher.stderr();
    assert_eq!(status.code(), Some(1), "{text}");
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("mqtk: connection to 127.0.0.1:")
            && last.contains(" of 3 messages were not acknowledged"),
        "{text}"
    );
}

#[test]
fn pub_falls_back_to_mqtt_311_when_the_broker_refuses_5() {
    // mosquitto 2 speaks 5, so this peer plays a 3.1.1-only broker (mosquitto 1.x):
    // it answers a level-5 CONNECT with return code 1 and accepts level 4.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let mut levels = Vec::new();
        for _ in 0..2 {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(WAIT)).unwrap();
            let mut head = [0u8; 9];
            conn.read_exact(&mut head).unwrap();
            let level = head[8];
            levels.push(level);
            let mut rest = vec![0u8; usize::from(head[1]) - 7];
            conn.read_exact(&mut rest).unwrap();
            if level == 5 {
                conn.write_all(&[0x20, 0x02, 0x00, 0x01]).unwrap();
                continue;
            }
            conn.write_all(&[0x20, 0x02, 0x00, 0x00]).unwrap();
            // PUBLISH QoS 0 to "a" with "hi", then DISCONNECT.
            let mut publish = [0u8; 7];
            conn.read_exact(&mut publish).unwrap();
            assert_eq!(publish, [0x30, 0x05, 0x00, 0x01, b'a', b'h', b'i']);
            let mut disconnect = [0u8; 2];
            conn.read_exact(&mut disconnect).unwrap();
            assert_eq!(disconnect, [0xE0, 0x00]);
        }
        levels
    });
    let out = output(mqtk().args([
        "pub",
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-t",
        "a",
        "-m",
        "hi",
        "-d",
    ]));
    ok(&out);
    assert_eq!(peer.join().unwrap(), vec![5, 4]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "127.0.0.1:{port} refused MQTT 5, using MQTT 3.1.1"
        )),
        "{stderr}"
    );
}

fn session_pub(broker: &Mosquitto, dir: &std::path::Path) -> Command {
    let mut cmd = mqtk();
    cmd.arg("pub")
        .args(broker.host_args())
        .args([
            "-t",
            "t/once",
            "-l",
            "-q",
            "2",
            "-c",
            "-i",
            "mqtk-once",
            "--session-dir",
        ])
        .arg(dir);
    cmd
}

#[test]
fn pub_with_session_dir_killed_mid_stream_delivers_every_line_exactly_once() {
    let broker = Mosquitto::start_with("max_queued_messages 0\nmax_inflight_messages 5\n");
    let store = tempfile::tempdir().unwrap();
    let mut sub = ready_mosquitto_sub(&broker, &["t/once"], &["-q", "2"]);
    let mut first = session_pub(&broker, store.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = first.stdin.take().unwrap();
    // 900 lines in one write (within a pipe buffer): the first process reads them all
    // at once and records them before publishing the first one.
    let lines: String = (1..=900).map(|i| format!("{i}\n")).collect();
    stdin.write_all(lines.as_bytes()).unwrap();
    stdin.flush().unwrap();
    for _ in 0..300 {
        sub.next_line(WAIT).expect("the first process delivers");
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(first.id() as i32, libc::SIGKILL) };
    first.wait().unwrap();
    drop(stdin);
    let log = std::fs::metadata(store.path().join("mqtk-once.session"))
        .unwrap()
        .len();
    assert!(
        log > 16,
        "the killed process left unfinished messages in its store"
    );

    // The same id and directory, nothing new on stdin: the store's messages go out.
    let second = output(session_pub(&broker, store.path()).stdin(Stdio::null()));
    ok(&second);
    let mut got: Vec<String> = sub.seen()[1..].to_vec();
    got.extend(sub.rest_of_lines(Duration::from_secs(3)));
    let mut numbers: Vec<u32> = got
        .iter()
        .map(|l| l.strip_prefix("t/once ").unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        numbers.len(),
        900,
        "every line once: {} received",
        numbers.len()
    );
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(
        numbers,
        (1..=900).collect::<Vec<_>>(),
        "no line twice, none missing"
    );
}

#[test]
fn a_second_live_process_with_the_same_id_and_session_dir_refuses() {
    let broker = Mosquitto::start();
    let store = tempfile::tempdir().unwrap();
    let mut first = session_pub(&broker, store.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The lock is taken before connecting; wait until the first has connected.
    assert!(support::wait_until(WAIT, || store
        .path()
        .join("mqtk-once.session")
        .exists()));
    let second = output(session_pub(&broker, store.path()).stdin(Stdio::null()));
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another mqtk process is using the session of client id `mqtk-once`"),
        "{stderr}"
    );
    drop(first.stdin.take());
    assert!(child_exit(&mut first, WAIT).success());
}

#[test]
fn a_damaged_session_store_is_a_clear_error() {
    let broker = Mosquitto::start();
    let store = tempfile::tempdir().unwrap();
    std::fs::write(
        store.path().join("mqtk-once.session"),
        b"garbage, not a store",
    )
    .unwrap();
    let out = output(session_pub(&broker, store.path()).stdin(Stdio::null()));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not an mqtk session store") && stderr.contains("move the file away"),
        "{stderr}"
    );
}

#[test]
fn messages_the_broker_refuses_make_pub_fail_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acl"), "topic readwrite allowed/#\n").unwrap();
    let acl = dir.path().join("acl");
    let broker = Mosquitto::start_in(dir, &format!("acl_file {}\n", acl.display()));
    ok(&mqtk_pub(
        &broker,
        &["-t", "allowed/x", "-m", "fine", "-q", "1"],
    ));
    let out = mqtk_pub(
        &broker,
        &["-t", "denied/x", "-m", "no", "-q", "1", "--repeat", "2"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "mqtk: the broker refused 2 of 2 messages: not authorized (0x87)\n"
    );
}

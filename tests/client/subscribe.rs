//! `mqtk sub` against the real mosquitto broker, with mosquitto_pub as the sending
//! peer: output formats checked field by field (-v, -N, -F, --json parsed), -C and -W
//! exit statuses, -T, retained handling (-R, --retained-only, --remove-retained), the
//! last will on SIGKILL, reconnecting after a broker restart, and `| head -1`.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use support::peers::publish;
use support::{
    child_exit, mosquitto_sub, mqtk, mqtk_sub_ready, output, spawn_lines, wait_until, Mosquitto,
};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn sub_prints_payloads_then_exits_0_after_count_messages() {
    let broker = Mosquitto::start();
    let mut sub = mqtk_sub_ready(&broker.host_args(), &["-t", "s/#", "-C", "3"]);
    for m in ["one", "two words", "three"] {
        publish(broker.port(), &["-t", "s/a", "-m", m]);
    }
    let status = sub.expect_exit(WAIT);
    let lines = sub.rest_of_lines(Duration::from_secs(2));
    assert_eq!(lines, vec!["one", "two words", "three"]);
    assert!(status.success(), "{}", sub.stderr());
}

#[test]
fn sub_exits_27_when_count_not_reached_within_timeout() {
    let broker = Mosquitto::start();
    publish(broker.port(), &["-t", "s/w", "-m", "only one", "-r"]);
    let out = output(
        mqtk()
            .arg("sub")
            .args(broker.host_args())
            .args(["-t", "s/w", "-C", "3", "-W", "1"]),
    );
    assert_eq!(out.status.code(), Some(27));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "only one\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "mqtk: timed out after 1 s: 1 of 3 messages arrived\n"
    );
    let out = output(
        mqtk()
            .arg("sub")
            .args(broker.host_args())
            .args(["-t", "s/none", "-W", "1"]),
    );
    assert_eq!(out.status.code(), Some(27));
}

#[test]
fn verbose_and_no_newline_print_like_mosquitto_sub() {
    let broker = Mosquitto::start();
    let mut sub = mqtk_sub_ready(&broker.host_args(), &["-t", "v/#", "-v", "-C", "2"]);
    publish(broker.port(), &["-t", "v/a", "-m", "hello there"]);
    publish(broker.port(), &["-t", "v/b/c", "-m", "x"]);
    sub.expect_exit(WAIT);
    assert_eq!(sub.rest_of_lines(WAIT), vec!["v/a hello there", "v/b/c x"]);

    let mut sub = mqtk_sub_ready(&broker.host_args(), &["-t", "n/#", "-N", "-C", "2"]);
    publish(broker.port(), &["-t", "n/a", "-m", "ab"]);
    publish(broker.port(), &["-t", "n/a", "-m", "cd"]);
    sub.expect_exit(WAIT);
    assert_eq!(sub.rest_of_lines(WAIT), vec!["abcd"]);
}

#[test]
fn format_template_renders_every_field() {
    let broker = Mosquitto::start();
    let mut sub = mqtk_sub_ready(
        &broker.host_args(),
        &[
            "-t",
            "f/#",
            "-q",
            "1",
            "-C",
            "1",
            "-F",
            "%t|%p|%q|%r|%m|%l|%x|%X|%C|%P|%E|%F|%R|%D|%%|@@\\t%5.3t|",
        ],
    );
    publish(
        broker.port(),
        &[
            "-t",
            "f/a",
            "-m",
            "hi!",
            "-q",
            "1",
            "-V",
            "5",
            "-D",
            "publish",
            "content-type",
            "text/plain",
            "-D",
            "publish",
            "user-property",
            "k",
            "v",
            "-D",
            "publish",
            "message-expiry-interval",
            "90",
            "-D",
            "publish",
            "payload-format-indicator",
            "1",
            "-D",
            "publish",
            "response-topic",
            "re/ply",
            "-D",
            "publish",
            "correlation-data",
            "c0",
        ],
    );
    let line = sub.expect_line(|_| true, WAIT);
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields[0], "f/a", "topic");
    assert_eq!(fields[1], "hi!", "payload");
    assert_eq!(fields[2], "1", "qos");
    assert_eq!(fields[3], "0", "retain");
    assert!(
        fields[4].parse::<u16>().unwrap() > 0,
        "message id {}",
        fields[4]
    );
    assert_eq!(fields[5], "3", "length");
    assert_eq!(fields[6], "686921", "hex");
    assert_eq!(fields[7], "686921", "HEX");
    assert_eq!(fields[8], "text/plain", "content type");
    assert_eq!(fields[9], "k:v", "user properties");
    let expiry: u32 = fields[10].parse().unwrap();
    assert!(expiry > 0 && expiry <= 90, "message expiry {expiry}");
    assert_eq!(fields[11], "1", "payload format");
    assert_eq!(fields[12], "re/ply", "response topic");
    assert_eq!(fields[13], "c0", "correlation data");
    assert_eq!(fields[14], "%");
    assert_eq!(fields[15], "@\t  f/a", "literal @, tab, %5.3t");
    assert!(sub.expect_exit(WAIT).success());
}

#[test]
fn format_times_have_the_shapes_of_mosquitto_sub() {
    let broker = Mosquitto::start();
    let mut sub = mqtk_sub_ready(
        &broker.host_args(),
        &["-t", "tm", "-C", "1", "-F", "%I|%U|@Y|%j"],
    );
    publish(broker.port(), &["-t", "tm", "-m", "{\"a\":1}"]);
    let line = sub.expect_line(|_| true, WAIT);
    let fields: Vec<&str> = line.splitn(4, '|').collect();
    let iso = fields[0];
    assert_eq!(iso.len(), 24, "2016-08-10T09:47:38+0100 shape: {iso}");
    assert!(
        iso.as_bytes()[10] == b'T' && (iso.as_bytes()[19] == b'+' || iso.as_bytes()[19] == b'-'),
        "{iso}"
    );
    let (secs, nanos) = fields[1].split_once('.').unwrap();
    assert!(
        secs.parse::<u64>().unwrap() > 1_600_000_000 && nanos.len() == 9,
        "{}",
        fields[1]
    );
    assert_eq!(fields[2], &iso[..4], "@Y is the year");
    let json: serde_json::Value = serde_json::from_str(fields[3]).unwrap();
    assert_eq!(json["topic"], "tm");
    assert_eq!(json["payload"], "{\"a\":1}");
    assert_eq!(json["payloadlen"], 7);
    assert_eq!(
        (json["qos"].as_u64(), json["retain"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(json["tst"].as_str().unwrap().starts_with(&iso[..19]));
}

#[test]
fn json_lines_parse_with_every_field() {
    let broker = Mosquitto::start();
    let mut sub = mqtk_sub_ready(
        &broker.host_args(),
        &["-t", "j/#", "--json", "-q", "2", "-C", "2"],
    );
    publish(
        broker.port(),
        &[
            "-t",
            "j/text",
            "-m",
            "héllo",
            "-q",
            "2",
            "-r",
            "-V",
            "5",
            "-D",
            "publish",
            "user-property",
            "a",
            "1",
            "-D",
            "publish",
            "user-property",
            "a",
            "2",
            "-D",
            "publish",
            "content-type",
            "text/plain",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("b");
    std::fs::write(&bin, [0u8, 159, 146, 150, 255]).unwrap();
    publish(broker.port(), &["-t", "j/bin", "-f", bin.to_str().unwrap()]);
    assert!(sub.expect_exit(WAIT).success());
    let lines = sub.rest_of_lines(WAIT);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let text: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(text["topic"], "j/text");
    assert_eq!(text["payload"], "héllo");
    assert_eq!(text["payload_encoding"], "text");
    assert_eq!(text["payload_bytes"], 6);
    assert_eq!(text["qos"], 2);
    assert_eq!(
        text["retain"], false,
        "a live message, not from the retained store"
    );
    assert!(text["packet_id"].as_u64().unwrap() > 0);
    assert!(text["received"].as_str().unwrap().ends_with('Z'));
    assert_eq!(text["properties"]["content_type"], "text/plain");
    assert_eq!(
        text["properties"]["user_properties"],
        serde_json::json!([["a", "1"], ["a", "2"]])
    );
    let bin: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(bin["payload_encoding"], "base64");
    assert_eq!(bin["payload"], "AJ+Slv8=");
    assert_eq!(bin["qos"], 0);
    assert!(bin.get("packet_id").is_none() && bin.get("properties").is_none());
}

#[test]
fn filter_out_drops_matching_topics() {
    let broker = Mosquitto::start();
    let mut sub = mqtk_sub_ready(
        &broker.host_args(),
        &["-t", "x/#", "-T", "x/noise/#", "-v", "-C", "1"],
    );
    publish(broker.port(), &["-t", "x/noise/1", "-m", "no"]);
    publish(broker.port(), &["-t", "x/signal", "-m", "yes"]);
    assert!(sub.expect_exit(WAIT).success());
    assert_eq!(sub.rest_of_lines(WAIT), vec!["x/signal yes"]);
}

#[test]
fn retained_messages_skipped_with_r_and_alone_with_retained_only() {
    let broker = Mosquitto::start();
    publish(broker.port(), &["-t", "r/1", "-m", "old1", "-r"]);
    publish(broker.port(), &["-t", "r/2", "-m", "old2", "-r"]);
    let mut stale = mqtk_sub_ready(&broker.host_args(), &["-t", "r/#", "-R", "-v", "-C", "1"]);
    let mut only = mqtk_sub_ready(&broker.host_args(), &["-t", "r/#", "--retained-only", "-v"]);
    publish(broker.port(), &["-t", "r/3", "-m", "new"]);
    assert!(stale.expect_exit(WAIT).success());
    assert_eq!(stale.rest_of_lines(WAIT), vec!["r/3 new"]);
    assert!(
        only.expect_exit(WAIT).success(),
        "the first live message ends --retained-only"
    );
    let mut got = only.rest_of_lines(WAIT);
    got.sort();
    assert_eq!(got, vec!["r/1 old1", "r/2 old2"]);
}

#[test]
fn remove_retained_clears_what_it_receives() {
    let broker = Mosquitto::start();
    for version in ["5", "311"] {
        publish(broker.port(), &["-t", "rr/a", "-m", "1", "-r"]);
        publish(broker.port(), &["-t", "rr/b", "-m", "2", "-r"]);
        let out = output(mqtk().arg("sub").args(broker.host_args()).args([
            "-t",
            "rr/#",
            "--remove-retained",
            "-v",
            "-W",
            "1",
            "-V",
            version,
        ]));
        assert_eq!(out.status.code(), Some(27));
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        assert_eq!(
            lines,
            vec!["rr/a 1", "rr/b 2"],
            "-V {version}: the clearing messages are not printed"
        );
        let left = output(mosquitto_sub(broker.port()).args(["-t", "rr/#", "-C", "1", "-W", "1"]));
        assert_eq!(
            left.status.code(),
            Some(27),
            "-V {version}: retained messages are gone"
        );
    }
}

#[test]
fn the_will_is_published_when_sub_is_killed() {
    let broker = Mosquitto::start();
    // A retained probe on a second filter tells when the subscription is in place.
    publish(broker.port(), &["-t", "probe", "-m", "ready", "-r"]);
    let mut watcher =
        spawn_lines(mosquitto_sub(broker.port()).args(["-t", "will/#", "-t", "probe", "-v"]));
    watcher.expect_line(|l| l == "probe ready", WAIT);
    let sub = mqtk_sub_ready(
        &broker.host_args(),
        &[
            "-t",
            "anything",
            "-k",
            "5",
            "--will-topic",
            "will/mqtk",
            "--will-payload",
            "gone",
            "--will-qos",
            "1",
        ],
    );
    sub.signal(libc::SIGKILL);
    watcher.expect_line(|l| l == "will/mqtk gone", WAIT);

    // Ctrl-C or SIGTERM is a clean DISCONNECT: status 0 and no will.
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let mut sub = mqtk_sub_ready(
            &broker.host_args(),
            &[
                "-t",
                "anything",
                "--will-topic",
                "will/clean",
                "--will-payload",
                "no",
            ],
        );
        sub.signal(signal);
        assert_eq!(sub.expect_exit(WAIT).code(), Some(0), "{}", sub.stderr());
        assert!(
            sub.stderr().contains("sending DISCONNECT"),
            "{}",
            sub.stderr()
        );
    }
    publish(broker.port(), &["-t", "will/end", "-m", "marker"]);
    watcher.expect_line(|l| l == "will/end marker", WAIT);
    assert!(
        !watcher.seen().iter().any(|l| l.starts_with("will/clean")),
        "{:?}",
        watcher.seen()
    );
}

#[test]
fn sub_reconnects_and_resubscribes_after_the_broker_restarts() {
    let mut broker = Mosquitto::start();
    let mut sub = mqtk_sub_ready(&broker.host_args(), &["-t", "rc/#", "-v", "-q", "1"]);
    publish(broker.port(), &["-t", "rc/a", "-m", "before"]);
    sub.expect_line(|l| l == "rc/a before", WAIT);
    broker.restart();
    sub.expect_stderr(
        |e| e.contains("reconnecting in") && e.contains("mqtk: reconnected to 127.0.0.1:"),
        WAIT,
    );
    // The restarted broker has no session: the subscription was made again.
    sub.expect_stderr(|e| e.matches("received SUBACK").count() >= 2, WAIT);
    publish(broker.port(), &["-t", "rc/a", "-m", "after", "-q", "1"]);
    sub.expect_line(|l| l == "rc/a after", WAIT);
}

#[test]
fn no_reconnect_ends_sub_with_an_error_when_the_broker_goes() {
    let mut broker = Mosquitto::start();
    let mut sub = mqtk_sub_ready(&broker.host_args(), &["-t", "nr", "--no-reconnect"]);
    broker.stop();
    let status = sub.expect_exit(WAIT);
    assert_eq!(status.code(), Some(1));
    assert!(
        sub.stderr().contains("mqtk: connection to 127.0.0.1:"),
        "{}",
        sub.stderr()
    );
}

#[test]
fn a_closed_stdout_like_head_1_ends_sub_quietly_with_status_0() {
    let broker = Mosquitto::start();
    let mut child = mqtk()
        .arg("sub")
        .args(broker.host_args())
        .args(["-t", "hd", "-d"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // What `head -1` does: read one line, then close the pipe.
    let stdout = child.stdout.take().unwrap();
    let (line_tx, first_line) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        let _ = reader.read_line(&mut line);
        drop(reader); // closed before the test publishes the second message
        let _ = line_tx.send(line);
    });
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&stderr);
    let stderr_reader = thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stderr_pipe.read(&mut buf) {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let subscribed = wait_until(WAIT, || stderr.lock().unwrap().contains("received SUBACK"));
    assert!(subscribed, "no SUBACK: {}", stderr.lock().unwrap());
    publish(broker.port(), &["-t", "hd", "-m", "first"]);
    let first = first_line.recv_timeout(WAIT).expect("a first line");
    assert_eq!(first, "first\n");
    publish(broker.port(), &["-t", "hd", "-m", "second"]);
    let status = child_exit(&mut child, WAIT);
    stderr_reader.join().unwrap();
    let rest = stderr.lock().unwrap().clone();
    assert_eq!(status.code(), Some(0));
    assert!(!rest.contains("mqtk:"), "no error message: {rest}");
}

#[test]
fn bad_filters_and_templates_are_errors_naming_the_flag() {
    let broker = Mosquitto::start();
    let run = |args: &[&str]| {
        let out = output(mqtk().arg("sub").args(broker.host_args()).args(args));
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["-t", "a/#/b"]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("mqtk: -t a/#/b: invalid topic filter"),
        "{err}"
    );
    let (_, err) = run(&["-t", "a", "-F", "%z"]);
    assert!(
        err.starts_with("mqtk: -F: invalid format specifier '%z'"),
        "{err}"
    );
    let (_, err) = run(&[]);
    assert!(err.contains("-t: give at least one topic filter"), "{err}");
}

#[test]
fn qos2_messages_from_mqtk_pub_arrive_once_at_mqtk_sub() {
    let broker = Mosquitto::start();
    let mut sub = mqtk_sub_ready(&broker.host_args(), &["-t", "q2", "-q", "2", "-C", "50"]);
    let lines: String = (1..=50).map(|i| format!("{i}\n")).collect();
    let mut publisher = mqtk()
        .arg("pub")
        .args(broker.host_args())
        .args(["-t", "q2", "-q", "2", "-l"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut publisher.stdin.take().unwrap(), lines.as_bytes()).unwrap();
    assert!(child_exit(&mut publisher, WAIT).success());
    assert!(sub.expect_exit(WAIT).success());
    let got = sub.rest_of_lines(WAIT);
    assert_eq!(got, (1..=50).map(|i| i.to_string()).collect::<Vec<_>>());
}

#[test]
fn a_broker_that_stops_answering_pings_is_treated_as_gone() {
    let broker = Mosquitto::start();
    let pid = broker_pid(&broker);
    let mut sub = mqtk_sub_ready(
        &broker.host_args(),
        &["-t", "ka", "-k", "1", "--no-reconnect"],
    );
    // Frozen, not dead: the TCP connection stays open, only PINGRESP never comes.
    // SAFETY: kill(2) on the mosquitto this test started.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let status = sub.wait_exit(WAIT);
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{}", sub.stderr());
    let stderr = sub.stderr();
    assert!(stderr.contains("sending PINGREQ"), "{stderr}");
    assert!(
        stderr.contains("the broker did not answer PINGREQ within the keep alive"),
        "{stderr}"
    );
}

#[test]
fn sub_with_a_session_dir_keeps_its_store_and_refuses_a_twin() {
    let broker = Mosquitto::start();
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().to_str().unwrap();
    let mut first = mqtk_sub_ready(
        &broker.host_args(),
        &[
            "-t",
            "sd",
            "-q",
            "2",
            "-c",
            "-i",
            "twin",
            "--session-dir",
            dir,
        ],
    );
    publish(broker.port(), &["-t", "sd", "-m", "m1", "-q", "2"]);
    first.expect_line(|l| l == "m1", WAIT);
    let out = output(mqtk().arg("sub").args(broker.host_args()).args([
        "-t",
        "sd",
        "-c",
        "-i",
        "twin",
        "--session-dir",
        dir,
        "-W",
        "1",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another mqtk process is using the session")
    );
    assert!(store.path().join("twin.session").exists());
}

/// The pid of the mosquitto listening on the broker's port (from /proc).
fn broker_pid(broker: &Mosquitto) -> i32 {
    let conf = broker.dir().join("mosquitto.conf");
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(conf.to_str().unwrap()) {
            return pid;
        }
    }
    panic!("mosquitto for {} not found in /proc", conf.display());
}

#[test]
fn pub_and_sub_work_against_mqtk_serve_too() {
    let serve = support::Serve::start(&[]);
    let port = serve.port().to_string();
    let host = ["-h", "127.0.0.1", "-p", port.as_str()];
    let out = output(
        mqtk()
            .arg("pub")
            .args(host)
            .args(["-t", "sv/r", "-m", "kept", "-r", "-q", "2"]),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = mqtk();
    cmd.arg("sub")
        .args(host)
        .args(["-t", "sv/#", "-q", "2", "-C", "3", "--json", "-d"]);
    let mut sub = spawn_lines(&mut cmd);
    sub.expect_stderr(|e| e.contains("received SUBACK"), WAIT);
    let mut publisher = mqtk()
        .arg("pub")
        .args(host)
        .args(["-t", "sv/live", "-q", "1", "-l"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut publisher.stdin.take().unwrap(), b"a\nb\n").unwrap();
    assert!(child_exit(&mut publisher, WAIT).success());
    assert!(sub.expect_exit(WAIT).success(), "{}", sub.stderr());
    let got: Vec<(String, String, bool)> = sub
        .rest_of_lines(WAIT)
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["topic"].as_str().unwrap().into(),
                v["payload"].as_str().unwrap().into(),
                v["retain"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("sv/r".into(), "kept".into(), true),
            ("sv/live".into(), "a".into(), false),
            ("sv/live".into(), "b".into(), false)
        ]
    );
}

/// QA: a refused 3.1.1 subscription (SUBACK 0x80) was shown as "unspecified error
/// (0x80)", MQTT 5's name for the code; MQTT 3.1.1 §3.9.3 calls it "Failure".
/// mosquitto 2.0 grants every SUBSCRIBE (it filters on delivery), so the refusing broker
/// is `mqtk serve --acl-file`.
#[test]
fn a_refused_subscription_is_named_failure_on_3_1_1_and_by_its_reason_on_5() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("acl");
    std::fs::write(&acl, "topic readwrite allowed\n").unwrap();
    let broker = support::Serve::start(&["--acl-file", acl.to_str().unwrap()]);
    for (version, reason) in [("311", "(failure, 0x80)"), ("5", "(not authorized, 0x87)")] {
        let out = output(
            mqtk()
                .arg("sub")
                .args(broker.host_args())
                .args(["-V", version, "-t", "x", "-W", "5"])
                .stdin(Stdio::null()),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "-V {version}: {err}");
        let expected = format!("the broker refused the subscription to 'x' {reason}");
        assert!(
            err.contains(&expected),
            "-V {version}: expected {expected:?} in:\n{err}"
        );
    }
}

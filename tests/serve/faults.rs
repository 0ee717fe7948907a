//! `mqtk serve --fault` as a test fixture, each action shown with a real client:
//! paho-mqtt resending a QoS 1 message with DUP after a dropped PUBACK and a fault
//! close, `mqtk pub --session-dir` delivering exactly once across closes in the middle
//! of QoS 2 flows, `mqtk sub` reconnecting after a stall and a missing PINGRESP,
//! mosquitto clients refused with the chosen CONNACK code, duplicated, delayed and
//! throttled deliveries, MQTT 5 DISCONNECT reasons on raw sockets, seeded probability
//! rules repeated, `--faults FILE` reloaded on SIGHUP, `$CONTROL/mqtk/faults`, the
//! `$SYS` counters and the JSON log. Must not: test the rule parser's every mistake
//! (its unit tests do) or wait without a bound.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::peers::{message, publish, subscriber, T};
use support::raw::{connect_v5, frame, Raw};
use support::{
    child_exit, child_output, eqnice, mosquitto_pub, mqtk, mqtk_sub_ready, ok, output,
    python3_paho, text, wait_until, Serve,
};

fn py(name: &str) -> std::path::PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests", "py", name]
        .iter()
        .collect()
}

/// `Fault rule #N (...) fired` appears in serve's log.
fn fired(serve: &mut Serve, text: &str) -> bool {
    let log = serve.running();
    wait_until(T, || log.stderr().contains(text))
}

#[test]
fn paho_resends_a_qos1_message_with_dup_after_a_dropped_puback_and_a_fault_close() {
    python3_paho();
    let mut args = vec!["-v".to_string()];
    for v in ["311", "5"] {
        args.push(format!(
            "--fault=client=dup-{v} type=puback dir=out count=1 ; drop"
        ));
        args.push(format!(
            "--fault=client=dup-{v} type=pingreq count=1 ; close"
        ));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let serve = Serve::start(&args);
    for v in ["311", "5"] {
        let out = output(
            Command::new("python3")
                .arg(py("fault_dup.py"))
                .arg(serve.port().to_string())
                .arg(v),
        );
        eqnice!(
            "connected session_present=0\nsent PUBLISH d0\ndisconnected\n\
             connected session_present=1\nsent PUBLISH d1\nacked\ndisconnected\n",
            ok(&out)
        );
    }
}

#[test]
fn mqtk_pub_with_a_session_dir_delivers_exactly_once_across_closes_mid_qos2() {
    let mut serve = Serve::start(&[
        "-v",
        "--fault",
        "client=q2 type=pubrec dir=out nth=3 ; close",
        "--fault",
        "client=q2 type=pubcomp dir=out nth=7 ; disconnect=0x80",
        "--fault",
        "client=q2 type=pubrel dir=in nth=12 ; close",
    ]);
    let mut sub = subscriber(serve.port(), &["-t", "q2/once", "-q", "2", "-V", "5"]);
    let store = tempfile::tempdir().unwrap();
    let lines: String = (1..=30).map(|i| format!("{i}\n")).collect();
    let mut child = mqtk()
        .arg("pub")
        .args(serve.host_args())
        .args(["-t", "q2/once", "-l", "-q", "2", "-c", "-i", "q2"])
        .arg("--session-dir")
        .arg(store.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    ok(&child_output(child, Duration::from_secs(60)));
    for rule in ["#1", "#2", "#3"] {
        assert!(
            fired(&mut serve, &format!("Fault rule {rule} ")),
            "{rule} fired"
        );
    }
    let mut got: Vec<String> = (0..30).map(|_| message(&mut sub)).collect();
    got.extend(sub.rest_of_lines(Duration::from_secs(1)));
    let numbers: Vec<u32> = got.iter().map(|l| l.parse().unwrap()).collect();
    let unique: BTreeSet<u32> = numbers.iter().copied().collect();
    assert_eq!(numbers.len(), 30, "each message once: {numbers:?}");
    assert_eq!(unique, (1..=30).collect(), "every message: {numbers:?}");
}

#[test]
fn a_stall_or_a_missing_pingresp_makes_mqtk_sub_reconnect_after_its_ping_timeout() {
    let serve = Serve::start(&[
        "--fault",
        "client=stalled type=pingreq nth=1 ; stall=20s",
        "--fault",
        "client=noping count=1 ; no-pingresp",
    ]);
    for id in ["stalled", "noping"] {
        let sub = mqtk_sub_ready(&serve.host_args(), &["-i", id, "-k", "1", "-t", "s/t"]);
        sub.expect_stderr(
            |e| e.contains("did not answer PINGREQ") && e.contains("reconnected"),
            T,
        );
        // The new connection works: a message published now arrives.
        let subacks = || sub.stderr().matches("received SUBACK").count();
        assert!(wait_until(T, || subacks() == 2));
        publish(serve.port(), &["-t", "s/t", "-m", id]);
        let mut sub = sub;
        assert_eq!(sub.next_line(T).as_deref(), Some(id));
    }
}

#[test]
fn a_refused_connect_gives_mosquitto_clients_the_chosen_code() {
    let serve = Serve::start(&[
        "--fault",
        "client=bad-* ; connack=0x87",
        "--fault",
        "user=eve ; connack=0x86",
    ]);
    let run = |args: &[&str]| {
        output(
            mosquitto_pub(serve.port())
                .args(["-t", "t", "-m", "x"])
                .args(args),
        )
    };
    // mosquitto_pub exits with the CONNACK code: the MQTT 5 reason, or the 3.1.1
    // return code it maps to (0x87 → 5 not authorized, 0x86 → 4 bad user name or
    // password).
    let cases: [(&[&str], i32); 4] = [
        (&["-i", "bad-1", "-V", "5"], 0x87),
        (&["-i", "bad-2", "-V", "311"], 5),
        (&["-i", "c", "-u", "eve", "-V", "5"], 0x86),
        (&["-i", "c", "-u", "eve", "-V", "311"], 4),
    ];
    for (args, code) in cases {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    ok(&run(&["-i", "good", "-V", "5"]));
}

#[test]
fn duplicate_resends_a_delivery_with_dup_and_delay_holds_it() {
    let serve = Serve::start(&[
        "--fault",
        "topic=dup/# nth=1 ; duplicate",
        "--fault",
        "topic=slow/# dir=out ; delay=1s",
    ]);
    let mut sub = subscriber(serve.port(), &["-t", "dup/t", "-t", "slow/t", "-q", "1"]);
    publish(serve.port(), &["-t", "dup/t", "-m", "once", "-q", "1"]);
    assert_eq!(message(&mut sub), "once");
    assert_eq!(message(&mut sub), "once");
    let debug = sub.seen().join("\n");
    assert!(debug.contains("received PUBLISH (d0, q1"), "{debug}");
    assert!(debug.contains("received PUBLISH (d1, q1"), "{debug}");
    let start = Instant::now();
    publish(serve.port(), &["-t", "slow/t", "-m", "late"]);
    assert_eq!(message(&mut sub), "late");
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn throttle_slows_what_the_broker_sends() {
    let serve = Serve::start(&[
        "--fault",
        "client=slow-sub type=publish dir=out ; throttle=2KB/s",
    ]);
    let mut sub = subscriber(serve.port(), &["-i", "slow-sub", "-t", "big"]);
    let payload = "x".repeat(4000);
    let start = Instant::now();
    publish(serve.port(), &["-t", "big", "-m", &payload]);
    let got = message(&mut sub);
    // 4 kB at 2 kB/s: about two seconds, never less than one and a half.
    assert!(got.ends_with(&payload), "{} bytes", got.len());
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
}

/// PINGREQ on a raw MQTT 5 connection, and what the broker sends before it closes.
fn ping_until_closed(serve: &Serve, id: &str) -> Vec<u8> {
    let mut raw = Raw::connect(serve.port());
    raw.send(&connect_v5(id, 0x02, 60, &[]));
    let connack = raw.read_packet();
    assert_eq!(connack[0], 0x20, "{connack:02X?}");
    raw.send(&frame(0xC0, &[]));
    raw.expect_closed(T).1
}

#[test]
fn close_disconnect_and_takeover_end_the_connection_as_asked() {
    let serve = Serve::start(&[
        "--fault",
        "client=quiet type=pingreq ; close",
        "--fault",
        "client=told type=pingreq ; disconnect=0x98",
        "--fault",
        "client=taken type=pingreq ; takeover",
    ]);
    assert_eq!(ping_until_closed(&serve, "quiet"), b"", "no DISCONNECT");
    let told = ping_until_closed(&serve, "told");
    assert_eq!(&told[..1], &[0xE0], "DISCONNECT: {told:02X?}");
    assert_eq!(told[2], 0x98, "administrative action: {told:02X?}");
    let taken = ping_until_closed(&serve, "taken");
    assert_eq!(
        (taken[0], taken[2]),
        (0xE0, 0x8E),
        "session taken over: {taken:02X?}"
    );
}

/// Which of 40 numbered QoS 0 messages arrive through `p=0.5 ; drop` with `seed`.
/// One event loop (`--threads 1`), so the sentinel sent afterwards arrives last.
fn survivors(seed: &str) -> Vec<u32> {
    let rule = "type=publish topic=p/t dir=in p=0.5 ; drop";
    let serve = Serve::start(&["--threads", "1", "--fault-seed", seed, "--fault", rule]);
    let mut sub = subscriber(serve.port(), &["-t", "p/t", "-t", "p/end"]);
    let lines: String = (1..=40).map(|i| format!("{i}\n")).collect();
    let mut child = mosquitto_pub(serve.port())
        .args(["-t", "p/t", "-l"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    assert!(child_exit(&mut child, T).success());
    publish(serve.port(), &["-t", "p/end", "-m", "end"]);
    let mut got = Vec::new();
    for _ in 0..=40 {
        let m = message(&mut sub);
        if m == "end" {
            return got;
        }
        got.push(m.parse().unwrap());
    }
    panic!("no sentinel after 40 messages: {got:?}");
}

#[test]
fn probability_rules_with_a_seed_fire_the_same_way_each_run() {
    let first = survivors("42");
    assert!(
        !first.is_empty() && first.len() < 40,
        "p=0.5 drops some: {first:?}"
    );
    assert_eq!(first, survivors("42"), "the same seed, the same drops");
}

#[test]
fn a_faults_file_is_read_again_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("faults.txt");
    std::fs::write(&file, "# refused for now\nclient=later ; connack=0x87\n").unwrap();
    let mut serve = Serve::start(&["-v", "--faults", file.to_str().unwrap()]);
    let connect = |serve: &Serve| {
        output(mosquitto_pub(serve.port()).args(["-i", "later", "-t", "t", "-m", "x", "-V", "5"]))
    };
    assert_eq!(connect(&serve).status.code(), Some(0x87));
    std::fs::write(&file, "client=someone-else ; close\n").unwrap();
    serve.running().signal(libc::SIGHUP);
    assert!(fired(&mut serve, "Reloaded 1 fault rule(s)"));
    ok(&connect(&serve));
    std::fs::write(&file, "bogus rule\n").unwrap();
    serve.running().signal(libc::SIGHUP);
    assert!(fired(&mut serve, "not reloaded, the old ones stay"));
    assert!(serve
        .running()
        .stderr()
        .contains("faults.txt:1: fault rule `bogus rule`"));
}

#[test]
fn control_topic_changes_the_rules_only_with_allow_control() {
    let control = |serve: &Serve, command: &str| {
        output(mosquitto_pub(serve.port()).args([
            "-t",
            "$CONTROL/mqtk/faults",
            "-q",
            "1",
            "-V",
            "5",
            "-m",
            command,
        ]))
    };
    let refused = |serve: &Serve| {
        output(mosquitto_pub(serve.port()).args(["-i", "victim", "-t", "t", "-m", "x", "-V", "5"]))
            .status
            .code()
    };
    let closed = Serve::start(&[]);
    let out = control(&closed, "add client=victim ; connack=0x87");
    assert!(
        text(&out.stderr).contains("Not authorized"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(refused(&closed), Some(0));

    let open = Serve::start(&["--allow-control"]);
    ok(&control(&open, "add client=victim ; connack=0x87"));
    assert_eq!(refused(&open), Some(0x87));
    let bad = control(&open, "add client=victim ; explode");
    assert!(
        text(&bad.stderr).contains("Implementation specific error"),
        "{}",
        text(&bad.stderr)
    );
    ok(&control(&open, "remove client=victim ; connack=0x87"));
    assert_eq!(refused(&open), Some(0));
}

#[test]
fn fired_faults_are_counted_in_sys_and_json_logs_parse() {
    let mut serve = Serve::start(&[
        "-v",
        "--log-format",
        "json",
        "--fault",
        "client=no ; connack=0x87",
    ]);
    let code = output(mosquitto_pub(serve.port()).args(["-i", "no", "-t", "t", "-m", "x"]))
        .status
        .code();
    assert_eq!(code, Some(5));
    let sys = ok(&output(support::mosquitto_sub(serve.port()).args([
        "-t",
        "$SYS/broker/faults/fired/connack",
        "-C",
        "1",
        "-W",
        "5",
    ])));
    assert_eq!(sys.trim(), "1");
    serve.stop();
    let log = serve.running().stderr();
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let fault = events
        .iter()
        .find(|e| e["event"] == "fault")
        .expect("a fault line");
    assert_eq!(fault["client_id"], "no");
    assert!(fault["reason"].as_str().unwrap().contains("connack=0x87"));
    assert!(fault["time"].as_str().unwrap().ends_with('Z'));
    let refused = events
        .iter()
        .find(|e| e["event"] == "refused")
        .expect("a refused line");
    assert_eq!(refused["reason"], "not authorized (0x87)");
    assert!(events.iter().any(|e| e["event"] == "connected"));
}

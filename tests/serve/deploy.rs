//! `mqtk serve` beyond tests, against real peers: TLS with mosquitto_pub/mosquitto_sub
//! (`--cafile`, client certificates), WebSocket with paho-mqtt's websockets transport,
//! password file and ACL with mosquitto's clients, and `-c FILE`. Certificates are
//! generated in the test (rcgen, support::pki). `--data-dir` is in durable.rs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::pki::pki;
use support::{mosquitto_pub, mosquitto_sub, mqtk, output, p, python3_paho, text, Serve};

const LINE_TIMEOUT: Duration = Duration::from_secs(10);

fn tls_client(name: &str, port: u16, ca: &Path) -> Command {
    let mut cmd = Command::new(name);
    cmd.args([
        "-h",
        "localhost",
        "-p",
        &port.to_string(),
        "--cafile",
        p(ca),
    ]);
    cmd
}

#[test]
fn mosquitto_clients_reach_serve_over_tls_with_cafile() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let mut serve = Serve::start(&[
        "--tls-port",
        "0",
        "--cert",
        p(&pki.cert),
        "--key",
        p(&pki.key),
    ]);
    let tls = serve.next_listener("mqtts");
    let publish = output(
        tls_client("mosquitto_pub", tls.port(), &pki.ca)
            .args(["-t", "tls/t", "-m", "over tls", "-q", "1", "-r"]),
    );
    assert!(publish.status.success(), "{}", text(&publish.stderr));
    let sub = output(
        tls_client("mosquitto_sub", tls.port(), &pki.ca)
            .args(["-t", "tls/#", "-C", "1", "-W", "5", "-v"]),
    );
    assert_eq!(
        text(&sub.stdout),
        "tls/t over tls\n",
        "{}",
        text(&sub.stderr)
    );
    // The plain listener serves the same broker.
    let plain = output(mosquitto_sub(serve.port()).args(["-t", "tls/#", "-C", "1", "-W", "5"]));
    assert_eq!(text(&plain.stdout), "over tls\n");
    // Without the CA, the client refuses the self-made certificate.
    let mut untrusted = Command::new("mosquitto_pub");
    untrusted.args([
        "-h",
        "localhost",
        "-p",
        &tls.port().to_string(),
        "--capath",
        "/nonexistent",
    ]);
    assert!(!output(untrusted.args(["-t", "x", "-m", "x"]))
        .status
        .success());
}

#[test]
fn require_certificate_refuses_tls_clients_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let mut serve = Serve::start(&[
        "--tls-port",
        "0",
        "--cert",
        p(&pki.cert),
        "--key",
        p(&pki.key),
        "--cafile",
        p(&pki.ca),
        "--require-certificate",
    ]);
    let tls = serve.next_listener("mqtts");
    let without =
        output(tls_client("mosquitto_pub", tls.port(), &pki.ca).args(["-t", "t", "-m", "x"]));
    assert!(
        !without.status.success(),
        "a client without a certificate got in"
    );
    let with = output(tls_client("mosquitto_pub", tls.port(), &pki.ca).args([
        "--cert",
        p(&pki.client_cert),
        "--key",
        p(&pki.client_key),
        "-t",
        "t",
        "-m",
        "x",
        "-q",
        "1",
    ]));
    assert!(with.status.success(), "{}", text(&with.stderr));
}

#[test]
fn paho_over_websocket_talks_to_serve() {
    python3_paho();
    let mut serve = Serve::start(&["--ws-port", "0"]);
    let ws = serve.next_listener("ws");
    let script = r#"
import sys, threading
import paho.mqtt.client as mqtt
port = int(sys.argv[1])
got = threading.Event()
subscribed = threading.Event()
result = {}
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, transport="websockets", protocol=mqtt.MQTTv5)
c.ws_set_options(path="/mqtt")
c.on_subscribe = lambda cl, u, mid, codes, props: subscribed.set()
def on_message(cl, u, m):
    result["msg"] = (m.topic, m.payload.decode(), m.qos)
    got.set()
c.on_message = on_message
c.connect("127.0.0.1", port)
c.loop_start()
c.subscribe("ws/#", 1)
assert subscribed.wait(5), "no SUBACK"
c.publish("ws/t", b"over websocket", qos=1).wait_for_publish(5)
assert got.wait(5), "no message"
print(result["msg"])
c.disconnect()
c.loop_stop()
"#;
    let out = output(Command::new("python3").args(["-c", script, &ws.port().to_string()]));
    assert_eq!(
        text(&out.stdout),
        "('ws/t', 'over websocket', 1)\n",
        "{}",
        text(&out.stderr)
    );
    // And a mosquitto client on TCP sees what paho published over WebSocket.
    let publish = output(Command::new("python3").args([
        "-c",
        "import sys, paho.mqtt.publish as p; p.single('ws/r', 'kept', qos=1, retain=True, \
         hostname='127.0.0.1', port=int(sys.argv[1]), transport='websockets')",
        &ws.port().to_string(),
    ]));
    assert!(publish.status.success(), "{}", text(&publish.stderr));
    let sub = output(mosquitto_sub(serve.port()).args(["-t", "ws/r", "-C", "1", "-W", "5"]));
    assert_eq!(text(&sub.stdout), "kept\n");
}

fn as_user(mut cmd: Command, user: &str, password: &str) -> Command {
    cmd.args(["-u", user, "-P", password]);
    cmd
}

#[test]
fn password_file_and_acl_are_enforced_for_mosquitto_clients() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    for (user, pw) in [("alice", "a"), ("admin", "root")] {
        let mut cmd = mqtk();
        cmd.args(["passwd", "-b"]);
        if user == "alice" {
            cmd.arg("-c");
        }
        assert!(output(cmd.args([p(&passwd), user, pw])).status.success());
    }
    let acl = dir.path().join("acl");
    std::fs::write(
        &acl,
        "user alice\ntopic readwrite a/#\ntopic read r/#\n\nuser admin\ntopic readwrite #\n",
    )
    .unwrap();
    let serve = Serve::start(&[
        "--allow-anonymous",
        "false",
        "--password-file",
        p(&passwd),
        "--acl-file",
        p(&acl),
    ]);
    let port = serve.port();
    let pub_ = |user: &str, pw: &str, topic: &str| {
        output(
            as_user(mosquitto_pub(port), user, pw)
                .args(["-t", topic, "-m", topic, "-r", "-q", "1"]),
        )
    };
    // Who may connect.
    let anonymous = output(mosquitto_pub(port).args(["-t", "a/1", "-m", "x"]));
    assert!(!anonymous.status.success());
    assert!(
        text(&anonymous.stderr).contains("not authorised"),
        "{}",
        text(&anonymous.stderr)
    );
    assert!(!pub_("alice", "wrong", "a/1").status.success());
    assert!(!pub_("mallory", "a", "a/1").status.success());
    // What they may publish: alice's publish to r/1 is dropped, so never retained.
    assert!(pub_("alice", "a", "a/1").status.success());
    assert!(pub_("alice", "a", "r/1").status.success());
    assert!(pub_("admin", "root", "r/2").status.success());
    assert!(pub_("admin", "root", "s/1").status.success());
    let sub = |user: &str, pw: &str, filter: &str, count: &str| {
        output(
            as_user(mosquitto_sub(port), user, pw)
                .args(["-t", filter, "-C", count, "-W", "3", "-v"]),
        )
    };
    let admin = sub("admin", "root", "#", "3");
    let mut lines: Vec<String> = text(&admin.stdout).lines().map(String::from).collect();
    lines.sort();
    assert_eq!(
        lines,
        ["a/1 a/1", "r/2 r/2", "s/1 s/1"],
        "{}",
        text(&admin.stderr)
    );
    // What alice may receive: `#` is granted, but s/1 is filtered on delivery.
    let alice = sub("alice", "a", "#", "2");
    let mut lines: Vec<String> = text(&alice.stdout).lines().map(String::from).collect();
    lines.sort();
    assert_eq!(lines, ["a/1 a/1", "r/2 r/2"], "{}", text(&alice.stderr));
    // MQTT 5 tells the publisher: PUBACK 0x87 (135), PUBREC 0x87 for QoS 2.
    for qos in ["1", "2"] {
        let denied = output(
            as_user(mosquitto_pub(port), "alice", "a")
                .args(["-V", "5", "-q", qos, "-t", "r/9", "-m", "x", "-d"]),
        );
        let stdout = text(&denied.stdout) + &text(&denied.stderr);
        assert!(
            stdout.contains("Not authorized") || stdout.contains("RC:135"),
            "{stdout}"
        );
        assert!(
            !stdout.contains("PUBREL"),
            "a refused QoS 2 flow ends at PUBREC: {stdout}"
        );
    }
    // A will on a topic the client may not publish to is refused at CONNECT.
    let will = output(as_user(mosquitto_pub(port), "alice", "a").args([
        "--will-topic",
        "s/will",
        "--will-payload",
        "x",
        "-t",
        "a/2",
        "-m",
        "x",
    ]));
    assert!(
        !will.status.success(),
        "a will to a denied topic was accepted"
    );
    let allowed = output(as_user(mosquitto_pub(port), "alice", "a").args([
        "--will-topic",
        "a/will",
        "--will-payload",
        "x",
        "-t",
        "a/2",
        "-m",
        "x",
    ]));
    assert!(allowed.status.success(), "{}", text(&allowed.stderr));
    // A subscription no read rule overlaps is refused in the SUBACK.
    let denied = output(
        as_user(mosquitto_sub(port), "alice", "a").args(["-t", "s/#", "-V", "5", "-W", "2", "-d"]),
    );
    assert!(
        text(&denied.stdout).contains("Subscribed (mid: 1): 135"),
        "{}",
        text(&denied.stdout)
    );
}

#[test]
fn config_file_sets_listeners_and_access_and_warns_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    assert!(
        output(mqtk().args(["passwd", "-c", "-b", p(&passwd), "u", "pw"]))
            .status
            .success()
    );
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "# mqtk test\nlistener 0 127.0.0.1\nlistener 0\nprotocol websockets\n\
             password_file {}\nlog_type all\nmax_keepalive 60\n",
            p(&passwd)
        ),
    )
    .unwrap();
    let mut serve = Serve::start(&["-c", p(&conf)]);
    let second = serve.next_listener("mqtt");
    let _ws = serve.next_listener("ws");
    // With a password file and no allow_anonymous, anonymous clients are refused.
    for port in [serve.port(), second.port()] {
        assert!(!output(mosquitto_pub(port).args(["-t", "t", "-m", "x"]))
            .status
            .success());
        let ok = output(mosquitto_pub(port).args(["-u", "u", "-P", "pw", "-t", "t", "-m", "x"]));
        assert!(ok.status.success(), "{}", text(&ok.stderr));
    }
    let stderr = serve.running().stderr();
    assert!(
        stderr.contains("line 6") && stderr.contains("log_type"),
        "{stderr}"
    );

    std::fs::write(&conf, "listener 0\nmax_keepalive forever\n").unwrap();
    let bad = output(mqtk().args(["serve", "-p", "0", "-c", p(&conf)]));
    assert_eq!(bad.status.code(), Some(1));
    let err = text(&bad.stderr);
    assert!(
        err.contains("line 2") && err.contains("max_keepalive"),
        "{err}"
    );
}

#[test]
fn max_connections_refuses_the_next_client_and_logs_it() {
    let mut serve = Serve::start(&["--max-connections", "1", "-v"]);
    let port = serve.port();
    let holder = support::spawn_lines(mosquitto_sub(port).args(["-t", "hold", "-V", "5"]));
    let connected = support::wait_until(LINE_TIMEOUT, || {
        serve.running().stderr().contains("New client connected")
    });
    assert!(connected, "{}", serve.running().stderr());
    let refused = output(mosquitto_pub(port).args(["-t", "t", "-m", "x", "-V", "5"]));
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("Server unavailable"),
        "{}",
        text(&refused.stderr)
    );
    let logged = support::wait_until(LINE_TIMEOUT, || {
        serve.running().stderr().contains("server unavailable")
    });
    assert!(logged, "{}", serve.running().stderr());
    holder.signal(libc::SIGTERM);
}

#[test]
fn max_queued_bounds_what_an_offline_session_keeps() {
    let serve = Serve::start(&["--max-queued", "2"]);
    let port = serve.port();
    let sub = ["-c", "-i", "slow", "-q", "1", "-t", "mq/#"];
    assert!(output(mosquitto_sub(port).args(sub).arg("-E"))
        .status
        .success());
    for i in 1..=5 {
        let out =
            output(mosquitto_pub(port).args(["-t", "mq/x", "-m", &format!("m{i}"), "-q", "1"]));
        assert!(out.status.success());
    }
    let got = output(mosquitto_sub(port).args(sub).args(["-C", "5", "-W", "2"]));
    assert_eq!(
        text(&got.stdout),
        "m1\nm2\n",
        "the first two are kept, the rest dropped"
    );
}

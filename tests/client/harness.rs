//! Tests of the shared harness (tests/support) against the real mosquitto broker and
//! mosquitto_pub/mosquitto_sub: if these fail, every other integration test is suspect.

use std::time::Duration;

use support::eqnice;
use support::{mosquitto_pub, mosquitto_sub, port_accepts, spawn_lines, Mosquitto};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn mosquitto_starts_and_relays_a_retained_message() {
    let broker = Mosquitto::start();
    assert!(port_accepts(broker.port()));
    let status = mosquitto_pub(broker.port())
        .args(["-t", "harness/a", "-m", "hello", "-r"])
        .status()
        .unwrap();
    assert!(
        status.success(),
        "mosquitto_pub failed; mosquitto log:\n{}",
        broker.log()
    );
    let mut sub =
        spawn_lines(mosquitto_sub(broker.port()).args(["-t", "harness/a", "-C", "1", "-W", "10"]));
    let line = sub.expect_line(|_| true, WAIT);
    eqnice!("hello", line);
    assert!(sub.expect_exit(WAIT).success());
}

#[test]
fn mosquitto_restart_keeps_the_port_and_forgets_retained_messages() {
    let mut broker = Mosquitto::start();
    let port = broker.port();
    let status = mosquitto_pub(port)
        .args(["-t", "harness/r", "-m", "old", "-r"])
        .status()
        .unwrap();
    assert!(status.success());
    broker.restart();
    assert_eq!(broker.port(), port);
    assert!(
        port_accepts(port),
        "mosquitto does not accept after restart:\n{}",
        broker.log()
    );
    // persistence is off, so the retained message is gone: mosquitto_sub times out (27).
    let mut sub = spawn_lines(mosquitto_sub(port).args(["-t", "harness/r", "-C", "1", "-W", "1"]));
    let status = sub.expect_exit(WAIT);
    assert_eq!(
        status.code(),
        Some(27),
        "stdout: {:?}, stderr: {}",
        sub.seen(),
        sub.stderr()
    );
}

#[test]
fn expect_stderr_waits_for_a_line_on_stderr_of_a_running_child() {
    // The child writes to stderr, then blocks on its stdin (piped, still open).
    let mut child =
        spawn_lines(std::process::Command::new("sh").args(["-c", "echo ready >&2; exec cat"]));
    child.expect_stderr(|err| err.contains("ready"), WAIT);
    assert!(child.wait_exit(Duration::from_millis(10)).is_none());
    drop(child.stdin()); // end of input: cat exits
    assert!(child.expect_exit(WAIT).success());
}

#[test]
fn host_args_name_the_broker() {
    let broker = Mosquitto::start();
    let port = broker.port().to_string();
    assert_eq!(broker.host_args(), ["-h", "127.0.0.1", "-p", port.as_str()]);
}

#[test]
fn a_stopped_mosquitto_refuses_connections_until_started_again() {
    let mut broker = Mosquitto::start();
    broker.stop();
    assert!(!port_accepts(broker.port()));
    broker.start_again();
    assert!(port_accepts(broker.port()));
}

#[test]
fn extra_config_is_applied() {
    // With a listener-wide size limit a big message is refused by mosquitto and
    // never delivered, while a small one goes through.
    let broker = Mosquitto::start_with("message_size_limit 10\n");
    let mut sub = spawn_lines(mosquitto_sub(broker.port()).args([
        "-t",
        "harness/x",
        "-v",
        "-C",
        "1",
        "-W",
        "10",
    ]));
    // mosquitto_sub prints nothing when subscribed: publish until the small one arrives.
    let mut got = None;
    for _ in 0..50 {
        let big = "x".repeat(100);
        mosquitto_pub(broker.port())
            .args(["-t", "harness/x", "-m", &big])
            .status()
            .unwrap();
        mosquitto_pub(broker.port())
            .args(["-t", "harness/x", "-m", "small"])
            .status()
            .unwrap();
        if let Some(line) = sub.wait_for_line(|_| true, Duration::from_millis(200)) {
            got = Some(line);
            break;
        }
    }
    eqnice!("harness/x small", got.expect("no message arrived"));
}

#[test]
fn wait_for_line_returns_none_on_a_silent_child() {
    let broker = Mosquitto::start();
    let mut sub = spawn_lines(mosquitto_sub(broker.port()).args(["-t", "harness/silent"]));
    assert_eq!(
        sub.wait_for_line(|_| true, Duration::from_millis(300)),
        None
    );
    assert!(
        sub.wait_exit(Duration::from_millis(10)).is_none(),
        "mosquitto_sub should still run"
    );
}

#[test]
fn two_brokers_run_side_by_side_on_different_ports() {
    let a = Mosquitto::start();
    let b = Mosquitto::start();
    assert_ne!(a.port(), b.port());
    assert!(port_accepts(a.port()) && port_accepts(b.port()));
}

#[test]
#[should_panic(expected = "printed outputs differ")]
fn eqnice_panics_showing_both_sides() {
    eqnice!("a\nb", "a\nc");
}

#[test]
fn paho_mqtt_2_is_installed() {
    assert!(support::python3_paho().starts_with("2."));
}

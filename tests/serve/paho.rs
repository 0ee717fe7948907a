//! `mqtk serve` driven by the paho-mqtt 2 Python client (a peer we did not write) in the
//! cases mosquitto_pub/sub cannot express: manual acknowledgements, a socket closed
//! between PUBREC and PUBCOMP, a client that goes silent, will properties and delays,
//! MQTT 5 retain handling. Each test runs one scenario of tests/py/ for MQTT 3.1.1 and
//! 5 at once against one broker and compares what paho observed, line by line.
//! Must not: duplicate the other tests/serve/ files (mosquitto clients and raw bytes),
//! or wait without a timeout (the scenarios bound every wait; here the process is
//! bounded too).

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use support::eqnice;
use support::{python3_paho, spawn_lines, wait_until, Serve};

/// A scenario never needs this long; past it the test fails with its output.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a SYNC line waits for its text in the broker's log.
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `tests/py/NAME.py PORT 311` and `… PORT 5` side by side against one
/// `mqtk serve -p 0 -v` and returns their stdout, panicking with stderr when one fails.
/// A `SYNC TEXT` line from a scenario is answered with `go` on its stdin once TEXT is in
/// the broker's log (see peer.wait_broker_logged); those lines are not returned.
fn scenario(name: &str) -> [String; 2] {
    python3_paho();
    let mut serve = Serve::start(&["-v"]);
    let script: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "py",
        &format!("{name}.py"),
    ]
    .iter()
    .collect();
    let mut runs = ["311", "5"].map(|v| {
        let mut cmd = Command::new("python3");
        cmd.arg(&script).arg(serve.port().to_string()).arg(v);
        let mut run = spawn_lines(&mut cmd);
        let stdin = run.stdin();
        (run, stdin, Vec::<String>::new(), None)
    });
    let deadline = Instant::now() + SCENARIO_TIMEOUT;
    while runs.iter().any(|r| r.3.is_none()) {
        assert!(
            Instant::now() < deadline,
            "{name}.py still running after {SCENARIO_TIMEOUT:?}; stdout: {:?} / {:?}",
            runs[0].2,
            runs[1].2
        );
        for (run, stdin, lines, status) in runs.iter_mut() {
            if status.is_some() {
                continue;
            }
            match run.next_line(Duration::from_millis(20)) {
                Some(line) => match line.strip_prefix("SYNC ") {
                    Some(text) => {
                        let log = serve.running();
                        let seen = wait_until(SYNC_TIMEOUT, || log.stderr().contains(text));
                        let answer = if seen { "go\n" } else { "timeout\n" };
                        if let Some(stdin) = stdin.as_mut() {
                            let _ = stdin.write_all(answer.as_bytes());
                        }
                    }
                    None => lines.push(line),
                },
                None => *status = run.wait_exit(Duration::ZERO),
            }
        }
    }
    runs.map(|(mut run, _, mut lines, status)| {
        lines.extend(run.rest_of_lines(Duration::from_millis(200)));
        let out = lines.join("\n");
        let status = status.expect("the loop ends when every run has exited");
        assert!(
            status.success(),
            "{name}.py failed ({status}):\nstdout:\n{out}\nstderr:\n{}",
            run.stderr()
        );
        out
    })
}

#[test]
fn qos2_is_exactly_once_when_a_paho_subscriber_or_publisher_drops_mid_flow_and_resumes() {
    let [v311, v5] = scenario("qos2_exactly_once");
    for (v, got) in [("311", v311), ("5", v5)] {
        let expected = format!(
            "first session: eo/{v} m1 q2 r0 d0\n\
             session present: 1\n\
             second session: eo/{v} m2 q2 r0 d0, eo/{v} end q2 r0 d0\n\
             pubrel resent: 1\n\
             sender session present: 1\n\
             watcher: eo/{v}/in once q2 r0 d0, eo/{v}/in after q2 r0 d0"
        );
        eqnice!(expected, got);
    }
}

#[test]
fn a_paho_kept_session_gets_queued_messages_at_the_granted_qos_and_a_clean_one_does_not() {
    let [v311, v5] = scenario("session");
    let common = |v: &str| {
        format!(
            "first present: 0\n\
             kept present: 1\n\
             kept: sess/{v}/a q1 q1 r0 d0, sess/{v}/b q2 q1 r0 d0, sess/{v}/c live q1 r0 d0\n\
             clean present: 0\n\
             clean: sess/{v}/marker m q0 r0 d0"
        )
    };
    eqnice!(common("311"), v311);
    let v5_expected = format!(
        "{}\nexpiry 0 present: 0\nlowered to 0 present: 0",
        common("5")
    );
    eqnice!(v5_expected, v5);
}

#[test]
fn a_paho_takeover_of_a_kept_session_resends_unacknowledged_messages_and_publishes_the_old_will() {
    let [v311, v5] = scenario("takeover");
    for (v, got) in [("311", v311), ("5", v5)] {
        let closed = if v == "5" {
            "old closed with: 0x8e"
        } else {
            "old closed"
        };
        let expected = format!(
            "old: take/{v}/m m0 q1 r0 d0, take/{v}/m m1 q1 r0 d0, take/{v}/m m2 q1 r0 d0\n\
             new present: 1\n\
             new: take/{v}/m m0 q1 r0 d1, take/{v}/m m1 q1 r0 d1, take/{v}/m m2 q1 r0 d1, take/{v}/m m3 q1 r0 d0\n\
             {closed}\n\
             will: take/{v}/will old gone q0 r0 d0"
        );
        eqnice!(expected, got);
    }
}

#[test]
fn paho_wills_come_on_socket_close_and_keep_alive_expiry_with_properties_and_delay() {
    let [v311, v5] = scenario("will");
    let expected_311 = "dropped: will/311/crash crashed q1 r0\n\
         retained will: will/311/crash crashed q1 r1 d0\n\
         silent: will/311/silent timed out q0 r0\n\
         silent will after at least 1.4 s: True\n\
         all: will/311/crash, will/311/silent, will/311/marker";
    eqnice!(expected_311, v311);
    let expected_5 = "dropped: will/5/crash crashed q1 r0 ct=text/plain up=[('k', 'v')]\n\
         retained will: will/5/crash crashed q1 r1 d0\n\
         silent: will/5/silent timed out q0 r0 ct=None up=None\n\
         silent will after at least 1.4 s: True\n\
         delayed: will/5/delayed late q0 r0 ct=None up=None\n\
         delayed will after at least 1.9 s: True\n\
         all: will/5/crash, will/5/silent, will/5/delayed, will/5/marker";
    eqnice!(expected_5, v5);
}

#[test]
fn paho_sees_retained_messages_replaced_deleted_and_filtered_by_retain_handling() {
    let [v311, v5] = scenario("retained");
    let common = |v: &str| {
        format!(
            "plus: ret/{v}/a a2 q1 r1 d0, ret/{v}/b b1 q1 r1 d0\n\
             hash: ret/{v}/a a2 q2 r1 d0, ret/{v}/b b1 q1 r1 d0, ret/{v}/x/deep d1 q0 r1 d0"
        )
    };
    eqnice!(common("311"), v311);
    let v5_expected = format!(
        "{}\n\
         rh2: \n\
         rh1 then repeat: ret/5/a a2 q1 r1 d0, ret/5/b b1 q1 r1 d0\n\
         rh0 then repeat: ret/5/b b1 q1 r1 d0, ret/5/b b1 q1 r1 d0\n\
         rap: ret/5/live L q1 r1 d0 / norap: ret/5/live L q1 r0 d0\n\
         expired: ret/5/a a2 q1 r1 d0, ret/5/b b1 q1 r1 d0, ret/5/keep kept q1 r1 d0, \
         ret/5/live L q1 r1 d0 (keep expiry left <= 98: True)",
        common("5")
    );
    eqnice!(v5_expected, v5);
}

#[test]
fn paho_gets_suback_0x8f_for_an_invalid_filter_and_puback_0x10_when_nobody_subscribed_on_5() {
    let [v311, v5] = scenario("reason_codes");
    let expected_311 = "suback: closed\n\
         no subscriber: 0x00\n\
         subscriber: 0x00 (rc/311/ok mine q1 r0 d0)";
    eqnice!(expected_311, v311);
    let expected_5 = "suback: [1, 143, 2]\n\
         no subscriber: 0x10\n\
         subscriber: 0x00 (rc/5/ok mine q1 r0 d0)";
    eqnice!(expected_5, v5);
}

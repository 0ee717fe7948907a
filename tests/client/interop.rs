//! `mqtk pub` and `mqtk sub` end to end against both brokers: the real mosquitto and
//! `mqtk serve`, on MQTT 3.1.1 and 5. Covers what publish.rs and subscribe.rs
//! (mosquitto only, mostly one version) leave out: kept sessions with -c/-x, QoS 2
//! exactly once across an offline period, downgrade to the granted QoS, retained
//! set/replace/delete through mqtk alone, wills, takeover, keep alive.
//! Must not: test output formats or flag parsing (the owners' files do), or wait
//! without a timeout.

use std::time::Duration;

use support::peers::VERSIONS;
use support::{mqtk, mqtk_sub_ready, output, spawn_lines, Mosquitto, Running, Serve};

const T: Duration = Duration::from_secs(20);

/// One broker under test: mosquitto or `mqtk serve`, known by its host flags.
struct Broker {
    name: &'static str,
    host_args: Vec<String>,
    _mosquitto: Option<Mosquitto>,
    _serve: Option<Serve>,
}

fn brokers() -> [Broker; 2] {
    let mosquitto = Mosquitto::start();
    let serve = Serve::start(&[]);
    [
        Broker {
            name: "mosquitto",
            host_args: mosquitto.host_args(),
            _mosquitto: Some(mosquitto),
            _serve: None,
        },
        Broker {
            name: "mqtk serve",
            host_args: serve.host_args(),
            _mosquitto: None,
            _serve: Some(serve),
        },
    ]
}

/// `mqtk pub ARGS` to completion; panics unless it exits 0.
fn publish(broker: &Broker, args: &[&str]) {
    let out = output(mqtk().arg("pub").args(&broker.host_args).args(args));
    assert!(
        out.status.success(),
        "{}: mqtk pub {args:?}: {}",
        broker.name,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn two_mqtk_subs_with_the_same_id_do_not_take_each_other_over_forever_on_mqtt5() {
    // mqtk serve only: mosquitto 2.0.11 closes the old connection without DISCONNECT
    // 0x8E, so a client cannot tell a takeover from a network failure there.
    let serve = Serve::start(&[]);
    let broker = Broker {
        name: "mqtk serve",
        host_args: serve.host_args(),
        _mosquitto: None,
        _serve: None,
    };
    {
        let id = "qa-same-id";
        let mut first = mqtk_sub_ready(&broker.host_args, &["-V", "5", "-i", id, "-t", "same/t"]);
        let mut second = mqtk_sub_ready(
            &broker.host_args,
            &["-V", "5", "-i", id, "-t", "same/t", "-v"],
        );
        // DISCONNECT 0x8E tells the first one it was replaced: reconnecting would just
        // throw the second one out in turn, every half second, for ever.
        let status = first.expect_exit(T);
        assert_eq!(status.code(), Some(1), "{}", broker.name);
        let stderr = first.stderr();
        assert!(
            stderr.contains("session taken over") && stderr.contains(id),
            "{}: {stderr}",
            broker.name
        );
        publish(&broker, &["-t", "same/t", "-m", "for the second"]);
        second.expect_line(|l| l == "same/t for the second", T);
        assert!(
            !second.stderr().contains("reconnect"),
            "{}: the second was not thrown out: {}",
            broker.name,
            second.stderr()
        );
    }
}

/// `-c` keeps the session; on MQTT 5 mqtk asks for "never expire" with it (CLI.md).
fn kept(v: &str, id: &str) -> Vec<String> {
    ["-V", v, "-c", "-i", id, "-q", "2"]
        .map(String::from)
        .to_vec()
}

#[test]
fn mqtk_sub_with_a_kept_session_gets_what_was_published_while_it_was_offline_exactly_once() {
    for broker in brokers() {
        for v in VERSIONS {
            let id = format!("qa-kept-{v}");
            let topic = format!("kept/{v}");
            let mut args = kept(v, &id);
            args.extend(["-t".into(), topic.clone(), "-F".into(), "%q %p".into()]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            // Subscribe, take one message and leave with the session kept.
            let mut first = mqtk_sub_ready(&broker.host_args, &[&args[..], &["-C", "1"]].concat());
            publish(&broker, &["-V", v, "-t", &topic, "-m", "prime"]);
            assert!(first.expect_exit(T).success());
            publish(
                &broker,
                &["-V", v, "-q", "2", "-t", &topic, "-m", "offline2"],
            );
            publish(
                &broker,
                &["-V", v, "-q", "1", "-t", &topic, "-m", "offline1"],
            );
            let mut again = mqtk_sub_ready(&broker.host_args, &[&args[..], &["-C", "3"]].concat());
            publish(&broker, &["-V", v, "-q", "1", "-t", &topic, "-m", "live"]);
            assert!(again.expect_exit(T).success(), "{}", again.stderr());
            again.rest_of_lines(Duration::from_secs(2));
            let got: Vec<&str> = again.seen().iter().map(String::as_str).collect();
            assert_eq!(
                got,
                ["2 offline2", "1 offline1", "1 live"],
                "{} -V {v}",
                broker.name
            );
        }
    }
}

#[test]
fn qos_is_downgraded_to_the_granted_qos_between_mqtk_pub_and_mqtk_sub() {
    for broker in brokers() {
        for v in VERSIONS {
            let topic = format!("down/{v}");
            let mut sub = mqtk_sub_ready(
                &broker.host_args,
                &["-V", v, "-q", "1", "-t", &topic, "-F", "%q %p"],
            );
            for qos in ["2", "0", "1"] {
                publish(&broker, &["-V", v, "-q", qos, "-t", &topic, "-m", qos]);
            }
            for expected in ["1 2", "0 0", "1 1"] {
                let line = sub.expect_line(|_| true, T);
                assert_eq!(line, expected, "{} -V {v}", broker.name);
            }
        }
    }
}

#[test]
fn retained_messages_from_mqtk_pub_are_replaced_and_deleted_for_a_wildcard_mqtk_sub() {
    for broker in brokers() {
        for v in VERSIONS {
            let t = |s: &str| format!("ret/{v}/{s}");
            publish(&broker, &["-V", v, "-r", "-t", &t("a"), "-m", "a1"]);
            publish(
                &broker,
                &["-V", v, "-r", "-q", "1", "-t", &t("a"), "-m", "a2"],
            );
            publish(
                &broker,
                &["-V", v, "-r", "-q", "2", "-t", &t("b"), "-m", "b1"],
            );
            publish(&broker, &["-V", v, "-r", "-q", "1", "-t", &t("b"), "-n"]);
            let filter = format!("ret/{v}/#");
            let mut sub = mqtk_sub_ready(
                &broker.host_args,
                &["-V", v, "-q", "2", "-t", &filter, "-F", "%r %q %t %p"],
            );
            publish(&broker, &["-V", v, "-t", &t("live"), "-m", "now"]);
            let a = format!("1 1 {} a2", t("a"));
            let live = format!("0 0 {} now", t("live"));
            assert_eq!(sub.expect_line(|_| true, T), a, "{} -V {v}", broker.name);
            assert_eq!(
                sub.expect_line(|_| true, T),
                live,
                "{} -V {v}: b was deleted",
                broker.name
            );
        }
    }
}

#[test]
fn a_sigkilled_mqtk_pub_publishes_its_will_and_one_that_finished_does_not() {
    for broker in brokers() {
        for v in VERSIONS {
            let will = format!("will/{v}");
            let mut watcher = mqtk_sub_ready(
                &broker.host_args,
                &["-V", v, "-q", "1", "-t", &will, "-F", "%q %r %p"],
            );
            let will_args = |payload: &'static str| {
                [
                    "--will-topic",
                    will.as_str(),
                    "--will-payload",
                    payload,
                    "--will-qos",
                    "1",
                ]
            };
            // A normal end: no will.
            publish(
                &broker,
                &[&["-V", v, "-t", "x", "-m", "m"][..], &will_args("bad")].concat(),
            );
            // `-l` keeps the connection open while stdin is: kill it there.
            let mut cmd = mqtk();
            cmd.arg("pub")
                .args(&broker.host_args)
                .args(["-V", v, "-d", "-t", "x", "-l"])
                .args(will_args("killed"));
            let dying = spawn_lines(&mut cmd);
            dying.expect_stderr(|e| e.contains("received CONNACK"), T);
            dying.signal(libc::SIGKILL);
            assert_eq!(
                watcher.expect_line(|_| true, T),
                "1 0 killed",
                "{} -V {v}: only the killed one's will",
                broker.name
            );
        }
    }
}

#[test]
fn mqtk_sub_keeps_a_one_second_keep_alive_connection_up_with_pings() {
    let brokers = brokers();
    // Every broker and version at once: each needs a few keep-alive periods.
    let mut subs: Vec<(String, &Broker, Running)> = Vec::new();
    for broker in &brokers {
        for v in VERSIONS {
            let topic = format!("ka/{v}");
            let sub = mqtk_sub_ready(&broker.host_args, &["-V", v, "-k", "1", "-t", &topic, "-v"]);
            subs.push((v.to_string(), broker, sub));
        }
    }
    for (v, broker, sub) in &mut subs {
        // Three round trips take 2 s or more with keep alive 1: past the 1.5 s a broker
        // allows a silent client.
        sub.expect_stderr(|e| e.matches("received PINGRESP").count() >= 3, T);
        let topic = format!("ka/{v}");
        publish(broker, &["-V", v, "-t", &topic, "-m", "still here"]);
        sub.expect_line(|l| l == format!("{topic} still here"), T);
        assert!(
            !sub.stderr().contains("reconnect"),
            "{} -V {v}: {}",
            broker.name,
            sub.stderr()
        );
    }
}

#[test]
fn mqtk_sub_with_a_session_dir_does_not_print_a_qos2_message_twice_after_sigkill() {
    // A scripted broker (tests/py/fake_broker_qos2_resend.py) resends a QoS 2 PUBLISH
    // whose PUBREC it "lost" to the restarted subscriber: only the store in
    // --session-dir can tell it was printed already (MQTT 3.1.1 §4.3.3).
    support::python3_paho();
    let script = format!(
        "{}/tests/py/fake_broker_qos2_resend.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut broker = spawn_lines(std::process::Command::new("python3").arg(&script));
    let port = broker
        .expect_line(|l| l.starts_with("listening "), T)
        .trim_start_matches("listening ")
        .to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let sub_cmd = || {
        let mut cmd = mqtk();
        cmd.args(["sub", "-V", "311", "-h", "127.0.0.1", "-p", &port])
            .args(["-t", "eo/t", "-q", "2", "-c", "-i", "qa-store"])
            .arg("--session-dir")
            .arg(dir.path());
        cmd
    };
    let mut first = spawn_lines(&mut sub_cmd());
    first.expect_line(|l| l == "once", T);
    broker.expect_line(|l| l == "connection 1: PUBREC 7", T);
    first.signal(libc::SIGKILL);
    first.expect_exit(T);
    let mut second = spawn_lines(&mut sub_cmd());
    second.expect_line(|l| l == "marker", T);
    assert_eq!(second.seen(), ["marker"], "{}", second.stderr());
    broker.expect_line(|l| l == "connection 2: PUBCOMP 7", T);
}

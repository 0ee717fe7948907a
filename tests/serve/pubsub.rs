//! `mqtk serve` driven by clients we did not write: mosquitto_pub/mosquitto_sub with
//! `-V 311` and `-V 5`. Start and stop, QoS 0/1/2 both ways, retained messages,
//! wildcards and `$` topics, `$SYS`. Sessions, wills and takeover are in
//! sessions.rs; raw-byte conformance in conformance.rs; MQTT 5 features in
//! v5.rs. Every wait is bounded.

use std::process::Stdio;

use support::peers::{message, publish, subscriber, T, VERSIONS};
use support::{mosquitto_sub, mqtk, output, Serve};

#[test]
fn serve_prints_the_listening_line_first_and_exits_0_on_sigterm_and_sigint() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut serve = Serve::start(&[]);
        assert_eq!(serve.addr().ip().to_string(), "127.0.0.1");
        assert_ne!(serve.port(), 0);
        serve.running().signal(signal);
        let status = serve.running().expect_exit(T);
        assert_eq!(
            status.code(),
            Some(0),
            "stderr: {}",
            serve.running().stderr()
        );
    }
}

#[test]
fn serve_on_a_port_in_use_exits_1_with_a_clear_message() {
    let serve = Serve::start(&[]);
    let out = output(
        mqtk()
            .args(["serve", "-p", &serve.port().to_string()])
            .stdin(Stdio::null()),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("mqtk: cannot listen on 127.0.0.1:"),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("in use"), "stderr: {stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn serve_rejects_a_bind_address_that_is_not_an_ip() {
    let out = output(mqtk().args(["serve", "-p", "0", "--bind", "nowhere"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bind"));
}

#[test]
fn messages_flow_at_every_qos_between_both_protocol_versions() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    for sub_v in VERSIONS {
        let mut sub = subscriber(port, &["-V", sub_v, "-q", "2", "-t", "q/#", "-v"]);
        for pub_v in VERSIONS {
            for qos in ["0", "1", "2"] {
                let payload = format!("from-{pub_v}-q{qos}");
                publish(
                    port,
                    &[
                        "-V",
                        pub_v,
                        "-q",
                        qos,
                        "-t",
                        &format!("q/{qos}"),
                        "-m",
                        &payload,
                    ],
                );
                assert_eq!(message(&mut sub), format!("q/{qos} {payload}"));
            }
        }
    }
}

#[test]
fn qos_delivered_is_the_minimum_of_published_and_granted() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    for v in VERSIONS {
        let mut sub = subscriber(port, &["-V", v, "-q", "1", "-t", "m", "-F", "%q %p"]);
        publish(port, &["-V", v, "-q", "2", "-t", "m", "-m", "two"]);
        assert_eq!(message(&mut sub), "1 two");
        publish(port, &["-V", v, "-q", "0", "-t", "m", "-m", "zero"]);
        assert_eq!(message(&mut sub), "0 zero");
    }
}

#[test]
fn retained_messages_are_set_replaced_and_deleted() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    for v in VERSIONS {
        let topic = format!("r/{v}");
        publish(port, &["-V", v, "-t", &topic, "-m", "first", "-r"]);
        publish(
            port,
            &["-V", v, "-t", &topic, "-m", "second", "-r", "-q", "1"],
        );
        let out = output(
            mosquitto_sub(port)
                .args(["-V", v, "-t", "r/#", "-C", "1", "-W", "5", "-F", "%r %t %p"]),
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("1 {topic} second\n")
        );
        publish(port, &["-V", v, "-t", &topic, "-n", "-r"]);
        let out = output(mosquitto_sub(port).args(["-V", v, "-t", &topic, "-C", "1", "-W", "1"]));
        assert_eq!(out.status.code(), Some(27), "nothing retained any more");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn retained_messages_reach_wildcard_subscriptions_with_the_retain_flag_and_live_ones_without() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    publish(port, &["-t", "home/a/temp", "-m", "20", "-r"]);
    publish(port, &["-t", "home/b/temp", "-m", "21", "-r"]);
    publish(port, &["-t", "other", "-m", "x", "-r"]);
    for v in VERSIONS {
        let mut sub = subscriber(port, &["-V", v, "-t", "home/+/temp", "-F", "%r %t %p"]);
        let mut got = vec![message(&mut sub), message(&mut sub)];
        got.sort();
        assert_eq!(got, vec!["1 home/a/temp 20", "1 home/b/temp 21"]);
        publish(port, &["-t", "home/c/temp", "-m", "22"]);
        assert_eq!(message(&mut sub), "0 home/c/temp 22");
    }
}

#[test]
fn dollar_topics_are_not_matched_by_leading_wildcards_and_sys_topics_exist() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    let mut all = subscriber(port, &["-t", "#", "-v"]);
    let mut sys = subscriber(port, &["-t", "$SYS/broker/+", "-v"]);
    let version = sys.expect_line(|l| l.starts_with("$SYS/broker/version "), T);
    assert!(
        version.starts_with("$SYS/broker/version mqtk version "),
        "{version}"
    );
    sys.expect_line(
        |l| l.starts_with("$SYS/broker/uptime ") && l.ends_with(" seconds"),
        T,
    );
    // The value is refreshed every second: wait for one that counts this test's clients.
    let mut connected = subscriber(port, &["-t", "$SYS/broker/clients/connected"]);
    connected.expect_line(|l| l.parse::<u32>().is_ok_and(|n| n >= 2), T);
    publish(port, &["-t", "plain", "-m", "p"]);
    // `#` sees the plain message and nothing from $SYS before it.
    assert_eq!(message(&mut all), "plain p");
}

#[test]
fn a_sys_subscriber_right_after_start_gets_current_values_not_the_first_instants() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    publish(port, &["-t", "early", "-q", "1", "-m", "1"]);
    // Within the broker's first second: before, the retained values were those of its
    // first instant (no client, nothing received) until the next refresh.
    let mut sys = subscriber(port, &["-t", "$SYS/broker/#", "-v"]);
    let wanted = [
        "clients/connected",
        "clients/total",
        "messages/received",
        "publish/messages/received",
        "bytes/received",
        "uptime",
        "version",
    ];
    let mut first: std::collections::HashMap<String, String> = Default::default();
    let deadline = std::time::Instant::now() + T;
    while wanted.iter().any(|w| !first.contains_key(*w)) {
        assert!(
            std::time::Instant::now() < deadline,
            "no value within {T:?} for some of {wanted:?}: {first:?}"
        );
        let line = sys.expect_line(|l| l.starts_with("$SYS/broker/"), T);
        let (topic, value) = line["$SYS/broker/".len()..]
            .split_once(' ')
            .unwrap_or_else(|| panic!("topic and value: {line}"));
        first
            .entry(topic.to_string())
            .or_insert_with(|| value.to_string());
    }
    let number = |k: &str| -> u64 {
        first[k]
            .parse()
            .unwrap_or_else(|_| panic!("{k}: {first:?}"))
    };
    assert!(
        number("clients/connected") >= 1,
        "itself at least: {first:?}"
    );
    assert!(
        number("clients/total") >= number("clients/connected"),
        "{first:?}"
    );
    assert_eq!(
        number("messages/received"),
        1,
        "the publish before: {first:?}"
    );
    assert_eq!(number("publish/messages/received"), 1, "{first:?}");
    assert!(number("bytes/received") > 0, "{first:?}");
    assert!(first["uptime"].ends_with(" seconds"), "{first:?}");
    assert!(first["version"].starts_with("mqtk version "), "{first:?}");
}

#[test]
fn wildcards_and_overlapping_subscriptions_deliver_one_copy() {
    let serve = Serve::start(&[]);
    let port = serve.port();
    for v in VERSIONS {
        let mut sub = subscriber(
            port,
            &[
                "-V", v, "-t", "a/+/c", "-t", "a/#", "-t", "a/b/c", "-q", "1", "-v",
            ],
        );
        publish(port, &["-V", v, "-t", "a/b/c", "-m", "1"]);
        publish(port, &["-V", v, "-t", "a", "-m", "2"]);
        publish(port, &["-V", v, "-t", "b/b/c", "-m", "3"]);
        publish(port, &["-V", v, "-t", "a/x", "-m", "4"]);
        assert_eq!(message(&mut sub), "a/b/c 1");
        assert_eq!(message(&mut sub), "a 2");
        assert_eq!(
            message(&mut sub),
            "a/x 4",
            "one copy of a/b/c, and b/b/c not matched"
        );
    }
}

#[test]
fn verbose_logs_connects_subscribes_and_disconnects_on_stderr() {
    let mut serve = Serve::start(&["-v"]);
    let port = serve.port();
    drop(subscriber(
        port,
        &["-i", "logged-client", "-t", "log/topic"],
    ));
    publish(port, &["-i", "logged-pub", "-t", "log/topic", "-m", "x"]);
    let running = serve.running();
    support::wait_until(T, || {
        running.stderr().contains("Client logged-pub disconnected.")
    });
    let stderr = running.stderr();
    assert!(
        stderr.contains("New client connected from 127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains(" as logged-client (p"), "{stderr}");
    assert!(stderr.contains("logged-client 0 log/topic"), "{stderr}");
    assert!(
        stderr.contains("Client logged-pub disconnected."),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Received PUBLISH"),
        "publishes are logged with -vv only"
    );
}

#[test]
fn very_verbose_logs_every_publish() {
    let mut serve = Serve::start(&["-vv"]);
    let port = serve.port();
    publish(
        port,
        &["-i", "loud", "-t", "loud/topic", "-m", "12345", "-q", "1"],
    );
    let running = serve.running();
    assert!(
        support::wait_until(T, || running.stderr().contains(
            "Received PUBLISH from loud (d0, q1, r0, m1, 'loud/topic', ... (5 bytes))"
        )),
        "{}",
        running.stderr()
    );
}

//! `mqtk test`'s command line: `--list`, bad usage (exit 2), an unreachable broker, the
//! shared connection flags (a profile, TLS, `--unix`).

use support::process::{output, text};

#[test]
fn list_names_each_case_with_its_version_level_and_reference() {
    let out = output(support::mqtk().args(["test", "--list", "--only", "retained/replace"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[0].starts_with("retained/replace 3.1.1 must"),
        "{listed}"
    );
    assert!(lines[1].contains("§3.3.1.3 [MQTT-3.3.1-5]"), "{listed}");
}

#[test]
fn bad_usage_exits_2_and_says_what_to_fix() {
    for (args, says) in [
        (&["test", "--only", "nothing-matches"][..], "select no case"),
        (&["test", "-V", "3"][..], "also takes both"),
        (&["test", "-i", "me"][..], "does not use -i"),
        (
            &["sub", "-V", "both", "-t", "a"][..],
            "only mqtk test speaks both",
        ),
        (&["test", "--timeout", "0"][..], "seconds from 1 to 3600"),
        (&["test", "-P", "secret"][..], "add -u USER"),
    ] {
        let out = output(support::mqtk().args(args));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn an_unreachable_broker_is_an_error_not_a_run_of_skips() {
    let port = support::free_port().to_string();
    let out = output(support::mqtk().args(["test", "-h", "127.0.0.1", "-p", &port]));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("connection refused"), "{err}");
}

#[test]
fn over_tls_the_cases_run_against_mosquitto_with_the_ca_given() {
    let dir = tempfile::tempdir().unwrap();
    let pki = support::pki::pki(dir.path());
    let (_broker, port) = support::pki::mosquitto_tls(&pki.cert, &pki.key, "");
    let hosts = vec![
        "-h".to_string(),
        "localhost".into(),
        "-p".into(),
        port.to_string(),
        "--cafile".into(),
        pki.ca.to_str().unwrap().into(),
    ];
    let args = ["--only", "qos/qos1-flow", "--probe-max-packet", "4096"];
    let (out, report) = crate::mqtk_test(&hosts, &args, dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(report["summary"]["passed"], 2, "{report}");
    assert!(report["broker"].as_str().unwrap().starts_with("mqtts://"));
}

#[test]
fn a_profile_names_the_broker_and_the_versions() {
    let serve = support::Serve::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profile.local]\nurl = \"mqtt://{}\"\nprotocol_version = 5\n",
            serve.addr()
        ),
    )
    .unwrap();
    let config_arg = config.to_str().unwrap().to_string();
    let hosts = [
        "--config".to_string(),
        config_arg,
        "--profile".into(),
        "local".into(),
    ];
    let args = ["--only", "qos/qos1-flow"];
    let (out, report) = crate::mqtk_test(&hosts, &args, dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The profile's protocol_version = 5 stands for -V 5: one run, on 5.
    assert_eq!(report["versions"], serde_json::json!(["5"]), "{report}");
    assert_eq!(report["summary"]["passed"], 1, "{report}");
}

#[test]
fn unix_routes_every_case_over_the_socket_of_mosquitto() {
    // mosquitto listens on the socket (and on a TCP port the run is not given).
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("mosquitto.sock");
    let conf = format!("listener 0 {}\n", socket.display());
    let _broker = support::Mosquitto::start_in(dir, &conf);
    let out = output(support::mqtk().args([
        "test",
        "--unix",
        socket.to_str().unwrap(),
        "--only",
        "retained/replace",
    ]));
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    assert!(report.contains("2 passed, 0 failed"), "{report}");
}

//! `mqtk test`'s command line: `--list`, bad usage (exit 2), an unreachable broker.

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
        (&["test", "-V", "3"][..], "or both"),
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

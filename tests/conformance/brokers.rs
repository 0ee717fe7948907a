//! `mqtk test` against real brokers: our own (`mqtk serve`, every must and should case
//! passes, with a JUnit report a real XML parser accepts) and mosquitto (the whole run
//! completes within its limits and every case gets a result).

use std::time::{Duration, Instant};

use support::process::text;
use support::{Mosquitto, Serve};

use crate::{mqtk_test, not_passed};

#[test]
fn against_mqtk_serve_every_must_and_should_case_passes() {
    let serve = Serve::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let junit_arg = junit.to_str().unwrap();
    let (out, report) = mqtk_test(&serve.host_args(), &["--junit", junit_arg], dir.path());
    let failed = not_passed(&report, |c| {
        (c["level"] == "must" || c["level"] == "should") && c["result"] != "skip"
    });
    assert!(
        failed.is_empty(),
        "against mqtk serve:\n{}",
        failed.join("\n")
    );
    assert!(
        out.status.success(),
        "exit {:?}\n{}",
        out.status,
        text(&out.stderr)
    );
    // Skipped by default: what needs a flag (--denied-topic, --restart-cmd), a limit
    // serve does not set by default (a maximum packet size), and the one `may` serve
    // does not do (0x99: it does not check payloads).
    let skipped = not_passed(&report, |c| c["result"] == "skip");
    assert_eq!(skipped.len(), 12, "{}", skipped.join("\n"));
    for case in &skipped {
        assert!(
            [
                "config/",
                "durable/",
                "v5/packet-too-large",
                "v5/payload-format-invalid"
            ]
            .iter()
            .any(|id| case.contains(id)),
            "{case}"
        );
    }
    let cases = report["cases"].as_array().unwrap().len();
    assert!(cases > 80, "{cases} cases");
    // A real consumer reads the JUnit report: as many test cases, none failed.
    let python = support::process::output(std::process::Command::new("python3").args([
        "-c",
        "import sys, xml.etree.ElementTree as ET\n\
         root = ET.parse(sys.argv[1]).getroot()\n\
         print(len(root.findall('.//testcase')), len(root.findall('.//failure')))",
        junit_arg,
    ]));
    assert!(python.status.success(), "{}", text(&python.stderr));
    assert_eq!(text(&python.stdout).trim(), format!("{cases} 0"));
}

#[test]
fn with_an_acl_and_a_packet_size_limit_the_cases_skipped_by_default_pass() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("acl");
    std::fs::write(&acl, "topic readwrite mqtk-test/#\n").unwrap();
    let acl_arg = acl.to_str().unwrap();
    let serve = Serve::start(&["--acl-file", acl_arg, "--max-packet-size", "2000"]);
    let args = [
        "--only",
        "config",
        "--only",
        "v5/packet-too-large",
        "--denied-topic",
        "secret/#",
    ];
    let (out, report) = mqtk_test(&serve.host_args(), &args, dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A refused SUBSCRIBE and PUBLISH on both versions, and the too large packet.
    assert_eq!(report["summary"]["passed"], 5, "{report}");
}

#[test]
fn against_mosquitto_the_run_completes_within_its_limits() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (out, report) = mqtk_test(&broker.host_args(), &["--timeout", "10"], dir.path());
    let took = started.elapsed();
    // Each case has a 10 s limit, and most take far less: a run near the sum of the
    // limits would mean cases that hang.
    assert!(took < Duration::from_secs(150), "the run took {took:?}");
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "exit {code:?}\n{}",
        text(&out.stderr)
    );
    let errors = not_passed(&report, |c| c["result"] == "error");
    assert!(
        errors.is_empty(),
        "cases that could not run:\n{}",
        errors.join("\n")
    );
    let timed_out = not_passed(&report, |c| {
        c["detail"].as_str().unwrap_or("").starts_with("time limit")
    });
    assert!(
        timed_out.is_empty(),
        "cases that hung:\n{}",
        timed_out.join("\n")
    );
    let must_failed = report["summary"]["must_failed"].as_u64().unwrap();
    assert_eq!(
        code == Some(1),
        must_failed > 0,
        "exit status and summary agree"
    );
}

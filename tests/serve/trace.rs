//! `mqtk serve --trace`: the trace of a short paho-mqtt session (tests/py/
//! trace_session.py) parsed and matched, packet by packet and in each direction, with
//! what paho logged sending and receiving; `--trace-client` and `--trace-payload`.
//! Must not: test the line's every field (the unit tests in broker/trace.rs do).

use std::process::Command;

use support::{eqnice, ok, output, python3_paho, wait_until, Serve};

fn py(name: &str) -> std::path::PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests", "py", name]
        .iter()
        .collect()
}

/// A trace line as trace_session.py prints paho's packets: `TYPE`, `PUBLISH qN mN`,
/// `PUBACK mN`.
fn shown(line: &serde_json::Value) -> String {
    let kind = line["type"].as_str().unwrap();
    match kind {
        "PUBLISH" => format!("{kind} q{} m{}", line["qos"], line["packet_id"]),
        "PUBACK" => format!("{kind} m{}", line["packet_id"]),
        _ => kind.to_string(),
    }
}

#[test]
fn the_trace_of_a_paho_session_matches_what_paho_sent_and_received() {
    python3_paho();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trace.jsonl");
    let serve = Serve::start(&[
        "--trace",
        file.to_str().unwrap(),
        "--trace-client",
        "trace-*",
        "--trace-payload",
        "3",
    ]);
    for v in ["311", "5"] {
        let out = output(
            Command::new("python3")
                .arg(py("trace_session.py"))
                .arg(serve.port().to_string())
                .arg(v),
        );
        let paho = ok(&out);
        let id = format!("trace-{v}");
        let read = || -> Vec<serde_json::Value> {
            std::fs::read_to_string(&file)
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .filter(|l: &serde_json::Value| l["client_id"] == id.as_str())
                .collect()
        };
        // The writer thread flushes once its queue is empty: wait for the last line.
        assert!(wait_until(support::peers::T, || read()
            .iter()
            .any(|l| l["type"] == "DISCONNECT")));
        let trace = read();
        for (paho_verb, dir) in [("sent", "in"), ("received", "out")] {
            let from_paho: Vec<&str> = paho
                .lines()
                .filter_map(|l| l.strip_prefix(paho_verb).map(str::trim))
                .collect();
            let from_trace: Vec<String> = trace
                .iter()
                .filter(|l| l["dir"] == dir)
                .map(shown)
                .collect();
            eqnice!(from_paho.join("\n"), from_trace.join("\n"));
        }
        let delivered = trace
            .iter()
            .find(|l| l["dir"] == "out" && l["type"] == "PUBLISH")
            .expect("the delivery is traced");
        assert_eq!(delivered["topic"], format!("trace/{v}"));
        assert_eq!(delivered["payload"], "hel");
        assert_eq!(delivered["payload_bytes"], 5);
        assert_eq!(delivered["payload_cut"], true);
        assert!(delivered["unix_ns"].as_u64().unwrap() > 1_600_000_000_000_000_000);
        assert!(delivered["time"].as_str().unwrap().ends_with('Z'));
    }
    // Other clients are not traced.
    support::peers::publish(serve.port(), &["-i", "other", "-t", "x", "-m", "y"]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("\"other\""), "{text}");
}

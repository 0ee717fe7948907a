//! `mqtk test`, the conformance checker, run as a user runs it: against `mqtk serve`
//! (every must and should case passes), against mosquitto (the run completes within
//! its limits; what it fails is in the README), and against deliberately broken
//! brokers (`broken`: the matching cases fail, the others pass); durability across
//! restarts (`durable`: `--restart-cmd` with serve and mosquitto); its command line
//! (`usage`). One test binary; the harness is `support` (tests/support).

mod broken;
mod brokers;
mod durable;
mod usage;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::process::{child_output, text};

/// The longest a whole `mqtk test` run may take here: its cases take about 40 s on a
/// busy 2-core machine, each is bounded by its 10 s limit.
pub const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Runs `mqtk test HOST_ARGS ARGS… --json FILE` to its end (within `RUN_LIMIT`); its output and
/// the parsed report.
pub fn mqtk_test(host_args: &[String], args: &[&str], dir: &Path) -> (Output, Value) {
    let json = dir.join("report.json");
    let child = support::mqtk()
        .arg("test")
        .args(host_args)
        .args(args)
        .arg("--json")
        .arg(&json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mqtk test starts");
    let out = child_output(child, RUN_LIMIT);
    let report = std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!(
            "no --json report ({e}); stdout:\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    (
        out,
        serde_json::from_str(&report).expect("the --json report parses"),
    )
}

/// `id (version): result detail` of every case whose result is not `pass`, among
/// those `keep` accepts.
pub fn not_passed(report: &Value, keep: impl Fn(&Value) -> bool) -> Vec<String> {
    report["cases"]
        .as_array()
        .expect("cases is a list")
        .iter()
        .filter(|c| c["result"] != "pass" && keep(c))
        .map(|c| {
            format!(
                "{} ({}): {} {}",
                c["id"], c["version"], c["result"], c["detail"]
            )
        })
        .collect()
}

/// The result of case `id` on `version`.
pub fn result<'a>(report: &'a Value, id: &str, version: &str) -> &'a str {
    report["cases"]
        .as_array()
        .expect("cases is a list")
        .iter()
        .find(|c| c["id"] == id && c["version"] == version)
        .unwrap_or_else(|| panic!("no case {id} on {version} in the report"))["result"]
        .as_str()
        .expect("result is a string")
}

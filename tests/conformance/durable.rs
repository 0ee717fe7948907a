//! `mqtk test --restart-cmd`: the durable cases against `mqtk serve --data-dir` and
//! mosquitto with `persistence true`, each restarted by a small shell script that stops
//! the broker by its pid and starts it again on the same port and data dir; and against
//! serve without `--data-dir`, which loses everything, so the cases must fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use support::process::{output, text, wait_until};
use support::{free_port, mosquitto_bin, mqtk_bin, port_accepts, START_TIMEOUT};

use crate::{mqtk_test, not_passed, result};

/// A broker started and restarted by `restart.sh` in a temp dir; killed on drop.
struct Restartable {
    dir: tempfile::TempDir,
    port: u16,
}

impl Restartable {
    /// Writes `restart.sh` (stop the pid in `pid` if any, then run `start`, which
    /// leaves the broker's pid in `pid`) and runs it once.
    fn start(dir: tempfile::TempDir, port: u16, start: &str) -> Restartable {
        let script = format!(
            "#!/bin/sh\nD='{}'\nif [ -f \"$D/pid\" ]; then\n  P=$(cat \"$D/pid\"); kill \"$P\" 2>/dev/null\n  \
             i=0; while kill -0 \"$P\" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done\nfi\n{start}\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("restart.sh"), script).unwrap();
        let broker = Restartable { dir, port };
        let out = output(Command::new("sh").arg(broker.script()));
        assert!(out.status.success(), "restart.sh: {}", text(&out.stderr));
        assert!(
            wait_until(START_TIMEOUT, || port_accepts(port)),
            "the broker did not start on {port}"
        );
        broker
    }

    fn script(&self) -> PathBuf {
        self.dir.path().join("restart.sh")
    }

    fn host_args(&self) -> Vec<String> {
        ["-h", "127.0.0.1", "-p", &self.port.to_string()]
            .map(String::from)
            .to_vec()
    }

    /// `mqtk test` with the durable cases: restarts go through `restart.sh`.
    fn durable_run(&self) -> (std::process::Output, serde_json::Value) {
        let script = format!("sh '{}'", self.script().display());
        let args = ["--only", "durable", "--restart-cmd", &script];
        mqtk_test(&self.host_args(), &args, self.dir.path())
    }
}

impl Drop for Restartable {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// `mqtk serve` on `port` with `args`, in the background, its pid in `DIR/pid`.
fn serve_start(dir: &Path, port: u16, args: &str) -> String {
    format!(
        "'{}' serve -p {port} {args} > '{d}/serve.log' 2>&1 &\necho $! > '{d}/pid'",
        mqtk_bin().display(),
        d = dir.display()
    )
}

#[test]
fn serve_with_a_data_dir_keeps_everything_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let data = dir.path().join("data");
    let start = serve_start(
        dir.path(),
        port,
        &format!("--data-dir '{}'", data.display()),
    );
    let broker = Restartable::start(dir, port, &start);
    let (out, report) = broker.durable_run();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let failed = not_passed(&report, |_| true);
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert_eq!(report["summary"]["passed"], 6, "{report}");
}

#[test]
fn serve_without_a_data_dir_fails_the_durable_cases() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let start = serve_start(dir.path(), port, "");
    let broker = Restartable::start(dir, port, &start);
    let (out, report) = broker.durable_run();
    // `config` cases: reported, the exit status stays 0.
    assert!(out.status.success(), "{}", text(&out.stderr));
    for id in ["durable/retained", "durable/session", "durable/queued"] {
        for version in ["3.1.1", "5"] {
            assert_eq!(
                result(&report, id, version),
                "fail",
                "{id} {version}: {report}"
            );
        }
    }
}

#[test]
fn mosquitto_with_persistence_runs_the_durable_cases_to_a_result() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = dir.path().display().to_string();
    let conf = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
         persistence_location {d}/\npid_file {d}/pid\nuser root\nlog_dest file {d}/mosquitto.log\n"
    );
    std::fs::write(dir.path().join("mosquitto.conf"), conf).unwrap();
    let start = format!("'{}' -c '{d}/mosquitto.conf' -d", mosquitto_bin().display());
    let broker = Restartable::start(dir, port, &start);
    let (out, report) = broker.durable_run();
    assert!(
        matches!(out.status.code(), Some(0)),
        "{}",
        text(&out.stderr)
    );
    let broken = not_passed(&report, |c| c["result"] == "error" || c["result"] == "skip");
    assert!(broken.is_empty(), "every case ran:\n{}", broken.join("\n"));
    // What mosquitto 2.0.11 keeps: README, "What `mqtk test` finds in mosquitto".
    assert_eq!(
        result(&report, "durable/retained", "3.1.1"),
        "pass",
        "{report}"
    );
    assert_eq!(result(&report, "durable/retained", "5"), "pass", "{report}");
}

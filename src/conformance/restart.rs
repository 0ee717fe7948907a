//! Running `--restart-cmd`: the user's command that restarts the broker, under `sh -c`,
//! with a time limit, its stderr kept for the verdict when it fails. Must not judge
//! what survived the restart (the `durable` cases do) or wait for the broker (`Ctx`).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt as _;

use super::verdict::Verdict;

/// Runs `command` with `sh -c` and waits at most `limit` for it to exit with status 0.
/// A command that leaves a process running with its stderr (a broker started in the
/// background) is not waited for beyond its own exit.
pub async fn run(command: &str, limit: Duration) -> Result<(), Verdict> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Verdict::Error(format!("--restart-cmd: cannot run sh: {e}")))?;
    let status = match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(Verdict::Error(format!("--restart-cmd: {e}"))),
        Err(_) => {
            return Err(Verdict::Error(format!(
                "--restart-cmd did not finish within {limit:?}"
            )))
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = Vec::new();
    if let Some(mut pipe) = child.stderr.take() {
        // What it wrote before exiting; a background process may hold the pipe open.
        let _ =
            tokio::time::timeout(Duration::from_millis(200), pipe.read_to_end(&mut stderr)).await;
    }
    let said = String::from_utf8_lossy(&stderr);
    Err(Verdict::Error(format!(
        "--restart-cmd exited with {status}: {}",
        said.trim()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failing_command_is_an_error_with_its_stderr() {
        let limit = Duration::from_secs(5);
        assert_eq!(run("true", limit).await, Ok(()));
        let err = run("echo broken >&2; exit 3", limit).await.unwrap_err();
        assert!(
            matches!(&err, Verdict::Error(d) if d.contains("broken")),
            "{err:?}"
        );
        let slow = run("sleep 5", Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(slow.detail().contains("did not finish"), "{slow:?}");
    }
}

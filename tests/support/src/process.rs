//! Children of a test, always waited on with a bound: run a command to its output, wait
//! for a child the test feeds itself, and `Running`, a child whose stdout lines can be
//! awaited with a timeout and whose stderr is collected. Also polling a condition
//! (`wait_until`) and reading outputs as text. Must not know any particular program.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The longest a command run by [`output`] may take: far beyond any one command of a
/// test (a few seconds in a debug build on a busy machine).
pub const OUTPUT_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs `cmd` to its end with stdin closed and returns its output, as
/// `Command::output` does but bounded by [`OUTPUT_TIMEOUT`]: a command still running
/// then is killed and the test panics, showing its stderr. Panics, naming the command,
/// when it cannot start.
pub fn output(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let mut status = None;
    wait_until(OUTPUT_TIMEOUT, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdout = stdout.join().expect("the stdout reader does not panic");
    let stderr = stderr.join().expect("the stderr reader does not panic");
    let Some(status) = status else {
        panic!(
            "{cmd:?} still running after {OUTPUT_TIMEOUT:?}: killed; stderr:\n{}",
            text(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Reads a child's pipe to its end on a thread (so neither pipe fills while the test
/// waits on the other or on the exit).
fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Bytes of a child's stdout or stderr as text (lossy UTF-8).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fails the test, showing the status, stdout and stderr, unless `out` is a success;
/// returns its stdout.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Waits up to `timeout` for a child spawned by the test to exit and returns its status;
/// on timeout kills it and panics. For children whose stdin the test writes to itself;
/// [`spawn_lines`] gives the same bound with stdout lines and stderr collected.
pub fn child_exit(child: &mut Child, timeout: Duration) -> ExitStatus {
    let mut status = None;
    wait_until(timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    status.unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "child {} still running after {timeout:?}: killed",
            child.id()
        )
    })
}

/// Like [`child_exit`], then reads what is left in the child's piped stdout and stderr:
/// `wait_with_output` with a bound. For children that write little (a pipe buffer) to
/// those pipes while the test waits.
pub fn child_output(mut child: Child, timeout: Duration) -> Output {
    let status = child_exit(&mut child, timeout);
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_end(&mut stdout);
    }
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_end(&mut stderr);
    }
    Output {
        status,
        stdout,
        stderr,
    }
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Polls `condition` every 10 ms until it is true or `timeout` passes; returns whether
/// it became true. For conditions with no event to wait on (a port accepting).
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A running child whose stdout lines arrive on a channel (read by a thread) and whose
/// stderr is collected, so a test can wait for a line with a timeout. Killed on drop.
pub struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_thread: Option<thread::JoinHandle<()>>,
}

/// Spawns `cmd` with stdout and stderr piped (stdin piped too: take it with
/// [`Running::stdin`]) and starts reading its stdout lines.
pub fn spawn_lines(cmd: &mut Command) -> Running {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    let stdout = child.stdout.take().expect("stdout was piped");
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut err = child.stderr.take().expect("stderr was piped");
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&stderr);
    let stderr_thread = thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("stderr buffer lock")
                .extend_from_slice(&buf[..n]);
        }
    });
    Running {
        child,
        lines,
        seen: Vec::new(),
        stderr,
        stderr_thread: Some(stderr_thread),
    }
}

impl Running {
    /// The next stdout line, or `None` if none came within `timeout` or stdout closed.
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Waits up to `timeout` (in total) for a stdout line matching `pred` and returns it;
    /// lines before it are kept in [`Running::seen`]. `None` on timeout or end of output.
    pub fn wait_for_line(
        &mut self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.next_line(left)?;
            if pred(&line) {
                return Some(line);
            }
        }
    }

    /// Like [`Running::wait_for_line`] but panics, showing every line seen and stderr.
    pub fn expect_line(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        match self.wait_for_line(pred, timeout) {
            Some(line) => line,
            None => panic!(
                "no matching stdout line within {timeout:?}\nstdout so far:\n{}\nstderr so far:\n{}",
                self.seen.join("\n"),
                self.stderr()
            ),
        }
    }

    /// Waits up to `timeout` until stderr so far satisfies `pred` (e.g. a `-d` line
    /// saying SUBACK arrived, so a subscriber is ready); panics with stdout and stderr
    /// if it does not.
    pub fn expect_stderr(&self, pred: impl Fn(&str) -> bool, timeout: Duration) {
        if !wait_until(timeout, || pred(&self.stderr())) {
            panic!(
                "stderr did not match within {timeout:?}\nstderr:\n{}\nstdout lines seen:\n{}",
                self.stderr(),
                self.seen.join("\n")
            );
        }
    }

    /// Every stdout line received so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Everything written to stderr so far (lossy UTF-8).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr buffer lock")).into_owned()
    }

    /// The child's stdin (take it and drop it to send end of input).
    pub fn stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (or another signal) to the child.
    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).expect("a pid fits in i32");
        // SAFETY: kill(2) with a pid we own; the worst case is ESRCH if it has exited.
        unsafe {
            libc::kill(pid, signal);
        }
    }

    /// Waits up to `timeout` for the child to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(timeout, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        if status.is_some() {
            // The exit closes stderr: let the reader finish so stderr() is complete.
            if let Some(t) = self.stderr_thread.take() {
                let _ = t.join();
            }
        }
        status
    }

    /// Waits for the exit like [`Running::wait_exit`], panicking with stderr on timeout.
    pub fn expect_exit(&mut self, timeout: Duration) -> ExitStatus {
        match self.wait_exit(timeout) {
            Some(status) => status,
            None => panic!(
                "process still running after {timeout:?}; stderr:\n{}",
                self.stderr()
            ),
        }
    }

    /// Reads the remaining stdout lines until the child closes stdout or `timeout`.
    pub fn rest_of_lines(&mut self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while let Some(line) = self.next_line(deadline.saturating_duration_since(Instant::now())) {
            out.push(line);
        }
        out
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

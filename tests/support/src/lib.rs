//! mqtk-test-support: the one harness of mqtk's integration test binaries (tests/cli,
//! tests/client, tests/serve, tests/bench). Here: commands for the built `mqtk`, running
//! a command to its output, a real mosquitto broker on a free 127.0.0.1 port,
//! `mqtk serve -p 0`, children whose stdout lines can be awaited with a timeout, the
//! paho-mqtt check and `eqnice!`. Modules: TLS certificates in `pki`, `mqtk bench` runs
//! in `bench`, a 3.1.1-only proxy in `v311_proxy`, mosquitto_pub/sub as peers in
//! `peers`, hand-made MQTT bytes on a socket in `raw`. Every wait here is bounded.
//! Must not skip anything: a missing peer (mosquitto, paho-mqtt 2) is a panic that says
//! how to install it. Must not depend on the mqtk library: tests that need
//! `mqtk::protocol` use it themselves. A library, so what one test binary leaves unused
//! does not warn.

pub mod bench;
pub mod peers;
pub mod pki;
pub mod raw;
pub mod v311_proxy;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// `["-h", IP, "-p", PORT]`: the connection flags of `mqtk pub/sub/bench` and
/// mosquitto_pub/sub for a broker (or proxy) at `addr`.
pub fn host_args(addr: SocketAddr) -> Vec<String> {
    vec![
        "-h".into(),
        addr.ip().to_string(),
        "-p".into(),
        addr.port().to_string(),
    ]
}

/// How long the harness waits for a broker to accept connections.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The message every mosquitto-based test panics with when mosquitto is missing.
const NO_MOSQUITTO: &str =
    "mosquitto not installed: run scripts/test or apt-get install mosquitto mosquitto-clients";

/// Asserts two values are equal, printing both in full (not as a diff of escaped
/// strings) when they are not. From ripgrep's tests.
#[macro_export]
macro_rules! eqnice {
    ($expected:expr, $got:expr) => {{
        let expected = &*$expected;
        let got = &*$got;
        if expected != got {
            panic!(
                "\nprinted outputs differ!\n\nexpected:\n{}\n{}\n{}\n\ngot:\n{}\n{}\n{}\n",
                "~".repeat(79),
                expected,
                "~".repeat(79),
                "~".repeat(79),
                got,
                "~".repeat(79)
            );
        }
    }};
}

/// A `Command` for the `mqtk` binary built for these tests.
pub fn mqtk() -> Command {
    Command::new(mqtk_bin())
}

/// The path of the `mqtk` binary the tests run. `env!("CARGO_BIN_EXE_mqtk")` exists only
/// while compiling the test binaries of the mqtk package, not this library: cargo test
/// also sets it at run time; a test binary started by hand finds the binary in its
/// target dir (`target/debug/deps/TEST-HASH` next to `target/debug/mqtk`).
pub fn mqtk_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_BIN_EXE_mqtk") {
        return PathBuf::from(path);
    }
    let test_exe = std::env::current_exe().expect("a test binary knows its path");
    let path = test_exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("mqtk"))
        .expect("a test binary lives in target/PROFILE/deps");
    assert!(
        path.is_file(),
        "no mqtk binary at {}: run the tests with cargo test",
        path.display()
    );
    path
}

/// Runs `cmd` to its end with stdin closed and returns its output; panics, naming the
/// command, when it cannot start.
pub fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
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

/// A port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
/// Another process may take it before you bind it: callers that can, retry.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0 must work");
    listener
        .local_addr()
        .expect("a bound socket has an address")
        .port()
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

/// True when something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// The path of the mosquitto broker binary; panics with install advice when missing.
pub fn mosquitto_bin() -> PathBuf {
    let candidates = [
        Path::new("/usr/sbin/mosquitto"),
        Path::new("/usr/local/sbin/mosquitto"),
    ];
    if let Some(found) = candidates.iter().find(|p| p.exists()) {
        return found.to_path_buf();
    }
    if Command::new("mosquitto")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
    {
        return PathBuf::from("mosquitto");
    }
    panic!("{NO_MOSQUITTO}");
}

/// `mosquitto_pub -h 127.0.0.1 -p PORT`; panics with install advice when missing.
pub fn mosquitto_pub(port: u16) -> Command {
    mosquitto_client("mosquitto_pub", port)
}

/// `mosquitto_sub -h 127.0.0.1 -p PORT`; panics with install advice when missing.
pub fn mosquitto_sub(port: u16) -> Command {
    mosquitto_client("mosquitto_sub", port)
}

fn mosquitto_client(name: &str, port: u16) -> Command {
    let found = Command::new(name)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if found.is_err() {
        panic!("{name} not found: {NO_MOSQUITTO}");
    }
    let mut cmd = Command::new(name);
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
    cmd
}

/// A mosquitto broker on a free 127.0.0.1 port with its own config in a temp dir,
/// killed on drop. Anonymous clients allowed, no persistence.
pub struct Mosquitto {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    extra_conf: String,
}

impl Mosquitto {
    /// Starts mosquitto with the default config. Panics when mosquitto is missing or
    /// does not accept connections within [`START_TIMEOUT`].
    pub fn start() -> Mosquitto {
        Mosquitto::start_with("")
    }

    /// Starts mosquitto with `extra_conf` appended to the default config (e.g.
    /// `"max_inflight_messages 1\n"`). Files the config names can live in [`Mosquitto::dir`]
    /// only if written before the start; use `start_in` for that.
    pub fn start_with(extra_conf: &str) -> Mosquitto {
        let dir = tempfile::tempdir().expect("cannot create a temp dir");
        Mosquitto::start_in(dir, extra_conf)
    }

    /// Like [`Mosquitto::start_with`] in a temp dir you prepared (password files, ACLs).
    pub fn start_in(dir: tempfile::TempDir, extra_conf: &str) -> Mosquitto {
        let bin = mosquitto_bin();
        let mut broker = Mosquitto {
            child: None,
            port: 0,
            dir,
            extra_conf: extra_conf.into(),
        };
        let mut last_log = String::new();
        // A free port can be taken by another test between free_port() and mosquitto's
        // bind: try a few ports.
        for _attempt in 0..5 {
            broker.port = free_port();
            match broker.spawn(&bin) {
                Ok(()) => return broker,
                Err(log) => last_log = log,
            }
        }
        panic!("mosquitto did not start after 5 attempts; its last log:\n{last_log}");
    }

    /// Writes the config, starts mosquitto and waits until the port accepts. On failure
    /// returns mosquitto's log.
    fn spawn(&mut self, bin: &Path) -> Result<(), String> {
        let conf_path = self.dir.path().join("mosquitto.conf");
        let log_path = self.dir.path().join("mosquitto.log");
        // `user root` only matters when running as root: stay root rather than switch
        // to the `mosquitto` user, who could not read files in our temp dir.
        let conf = format!(
            "listener {} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n\
             log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n{}\n",
            self.port, self.extra_conf
        );
        std::fs::write(&conf_path, conf).expect("cannot write mosquitto.conf");
        let log = std::fs::File::create(&log_path).expect("cannot create mosquitto.log");
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cannot clone a file handle"))
            .stderr(log)
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => panic!("cannot run {}: {e}; {NO_MOSQUITTO}", bin.display()),
        };
        let port = self.port;
        let mut exited = false;
        let up = wait_until(START_TIMEOUT, || {
            if matches!(child.try_wait(), Ok(Some(_))) {
                exited = true;
                return true;
            }
            port_accepts(port)
        });
        if up && !exited {
            self.child = Some(child);
            return Ok(());
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(std::fs::read_to_string(&log_path).unwrap_or_default())
    }

    /// The port mosquitto listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `["-h", "127.0.0.1", "-p", PORT]`: the connection flags of `mqtk pub/sub/bench`
    /// (and mosquitto_pub/sub) for this broker.
    pub fn host_args(&self) -> Vec<String> {
        host_args(SocketAddr::from(([127, 0, 0, 1], self.port)))
    }

    /// The temp dir holding mosquitto.conf and mosquitto.log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// mosquitto's log so far (errors, warnings, notices).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Kills mosquitto and waits for it to exit: connected clients see the connection
    /// drop. The port stays reserved for [`Mosquitto::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts mosquitto again on the same port and config after [`Mosquitto::stop`].
    pub fn start_again(&mut self) {
        assert!(
            self.child.is_none(),
            "start_again needs a stopped mosquitto"
        );
        let bin = mosquitto_bin();
        // The old socket may linger briefly; mosquitto sets SO_REUSEADDR, so a couple
        // of attempts suffice.
        let mut last = String::new();
        for _ in 0..3 {
            match self.spawn(&bin) {
                Ok(()) => return,
                Err(log) => last = log,
            }
        }
        panic!("mosquitto did not restart on port {}: {last}", self.port);
    }

    /// Kills mosquitto and starts it again on the same port (for reconnect tests).
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
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

/// `mqtk serve -p 0 ARGS…` running, its port read from the first stdout line
/// `listening on mqtt://ADDR:PORT`. Killed on drop; [`Serve::stop`] asks it to stop.
pub struct Serve {
    running: Running,
    addr: SocketAddr,
}

impl Serve {
    /// Starts `mqtk serve -p 0` with `args` and waits (bounded) for its `listening on`
    /// line. Panics with its stderr if the line does not come.
    pub fn start(args: &[&str]) -> Serve {
        let mut cmd = mqtk();
        cmd.args(["serve", "-p", "0"]).args(args);
        let mut running = spawn_lines(&mut cmd);
        let Some(first) = running.next_line(START_TIMEOUT) else {
            let status = running.wait_exit(Duration::from_secs(2));
            panic!(
                "`mqtk serve -p 0 {}` printed no `listening on` line (exit: {status:?}); stderr:\n{}",
                args.join(" "),
                running.stderr()
            );
        };
        let addr = first
            .strip_prefix("listening on mqtt://")
            .and_then(|a| a.parse::<SocketAddr>().ok())
            .unwrap_or_else(|| panic!("first stdout line of mqtk serve is not `listening on mqtt://ADDR:PORT`: {first:?}"));
        Serve { running, addr }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `["-h", "ADDR", "-p", PORT]`: the connection flags of `mqtk pub/sub/bench` and
    /// mosquitto_pub/sub for this broker.
    pub fn host_args(&self) -> Vec<String> {
        host_args(self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The running process (more stdout lines, stderr, signals).
    pub fn running(&mut self) -> &mut Running {
        &mut self.running
    }

    /// The address of serve's next `listening on SCHEME://ADDR[/mqtt]` line (it prints one
    /// per listener, in the order of its flags); panics if the next line is another.
    pub fn next_listener(&mut self, scheme: &str) -> SocketAddr {
        let line = self
            .running
            .next_line(START_TIMEOUT)
            .unwrap_or_else(|| panic!("no further `listening on {scheme}://` line"));
        let rest = line
            .strip_prefix(&format!("listening on {scheme}://"))
            .unwrap_or_else(|| panic!("expected a {scheme} listener, got {line:?}"));
        rest.trim_end_matches("/mqtt")
            .parse()
            .unwrap_or_else(|_| panic!("bad address in {line:?}"))
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.running.signal(libc::SIGTERM);
        self.running.expect_exit(START_TIMEOUT)
    }
}

/// How long [`mqtk_sub_ready`] waits for the SUBACK.
pub const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(20);

/// `mqtk sub HOST_ARGS -d ARGS…` running, returned once its `-d` stderr says the SUBACK
/// arrived, so nothing published afterwards can be missed.
pub fn mqtk_sub_ready(host_args: &[String], args: &[&str]) -> Running {
    let mut cmd = mqtk();
    cmd.arg("sub").args(host_args).arg("-d").args(args);
    let sub = spawn_lines(&mut cmd);
    sub.expect_stderr(|e| e.contains("received SUBACK"), SUBSCRIBE_TIMEOUT);
    sub
}

/// Checks that python3 has paho-mqtt 2.x and returns its version; panics with install
/// advice otherwise. Call it at the start of every test that runs a paho script.
pub fn python3_paho() -> String {
    let out = Command::new("python3")
        .args(["-c", "import paho.mqtt; print(paho.mqtt.__version__)"])
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 not found ({e}): install python3 and run scripts/test")
        });
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || !version.starts_with("2.") {
        panic!(
            "paho-mqtt 2 is needed (found {:?}): run scripts/test or \
             python3 -m pip install 'paho-mqtt>=2,<3'\n{}",
            version,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    version
}

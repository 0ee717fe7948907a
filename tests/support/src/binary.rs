//! The `mqtk` binary under test: its path and commands for it, `mqtk serve -p 0` running
//! with the address it printed, and an `mqtk sub` returned once subscribed. Must not
//! depend on the mqtk library: only the built binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use crate::net::{host_args, START_TIMEOUT};
use crate::process::{spawn_lines, Running};

/// A `Command` for the `mqtk` binary built for these tests. It sees no config file
/// and no profile of the user running them (`~/.config/mqtk/config.toml`,
/// `MQTK_PROFILE`): a test that wants one sets it on the command.
pub fn mqtk() -> Command {
    let mut cmd = Command::new(mqtk_bin());
    cmd.env("XDG_CONFIG_HOME", "/nonexistent/mqtk-tests")
        .env_remove("MQTK_PROFILE")
        .env_remove("MQTK_CONFIG");
    cmd
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

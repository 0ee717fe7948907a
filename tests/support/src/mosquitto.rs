//! The mosquitto broker on a free 127.0.0.1 port with its own config in a temp dir, and
//! mosquitto_pub/mosquitto_sub commands. A missing mosquitto is a panic that says how to
//! install it, never a skip.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::net::{free_port, host_args, port_accepts, START_TIMEOUT};
use crate::process::wait_until;

/// The message every mosquitto-based test panics with when mosquitto is missing.
const NO_MOSQUITTO: &str =
    "mosquitto not installed: run scripts/test or apt-get install mosquitto mosquitto-clients";

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

    /// mosquitto's process id (for `mqtk bench --broker-pid`); panics when stopped.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("mosquitto is running").id()
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

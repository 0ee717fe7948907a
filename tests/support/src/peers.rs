//! mosquitto_pub and mosquitto_sub as peers of `mqtk serve`: a line-buffered
//! mosquitto_sub that is returned once subscribed, mosquitto_pub to completion, and the
//! bound every such wait uses. Must not wait without a timeout.

use std::process::Command;
use std::time::Duration;

use crate::mosquitto::{mosquitto_pub, mosquitto_sub};
use crate::process::{output, spawn_lines, Running};

/// The bound for every wait in these tests.
pub const T: Duration = Duration::from_secs(10);

/// Both protocol versions, as mosquitto's `-V` takes them.
pub const VERSIONS: [&str; 2] = ["311", "5"];

/// mosquitto_sub with `-d` and line-buffered output, returned once its SUBACK arrived
/// (so nothing published afterwards can be missed).
pub fn subscriber(port: u16, args: &[&str]) -> Running {
    let mut sub = spawn_lines(&mut sub_command(port, args));
    sub.expect_line(|l| l.contains("received SUBACK"), T);
    sub
}

/// The line-buffered `mosquitto_sub -d ARGS` command.
pub fn sub_command(port: u16, args: &[&str]) -> Command {
    let _ = mosquitto_sub(port); // panics with install advice when missing
    let mut cmd = Command::new("stdbuf");
    cmd.args([
        "-oL",
        "mosquitto_sub",
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-d",
    ])
    .args(args);
    cmd
}

/// True for the message lines of a `-d` mosquitto_sub (not its debug lines).
pub fn is_message(line: &str) -> bool {
    !line.starts_with("Client ") && !line.starts_with("Subscribed")
}

/// The next message line of a `subscriber`.
pub fn message(sub: &mut Running) -> String {
    sub.expect_line(is_message, T)
}

/// Runs mosquitto_pub to completion (bounded, see [`output`]) and asserts it succeeded.
pub fn publish(port: u16, args: &[&str]) {
    let out = output(mosquitto_pub(port).args(args));
    assert!(
        out.status.success(),
        "mosquitto_pub {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

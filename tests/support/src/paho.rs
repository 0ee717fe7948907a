//! The paho-mqtt 2 Python client as a peer: the check that it is installed. A missing
//! paho-mqtt is a panic that says how to install it, never a skip.

use std::process::Command;

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

//! mqtk-test-support: the one harness of mqtk's integration test binaries (tests/cli,
//! tests/client, tests/serve, tests/bench; tests/protocol needs none). A library, so
//! what one test binary leaves unused does not warn. Every wait in it is bounded; a
//! missing peer (mosquitto, paho-mqtt 2) is a panic that says how to install it, never
//! a skip. It must not depend on the mqtk library: tests that need `mqtk::protocol` use
//! it themselves.
//!
//! The map; dependencies run downwards only (a module uses those below it):
//! - `bench`: `mqtk bench` run to its exit, its JSON report, the pairs run's checks
//! - `pki`: TLS certificates (rcgen) and mosquitto with a TLS listener
//! - `raw`: hand-made MQTT bytes on a TCP socket, exact replies, MQTT 5 properties
//! - `peers`: mosquitto_sub returned once subscribed, mosquitto_pub to completion
//! - `v311_proxy`: a 3.1.1-only broker in front of a real one, refusing MQTT 5
//! - `binary`: the mqtk binary under test, `mqtk serve -p 0`, `mqtk sub` once subscribed
//! - `mosquitto`: the mosquitto broker on a free port, mosquitto_pub/sub commands
//! - `paho`: the paho-mqtt 2 check
//! - `process`: children waited on with a bound, `Running` (stdout lines with a
//!   timeout), `wait_until`, outputs as text
//! - `net`: free ports on 127.0.0.1, `-h/-p` flags, the start timeout
//!
//! The names every binary uses are re-exported here, with `eqnice!`.

pub mod bench;
pub mod binary;
pub mod mosquitto;
pub mod net;
pub mod paho;
pub mod peers;
pub mod pki;
pub mod process;
pub mod raw;
pub mod v311_proxy;

// The names every test binary uses, at the crate root.
pub use binary::{mqtk, mqtk_bin, mqtk_sub_ready, Serve, SUBSCRIBE_TIMEOUT};
pub use mosquitto::{mosquitto_bin, mosquitto_pub, mosquitto_sub, Mosquitto};
pub use net::{free_port, host_args, port_accepts, START_TIMEOUT};
pub use paho::python3_paho;
pub use process::{
    child_exit, child_output, ok, output, p, spawn_lines, text, wait_until, Running, OUTPUT_TIMEOUT,
};

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

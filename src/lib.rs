//! mqtk: an MQTT 3.1.1 and 5.0 toolkit. The library behind the `mqtk` binary: the
//! sans-IO protocol, the client core shared by pub/sub/bench, the broker, the bench.
//! Only `output` writes to stdout/stderr (enforced by the clippy lints below).
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod bench;
pub mod broker;
pub mod cli;
pub mod client;
pub mod net;
pub mod output;
pub mod protocol;
pub mod small_map;

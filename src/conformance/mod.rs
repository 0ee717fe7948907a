//! `mqtk test`: checks a broker against MQTT 3.1.1 and 5.0. A capability probe first
//! (`probe`, its findings in `capabilities`), then the registered cases (`cases`), each
//! naming the specification section and normative statement it checks and how binding
//! the rule is (`verdict::Level`), run one at a time under a time limit by `runner`.
//! Cases get a `ctx::Ctx` (their own ids and topics, connections) and talk through
//! `peer` (a test client on `net::Connection`), and restart the broker through
//! `restart` (`--restart-cmd`); `report` is the result model and its
//! exit status, `render` its table and JUnit forms. Must not print (the CLI hands the
//! rendered text to `output`) and must not know clap.
//!
//! Dependencies run one way: `verdict` ← `peer` ← `ctx` (with `config`,
//! `capabilities`) ← `case`, `probe` ← `cases`, `report` ← `runner`, `render`.

pub mod capabilities;
pub mod case;
pub mod cases;
pub mod config;
pub mod ctx;
pub mod peer;
pub mod probe;
pub mod render;
pub mod report;
pub mod restart;
pub mod runner;
pub mod verdict;

pub use case::Case;
pub use config::{Config, Selection};
pub use ctx::Ctx;
pub use report::{CaseReport, Outcome, Report};
pub use runner::run;
pub use verdict::{Check, Level, Spec, Verdict};

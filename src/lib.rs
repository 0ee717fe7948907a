//! mqtk: an MQTT 3.1.1 and 5.0 toolkit. The library behind the `mqtk` binary.
//!
//! The crate's map, one line per module on what it owns:
//!
//! - `protocol`: MQTT, sans-IO: one packet model for both versions, encode/decode,
//!   properties, reason codes, topics, and the session state machine (packet ids,
//!   QoS 1/2 flows, keep alive, CONNACK → session rules) that client, bench and broker
//!   all drive. No sockets, no tokio, no clock reads.
//! - `net`: the byte stream (TCP inline, TLS and WebSocket boxed), the framed
//!   connection (`net::Connection`), dialing a broker, and the one CONNECT/CONNACK
//!   handshake with its version-refused rule.
//! - `client`: the `Client` actor of `pub` and `sub`: reconnects with backoff, resumes
//!   or restarts the session, and the `--session-dir` store.
//! - `broker`: the broker of `mqtk serve`, by concern: `route/` (messages, mailboxes,
//!   subscriptions, retained, flow control), `conn/` (one task per connection),
//!   `persist/` (kept sessions, `--data-dir`), `access/` (passwords, ACL).
//! - `bench`: `mqtk bench`: plan, lean simulated clients on `net`, pacing, statistics
//!   (hdrhistogram), the report model and its renderers.
//! - `conformance`: `mqtk test`: the capability probe, the conformance cases (each with
//!   its spec reference and level), running them under time limits, the report model
//!   and its table / JSON / JUnit forms, on `net`.
//! - `cli`: clap definitions and one `run` per subcommand: turns flags into the checked
//!   configs of the modules above. Nothing below `cli` sees clap types.
//! - `output`: the only writer to stdout/stderr (enforced by the clippy lints below):
//!   message formats, `-d` packet lines, log lines.
//! - `payload`: payload codecs (hex, base64, JSON, CBOR, MessagePack, Protobuf from a
//!   `.proto` compiled at run time, Sparkplug B) between bytes and JSON values, for
//!   `sub --decode` and `pub --encode`, and which topic gets which codec. Sans-IO.
//! - `record`: the recording format, the `sub --json` line (`Record`, serde both
//!   ways): `output` writes it, `pub --jsonl` reads it back, so the two cannot drift.
//! - `glob`: shell-style `*`/`?` globs over bytes (fault rules, `--trace-client`,
//!   `mqtk test --only/--skip`).
//! - `small_map`: a vector-backed map for the few-entry maps kept per connection.
//!
//! Dependencies point down, never up: `cli` → `client`, `bench`, `broker`,
//! `conformance` → `net` → `protocol` → `small_map`, with `output` beside them for
//! whoever prints, `record` below `output` and `cli`, and `payload` below `record`.
//! `bench` uses `broker` only to start the built-in broker; otherwise `client`,
//! `bench`, `broker` and `conformance` do not know each other. No two files need each
//! other (`scripts/module-cycles`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod bench;
pub mod broker;
pub mod cli;
pub mod client;
pub mod conformance;
pub mod glob;
pub mod net;
pub mod output;
pub mod payload;
pub mod protocol;
pub mod record;
pub mod small_map;

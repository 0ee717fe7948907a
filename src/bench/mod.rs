//! The load generator of `mqtk bench`: many light clients in one process, honest
//! throughput and latency figures, one `BenchReport`.
//! Must not parse flags (cli/bench.rs builds a `BenchConfig`) or write to stdout/stderr
//! (it returns text and takes a writer for progress).
//!
//! - `config`: `BenchConfig`, the checked run configuration; `%i` templates.
//! - `header`: the payload header (publisher, sequence, send time) padded to `--size`.
//! - `stats`: HDR histograms (µs) and per-publisher sequence tracking.
//! - `pacer`: the `--rate` schedule, and one timer per worker thread that wakes every
//!   paced publisher due.
//! - `plan`: who publishes where, and which receivers expect each publisher's messages.
//! - `conn`: one lean connection (TCP, buffers, CONNECT/CONNACK).
//! - `client`: one simulated client task driving `protocol::session::Session`.
//! - `scenario`: the run: spawning, phases, drain, the report.
//! - `quiet`: when the broker has stopped working for us (the drain timeout).
//! - `embedded`: `mqtk serve`'s broker in-process when no broker is given.
//! - `hdrlog`: `--hdr-log` in the HdrHistogram interval log format.
//! - `collect`: merges client updates into the run's figures; one owner, no locks.
//! - `report`: the serde `BenchReport`.
//! - `series`: `--series`, one JSON line per second of the run.
//! - `shard`: `--shard I/N`: this shard's share, topic prefix, parameter hash.
//! - `broker_proc`: `--broker-pid`: the broker process's memory, descriptors and CPU.
//! - `barrier`: the shards' start barrier (retained ready flags, or `--start-at`).
//! - `cross`: `--cross-shard`: deliveries by publisher shard, the merge's exact loss.
//! - `merge`: `bench merge`: shard reports added up exactly, or refused.
//! - `merged_series`: the merged run's per-second series, from the shards' seconds.
//! - `plot`: `--plot FILE.svg`: latency by percentile, throughput and p99 over time.
//! - `k8s`: the Indexed Job manifest of a sharded run (`bench k8s`).
//! - `slo`: `--slo` thresholds, parsed and checked against a finished report.
//! - `render`: the human table and the JSON over `&BenchReport`.
//! - `progress`: progress bar on a terminal, plain lines otherwise.
//! - `workers`: the single-threaded runtimes the client tasks run on.
//! - `sys`: CPU time (getrusage, /proc) and raising the open-file limit (soft and hard).
//! - `fds`: descriptors a run needs, and what to say about the limit.

pub mod barrier;
pub mod broker_proc;
pub mod client;
pub mod collect;
pub mod config;
pub mod conn;
pub mod cross;
pub mod embedded;
pub mod fds;

pub mod hdrlog;
pub mod header;
pub mod k8s;
pub mod merge;
pub mod merged_series;
pub mod pacer;
pub mod plan;
pub mod plot;
pub mod progress;
pub mod quiet;
pub mod render;
pub mod report;
pub mod scenario;
pub mod series;
pub mod shard;
pub mod slo;
pub mod stats;
pub mod sys;
pub mod workers;

pub use config::{BenchConfig, RunBound, Target};
pub use report::BenchReport;

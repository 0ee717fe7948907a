//! `mqtk bench` against the real mosquitto broker: delivery accounting, the report and
//! the HdrHistogram log (`runs`), TLS (`tls`), the fallback to MQTT 3.1.1 and MQTT 5's
//! Receive Maximum (`versions`), `--slo` verdicts and exit status (`slo`), `--series`
//! lines (`series`), shards and `bench merge` (`shards`),
//! shards whose subscribers hear every shard (`cross_shard`), `--plot` (`plot`), `--broker-pid` (`broker_pid`), churn and `--hold` (`churn`),
//! flapping subscribers (`flapping`). One test
//! binary; the harness is `support` (tests/support), with `support::bench` running
//! `mqtk bench` to its exit.

mod broker_pid;
mod churn;
mod cross_shard;
mod flapping;
mod k8s;
mod plot;
mod runs;
mod series;
mod shards;
mod slo;
mod tls;
mod versions;

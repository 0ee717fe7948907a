//! `mqtk serve` driven by clients we did not write: `pubsub` (start and stop, QoS,
//! retained, wildcards, `$SYS`) and `sessions` (kept sessions, wills, keep alive,
//! takeover) with mosquitto_pub/sub, `v5` for MQTT 5 features, `conformance` with raw
//! bytes and exact replies, `flow` for back-pressure, `graceful` for the close after a
//! reason (read, not reset), `order` for `--threads 1`, `durable` for `--data-dir`,
//! `damaged_store` for a store file it cannot read, `deploy` for TLS, WebSocket,
//! passwords, ACLs and `-c FILE`, `limits` for the abuse limits, `paho` with the
//! paho-mqtt Python client, `faults` for `--fault` (the broker as a test fixture),
//! `trace` for `--trace`. One test binary; the harness is `support` (tests/support).

mod conformance;
mod damaged_store;
mod deploy;
mod durable;
mod faults;
mod flow;
mod graceful;
mod limits;
mod order;
mod paho;
mod pubsub;
mod sessions;
mod trace;
mod v5;

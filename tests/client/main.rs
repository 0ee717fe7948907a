//! `mqtk pub` and `mqtk sub` against real brokers and peers: `codecs` (`--decode`,
//! `--encode`, with cbor2/msgpack/protobuf fixtures), `publish` and `subscribe`
//! against mosquitto with mosquitto_sub/mosquitto_pub as the other side, `transports`
//! over TLS and WebSocket, `interop` against both mosquitto and `mqtk serve` on both
//! versions, `parity` for mosquitto 2.1's client options (-E, -U, --unix, --proxy, -o, …);
//! and `harness`, the checks of the shared harness (`support`, in
//! tests/support) itself against mosquitto: if those fail, every other test is suspect.

mod codecs;
mod harness;
mod interop;
mod parity;
mod profiles;
mod publish;
mod rr;
mod sparkplug;
mod subscribe;
mod transports;

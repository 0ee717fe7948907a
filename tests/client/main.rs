//! `mqtk pub` and `mqtk sub` against real brokers and peers: `codecs` (`--decode`,
//! `--encode`, with cbor2/msgpack/protobuf fixtures), `publish` and `subscribe`
//! against mosquitto with mosquitto_sub/mosquitto_pub as the other side, `transports`
//! over TLS and WebSocket, `jsonl` (many topics per `pub`, `sub --json | pub --jsonl`)
//! and `replay` (`--replay`, `--rate`, `--loop`) against mosquitto and paho, `interop` against both mosquitto and `mqtk serve` on both
//! versions, `parity` for mosquitto 2.1's client options (-E, -U, --unix, --proxy, -o, …);
//! and `harness`, the checks of the shared harness (`support`, in
//! tests/support) itself against mosquitto: if those fail, every other test is suspect.

mod codecs;
mod harness;
mod interop;
mod jsonl;
mod parity;
mod profiles;
mod publish;
mod replay;
mod rr;
mod sparkplug;
mod subscribe;
mod transports;

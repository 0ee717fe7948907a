//! The MQTT protocol, sans-IO: bytes in, packets out, and back. One packet model for
//! MQTT 3.1.1 and 5.0; the version is an argument, never a second copy of the code.
//! No sockets, no tokio, no clock reads (time comes in as an argument).
//!
//! - `codec`: varints, strings, binary data, the fixed header.
//! - `packet`: the `Packet` enum and one struct per packet; `encode`/`decode`.
//! - `properties`: MQTT 5 properties and where each may appear.
//! - `reason`: the `ReasonCode` enum and the 3.1.1 return-code mapping.
//! - `error`: `ProtocolError`, which knows the reason code to send.
//! - `topic`: topic name/filter validation, matching, shared subscriptions.
//! - `session`: packet ids, QoS 1/2 flows, keep-alive deadlines.
#![warn(missing_docs)]

pub mod codec;
pub mod error;
pub mod packet;
pub mod properties;
pub mod reason;
pub mod session;
pub mod topic;

pub use error::ProtocolError;
pub use packet::*;
pub use properties::Properties;
pub use reason::ReasonCode;

//! `ProtocolError`: everything a receiver can find wrong in the bytes or the sequence of
//! packets, each naming the rule it breaks and knowing the MQTT 5 reason code to send
//! in DISCONNECT (or CONNACK). Must not format for users beyond `Display`.

use super::reason::ReasonCode;

/// A malformed packet or a protocol violation. `reason_code()` is what an MQTT 5 peer
/// puts in the DISCONNECT (or CONNACK) it sends before closing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The fixed header announces more bytes than the maximum packet size allows.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Announced size of the whole packet.
        size: u64,
        /// The limit in force.
        max: u32,
    },
    /// Any other malformed packet: the message names the rule.
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// A well-formed packet that breaks a rule of the protocol.
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    /// A PUBLISH topic name that is not valid (wildcard, empty, …).
    #[error("invalid topic name: {0}")]
    TopicNameInvalid(&'static str),
    /// A topic filter that is not valid.
    #[error("invalid topic filter: {0}")]
    TopicFilterInvalid(&'static str),
    /// A topic alias of 0 or above the maximum.
    #[error("invalid topic alias: {0}")]
    TopicAliasInvalid(&'static str),
    /// CONNECT with a protocol name or level we do not speak.
    #[error("unsupported protocol version (protocol level {0})")]
    UnsupportedProtocolVersion(u8),
    /// More QoS 1/2 PUBLISH packets in flight than the receive maximum.
    #[error("receive maximum exceeded")]
    ReceiveMaximumExceeded,
    /// A property identifier this version does not define (MQTT 5.0 §2.2.2.2).
    #[error("malformed packet: unknown property identifier 0x{0:02X}")]
    UnknownProperty(u32),
    /// A property in a packet whose column of the table in MQTT 5.0 §2.2.2.2 lacks it.
    #[error("malformed packet: property {property} is not allowed in {packet}")]
    PropertyNotAllowed {
        /// The property's name.
        property: &'static str,
        /// The packet (or "the will properties").
        packet: &'static str,
    },
    /// A single-valued property given twice (MQTT 5.0 §2.2.2.2).
    #[error("protocol error: property {0} appears more than once")]
    DuplicateProperty(&'static str),
    /// A property value out of its range: 0 where 0 is not allowed, a flag not 0 or 1.
    #[error("protocol error: invalid value of property {property}")]
    PropertyValueInvalid {
        /// The property's name.
        property: &'static str,
    },
}

impl ProtocolError {
    /// The MQTT 5 reason code that reports this error to the peer.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            ProtocolError::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            ProtocolError::Malformed(_) => ReasonCode::MalformedPacket,
            ProtocolError::Protocol(_) => ReasonCode::ProtocolError,
            ProtocolError::TopicNameInvalid(_) => ReasonCode::TopicNameInvalid,
            ProtocolError::TopicFilterInvalid(_) => ReasonCode::TopicFilterInvalid,
            ProtocolError::TopicAliasInvalid(_) => ReasonCode::TopicAliasInvalid,
            ProtocolError::UnsupportedProtocolVersion(_) => ReasonCode::UnsupportedProtocolVersion,
            ProtocolError::ReceiveMaximumExceeded => ReasonCode::ReceiveMaximumExceeded,
            ProtocolError::UnknownProperty(_) => ReasonCode::MalformedPacket,
            ProtocolError::PropertyNotAllowed { .. } => ReasonCode::MalformedPacket,
            ProtocolError::DuplicateProperty(_) => ReasonCode::ProtocolError,
            ProtocolError::PropertyValueInvalid { .. } => ReasonCode::ProtocolError,
        }
    }
}

//! The packet model: one `Packet` enum and one struct per packet type, shared by
//! MQTT 3.1.1 and 5.0 (fields that exist only in 5.0 stay empty on 3.1.1), with
//! `encode` and `decode` taking the protocol version as an argument.
//! Must not do I/O, read a clock, or keep state between calls.

use bytes::Bytes;
use bytestring::ByteString;

use super::properties::Properties;
use super::reason::ReasonCode;

/// The protocol level in CONNECT: 4 is MQTT 3.1.1, 5 is MQTT 5.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// MQTT 3.1.1, protocol level 4.
    V311,
    /// MQTT 5.0, protocol level 5.
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte of CONNECT (MQTT 3.1.1 §3.1.2.2, MQTT 5.0 §3.1.2.2).
    pub fn level(self) -> u8 {
        match self {
            ProtocolVersion::V311 => 4,
            ProtocolVersion::V5 => 5,
        }
    }
}

/// Quality of service of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum QoS {
    /// At most once.
    #[default]
    AtMostOnce = 0,
    /// At least once: PUBLISH, PUBACK.
    AtLeastOnce = 1,
    /// Exactly once: PUBLISH, PUBREC, PUBREL, PUBCOMP.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for 0, 1 or 2; `None` for anything else (3 is malformed).
    pub fn from_u8(value: u8) -> Option<QoS> {
        match value {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// Every MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (1).
    Connect(Connect),
    /// CONNACK (2).
    ConnAck(ConnAck),
    /// PUBLISH (3).
    Publish(Publish),
    /// PUBACK (4).
    PubAck(PubResponse),
    /// PUBREC (5).
    PubRec(PubResponse),
    /// PUBREL (6).
    PubRel(PubResponse),
    /// PUBCOMP (7).
    PubComp(PubResponse),
    /// SUBSCRIBE (8).
    Subscribe(Subscribe),
    /// SUBACK (9).
    SubAck(SubAck),
    /// UNSUBSCRIBE (10).
    Unsubscribe(Unsubscribe),
    /// UNSUBACK (11).
    UnsubAck(UnsubAck),
    /// PINGREQ (12).
    PingReq,
    /// PINGRESP (13).
    PingResp,
    /// DISCONNECT (14). On 3.1.1 reason code and properties are not on the wire.
    Disconnect(Disconnect),
    /// AUTH (15), MQTT 5.0 only.
    Auth(Auth),
}

/// CONNECT: the first packet a client sends. Its protocol level decides the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The version the client speaks (protocol level 4 or 5).
    pub protocol_version: ProtocolVersion,
    /// Client identifier; may be empty (§3.1.3.1).
    pub client_id: String,
    /// Clean Session (3.1.1) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep alive in seconds; 0 turns it off.
    pub keep_alive_secs: u16,
    /// User name.
    pub username: Option<String>,
    /// Password (binary data).
    pub password: Option<Bytes>,
    /// Last will.
    pub will: Option<Will>,
    /// CONNECT properties (5.0).
    pub properties: Properties,
}

/// The last will of a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Will topic (a topic name, no wildcards).
    pub topic: ByteString,
    /// Will payload.
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will retain.
    pub retain: bool,
    /// Will properties (5.0): delay, expiry, content type, …
    pub properties: Properties,
}

/// CONNACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Session present flag.
    pub session_present: bool,
    /// Reason code; on 3.1.1 mapped to and from the return code.
    pub reason_code: ReasonCode,
    /// CONNACK properties (5.0).
    pub properties: Properties,
}

/// PUBLISH. Topic and payload are `Bytes`-backed so a fan-out clones pointers only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP flag.
    pub dup: bool,
    /// QoS.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name; may be empty on 5.0 when a topic alias stands for it.
    pub topic: ByteString,
    /// Packet identifier; 0 (and not on the wire) when `qos` is 0.
    pub packet_id: u16,
    /// PUBLISH properties (5.0).
    pub properties: Properties,
    /// Application message.
    pub payload: Bytes,
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one layout (MQTT 5.0 §3.4–3.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubResponse {
    /// Packet identifier of the PUBLISH (or PUBREL) being answered.
    pub packet_id: u16,
    /// Reason code (5.0); `Success` on 3.1.1.
    pub reason_code: ReasonCode,
    /// Properties (5.0).
    pub properties: Properties,
}

impl PubResponse {
    /// A successful response with no properties.
    pub fn new(packet_id: u16) -> PubResponse {
        PubResponse {
            packet_id,
            reason_code: ReasonCode::Success,
            properties: Properties::default(),
        }
    }
}

/// What to do with retained messages when a subscription is made (MQTT 5.0 §3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendOnSubscribe = 0,
    /// 1: send them only if the subscription did not exist yet.
    SendIfNew = 1,
    /// 2: do not send them.
    DoNotSend = 2,
}

/// One topic filter of a SUBSCRIBE with its options.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// Topic filter, possibly `$share/GROUP/FILTER`.
    pub filter: String,
    /// Maximum QoS.
    pub qos: QoS,
    /// No Local (5.0).
    pub no_local: bool,
    /// Retain As Published (5.0).
    pub retain_as_published: bool,
    /// Retain Handling (5.0).
    pub retain_handling: RetainHandling,
}

impl Subscription {
    /// A subscription with default 5.0 options.
    pub fn new(filter: impl Into<String>, qos: QoS) -> Subscription {
        Subscription {
            filter: filter.into(),
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendOnSubscribe,
        }
    }
}

/// SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: u16,
    /// At least one filter.
    pub subscriptions: Vec<Subscription>,
    /// Properties (5.0): subscription identifier, user properties.
    pub properties: Properties,
}

/// SUBACK: one reason code per filter (3.1.1: 0, 1, 2 or 0x80 → `UnspecifiedError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Packet identifier.
    pub packet_id: u16,
    /// One code per filter, in order.
    pub reason_codes: Vec<ReasonCode>,
    /// Properties (5.0).
    pub properties: Properties,
}

/// UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: u16,
    /// At least one filter.
    pub filters: Vec<String>,
    /// Properties (5.0).
    pub properties: Properties,
}

/// UNSUBACK. On 3.1.1 there are no reason codes on the wire: `reason_codes` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet identifier.
    pub packet_id: u16,
    /// One code per filter (5.0).
    pub reason_codes: Vec<ReasonCode>,
    /// Properties (5.0).
    pub properties: Properties,
}

/// DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// Reason code (5.0); `Success` (normal disconnection) on 3.1.1.
    pub reason_code: ReasonCode,
    /// Properties (5.0).
    pub properties: Properties,
}

impl Disconnect {
    /// A normal disconnection with no properties.
    pub fn normal() -> Disconnect {
        Disconnect {
            reason_code: ReasonCode::Success,
            properties: Properties::default(),
        }
    }

    /// A disconnection with a reason code and no properties.
    pub fn with_reason(reason_code: ReasonCode) -> Disconnect {
        Disconnect {
            reason_code,
            properties: Properties::default(),
        }
    }
}

/// AUTH (5.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// Reason code.
    pub reason_code: ReasonCode,
    /// Properties: authentication method and data.
    pub properties: Properties,
}

impl Packet {
    /// Decodes one packet from the front of `buf`, advancing past it.
    ///
    /// `Ok(None)`: the packet is not complete yet; read more bytes and call again
    /// (nothing is consumed). `Err`: malformed or too large (checked from the fixed
    /// header, before anything is allocated); the connection must be closed.
    /// CONNECT is decoded by its own protocol level whatever `version` says.
    /// Topic and payload are zero-copy slices of the frame.
    pub fn decode(
        buf: &mut bytes::BytesMut,
        version: ProtocolVersion,
        max_packet_size: u32,
    ) -> Result<Option<Packet>, super::ProtocolError> {
        let _ = (buf, version, max_packet_size);
        todo!("codec helper")
    }

    /// Appends the packet's bytes to `buf`; the whole frame is written in one go.
    /// Fails (writing nothing) when a field cannot be represented, e.g. a string
    /// over 65,535 bytes or a QoS > 0 PUBLISH with packet id 0.
    pub fn encode(
        &self,
        version: ProtocolVersion,
        buf: &mut bytes::BytesMut,
    ) -> Result<(), super::ProtocolError> {
        let _ = (version, buf);
        todo!("codec helper")
    }
}

//! The packet model: one `Packet` enum and one struct per packet type, shared by
//! MQTT 3.1.1 and 5.0 (fields that exist only in 5.0 stay empty on 3.1.1), with
//! `encode` and `decode` taking the protocol version as an argument.
//! Must not do I/O, read a clock, or keep state between calls.
//!
//! This file holds the types and the framing (fixed header, maximum packet size,
//! dispatch by packet type); each packet family's body is in its own file:
//! `connect.rs` (CONNECT, CONNACK), `publish.rs` (PUBLISH and its four acks),
//! `subscribe.rs` (SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK), `disconnect.rs`
//! (DISCONNECT, AUTH).

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use super::codec::{self, Counter, FixedHeader, Sink};
use super::error::ProtocolError;
use super::properties::Properties;
use super::reason::ReasonCode;

mod connect;
mod disconnect;
mod publish;
mod subscribe;

type Result<T> = std::result::Result<T, ProtocolError>;

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
// Every variant carries a `Properties` (all MQTT 5 properties inline), so they are all
// large; boxing CONNECT alone would not shrink the enum much.
#[allow(clippy::large_enum_variant)]
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
    /// The specification's name of the packet type (`"PUBREC"`), for messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Packet::Connect(_) => "CONNECT",
            Packet::ConnAck(_) => "CONNACK",
            Packet::Publish(_) => "PUBLISH",
            Packet::PubAck(_) => "PUBACK",
            Packet::PubRec(_) => "PUBREC",
            Packet::PubRel(_) => "PUBREL",
            Packet::PubComp(_) => "PUBCOMP",
            Packet::Subscribe(_) => "SUBSCRIBE",
            Packet::SubAck(_) => "SUBACK",
            Packet::Unsubscribe(_) => "UNSUBSCRIBE",
            Packet::UnsubAck(_) => "UNSUBACK",
            Packet::PingReq => "PINGREQ",
            Packet::PingResp => "PINGRESP",
            Packet::Disconnect(_) => "DISCONNECT",
            Packet::Auth(_) => "AUTH",
        }
    }

    /// Decodes one packet from the front of `buf`, advancing past it.
    ///
    /// `Ok(None)`: the packet is not complete yet; read more bytes and call again
    /// (nothing is consumed). `Err`: malformed or too large (checked from the fixed
    /// header, before anything is allocated); the connection must be closed.
    /// CONNECT is decoded by its own protocol level whatever `version` says.
    /// Topic and payload are zero-copy slices of the frame.
    pub fn decode(
        buf: &mut BytesMut,
        version: ProtocolVersion,
        max_packet_size: u32,
    ) -> Result<Option<Packet>> {
        let Some(header) = FixedHeader::parse(buf)? else {
            return Ok(None);
        };
        let size = header.packet_len();
        if size as u64 > u64::from(max_packet_size) {
            // MQTT 5.0 §3.1.2.11.4 / §3.2.2.3.6: refused from the fixed header alone.
            return Err(ProtocolError::PacketTooLarge {
                size: size as u64,
                max: max_packet_size,
            });
        }
        if buf.len() < size {
            // Reserve for the rest of the frame, but not more than 64 KiB ahead of the
            // bytes actually received: a peer must not make us allocate by claiming.
            buf.reserve((size - buf.len()).min(64 * 1024));
            return Ok(None);
        }
        let mut body = buf.split_to(size).freeze();
        bytes::Buf::advance(&mut body, header.header_len);
        Packet::decode_body(header, body, version).map(Some)
    }

    fn decode_body(header: FixedHeader, body: Bytes, version: ProtocolVersion) -> Result<Packet> {
        let flags = header.flags();
        let packet_type = header.packet_type();
        if packet_type != 3 {
            // MQTT 5.0 §2.1.3 table 2-2: PUBREL, SUBSCRIBE and UNSUBSCRIBE carry 0010,
            // every other packet but PUBLISH 0000 [MQTT-2.1.3-1].
            let expected = if matches!(packet_type, 6 | 8 | 10) {
                0b0010
            } else {
                0
            };
            if flags != expected {
                return Err(ProtocolError::Malformed(
                    RESERVED_FLAGS[usize::from(packet_type)],
                ));
            }
        }
        Ok(match packet_type {
            1 => Packet::Connect(Connect::decode(body)?),
            2 => Packet::ConnAck(ConnAck::decode(body, version)?),
            3 => Packet::Publish(Publish::decode(flags, body, version)?),
            4 => Packet::PubAck(PubResponse::decode(body, version, PubKind::Ack)?),
            5 => Packet::PubRec(PubResponse::decode(body, version, PubKind::Rec)?),
            6 => Packet::PubRel(PubResponse::decode(body, version, PubKind::Rel)?),
            7 => Packet::PubComp(PubResponse::decode(body, version, PubKind::Comp)?),
            8 => Packet::Subscribe(Subscribe::decode(body, version)?),
            9 => Packet::SubAck(SubAck::decode(body, version)?),
            10 => Packet::Unsubscribe(Unsubscribe::decode(body, version)?),
            11 => Packet::UnsubAck(UnsubAck::decode(body, version)?),
            12 => {
                codec::expect_end(&body, "PINGREQ has a non-zero remaining length")?;
                Packet::PingReq
            }
            13 => {
                codec::expect_end(&body, "PINGRESP has a non-zero remaining length")?;
                Packet::PingResp
            }
            14 => Packet::Disconnect(Disconnect::decode(body, version)?),
            15 if version == ProtocolVersion::V5 => Packet::Auth(Auth::decode(body)?),
            15 => {
                return Err(ProtocolError::Malformed(
                    "packet type 15 (AUTH) is reserved in MQTT 3.1.1",
                ))
            }
            _ => return Err(ProtocolError::Malformed("packet type 0 is reserved")),
        })
    }

    /// Appends the packet's bytes to `buf`; the whole frame is written in one go.
    /// Fails (writing nothing) when a field cannot be represented, e.g. a string
    /// over 65,535 bytes or a QoS > 0 PUBLISH with packet id 0.
    /// Fields MQTT 3.1.1 has no place for (properties, most reason codes) are not
    /// written on 3.1.1; CONNECT is written in its own `protocol_version`.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<()> {
        let version = match self {
            Packet::Connect(connect) => connect.protocol_version,
            _ => version,
        };
        if let Packet::Auth(_) = self {
            if version == ProtocolVersion::V311 {
                return Err(ProtocolError::Protocol("AUTH does not exist in MQTT 3.1.1"));
            }
        }
        let mut counter = Counter::default();
        self.encode_body(version, &mut counter)?;
        let remaining = u32::try_from(counter.0)
            .ok()
            .filter(|&len| len <= codec::MAX_VARINT)
            .ok_or(ProtocolError::PacketTooLarge {
                size: counter.0 as u64,
                max: codec::MAX_VARINT,
            })?;
        buf.reserve(1 + codec::varint_len(remaining) + counter.0);
        Sink::put_u8(buf, self.first_byte());
        codec::put_varint(buf, remaining)?;
        self.encode_body(version, buf)
    }

    /// The first byte of the fixed header: type and flags (§2.1.2, §2.1.3).
    fn first_byte(&self) -> u8 {
        match self {
            Packet::Connect(_) => 0x10,
            Packet::ConnAck(_) => 0x20,
            Packet::Publish(p) => {
                0x30 | (u8::from(p.dup) << 3) | ((p.qos as u8) << 1) | u8::from(p.retain)
            }
            Packet::PubAck(_) => 0x40,
            Packet::PubRec(_) => 0x50,
            Packet::PubRel(_) => 0x62,
            Packet::PubComp(_) => 0x70,
            Packet::Subscribe(_) => 0x82,
            Packet::SubAck(_) => 0x90,
            Packet::Unsubscribe(_) => 0xA2,
            Packet::UnsubAck(_) => 0xB0,
            Packet::PingReq => 0xC0,
            Packet::PingResp => 0xD0,
            Packet::Disconnect(_) => 0xE0,
            Packet::Auth(_) => 0xF0,
        }
    }

    fn encode_body<S: Sink>(&self, version: ProtocolVersion, sink: &mut S) -> Result<()> {
        match self {
            Packet::Connect(p) => p.encode(sink),
            Packet::ConnAck(p) => p.encode(version, sink),
            Packet::Publish(p) => p.encode(version, sink),
            Packet::PubAck(p) | Packet::PubRec(p) | Packet::PubRel(p) | Packet::PubComp(p) => {
                p.encode(version, sink)
            }
            Packet::Subscribe(p) => p.encode(version, sink),
            Packet::SubAck(p) => p.encode(version, sink),
            Packet::Unsubscribe(p) => p.encode(version, sink),
            Packet::UnsubAck(p) => p.encode(version, sink),
            Packet::PingReq | Packet::PingResp => Ok(()),
            Packet::Disconnect(p) => p.encode(version, sink),
            Packet::Auth(p) => p.encode(sink),
        }
    }
}

/// Which of the four PUBLISH responses a `PubResponse` is; they differ in the reason
/// codes they may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PubKind {
    Ack,
    Rec,
    Rel,
    Comp,
}

/// The error for wrong reserved flag bits, by packet type.
const RESERVED_FLAGS: [&str; 16] = [
    "packet type 0 is reserved",
    "CONNECT fixed header flags must be 0000",
    "CONNACK fixed header flags must be 0000",
    "",
    "PUBACK fixed header flags must be 0000",
    "PUBREC fixed header flags must be 0000",
    "PUBREL fixed header flags must be 0010",
    "PUBCOMP fixed header flags must be 0000",
    "SUBSCRIBE fixed header flags must be 0010",
    "SUBACK fixed header flags must be 0000",
    "UNSUBSCRIBE fixed header flags must be 0010",
    "UNSUBACK fixed header flags must be 0000",
    "PINGREQ fixed header flags must be 0000",
    "PINGRESP fixed header flags must be 0000",
    "DISCONNECT fixed header flags must be 0000",
    "AUTH fixed header flags must be 0000",
];

/// Reads a packet identifier that must be non-zero ([MQTT-2.2.1-3], 3.1.1 [MQTT-2.3.1-1]).
fn get_packet_id(buf: &mut Bytes, packet: &'static str) -> Result<u16> {
    let id = codec::get_u16(buf, packet)?;
    if id == 0 {
        return Err(ProtocolError::Malformed(
            "packet identifier 0 where a non-zero one is required",
        ));
    }
    Ok(id)
}

/// Writes a packet identifier, refusing 0.
fn put_packet_id<S: Sink>(sink: &mut S, id: u16) -> Result<()> {
    if id == 0 {
        return Err(ProtocolError::Protocol(
            "packet identifier 0 cannot be sent",
        ));
    }
    codec::put_u16(sink, id);
    Ok(())
}

/// Reads a reason code byte and checks it is one `allowed` for this packet.
fn get_reason(buf: &mut Bytes, allowed: &[ReasonCode], what: &'static str) -> Result<ReasonCode> {
    let byte = codec::get_u8(buf, what)?;
    ReasonCode::from_u8(byte)
        .filter(|code| allowed.contains(code))
        .ok_or(ProtocolError::Malformed(what))
}

/// Writes the properties on MQTT 5.0; nothing on 3.1.1.
fn put_properties<S: Sink>(
    sink: &mut S,
    version: ProtocolVersion,
    props: &Properties,
) -> Result<()> {
    match version {
        ProtocolVersion::V5 => props.encode(sink),
        ProtocolVersion::V311 => Ok(()),
    }
}

/// Helpers shared by the tests at the bottom of each packet file.
#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    /// Encodes `packet`, checks it decodes back to itself consuming every byte, and
    /// returns the bytes.
    pub fn round_trip(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
        let mut buf = BytesMut::new();
        packet.encode(version, &mut buf).expect("encodes");
        let bytes = buf.to_vec();
        let decoded = Packet::decode(&mut buf, version, u32::MAX)
            .expect("decodes")
            .expect("complete");
        assert_eq!(&decoded, packet, "bytes: {bytes:02X?}");
        assert!(buf.is_empty(), "decode left {} bytes", buf.len());
        for cut in 0..bytes.len() {
            let mut partial = BytesMut::from(&bytes[..cut]);
            assert_eq!(
                Packet::decode(&mut partial, version, u32::MAX),
                Ok(None),
                "cut at {cut}"
            );
            assert_eq!(partial.len(), cut, "a partial decode consumed bytes");
        }
        bytes
    }

    /// Decodes `bytes` as one complete packet.
    pub fn decode(bytes: &[u8], version: ProtocolVersion) -> Result<Packet> {
        let mut buf = BytesMut::from(bytes);
        let packet = Packet::decode(&mut buf, version, u32::MAX)?.expect("complete packet");
        assert!(buf.is_empty());
        Ok(packet)
    }

    /// Both versions, for tests that run on each.
    pub const BOTH: [ProtocolVersion; 2] = [ProtocolVersion::V311, ProtocolVersion::V5];

    /// A set of user properties for tests.
    pub fn user_props() -> Properties {
        Properties {
            user_properties: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
            ..Properties::default()
        }
    }
}

//! PUBLISH and its responses PUBACK, PUBREC, PUBREL, PUBCOMP (MQTT 3.1.1 §3.3–3.7,
//! MQTT 5.0 §3.3–3.7): encode and decode with the receiver checks of the flags, the
//! topic and the packet identifier. Must not track topic aliases or inflight
//! messages: that state belongs to the session.

use bytes::Bytes;

use super::connect::decode_props;
use super::{ProtocolVersion, PubKind, PubResponse, Publish, QoS, Result};
use crate::protocol::codec::{self, Sink};
use crate::protocol::error::ProtocolError;
use crate::protocol::properties::PropertyContext;
use crate::protocol::reason::ReasonCode;
use crate::protocol::topic;

/// Reason codes of PUBACK and PUBREC (MQTT 5.0 §3.4.2.1, §3.5.2.1).
const PUBACK_CODES: &[ReasonCode] = &[
    ReasonCode::Success,
    ReasonCode::NoMatchingSubscribers,
    ReasonCode::UnspecifiedError,
    ReasonCode::ImplementationSpecificError,
    ReasonCode::NotAuthorized,
    ReasonCode::TopicNameInvalid,
    ReasonCode::PacketIdentifierInUse,
    ReasonCode::QuotaExceeded,
    ReasonCode::PayloadFormatInvalid,
];

/// Reason codes of PUBREL and PUBCOMP (MQTT 5.0 §3.6.2.1, §3.7.2.1).
const PUBREL_CODES: &[ReasonCode] = &[ReasonCode::Success, ReasonCode::PacketIdentifierNotFound];

impl Publish {
    pub(super) fn decode(flags: u8, mut b: Bytes, version: ProtocolVersion) -> Result<Publish> {
        let dup = flags & 0x08 != 0;
        let retain = flags & 0x01 != 0;
        // [MQTT-3.3.1-4]: both QoS bits set is malformed.
        let qos = QoS::from_u8((flags >> 1) & 0x03)
            .ok_or(ProtocolError::Malformed("PUBLISH QoS is 3"))?;
        if dup && qos == QoS::AtMostOnce {
            // [MQTT-3.3.1-2]: DUP must be 0 for QoS 0 messages.
            return Err(ProtocolError::Malformed(
                "PUBLISH has DUP set on a QoS 0 message",
            ));
        }
        let topic = codec::get_bytestring(&mut b, "PUBLISH topic name is truncated")?;
        let packet_id = match qos {
            QoS::AtMostOnce => 0,
            _ => super::get_packet_id(&mut b, "PUBLISH packet identifier is truncated")?,
        };
        let properties = decode_props(&mut b, version, PropertyContext::Publish)?;
        if topic.is_empty() {
            if version == ProtocolVersion::V311 {
                // MQTT 3.1.1 §4.7.3 [MQTT-4.7.3-1].
                return Err(ProtocolError::TopicNameInvalid(
                    "PUBLISH topic name is empty",
                ));
            }
            if properties.topic_alias.is_none() {
                // MQTT 5.0 §3.3.2.3.4: "It is a Protocol Error if the Topic Name is zero
                // length and there is no Topic Alias."
                return Err(ProtocolError::Protocol(
                    "PUBLISH topic name is empty and has no topic alias",
                ));
            }
        } else {
            topic::validate_topic_name(&topic)?;
        }
        Ok(Publish {
            dup,
            qos,
            retain,
            topic,
            packet_id,
            properties,
            payload: b,
        })
    }

    pub(super) fn encode<S: Sink>(&self, version: ProtocolVersion, s: &mut S) -> Result<()> {
        if self.dup && self.qos == QoS::AtMostOnce {
            return Err(ProtocolError::Protocol(
                "a QoS 0 PUBLISH cannot have DUP set",
            ));
        }
        codec::put_str(s, &self.topic)?;
        if self.qos != QoS::AtMostOnce {
            super::put_packet_id(s, self.packet_id)?;
        }
        super::put_properties(s, version, &self.properties)?;
        s.put_slice(&self.payload);
        Ok(())
    }
}

impl PubKind {
    fn context(self) -> PropertyContext {
        match self {
            PubKind::Ack => PropertyContext::PubAck,
            PubKind::Rec => PropertyContext::PubRec,
            PubKind::Rel => PropertyContext::PubRel,
            PubKind::Comp => PropertyContext::PubComp,
        }
    }

    fn reason_codes(self) -> &'static [ReasonCode] {
        match self {
            PubKind::Ack | PubKind::Rec => PUBACK_CODES,
            PubKind::Rel | PubKind::Comp => PUBREL_CODES,
        }
    }
}

impl PubResponse {
    pub(super) fn decode(
        mut b: Bytes,
        version: ProtocolVersion,
        kind: PubKind,
    ) -> Result<PubResponse> {
        let packet_id = super::get_packet_id(
            &mut b,
            "packet identifier of a PUBLISH response is truncated",
        )?;
        let mut response = PubResponse::new(packet_id);
        // MQTT 5.0 §3.4.2.1: the reason code (and then the properties) may be left out
        // when the remaining length is 2 (or 3).
        if version == ProtocolVersion::V5 && !b.is_empty() {
            response.reason_code =
                super::get_reason(&mut b, kind.reason_codes(), invalid_reason(kind))?;
            if !b.is_empty() {
                response.properties = decode_props(&mut b, version, kind.context())?;
            }
        }
        if !b.is_empty() {
            return Err(ProtocolError::Malformed(match kind {
                PubKind::Ack => "trailing bytes after the PUBACK",
                PubKind::Rec => "trailing bytes after the PUBREC",
                PubKind::Rel => "trailing bytes after the PUBREL",
                PubKind::Comp => "trailing bytes after the PUBCOMP",
            }));
        }
        Ok(response)
    }

    pub(super) fn encode<S: Sink>(&self, version: ProtocolVersion, s: &mut S) -> Result<()> {
        super::put_packet_id(s, self.packet_id)?;
        if version == ProtocolVersion::V5 {
            let has_props = !self.properties.is_empty();
            if self.reason_code != ReasonCode::Success || has_props {
                s.put_u8(self.reason_code as u8);
            }
            if has_props {
                self.properties.encode(s)?;
            }
        }
        Ok(())
    }
}

fn invalid_reason(kind: PubKind) -> &'static str {
    match kind {
        PubKind::Ack => "PUBACK reason code is not one PUBACK may carry",
        PubKind::Rec => "PUBREC reason code is not one PUBREC may carry",
        PubKind::Rel => "PUBREL reason code is not one PUBREL may carry",
        PubKind::Comp => "PUBCOMP reason code is not one PUBCOMP may carry",
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{decode, round_trip, user_props, BOTH};
    use super::super::Packet;
    use super::*;
    use crate::protocol::properties::Properties;

    fn publish(qos: QoS, packet_id: u16) -> Publish {
        Publish {
            dup: false,
            qos,
            retain: false,
            topic: "a/b".into(),
            packet_id,
            properties: Properties::default(),
            payload: Bytes::from_static(b"hello"),
        }
    }

    #[test]
    fn publish_round_trips_at_every_qos_in_both_versions() {
        for version in BOTH {
            round_trip(&Packet::Publish(publish(QoS::AtMostOnce, 0)), version);
            let mut p = publish(QoS::AtLeastOnce, 7);
            p.dup = true;
            p.retain = true;
            round_trip(&Packet::Publish(p), version);
            let mut empty = publish(QoS::ExactlyOnce, 65535);
            empty.payload = Bytes::new();
            round_trip(&Packet::Publish(empty), version);
        }
        let mut p = publish(QoS::AtLeastOnce, 1);
        p.properties = Properties {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(60),
            content_type: Some("text/plain".into()),
            response_topic: Some("reply/here".into()),
            correlation_data: Some(Bytes::from_static(b"\x01\x02")),
            subscription_identifiers: vec![1, 268_435_455, 1],
            topic_alias: Some(3),
            ..user_props()
        };
        round_trip(&Packet::Publish(p.clone()), ProtocolVersion::V5);
        p.topic = "".into();
        round_trip(&Packet::Publish(p), ProtocolVersion::V5);
    }

    #[test]
    fn publish_payload_and_topic_are_slices_of_the_frame() {
        let mut buf = bytes::BytesMut::new();
        Packet::Publish(publish(QoS::AtMostOnce, 0))
            .encode(ProtocolVersion::V311, &mut buf)
            .unwrap();
        let start = buf.as_ptr() as usize;
        let end = start + buf.len();
        let Some(Packet::Publish(p)) =
            Packet::decode(&mut buf, ProtocolVersion::V311, 1024).unwrap()
        else {
            panic!("not a publish");
        };
        for ptr in [
            p.payload.as_ptr() as usize,
            p.topic.as_bytes().as_ptr() as usize,
        ] {
            assert!((start..end).contains(&ptr), "not zero-copy");
        }
    }

    #[test]
    fn pub_responses_round_trip_in_both_versions() {
        for version in BOTH {
            for make in [
                Packet::PubAck,
                Packet::PubRec,
                Packet::PubRel,
                Packet::PubComp,
            ] {
                let bytes = round_trip(&make(PubResponse::new(42)), version);
                assert_eq!(
                    bytes.len(),
                    4,
                    "success without properties is 2 bytes of body"
                );
            }
        }
        let not_found = PubResponse {
            reason_code: ReasonCode::PacketIdentifierNotFound,
            ..PubResponse::new(1)
        };
        assert_eq!(
            round_trip(&Packet::PubRel(not_found), ProtocolVersion::V5).len(),
            5
        );
        let with_props = PubResponse {
            reason_code: ReasonCode::QuotaExceeded,
            properties: Properties {
                reason_string: Some("full".into()),
                ..user_props()
            },
            ..PubResponse::new(9)
        };
        round_trip(&Packet::PubAck(with_props.clone()), ProtocolVersion::V5);
        round_trip(&Packet::PubRec(with_props), ProtocolVersion::V5);
    }

    #[test]
    fn publish_receiver_checks() {
        let v = ProtocolVersion::V311;
        // 0x36: QoS 3.
        assert!(decode(&[0x36, 0x05, 0, 1, b'a', 0, 1], v).is_err());
        // 0x38: DUP on QoS 0.
        assert!(decode(&[0x38, 0x03, 0, 1, b'a'], v).is_err());
        // QoS 1 with packet id 0.
        assert!(decode(&[0x32, 0x05, 0, 1, b'a', 0, 0], v).is_err());
        // Wildcard in the topic name: 0x90 Topic Name invalid.
        let err = decode(&[0x30, 0x03, 0, 1, b'+'], v).unwrap_err();
        assert_eq!(err.reason_code(), ReasonCode::TopicNameInvalid);
        // Empty topic: invalid on 3.1.1, a protocol error without an alias on 5.0.
        assert!(decode(&[0x30, 0x02, 0, 0], v).is_err());
        let err = decode(&[0x30, 0x03, 0, 0, 0], ProtocolVersion::V5).unwrap_err();
        assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
        // Topic alias 0: 0x94.
        let err = decode(
            &[0x30, 0x07, 0, 1, b'a', 3, 0x23, 0, 0],
            ProtocolVersion::V5,
        )
        .unwrap_err();
        assert_eq!(err.reason_code(), ReasonCode::TopicAliasInvalid);
    }
}

//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK bodies (MQTT 3.1.1 §3.8–3.11,
//! MQTT 5.0 §3.8–3.11): encode and decode with the checks of the filters and the
//! subscription options. Must not keep subscriptions: that is the broker's job.

use bytes::Bytes;

use super::connect::decode_props;
use super::{ProtocolVersion, QoS, Result, RetainHandling, SubAck, Subscribe, Subscription};
use super::{UnsubAck, Unsubscribe};
use crate::protocol::codec::{self, Sink};
use crate::protocol::error::ProtocolError;
use crate::protocol::properties::PropertyContext;
use crate::protocol::reason::ReasonCode;
use crate::protocol::topic;

/// SUBACK reason codes of MQTT 5.0 §3.9.3.
const SUBACK_CODES: &[ReasonCode] = &[
    ReasonCode::Success,
    ReasonCode::GrantedQoS1,
    ReasonCode::GrantedQoS2,
    ReasonCode::UnspecifiedError,
    ReasonCode::ImplementationSpecificError,
    ReasonCode::NotAuthorized,
    ReasonCode::TopicFilterInvalid,
    ReasonCode::PacketIdentifierInUse,
    ReasonCode::QuotaExceeded,
    ReasonCode::SharedSubscriptionsNotSupported,
    ReasonCode::SubscriptionIdentifiersNotSupported,
    ReasonCode::WildcardSubscriptionsNotSupported,
];

/// SUBACK return codes of MQTT 3.1.1 §3.9.3 (0x80 is "Failure").
const SUBACK_CODES_V311: &[ReasonCode] = &[
    ReasonCode::Success,
    ReasonCode::GrantedQoS1,
    ReasonCode::GrantedQoS2,
    ReasonCode::UnspecifiedError,
];

/// UNSUBACK reason codes of MQTT 5.0 §3.11.3.
const UNSUBACK_CODES: &[ReasonCode] = &[
    ReasonCode::Success,
    ReasonCode::NoSubscriptionExisted,
    ReasonCode::UnspecifiedError,
    ReasonCode::ImplementationSpecificError,
    ReasonCode::NotAuthorized,
    ReasonCode::TopicFilterInvalid,
    ReasonCode::PacketIdentifierInUse,
];

impl Subscribe {
    pub(super) fn decode(mut b: Bytes, version: ProtocolVersion) -> Result<Subscribe> {
        let packet_id = super::get_packet_id(&mut b, "SUBSCRIBE packet identifier is truncated")?;
        let properties = decode_props(&mut b, version, PropertyContext::Subscribe)?;
        let mut subscriptions = Vec::new();
        while !b.is_empty() {
            let filter = codec::get_string(&mut b, "SUBSCRIBE topic filter is truncated")?;
            let options = codec::get_u8(&mut b, "SUBSCRIBE subscription options are missing")?;
            check_filter(&filter, version)?;
            subscriptions.push(decode_options(filter, options, version)?);
        }
        if subscriptions.is_empty() {
            // MQTT 3.1.1 [MQTT-3.8.3-3], MQTT 5.0 [MQTT-3.8.3-2].
            return Err(ProtocolError::Protocol("SUBSCRIBE has no topic filter"));
        }
        Ok(Subscribe {
            packet_id,
            subscriptions,
            properties,
        })
    }

    pub(super) fn encode<S: Sink>(&self, version: ProtocolVersion, s: &mut S) -> Result<()> {
        if self.subscriptions.is_empty() {
            return Err(ProtocolError::Protocol(
                "SUBSCRIBE needs at least one topic filter",
            ));
        }
        super::put_packet_id(s, self.packet_id)?;
        super::put_properties(s, version, &self.properties)?;
        for sub in &self.subscriptions {
            codec::put_str(s, &sub.filter)?;
            let mut options = sub.qos as u8;
            if version == ProtocolVersion::V5 {
                options |= u8::from(sub.no_local) << 2
                    | u8::from(sub.retain_as_published) << 3
                    | (sub.retain_handling as u8) << 4;
            }
            s.put_u8(options);
        }
        Ok(())
    }
}

/// Checks a well-formed UTF-8 filter of SUBSCRIBE or UNSUBSCRIBE. On 3.1.1 a filter
/// that breaks the rules of §4.7 is a protocol violation that closes the connection
/// (§4.8; mosquitto closes it too). MQTT 5.0 has a per-filter answer for it, reason
/// code 0x8F Topic Filter invalid in the SUBACK / UNSUBACK (§3.9.3, §3.11.3), so the
/// filter is kept for the receiver to refuse alone while it grants the others: one
/// bad filter then costs the client that subscription, not its connection.
fn check_filter(filter: &str, version: ProtocolVersion) -> Result<()> {
    match version {
        ProtocolVersion::V311 => topic::validate_topic_filter(filter),
        ProtocolVersion::V5 => Ok(()),
    }
}

/// The subscription options byte (MQTT 3.1.1 §3.8.3.1, MQTT 5.0 §3.8.3.1).
fn decode_options(filter: String, options: u8, version: ProtocolVersion) -> Result<Subscription> {
    let reserved = match version {
        ProtocolVersion::V311 => 0xFC,
        ProtocolVersion::V5 => 0xC0,
    };
    if options & reserved != 0 {
        // MQTT 3.1.1 [MQTT-3.8.3-4], MQTT 5.0 [MQTT-3.8.3-5].
        return Err(ProtocolError::Malformed(
            "SUBSCRIBE subscription options have reserved bits set",
        ));
    }
    let qos =
        QoS::from_u8(options & 0x03).ok_or(ProtocolError::Malformed("SUBSCRIBE requests QoS 3"))?;
    let retain_handling = match (options >> 4) & 0x03 {
        0 => RetainHandling::SendOnSubscribe,
        1 => RetainHandling::SendIfNew,
        2 => RetainHandling::DoNotSend,
        // MQTT 5.0 §3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3."
        _ => return Err(ProtocolError::Protocol("SUBSCRIBE retain handling is 3")),
    };
    let no_local = options & 0x04 != 0;
    if no_local && topic::parse_shared(&filter).is_some() {
        // MQTT 5.0 [MQTT-3.8.3-4].
        return Err(ProtocolError::Protocol(
            "SUBSCRIBE sets no local on a shared subscription",
        ));
    }
    Ok(Subscription {
        filter,
        qos,
        no_local,
        retain_as_published: options & 0x08 != 0,
        retain_handling,
    })
}

impl SubAck {
    pub(super) fn decode(mut b: Bytes, version: ProtocolVersion) -> Result<SubAck> {
        let packet_id = super::get_packet_id(&mut b, "SUBACK packet identifier is truncated")?;
        let properties = decode_props(&mut b, version, PropertyContext::SubAck)?;
        let allowed = match version {
            ProtocolVersion::V311 => SUBACK_CODES_V311,
            ProtocolVersion::V5 => SUBACK_CODES,
        };
        let mut reason_codes = Vec::with_capacity(b.len());
        while !b.is_empty() {
            reason_codes.push(super::get_reason(
                &mut b,
                allowed,
                "SUBACK reason code is not one SUBACK may carry",
            )?);
        }
        if reason_codes.is_empty() {
            return Err(ProtocolError::Protocol("SUBACK has no reason code"));
        }
        Ok(SubAck {
            packet_id,
            reason_codes,
            properties,
        })
    }

    pub(super) fn encode<S: Sink>(&self, version: ProtocolVersion, s: &mut S) -> Result<()> {
        super::put_packet_id(s, self.packet_id)?;
        super::put_properties(s, version, &self.properties)?;
        for &code in &self.reason_codes {
            let code = match version {
                // MQTT 3.1.1 knows only the granted QoS and 0x80 Failure.
                ProtocolVersion::V311 if !SUBACK_CODES_V311.contains(&code) => {
                    ReasonCode::UnspecifiedError
                }
                _ => code,
            };
            s.put_u8(code as u8);
        }
        Ok(())
    }
}

impl Unsubscribe {
    pub(super) fn decode(mut b: Bytes, version: ProtocolVersion) -> Result<Unsubscribe> {
        let packet_id = super::get_packet_id(&mut b, "UNSUBSCRIBE packet identifier is truncated")?;
        let properties = decode_props(&mut b, version, PropertyContext::Unsubscribe)?;
        let mut filters = Vec::new();
        while !b.is_empty() {
            let filter = codec::get_string(&mut b, "UNSUBSCRIBE topic filter is truncated")?;
            check_filter(&filter, version)?;
            filters.push(filter);
        }
        if filters.is_empty() {
            // MQTT 3.1.1 [MQTT-3.10.3-2], MQTT 5.0 [MQTT-3.10.3-2].
            return Err(ProtocolError::Protocol("UNSUBSCRIBE has no topic filter"));
        }
        Ok(Unsubscribe {
            packet_id,
            filters,
            properties,
        })
    }

    pub(super) fn encode<S: Sink>(&self, version: ProtocolVersion, s: &mut S) -> Result<()> {
        if self.filters.is_empty() {
            return Err(ProtocolError::Protocol(
                "UNSUBSCRIBE needs at least one topic filter",
            ));
        }
        super::put_packet_id(s, self.packet_id)?;
        super::put_properties(s, version, &self.properties)?;
        for filter in &self.filters {
            codec::put_str(s, filter)?;
        }
        Ok(())
    }
}

impl UnsubAck {
    pub(super) fn decode(mut b: Bytes, version: ProtocolVersion) -> Result<UnsubAck> {
        let packet_id = super::get_packet_id(&mut b, "UNSUBACK packet identifier is truncated")?;
        let properties = decode_props(&mut b, version, PropertyContext::UnsubAck)?;
        let mut reason_codes = Vec::new();
        if version == ProtocolVersion::V311 {
            // MQTT 3.1.1 §3.11: the remaining length is 2.
            codec::expect_end(&b, "trailing bytes after the UNSUBACK")?;
        } else {
            while !b.is_empty() {
                reason_codes.push(super::get_reason(
                    &mut b,
                    UNSUBACK_CODES,
                    "UNSUBACK reason code is not one UNSUBACK may carry",
                )?);
            }
            if reason_codes.is_empty() {
                return Err(ProtocolError::Protocol("UNSUBACK has no reason code"));
            }
        }
        Ok(UnsubAck {
            packet_id,
            reason_codes,
            properties,
        })
    }

    pub(super) fn encode<S: Sink>(&self, version: ProtocolVersion, s: &mut S) -> Result<()> {
        super::put_packet_id(s, self.packet_id)?;
        if version == ProtocolVersion::V5 {
            self.properties.encode(s)?;
            for &code in &self.reason_codes {
                s.put_u8(code as u8);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{decode, round_trip, user_props, BOTH};
    use super::super::Packet;
    use super::*;
    use crate::protocol::properties::Properties;

    #[test]
    fn subscribe_round_trips_in_both_versions() {
        for version in BOTH {
            let v5 = version == ProtocolVersion::V5;
            let mut second = Subscription::new("$share/g/x/#", QoS::ExactlyOnce);
            if v5 {
                second.retain_as_published = true;
                second.retain_handling = RetainHandling::DoNotSend;
            }
            let mut first = Subscription::new("a/+/c", QoS::AtLeastOnce);
            if v5 {
                first.no_local = true;
                first.retain_handling = RetainHandling::SendIfNew;
            }
            let properties = if v5 {
                Properties {
                    subscription_identifiers: vec![42],
                    ..user_props()
                }
            } else {
                Properties::default()
            };
            let sub = Subscribe {
                packet_id: 10,
                subscriptions: vec![first, second],
                properties,
            };
            round_trip(&Packet::Subscribe(sub), version);
        }
    }

    #[test]
    fn suback_unsubscribe_unsuback_round_trip_in_both_versions() {
        for version in BOTH {
            let v5 = version == ProtocolVersion::V5;
            let props = if v5 {
                Properties {
                    reason_string: Some("r".into()),
                    ..user_props()
                }
            } else {
                Properties::default()
            };
            let codes = vec![
                ReasonCode::Success,
                ReasonCode::GrantedQoS1,
                ReasonCode::GrantedQoS2,
                ReasonCode::UnspecifiedError,
            ];
            let suback = SubAck {
                packet_id: 3,
                reason_codes: codes,
                properties: props.clone(),
            };
            round_trip(&Packet::SubAck(suback), version);
            let unsub = Unsubscribe {
                packet_id: 4,
                filters: vec!["a/#".into(), "$share/g/b".into()],
                properties: if v5 {
                    user_props()
                } else {
                    Properties::default()
                },
            };
            round_trip(&Packet::Unsubscribe(unsub), version);
            let codes = if v5 {
                vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
            } else {
                vec![]
            };
            let unsuback = UnsubAck {
                packet_id: 5,
                reason_codes: codes,
                properties: props,
            };
            round_trip(&Packet::UnsubAck(unsuback), version);
        }
    }

    #[test]
    fn subscribe_receiver_checks() {
        let v = ProtocolVersion::V311;
        // Fixed header flags must be 0010.
        assert!(decode(&[0x80, 0x06, 0, 1, 0, 1, b'a', 0], v).is_err());
        assert!(decode(&[0x82, 0x06, 0, 1, 0, 1, b'a', 0], v).is_ok());
        // No filter at all.
        assert!(decode(&[0x82, 0x02, 0, 1], v).is_err());
        // QoS 3, reserved option bits on 3.1.1.
        assert!(decode(&[0x82, 0x06, 0, 1, 0, 1, b'a', 3], v).is_err());
        assert!(decode(&[0x82, 0x06, 0, 1, 0, 1, b'a', 0x04], v).is_err());
        // 5.0: retain handling 3, reserved bits 6-7.
        let v5 = ProtocolVersion::V5;
        assert!(decode(&[0x82, 0x07, 0, 1, 0, 0, 1, b'a', 0x04], v5).is_ok());
        assert!(decode(&[0x82, 0x07, 0, 1, 0, 0, 1, b'a', 0x30], v5).is_err());
        assert!(decode(&[0x82, 0x07, 0, 1, 0, 0, 1, b'a', 0x40], v5).is_err());
        // Invalid filter: 3.1.1 refuses the packet, 5.0 keeps the filter for a SUBACK
        // 0x8F (§3.9.3).
        let err = decode(&[0x82, 0x07, 0, 1, 0, 2, b'a', b'#', 0], v).unwrap_err();
        assert_eq!(err.reason_code(), ReasonCode::TopicFilterInvalid);
        let Packet::Subscribe(sub) = decode(&[0x82, 0x08, 0, 1, 0, 0, 2, b'a', b'#', 0], v5)
            .expect("5.0 keeps an invalid filter")
        else {
            panic!("not a SUBSCRIBE");
        };
        assert_eq!(sub.subscriptions[0].filter, "a#");
        // Bad UTF-8 and U+0000 stay malformed on both versions.
        for version in BOTH {
            let props: &[u8] = if version == v5 { &[0] } else { &[] };
            for bad in [[0xC3, 0x28], [b'a', 0]] {
                let mut body = vec![0, 1];
                body.extend_from_slice(props);
                body.extend_from_slice(&[0, 2, bad[0], bad[1], 0]);
                let mut packet = vec![0x82, body.len() as u8];
                packet.extend_from_slice(&body);
                let err = decode(&packet, version).unwrap_err();
                assert_eq!(err.reason_code(), ReasonCode::MalformedPacket, "{bad:02X?}");
            }
        }
    }

    #[test]
    fn unsubscribe_keeps_an_invalid_filter_on_5_only() {
        let v5 = ProtocolVersion::V5;
        let packet = [0xA2, 0x07, 0, 1, 0, 0, 2, b'#', b'a'];
        let Packet::Unsubscribe(unsub) = decode(&packet, v5).expect("5.0 keeps it") else {
            panic!("not an UNSUBSCRIBE");
        };
        assert_eq!(unsub.filters, ["#a"]);
        let err = decode(&[0xA2, 0x06, 0, 1, 0, 2, b'#', b'a'], ProtocolVersion::V311).unwrap_err();
        assert_eq!(err.reason_code(), ReasonCode::TopicFilterInvalid);
    }
}

//! DISCONNECT and AUTH bodies (MQTT 3.1.1 §3.14, MQTT 5.0 §3.14–3.15): a reason code
//! and properties, both left out when the remaining length allows it.
//! Must not act on a disconnection or run an authentication exchange.

use bytes::Bytes;

use super::connect::decode_props;
use super::{Auth, Disconnect, ProtocolVersion, Result};
use crate::protocol::codec::{self, Sink};
use crate::protocol::error::ProtocolError;
use crate::protocol::properties::{Properties, PropertyContext};
use crate::protocol::reason::ReasonCode;

/// DISCONNECT reason codes of MQTT 5.0 §3.14.2.1.
const DISCONNECT_CODES: &[ReasonCode] = &[
    ReasonCode::Success,
    ReasonCode::DisconnectWithWill,
    ReasonCode::UnspecifiedError,
    ReasonCode::MalformedPacket,
    ReasonCode::ProtocolError,
    ReasonCode::ImplementationSpecificError,
    ReasonCode::NotAuthorized,
    ReasonCode::ServerBusy,
    ReasonCode::ServerShuttingDown,
    ReasonCode::KeepAliveTimeout,
    ReasonCode::SessionTakenOver,
    ReasonCode::TopicFilterInvalid,
    ReasonCode::TopicNameInvalid,
    ReasonCode::ReceiveMaximumExceeded,
    ReasonCode::TopicAliasInvalid,
    ReasonCode::PacketTooLarge,
    ReasonCode::MessageRateTooHigh,
    ReasonCode::QuotaExceeded,
    ReasonCode::AdministrativeAction,
    ReasonCode::PayloadFormatInvalid,
    ReasonCode::RetainNotSupported,
    ReasonCode::QoSNotSupported,
    ReasonCode::UseAnotherServer,
    ReasonCode::ServerMoved,
    ReasonCode::SharedSubscriptionsNotSupported,
    ReasonCode::ConnectionRateExceeded,
    ReasonCode::MaximumConnectTime,
    ReasonCode::SubscriptionIdentifiersNotSupported,
    ReasonCode::WildcardSubscriptionsNotSupported,
];

/// AUTH reason codes of MQTT 5.0 §3.15.2.1.
const AUTH_CODES: &[ReasonCode] = &[
    ReasonCode::Success,
    ReasonCode::ContinueAuthentication,
    ReasonCode::ReAuthenticate,
];

/// Reads the optional reason code and properties that DISCONNECT and AUTH share:
/// a remaining length of 0 means Success and no properties, of 1 no properties.
fn decode_reason_and_props(
    b: &mut Bytes,
    allowed: &[ReasonCode],
    invalid: &'static str,
    context: PropertyContext,
) -> Result<(ReasonCode, Properties)> {
    if b.is_empty() {
        return Ok((ReasonCode::Success, Properties::default()));
    }
    let code = super::get_reason(b, allowed, invalid)?;
    if b.is_empty() {
        return Ok((code, Properties::default()));
    }
    Ok((code, decode_props(b, ProtocolVersion::V5, context)?))
}

fn encode_reason_and_props<S: Sink>(s: &mut S, code: ReasonCode, props: &Properties) -> Result<()> {
    let has_props = !props.is_empty();
    if code != ReasonCode::Success || has_props {
        s.put_u8(code as u8);
    }
    if has_props {
        props.encode(s)?;
    }
    Ok(())
}

impl Disconnect {
    pub(super) fn decode(mut b: Bytes, version: ProtocolVersion) -> Result<Disconnect> {
        if version == ProtocolVersion::V311 {
            // MQTT 3.1.1 §3.14: no variable header, no payload.
            codec::expect_end(&b, "MQTT 3.1.1 DISCONNECT has a non-zero remaining length")?;
            return Ok(Disconnect::normal());
        }
        let (reason_code, properties) = decode_reason_and_props(
            &mut b,
            DISCONNECT_CODES,
            "DISCONNECT reason code is not one DISCONNECT may carry",
            PropertyContext::Disconnect,
        )?;
        codec::expect_end(&b, "trailing bytes after the DISCONNECT")?;
        Ok(Disconnect {
            reason_code,
            properties,
        })
    }

    pub(super) fn encode<S: Sink>(&self, version: ProtocolVersion, s: &mut S) -> Result<()> {
        match version {
            ProtocolVersion::V311 => Ok(()),
            ProtocolVersion::V5 => encode_reason_and_props(s, self.reason_code, &self.properties),
        }
    }
}

impl Auth {
    pub(super) fn decode(mut b: Bytes) -> Result<Auth> {
        let abbreviated = b.is_empty();
        let (reason_code, properties) = decode_reason_and_props(
            &mut b,
            AUTH_CODES,
            "AUTH reason code is not one AUTH may carry",
            PropertyContext::Auth,
        )?;
        if !abbreviated && properties.authentication_method.is_none() {
            // MQTT 5.0 §3.15.2.2.2: "It is a Protocol Error to omit the Authentication
            // Method"; only the abbreviated AUTH (remaining length 0, Success) has none.
            return Err(ProtocolError::Protocol("AUTH has no authentication method"));
        }
        codec::expect_end(&b, "trailing bytes after the AUTH")?;
        Ok(Auth {
            reason_code,
            properties,
        })
    }

    pub(super) fn encode<S: Sink>(&self, s: &mut S) -> Result<()> {
        encode_reason_and_props(s, self.reason_code, &self.properties)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{decode, round_trip, user_props, BOTH};
    use super::super::Packet;
    use super::*;

    #[test]
    fn disconnect_and_pings_round_trip_in_both_versions() {
        for version in BOTH {
            assert_eq!(
                round_trip(&Packet::Disconnect(Disconnect::normal()), version),
                [0xE0, 0x00]
            );
            assert_eq!(round_trip(&Packet::PingReq, version), [0xC0, 0x00]);
            assert_eq!(round_trip(&Packet::PingResp, version), [0xD0, 0x00]);
        }
        let v5 = ProtocolVersion::V5;
        let will = Disconnect::with_reason(ReasonCode::DisconnectWithWill);
        assert_eq!(
            round_trip(&Packet::Disconnect(will), v5),
            [0xE0, 0x01, 0x04]
        );
        let full = Disconnect {
            reason_code: ReasonCode::ServerMoved,
            properties: Properties {
                session_expiry_interval: Some(0),
                server_reference: Some("b:1883".into()),
                reason_string: Some("moved".into()),
                ..user_props()
            },
        };
        round_trip(&Packet::Disconnect(full), v5);
    }

    #[test]
    fn auth_round_trips_and_does_not_exist_in_v311() {
        let v5 = ProtocolVersion::V5;
        let ok = Auth {
            reason_code: ReasonCode::Success,
            properties: Properties::default(),
        };
        assert_eq!(round_trip(&Packet::Auth(ok.clone()), v5), [0xF0, 0x00]);
        let cont = Auth {
            reason_code: ReasonCode::ContinueAuthentication,
            properties: Properties {
                authentication_method: Some("SCRAM-SHA-1".into()),
                authentication_data: Some(Bytes::from_static(b"c=biws")),
                reason_string: Some("more".into()),
                ..user_props()
            },
        };
        round_trip(&Packet::Auth(cont), v5);
        assert!(Packet::Auth(ok)
            .encode(ProtocolVersion::V311, &mut bytes::BytesMut::new())
            .is_err());
        assert!(decode(&[0xF0, 0x00], ProtocolVersion::V311).is_err());
    }

    #[test]
    fn disconnect_receiver_checks() {
        // 3.1.1 DISCONNECT with a body; 5.0 with a reason code it may not carry (0x01).
        assert!(decode(&[0xE0, 0x01, 0x00], ProtocolVersion::V311).is_err());
        assert!(decode(&[0xE0, 0x01, 0x01], ProtocolVersion::V5).is_err());
        // Reserved flags.
        assert!(decode(&[0xE1, 0x00], ProtocolVersion::V5).is_err());
        // A property DISCONNECT may not carry (0x23 topic alias).
        let err = decode(
            &[0xE0, 0x05, 0x00, 0x03, 0x23, 0x00, 0x01],
            ProtocolVersion::V5,
        )
        .unwrap_err();
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
        for version in BOTH {
            assert!(
                decode(&[0xC0, 0x01, 0x00], version).is_err(),
                "PINGREQ with a body"
            );
        }
    }
}

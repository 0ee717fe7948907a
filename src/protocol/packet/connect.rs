//! CONNECT and CONNACK bodies (MQTT 3.1.1 §3.1–3.2, MQTT 5.0 §3.1–3.2): encode and
//! decode with every receiver check of the connect flags, protocol name and level.
//! Must not decide whether a connection is accepted: that is the broker's job.

use bytes::Bytes;

use super::{ConnAck, Connect, ProtocolVersion, QoS, Result, Will};
use crate::protocol::codec::{self, Sink};
use crate::protocol::error::ProtocolError;
use crate::protocol::properties::{Properties, PropertyContext};
use crate::protocol::reason::ReasonCode;
use crate::protocol::topic;

const CLEAN_START: u8 = 0x02;
const WILL_FLAG: u8 = 0x04;
const WILL_RETAIN: u8 = 0x20;
const PASSWORD_FLAG: u8 = 0x40;
const USERNAME_FLAG: u8 = 0x80;

/// The CONNACK reason codes of MQTT 5.0 §3.2.2.2.
const CONNACK_CODES: &[ReasonCode] = &[
    ReasonCode::Success,
    ReasonCode::UnspecifiedError,
    ReasonCode::MalformedPacket,
    ReasonCode::ProtocolError,
    ReasonCode::ImplementationSpecificError,
    ReasonCode::UnsupportedProtocolVersion,
    ReasonCode::ClientIdentifierNotValid,
    ReasonCode::BadUserNameOrPassword,
    ReasonCode::NotAuthorized,
    ReasonCode::ServerUnavailable,
    ReasonCode::ServerBusy,
    ReasonCode::Banned,
    ReasonCode::BadAuthenticationMethod,
    ReasonCode::TopicNameInvalid,
    ReasonCode::PacketTooLarge,
    ReasonCode::QuotaExceeded,
    ReasonCode::PayloadFormatInvalid,
    ReasonCode::RetainNotSupported,
    ReasonCode::QoSNotSupported,
    ReasonCode::UseAnotherServer,
    ReasonCode::ServerMoved,
    ReasonCode::ConnectionRateExceeded,
];

impl Connect {
    pub(super) fn decode(mut b: Bytes) -> Result<Connect> {
        let name = codec::get_bytestring(&mut b, "CONNECT protocol name is truncated")?;
        let level = codec::get_u8(&mut b, "CONNECT protocol level is missing")?;
        // MQTT 3.1.1 §3.1.2.1-2, MQTT 5.0 §3.1.2.1-2: name "MQTT", level 4 or 5. MQTT 3.1
        // ("MQIsdp", level 3) is answered as an unsupported version.
        let version = match (&*name, level) {
            ("MQTT", 4) => ProtocolVersion::V311,
            ("MQTT", 5) => ProtocolVersion::V5,
            ("MQTT", other) | ("MQIsdp", other @ 3) => {
                return Err(ProtocolError::UnsupportedProtocolVersion(other))
            }
            _ => {
                return Err(ProtocolError::Protocol(
                    "CONNECT protocol name is not \"MQTT\"",
                ))
            }
        };
        let flags = codec::get_u8(&mut b, "CONNECT flags are missing")?;
        if flags & 0x01 != 0 {
            // [MQTT-3.1.2-3]: the reserved flag must be 0.
            return Err(ProtocolError::Malformed(
                "CONNECT reserved flag (bit 0) is not 0",
            ));
        }
        let will_flag = flags & WILL_FLAG != 0;
        let will_qos = (flags >> 3) & 0x03;
        let will_retain = flags & WILL_RETAIN != 0;
        if will_qos == 3 {
            // [MQTT-3.1.2-14]
            return Err(ProtocolError::Malformed("CONNECT will QoS is 3"));
        }
        if !will_flag && (will_qos != 0 || will_retain) {
            // [MQTT-3.1.2-13], [MQTT-3.1.2-15]
            return Err(ProtocolError::Malformed(
                "CONNECT will QoS or will retain set without the will flag",
            ));
        }
        let has_username = flags & USERNAME_FLAG != 0;
        let has_password = flags & PASSWORD_FLAG != 0;
        if version == ProtocolVersion::V311 && has_password && !has_username {
            // MQTT 3.1.1 [MQTT-3.1.2-22]; MQTT 5.0 allows it.
            return Err(ProtocolError::Malformed(
                "CONNECT password flag set without the user name flag",
            ));
        }
        let keep_alive_secs = codec::get_u16(&mut b, "CONNECT keep alive is truncated")?;
        let properties = decode_props(&mut b, version, PropertyContext::Connect)?;
        if properties.authentication_data.is_some() && properties.authentication_method.is_none() {
            // MQTT 5.0 §3.1.2.11.10.
            return Err(ProtocolError::Protocol(
                "CONNECT has authentication data without a method",
            ));
        }
        let client_id = codec::get_string(&mut b, "CONNECT client identifier is truncated")?;
        let will = if will_flag {
            let properties = decode_props(&mut b, version, PropertyContext::Will)?;
            let topic = codec::get_bytestring(&mut b, "CONNECT will topic is truncated")?;
            topic::validate_topic_name(&topic)?;
            let payload = codec::get_binary(&mut b, "CONNECT will payload is truncated")?;
            let qos =
                QoS::from_u8(will_qos).ok_or(ProtocolError::Malformed("CONNECT will QoS is 3"))?;
            Some(Will {
                topic,
                payload,
                qos,
                retain: will_retain,
                properties,
            })
        } else {
            None
        };
        let username = match has_username {
            true => Some(codec::get_string(&mut b, "CONNECT user name is truncated")?),
            false => None,
        };
        let password = match has_password {
            true => Some(codec::get_binary(&mut b, "CONNECT password is truncated")?),
            false => None,
        };
        codec::expect_end(&b, "trailing bytes after the CONNECT payload")?;
        Ok(Connect {
            protocol_version: version,
            client_id,
            clean_start: flags & CLEAN_START != 0,
            keep_alive_secs,
            username,
            password,
            will,
            properties,
        })
    }

    pub(super) fn encode<S: Sink>(&self, s: &mut S) -> Result<()> {
        let version = self.protocol_version;
        if version == ProtocolVersion::V311 && self.password.is_some() && self.username.is_none() {
            return Err(ProtocolError::Protocol(
                "MQTT 3.1.1 does not allow a password without a user name",
            ));
        }
        codec::put_str(s, "MQTT")?;
        s.put_u8(version.level());
        let mut flags = 0;
        if self.clean_start {
            flags |= CLEAN_START;
        }
        if let Some(will) = &self.will {
            flags |= WILL_FLAG | ((will.qos as u8) << 3);
            if will.retain {
                flags |= WILL_RETAIN;
            }
        }
        if self.password.is_some() {
            flags |= PASSWORD_FLAG;
        }
        if self.username.is_some() {
            flags |= USERNAME_FLAG;
        }
        s.put_u8(flags);
        codec::put_u16(s, self.keep_alive_secs);
        super::put_properties(s, version, &self.properties)?;
        codec::put_str(s, &self.client_id)?;
        if let Some(will) = &self.will {
            super::put_properties(s, version, &will.properties)?;
            codec::put_str(s, &will.topic)?;
            codec::put_binary(s, &will.payload)?;
        }
        if let Some(username) = &self.username {
            codec::put_str(s, username)?;
        }
        if let Some(password) = &self.password {
            codec::put_binary(s, password)?;
        }
        Ok(())
    }
}

impl ConnAck {
    pub(super) fn decode(mut b: Bytes, version: ProtocolVersion) -> Result<ConnAck> {
        let ack_flags = codec::get_u8(&mut b, "CONNACK acknowledge flags are missing")?;
        if ack_flags & 0xFE != 0 {
            // MQTT 3.1.1 §3.2.2.1, MQTT 5.0 §3.2.2.1: bits 7-1 are reserved, set to 0.
            return Err(ProtocolError::Malformed(
                "CONNACK reserved acknowledge flags are not 0",
            ));
        }
        let session_present = ack_flags & 0x01 != 0;
        let reason_code = match version {
            ProtocolVersion::V311 => {
                let code = codec::get_u8(&mut b, "CONNACK return code is missing")?;
                ReasonCode::from_v311_connack(code).ok_or(ProtocolError::Malformed(
                    "CONNACK return code is reserved (6-255)",
                ))?
            }
            ProtocolVersion::V5 => super::get_reason(
                &mut b,
                CONNACK_CODES,
                "CONNACK reason code is missing or invalid",
            )?,
        };
        if session_present && !reason_code.is_success() {
            // MQTT 3.1.1 [MQTT-3.2.2-4], MQTT 5.0 [MQTT-3.2.2-6].
            return Err(ProtocolError::Protocol(
                "CONNACK refuses the connection but sets session present",
            ));
        }
        let properties = decode_props(&mut b, version, PropertyContext::ConnAck)?;
        codec::expect_end(&b, "trailing bytes after the CONNACK")?;
        Ok(ConnAck {
            session_present,
            reason_code,
            properties,
        })
    }

    pub(super) fn encode<S: Sink>(&self, version: ProtocolVersion, s: &mut S) -> Result<()> {
        s.put_u8(u8::from(self.session_present));
        match version {
            ProtocolVersion::V311 => s.put_u8(self.reason_code.to_v311_connack()),
            ProtocolVersion::V5 => s.put_u8(self.reason_code as u8),
        }
        super::put_properties(s, version, &self.properties)
    }
}

/// Reads properties on MQTT 5.0; on 3.1.1 there are none.
pub(super) fn decode_props(
    b: &mut Bytes,
    version: ProtocolVersion,
    context: PropertyContext,
) -> Result<Properties> {
    match version {
        ProtocolVersion::V5 => Properties::decode(b, context),
        ProtocolVersion::V311 => Ok(Properties::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{decode, round_trip, user_props, BOTH};
    use super::super::Packet;
    use super::*;

    fn connect(version: ProtocolVersion) -> Connect {
        Connect {
            protocol_version: version,
            client_id: "client-1".into(),
            clean_start: true,
            keep_alive_secs: 60,
            username: None,
            password: None,
            will: None,
            properties: Properties::default(),
        }
    }

    #[test]
    fn connect_round_trips_in_both_versions() {
        for version in BOTH {
            let v5 = version == ProtocolVersion::V5;
            let mut full = connect(version);
            full.clean_start = false;
            full.client_id = String::new();
            full.username = Some("user".into());
            full.password = Some(Bytes::from_static(b"\x00secret\xFF"));
            full.will = Some(Will {
                topic: "will/topic".into(),
                payload: Bytes::from_static(b"gone"),
                qos: QoS::ExactlyOnce,
                retain: true,
                properties: if v5 {
                    Properties {
                        will_delay_interval: Some(5),
                        content_type: Some("text".into()),
                        ..user_props()
                    }
                } else {
                    Properties::default()
                },
            });
            if v5 {
                full.properties = Properties {
                    session_expiry_interval: Some(3600),
                    receive_maximum: Some(10),
                    maximum_packet_size: Some(1 << 20),
                    topic_alias_maximum: Some(5),
                    request_problem_information: Some(0),
                    request_response_information: Some(1),
                    authentication_method: Some("SCRAM".into()),
                    authentication_data: Some(Bytes::from_static(b"data")),
                    ..user_props()
                };
            }
            round_trip(&Packet::Connect(connect(version)), version);
            round_trip(&Packet::Connect(full), version);
        }
    }

    #[test]
    fn connect_is_decoded_by_its_own_level() {
        let mut buf = bytes::BytesMut::new();
        Packet::Connect(connect(ProtocolVersion::V5))
            .encode(ProtocolVersion::V311, &mut buf)
            .unwrap();
        let packet = Packet::decode(&mut buf, ProtocolVersion::V311, u32::MAX)
            .unwrap()
            .unwrap();
        assert_eq!(packet, Packet::Connect(connect(ProtocolVersion::V5)));
    }

    #[test]
    fn connack_round_trips_in_both_versions() {
        for version in BOTH {
            let ok = ConnAck {
                session_present: true,
                reason_code: ReasonCode::Success,
                properties: Properties::default(),
            };
            assert_eq!(
                round_trip(&Packet::ConnAck(ok.clone()), version).len(),
                if version == ProtocolVersion::V5 { 5 } else { 4 }
            );
            let refused = ConnAck {
                session_present: false,
                reason_code: ReasonCode::NotAuthorized,
                properties: Properties::default(),
            };
            round_trip(&Packet::ConnAck(refused), version);
        }
        let props = Properties {
            assigned_client_identifier: Some("auto-1".into()),
            server_keep_alive: Some(30),
            maximum_qos: Some(1),
            retain_available: Some(0),
            wildcard_subscription_available: Some(1),
            subscription_identifier_available: Some(1),
            shared_subscription_available: Some(0),
            response_information: Some("info".into()),
            server_reference: Some("other:1883".into()),
            reason_string: Some("why".into()),
            ..user_props()
        };
        let full = ConnAck {
            session_present: false,
            reason_code: ReasonCode::ServerMoved,
            properties: props,
        };
        round_trip(&Packet::ConnAck(full), ProtocolVersion::V5);
    }

    #[test]
    fn connect_with_bad_flags_or_name_is_refused() {
        // A minimal 3.1.1 CONNECT, then variations of its flags byte (offset 9).
        let base = [
            0x10, 0x0C, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 0,
        ];
        assert!(decode(&base, ProtocolVersion::V311).is_ok());
        let with_flags = |flags: u8| {
            let mut bytes = base;
            bytes[9] = flags;
            decode(&bytes, ProtocolVersion::V311)
        };
        assert!(with_flags(0x03).is_err(), "reserved bit");
        assert!(
            with_flags(0x02 | 0x08).is_err(),
            "will QoS without will flag"
        );
        assert!(
            with_flags(0x02 | 0x20).is_err(),
            "will retain without will flag"
        );
        assert!(
            with_flags(0x02 | 0x40).is_err(),
            "password without user name on 3.1.1"
        );
        let mut level3 = base;
        level3[8] = 3;
        assert_eq!(
            decode(&level3, ProtocolVersion::V311),
            Err(ProtocolError::UnsupportedProtocolVersion(3))
        );
        let mut name = base;
        name[7] = b'X';
        assert_eq!(
            decode(&name, ProtocolVersion::V311)
                .unwrap_err()
                .reason_code(),
            ReasonCode::ProtocolError
        );
    }
}

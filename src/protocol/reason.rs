//! Reason codes: the one `ReasonCode` enum for both versions (MQTT 5.0 §2.4), and the
//! single mapping to and from MQTT 3.1.1 CONNACK return codes and SUBACK results.
//! Must not know about packets' wire layout beyond the one-byte code.

use std::fmt;

macro_rules! reason_codes {
    ($( $(#[$doc:meta])* $name:ident = $value:literal, $text:literal; )*) => {
        /// An MQTT 5.0 reason code (§2.4). MQTT 3.1.1 return codes map onto these.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum ReasonCode {
            $( $(#[$doc])* $name = $value, )*
        }

        impl ReasonCode {
            /// The code for a byte, or `None` when the byte is not a defined reason code.
            pub fn from_u8(value: u8) -> Option<ReasonCode> {
                match value {
                    $( $value => Some(ReasonCode::$name), )*
                    _ => None,
                }
            }

            /// The specification's name of the code, lowercase, for messages to users.
            pub fn description(self) -> &'static str {
                match self {
                    $( ReasonCode::$name => $text, )*
                }
            }
        }
    };
}

reason_codes! {
    /// 0x00: Success, Normal disconnection, Granted QoS 0.
    Success = 0x00, "success";
    /// 0x01: Granted QoS 1.
    GrantedQoS1 = 0x01, "granted qos 1";
    /// 0x02: Granted QoS 2.
    GrantedQoS2 = 0x02, "granted qos 2";
    /// 0x04: Disconnect with Will Message.
    DisconnectWithWill = 0x04, "disconnect with will message";
    /// 0x10: No matching subscribers.
    NoMatchingSubscribers = 0x10, "no matching subscribers";
    /// 0x11: No subscription existed.
    NoSubscriptionExisted = 0x11, "no subscription existed";
    /// 0x18: Continue authentication.
    ContinueAuthentication = 0x18, "continue authentication";
    /// 0x19: Re-authenticate.
    ReAuthenticate = 0x19, "re-authenticate";
    /// 0x80: Unspecified error (also MQTT 3.1.1 SUBACK failure).
    UnspecifiedError = 0x80, "unspecified error";
    /// 0x81: Malformed Packet.
    MalformedPacket = 0x81, "malformed packet";
    /// 0x82: Protocol Error.
    ProtocolError = 0x82, "protocol error";
    /// 0x83: Implementation specific error.
    ImplementationSpecificError = 0x83, "implementation specific error";
    /// 0x84: Unsupported Protocol Version.
    UnsupportedProtocolVersion = 0x84, "unsupported protocol version";
    /// 0x85: Client Identifier not valid.
    ClientIdentifierNotValid = 0x85, "client identifier not valid";
    /// 0x86: Bad User Name or Password.
    BadUserNameOrPassword = 0x86, "bad user name or password";
    /// 0x87: Not authorized.
    NotAuthorized = 0x87, "not authorized";
    /// 0x88: Server unavailable.
    ServerUnavailable = 0x88, "server unavailable";
    /// 0x89: Server busy.
    ServerBusy = 0x89, "server busy";
    /// 0x8A: Banned.
    Banned = 0x8A, "banned";
    /// 0x8B: Server shutting down.
    ServerShuttingDown = 0x8B, "server shutting down";
    /// 0x8C: Bad authentication method.
    BadAuthenticationMethod = 0x8C, "bad authentication method";
    /// 0x8D: Keep Alive timeout.
    KeepAliveTimeout = 0x8D, "keep alive timeout";
    /// 0x8E: Session taken over.
    SessionTakenOver = 0x8E, "session taken over";
    /// 0x8F: Topic Filter invalid.
    TopicFilterInvalid = 0x8F, "topic filter invalid";
    /// 0x90: Topic Name invalid.
    TopicNameInvalid = 0x90, "topic name invalid";
    /// 0x91: Packet Identifier in use.
    PacketIdentifierInUse = 0x91, "packet identifier in use";
    /// 0x92: Packet Identifier not found.
    PacketIdentifierNotFound = 0x92, "packet identifier not found";
    /// 0x93: Receive Maximum exceeded.
    ReceiveMaximumExceeded = 0x93, "receive maximum exceeded";
    /// 0x94: Topic Alias invalid.
    TopicAliasInvalid = 0x94, "topic alias invalid";
    /// 0x95: Packet too large.
    PacketTooLarge = 0x95, "packet too large";
    /// 0x96: Message rate too high.
    MessageRateTooHigh = 0x96, "message rate too high";
    /// 0x97: Quota exceeded.
    QuotaExceeded = 0x97, "quota exceeded";
    /// 0x98: Administrative action.
    AdministrativeAction = 0x98, "administrative action";
    /// 0x99: Payload format invalid.
    PayloadFormatInvalid = 0x99, "payload format invalid";
    /// 0x9A: Retain not supported.
    RetainNotSupported = 0x9A, "retain not supported";
    /// 0x9B: QoS not supported.
    QoSNotSupported = 0x9B, "qos not supported";
    /// 0x9C: Use another server.
    UseAnotherServer = 0x9C, "use another server";
    /// 0x9D: Server moved.
    ServerMoved = 0x9D, "server moved";
    /// 0x9E: Shared Subscriptions not supported.
    SharedSubscriptionsNotSupported = 0x9E, "shared subscriptions not supported";
    /// 0x9F: Connection rate exceeded.
    ConnectionRateExceeded = 0x9F, "connection rate exceeded";
    /// 0xA0: Maximum connect time.
    MaximumConnectTime = 0xA0, "maximum connect time";
    /// 0xA1: Subscription Identifiers not supported.
    SubscriptionIdentifiersNotSupported = 0xA1, "subscription identifiers not supported";
    /// 0xA2: Wildcard Subscriptions not supported.
    WildcardSubscriptionsNotSupported = 0xA2, "wildcard subscriptions not supported";
}

impl ReasonCode {
    /// True for codes below 0x80, which report success (MQTT 5.0 §2.4).
    pub fn is_success(self) -> bool {
        (self as u8) < 0x80
    }

    /// The MQTT 3.1.1 CONNACK return code for this reason (MQTT 3.1.1 §3.2.2.3).
    /// Codes without a 3.1.1 equivalent map to 3 "server unavailable", the closest
    /// refusal a 3.1.1 client understands.
    pub fn to_v311_connack(self) -> u8 {
        match self {
            ReasonCode::Success => 0,
            ReasonCode::UnsupportedProtocolVersion => 1,
            ReasonCode::ClientIdentifierNotValid => 2,
            ReasonCode::ServerUnavailable => 3,
            ReasonCode::BadUserNameOrPassword => 4,
            ReasonCode::NotAuthorized => 5,
            _ => 3,
        }
    }

    /// The reason for an MQTT 3.1.1 CONNACK return code, `None` for 6..=255, which
    /// are reserved (MQTT 3.1.1 §3.2.2.3).
    pub fn from_v311_connack(code: u8) -> Option<ReasonCode> {
        Some(match code {
            0 => ReasonCode::Success,
            1 => ReasonCode::UnsupportedProtocolVersion,
            2 => ReasonCode::ClientIdentifierNotValid,
            3 => ReasonCode::ServerUnavailable,
            4 => ReasonCode::BadUserNameOrPassword,
            5 => ReasonCode::NotAuthorized,
            _ => return None,
        })
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02X})", self.description(), *self as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_maps_back_to_itself_or_none() {
        for b in 0..=255u8 {
            if let Some(code) = ReasonCode::from_u8(b) {
                assert_eq!(code as u8, b);
            }
        }
    }

    #[test]
    fn v311_connack_codes_round_trip() {
        for b in 0..=5u8 {
            let code = ReasonCode::from_v311_connack(b).unwrap();
            assert_eq!(code.to_v311_connack(), b);
        }
        assert_eq!(ReasonCode::from_v311_connack(6), None);
    }

    #[test]
    fn display_names_the_code_and_its_value() {
        assert_eq!(
            ReasonCode::NotAuthorized.to_string(),
            "not authorized (0x87)"
        );
    }
}

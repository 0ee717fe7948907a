//! MQTT 5.0 properties (§2.2.2): one struct holding every property, the table of which
//! property may appear in which packet, and their encoding and decoding.
//! On MQTT 3.1.1 every packet's `Properties` stays empty and nothing is written.

use bytes::Bytes;
use bytestring::ByteString;

use super::codec::{self, Counter, Sink};
use super::error::ProtocolError;

type Result<T> = std::result::Result<T, ProtocolError>;

/// Every MQTT 5.0 property. A field is `None` (or empty) when the property is absent.
/// The same struct sits in every packet that can carry properties; which ones are
/// allowed where is checked on decode (§2.2.2.2) by [`PropertyId::allowed_in`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// 0x01 Payload Format Indicator (PUBLISH, Will).
    pub payload_format_indicator: Option<u8>,
    /// 0x02 Message Expiry Interval, seconds (PUBLISH, Will).
    pub message_expiry_interval: Option<u32>,
    /// 0x03 Content Type (PUBLISH, Will).
    pub content_type: Option<String>,
    /// 0x08 Response Topic (PUBLISH, Will).
    pub response_topic: Option<ByteString>,
    /// 0x09 Correlation Data (PUBLISH, Will).
    pub correlation_data: Option<Bytes>,
    /// 0x0B Subscription Identifier: one in SUBSCRIBE, any number in PUBLISH.
    pub subscription_identifiers: Vec<u32>,
    /// 0x11 Session Expiry Interval, seconds (CONNECT, CONNACK, DISCONNECT).
    pub session_expiry_interval: Option<u32>,
    /// 0x12 Assigned Client Identifier (CONNACK).
    pub assigned_client_identifier: Option<String>,
    /// 0x13 Server Keep Alive, seconds (CONNACK).
    pub server_keep_alive: Option<u16>,
    /// 0x15 Authentication Method (CONNECT, CONNACK, AUTH).
    pub authentication_method: Option<String>,
    /// 0x16 Authentication Data (CONNECT, CONNACK, AUTH).
    pub authentication_data: Option<Bytes>,
    /// 0x17 Request Problem Information (CONNECT).
    pub request_problem_information: Option<u8>,
    /// 0x18 Will Delay Interval, seconds (Will).
    pub will_delay_interval: Option<u32>,
    /// 0x19 Request Response Information (CONNECT).
    pub request_response_information: Option<u8>,
    /// 0x1A Response Information (CONNACK).
    pub response_information: Option<String>,
    /// 0x1C Server Reference (CONNACK, DISCONNECT).
    pub server_reference: Option<String>,
    /// 0x1F Reason String (acks, CONNACK, DISCONNECT, AUTH).
    pub reason_string: Option<String>,
    /// 0x21 Receive Maximum (CONNECT, CONNACK).
    pub receive_maximum: Option<u16>,
    /// 0x22 Topic Alias Maximum (CONNECT, CONNACK).
    pub topic_alias_maximum: Option<u16>,
    /// 0x23 Topic Alias (PUBLISH).
    pub topic_alias: Option<u16>,
    /// 0x24 Maximum QoS (CONNACK).
    pub maximum_qos: Option<u8>,
    /// 0x25 Retain Available (CONNACK).
    pub retain_available: Option<u8>,
    /// 0x26 User Property, in order, repeats allowed (every packet with properties).
    pub user_properties: Vec<(String, String)>,
    /// 0x27 Maximum Packet Size (CONNECT, CONNACK).
    pub maximum_packet_size: Option<u32>,
    /// 0x28 Wildcard Subscription Available (CONNACK).
    pub wildcard_subscription_available: Option<u8>,
    /// 0x29 Subscription Identifier Available (CONNACK).
    pub subscription_identifier_available: Option<u8>,
    /// 0x2A Shared Subscription Available (CONNACK).
    pub shared_subscription_available: Option<u8>,
}

/// Where a set of properties sits: the columns of the table in MQTT 5.0 §2.2.2.2
/// (the Will's properties are a column of their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyContext {
    /// CONNECT.
    Connect,
    /// The Will Properties in the CONNECT payload.
    Will,
    /// CONNACK.
    ConnAck,
    /// PUBLISH.
    Publish,
    /// PUBACK.
    PubAck,
    /// PUBREC.
    PubRec,
    /// PUBREL.
    PubRel,
    /// PUBCOMP.
    PubComp,
    /// SUBSCRIBE.
    Subscribe,
    /// SUBACK.
    SubAck,
    /// UNSUBSCRIBE.
    Unsubscribe,
    /// UNSUBACK.
    UnsubAck,
    /// DISCONNECT.
    Disconnect,
    /// AUTH.
    Auth,
}

impl PropertyContext {
    /// The name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            PropertyContext::Connect => "CONNECT",
            PropertyContext::Will => "the will properties",
            PropertyContext::ConnAck => "CONNACK",
            PropertyContext::Publish => "PUBLISH",
            PropertyContext::PubAck => "PUBACK",
            PropertyContext::PubRec => "PUBREC",
            PropertyContext::PubRel => "PUBREL",
            PropertyContext::PubComp => "PUBCOMP",
            PropertyContext::Subscribe => "SUBSCRIBE",
            PropertyContext::SubAck => "SUBACK",
            PropertyContext::Unsubscribe => "UNSUBSCRIBE",
            PropertyContext::UnsubAck => "UNSUBACK",
            PropertyContext::Disconnect => "DISCONNECT",
            PropertyContext::Auth => "AUTH",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

macro_rules! property_ids {
    ($( $name:ident = $id:literal, $text:literal, [$($ctx:ident),*]; )*) => {
        /// A property identifier (MQTT 5.0 §2.2.2.2).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum PropertyId {
            $( #[doc = $text] $name = $id, )*
        }

        impl PropertyId {
            /// The property for an identifier, `None` when it is not defined.
            pub fn from_u32(id: u32) -> Option<PropertyId> {
                match id {
                    $( $id => Some(PropertyId::$name), )*
                    _ => None,
                }
            }

            /// The specification's name of the property.
            pub fn name(self) -> &'static str {
                match self {
                    $( PropertyId::$name => $text, )*
                }
            }

            /// True when the property may appear in `context` (the table of §2.2.2.2).
            pub fn allowed_in(self, context: PropertyContext) -> bool {
                let mask: u16 = match self {
                    $( PropertyId::$name => 0 $( | PropertyContext::$ctx.bit() )*, )*
                };
                mask & context.bit() != 0
            }
        }
    };
}

property_ids! {
    PayloadFormatIndicator = 0x01, "payload format indicator", [Publish, Will];
    MessageExpiryInterval = 0x02, "message expiry interval", [Publish, Will];
    ContentType = 0x03, "content type", [Publish, Will];
    ResponseTopic = 0x08, "response topic", [Publish, Will];
    CorrelationData = 0x09, "correlation data", [Publish, Will];
    SubscriptionIdentifier = 0x0B, "subscription identifier", [Publish, Subscribe];
    SessionExpiryInterval = 0x11, "session expiry interval", [Connect, ConnAck, Disconnect];
    AssignedClientIdentifier = 0x12, "assigned client identifier", [ConnAck];
    ServerKeepAlive = 0x13, "server keep alive", [ConnAck];
    AuthenticationMethod = 0x15, "authentication method", [Connect, ConnAck, Auth];
    AuthenticationData = 0x16, "authentication data", [Connect, ConnAck, Auth];
    RequestProblemInformation = 0x17, "request problem information", [Connect];
    WillDelayInterval = 0x18, "will delay interval", [Will];
    RequestResponseInformation = 0x19, "request response information", [Connect];
    ResponseInformation = 0x1A, "response information", [ConnAck];
    ServerReference = 0x1C, "server reference", [ConnAck, Disconnect];
    ReasonString = 0x1F, "reason string",
        [ConnAck, PubAck, PubRec, PubRel, PubComp, SubAck, UnsubAck, Disconnect, Auth];
    ReceiveMaximum = 0x21, "receive maximum", [Connect, ConnAck];
    TopicAliasMaximum = 0x22, "topic alias maximum", [Connect, ConnAck];
    TopicAlias = 0x23, "topic alias", [Publish];
    MaximumQoS = 0x24, "maximum qos", [ConnAck];
    RetainAvailable = 0x25, "retain available", [ConnAck];
    UserProperty = 0x26, "user property",
        [Connect, Will, ConnAck, Publish, PubAck, PubRec, PubRel, PubComp, Subscribe, SubAck,
         Unsubscribe, UnsubAck, Disconnect, Auth];
    MaximumPacketSize = 0x27, "maximum packet size", [Connect, ConnAck];
    WildcardSubscriptionAvailable = 0x28, "wildcard subscription available", [ConnAck];
    SubscriptionIdentifierAvailable = 0x29, "subscription identifier available", [ConnAck];
    SharedSubscriptionAvailable = 0x2A, "shared subscription available", [ConnAck];
}

/// A property value's wire type (MQTT 5.0 §2.2.2.2), read and written once.
trait Value: Sized {
    fn get(buf: &mut Bytes) -> Result<Self>;
    fn put<S: Sink>(&self, sink: &mut S) -> Result<()>;
}

const TRUNCATED: &str = "property value runs past the end of the properties";

impl Value for u8 {
    fn get(buf: &mut Bytes) -> Result<Self> {
        codec::get_u8(buf, TRUNCATED)
    }
    fn put<S: Sink>(&self, sink: &mut S) -> Result<()> {
        sink.put_u8(*self);
        Ok(())
    }
}

impl Value for u16 {
    fn get(buf: &mut Bytes) -> Result<Self> {
        codec::get_u16(buf, TRUNCATED)
    }
    fn put<S: Sink>(&self, sink: &mut S) -> Result<()> {
        codec::put_u16(sink, *self);
        Ok(())
    }
}

impl Value for u32 {
    fn get(buf: &mut Bytes) -> Result<Self> {
        codec::get_u32(buf, TRUNCATED)
    }
    fn put<S: Sink>(&self, sink: &mut S) -> Result<()> {
        codec::put_u32(sink, *self);
        Ok(())
    }
}

impl Value for String {
    fn get(buf: &mut Bytes) -> Result<Self> {
        codec::get_string(buf, TRUNCATED)
    }
    fn put<S: Sink>(&self, sink: &mut S) -> Result<()> {
        codec::put_str(sink, self)
    }
}

impl Value for ByteString {
    fn get(buf: &mut Bytes) -> Result<Self> {
        codec::get_bytestring(buf, TRUNCATED)
    }
    fn put<S: Sink>(&self, sink: &mut S) -> Result<()> {
        codec::put_str(sink, self)
    }
}

impl Value for Bytes {
    fn get(buf: &mut Bytes) -> Result<Self> {
        codec::get_binary(buf, TRUNCATED)
    }
    fn put<S: Sink>(&self, sink: &mut S) -> Result<()> {
        codec::put_binary(sink, self)
    }
}

/// Reads a single-valued property, refusing a second occurrence (§2.2.2.2: "It is a
/// Protocol Error to include the … more than once").
fn get_once<T: Value>(slot: &mut Option<T>, buf: &mut Bytes, id: PropertyId) -> Result<()> {
    if slot.is_some() {
        return Err(ProtocolError::DuplicateProperty(id.name()));
    }
    *slot = Some(T::get(buf)?);
    Ok(())
}

fn put_opt<T: Value, S: Sink>(sink: &mut S, id: PropertyId, value: &Option<T>) -> Result<()> {
    if let Some(value) = value {
        sink.put_u8(id as u8);
        value.put(sink)?;
    }
    Ok(())
}

/// Checks a byte property that may only be 0 or 1.
fn check_flag(value: Option<u8>, id: PropertyId) -> Result<()> {
    match value {
        Some(v) if v > 1 => Err(ProtocolError::PropertyValueInvalid {
            property: id.name(),
        }),
        _ => Ok(()),
    }
}

impl Properties {
    /// True when no property is set: nothing but the zero length is written.
    pub fn is_empty(&self) -> bool {
        // Field by field, not `== Properties::default()`: every message's encode asks
        // this, and building and comparing the whole struct showed in bench's profile.
        // Destructured, so that a new field cannot be forgotten here.
        let Properties {
            payload_format_indicator,
            message_expiry_interval,
            content_type,
            response_topic,
            correlation_data,
            subscription_identifiers,
            session_expiry_interval,
            assigned_client_identifier,
            server_keep_alive,
            authentication_method,
            authentication_data,
            request_problem_information,
            will_delay_interval,
            request_response_information,
            response_information,
            server_reference,
            reason_string,
            receive_maximum,
            topic_alias_maximum,
            topic_alias,
            maximum_qos,
            retain_available,
            user_properties,
            maximum_packet_size,
            wildcard_subscription_available,
            subscription_identifier_available,
            shared_subscription_available,
        } = self;
        subscription_identifiers.is_empty()
            && user_properties.is_empty()
            && payload_format_indicator.is_none()
            && message_expiry_interval.is_none()
            && content_type.is_none()
            && response_topic.is_none()
            && correlation_data.is_none()
            && session_expiry_interval.is_none()
            && assigned_client_identifier.is_none()
            && server_keep_alive.is_none()
            && authentication_method.is_none()
            && authentication_data.is_none()
            && request_problem_information.is_none()
            && will_delay_interval.is_none()
            && request_response_information.is_none()
            && response_information.is_none()
            && server_reference.is_none()
            && reason_string.is_none()
            && receive_maximum.is_none()
            && topic_alias_maximum.is_none()
            && topic_alias.is_none()
            && maximum_qos.is_none()
            && retain_available.is_none()
            && maximum_packet_size.is_none()
            && wildcard_subscription_available.is_none()
            && subscription_identifier_available.is_none()
            && shared_subscription_available.is_none()
    }

    /// Writes the property length and the properties (§2.2.2), in identifier order.
    pub fn encode<S: Sink>(&self, sink: &mut S) -> Result<()> {
        if self.is_empty() {
            // Most packets: the length alone, without counting and then writing every field.
            sink.put_u8(0);
            return Ok(());
        }
        let mut counter = Counter::default();
        self.encode_body(&mut counter)?;
        let len = u32::try_from(counter.0).unwrap_or(u32::MAX);
        codec::put_varint(sink, len)?;
        self.encode_body(sink)
    }

    fn encode_body<S: Sink>(&self, s: &mut S) -> Result<()> {
        use PropertyId as P;
        put_opt(s, P::PayloadFormatIndicator, &self.payload_format_indicator)?;
        put_opt(s, P::MessageExpiryInterval, &self.message_expiry_interval)?;
        put_opt(s, P::ContentType, &self.content_type)?;
        put_opt(s, P::ResponseTopic, &self.response_topic)?;
        put_opt(s, P::CorrelationData, &self.correlation_data)?;
        for &id in &self.subscription_identifiers {
            s.put_u8(P::SubscriptionIdentifier as u8);
            codec::put_varint(s, id)?;
        }
        put_opt(s, P::SessionExpiryInterval, &self.session_expiry_interval)?;
        put_opt(
            s,
            P::AssignedClientIdentifier,
            &self.assigned_client_identifier,
        )?;
        put_opt(s, P::ServerKeepAlive, &self.server_keep_alive)?;
        put_opt(s, P::AuthenticationMethod, &self.authentication_method)?;
        put_opt(s, P::AuthenticationData, &self.authentication_data)?;
        put_opt(
            s,
            P::RequestProblemInformation,
            &self.request_problem_information,
        )?;
        put_opt(s, P::WillDelayInterval, &self.will_delay_interval)?;
        put_opt(
            s,
            P::RequestResponseInformation,
            &self.request_response_information,
        )?;
        put_opt(s, P::ResponseInformation, &self.response_information)?;
        put_opt(s, P::ServerReference, &self.server_reference)?;
        put_opt(s, P::ReasonString, &self.reason_string)?;
        put_opt(s, P::ReceiveMaximum, &self.receive_maximum)?;
        put_opt(s, P::TopicAliasMaximum, &self.topic_alias_maximum)?;
        put_opt(s, P::TopicAlias, &self.topic_alias)?;
        put_opt(s, P::MaximumQoS, &self.maximum_qos)?;
        put_opt(s, P::RetainAvailable, &self.retain_available)?;
        for (key, value) in &self.user_properties {
            s.put_u8(P::UserProperty as u8);
            codec::put_str(s, key)?;
            codec::put_str(s, value)?;
        }
        put_opt(s, P::MaximumPacketSize, &self.maximum_packet_size)?;
        put_opt(
            s,
            P::WildcardSubscriptionAvailable,
            &self.wildcard_subscription_available,
        )?;
        put_opt(
            s,
            P::SubscriptionIdentifierAvailable,
            &self.subscription_identifier_available,
        )?;
        put_opt(
            s,
            P::SharedSubscriptionAvailable,
            &self.shared_subscription_available,
        )?;
        Ok(())
    }

    /// Reads the property length and the properties that follow, checking each
    /// identifier is defined and allowed in `context`, single-valued properties appear
    /// once, and values are in range.
    pub fn decode(buf: &mut Bytes, context: PropertyContext) -> Result<Properties> {
        let len = codec::get_varint(buf, "property length is truncated")? as usize;
        if len > buf.len() {
            return Err(ProtocolError::Malformed(
                "property length runs past the end of the packet",
            ));
        }
        if len == 0 {
            // Most packets: no split of the buffer (a reference count taken and dropped).
            return Ok(Properties::default());
        }
        let mut props = buf.split_to(len);
        let mut p = Properties::default();
        while !props.is_empty() {
            let raw = codec::get_varint(&mut props, "property identifier is truncated")?;
            let id = PropertyId::from_u32(raw).ok_or(ProtocolError::UnknownProperty(raw))?;
            if !id.allowed_in(context) {
                return Err(ProtocolError::PropertyNotAllowed {
                    property: id.name(),
                    packet: context.name(),
                });
            }
            p.decode_one(id, &mut props, context)?;
        }
        Ok(p)
    }

    fn decode_one(
        &mut self,
        id: PropertyId,
        b: &mut Bytes,
        context: PropertyContext,
    ) -> Result<()> {
        use PropertyId as P;
        match id {
            P::PayloadFormatIndicator => {
                get_once(&mut self.payload_format_indicator, b, id)?;
                check_flag(self.payload_format_indicator, id)?;
            }
            P::MessageExpiryInterval => get_once(&mut self.message_expiry_interval, b, id)?,
            P::ContentType => get_once(&mut self.content_type, b, id)?,
            P::ResponseTopic => {
                get_once(&mut self.response_topic, b, id)?;
                // MQTT 5.0 §3.3.2.3.5 [MQTT-3.3.2-14]: the Response Topic is a topic name.
                if let Some(topic) = &self.response_topic {
                    super::topic::validate_topic_name(topic)?;
                }
            }
            P::CorrelationData => get_once(&mut self.correlation_data, b, id)?,
            P::SubscriptionIdentifier => {
                // Any number in PUBLISH (§3.3.2.3.8), at most one in SUBSCRIBE (§3.8.2.1.2).
                if context != PropertyContext::Publish && !self.subscription_identifiers.is_empty()
                {
                    return Err(ProtocolError::DuplicateProperty(id.name()));
                }
                let value = codec::get_varint(b, TRUNCATED)?;
                if value == 0 {
                    // §3.8.2.1.2: "It is a Protocol Error if the Subscription Identifier
                    // has a value of 0."
                    return Err(ProtocolError::PropertyValueInvalid {
                        property: id.name(),
                    });
                }
                self.subscription_identifiers.push(value);
            }
            P::SessionExpiryInterval => get_once(&mut self.session_expiry_interval, b, id)?,
            P::AssignedClientIdentifier => get_once(&mut self.assigned_client_identifier, b, id)?,
            P::ServerKeepAlive => get_once(&mut self.server_keep_alive, b, id)?,
            P::AuthenticationMethod => get_once(&mut self.authentication_method, b, id)?,
            P::AuthenticationData => get_once(&mut self.authentication_data, b, id)?,
            P::RequestProblemInformation => {
                get_once(&mut self.request_problem_information, b, id)?;
                check_flag(self.request_problem_information, id)?;
            }
            P::WillDelayInterval => get_once(&mut self.will_delay_interval, b, id)?,
            P::RequestResponseInformation => {
                get_once(&mut self.request_response_information, b, id)?;
                check_flag(self.request_response_information, id)?;
            }
            P::ResponseInformation => get_once(&mut self.response_information, b, id)?,
            P::ServerReference => get_once(&mut self.server_reference, b, id)?,
            P::ReasonString => get_once(&mut self.reason_string, b, id)?,
            P::ReceiveMaximum => {
                get_once(&mut self.receive_maximum, b, id)?;
                // §3.1.2.11.3 / §3.2.2.3.3: a Receive Maximum of 0 is a Protocol Error.
                if self.receive_maximum == Some(0) {
                    return Err(ProtocolError::PropertyValueInvalid {
                        property: id.name(),
                    });
                }
            }
            P::TopicAliasMaximum => get_once(&mut self.topic_alias_maximum, b, id)?,
            P::TopicAlias => {
                get_once(&mut self.topic_alias, b, id)?;
                // §3.3.2.3.4 [MQTT-3.3.2-8]: a Topic Alias of 0 is not permitted.
                if self.topic_alias == Some(0) {
                    return Err(ProtocolError::TopicAliasInvalid(
                        "topic alias 0 is not permitted",
                    ));
                }
            }
            P::MaximumQoS => {
                get_once(&mut self.maximum_qos, b, id)?;
                check_flag(self.maximum_qos, id)?;
            }
            P::RetainAvailable => {
                get_once(&mut self.retain_available, b, id)?;
                check_flag(self.retain_available, id)?;
            }
            P::UserProperty => {
                let key = codec::get_string(b, TRUNCATED)?;
                let value = codec::get_string(b, TRUNCATED)?;
                self.user_properties.push((key, value));
            }
            P::MaximumPacketSize => {
                get_once(&mut self.maximum_packet_size, b, id)?;
                // §3.1.2.11.4 / §3.2.2.3.6: a Maximum Packet Size of 0 is a Protocol Error.
                if self.maximum_packet_size == Some(0) {
                    return Err(ProtocolError::PropertyValueInvalid {
                        property: id.name(),
                    });
                }
            }
            P::WildcardSubscriptionAvailable => {
                get_once(&mut self.wildcard_subscription_available, b, id)?;
                check_flag(self.wildcard_subscription_available, id)?;
            }
            P::SubscriptionIdentifierAvailable => {
                get_once(&mut self.subscription_identifier_available, b, id)?;
                check_flag(self.subscription_identifier_available, id)?;
            }
            P::SharedSubscriptionAvailable => {
                get_once(&mut self.shared_subscription_available, b, id)?;
                check_flag(self.shared_subscription_available, id)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_one_property_set_is_not_empty() {
        let setters: [fn(&mut Properties); 27] = [
            |p: &mut Properties| p.payload_format_indicator = Some(Default::default()),
            |p: &mut Properties| p.message_expiry_interval = Some(Default::default()),
            |p: &mut Properties| p.content_type = Some(Default::default()),
            |p: &mut Properties| p.response_topic = Some(Default::default()),
            |p: &mut Properties| p.correlation_data = Some(Default::default()),
            |p: &mut Properties| p.subscription_identifiers.push(Default::default()),
            |p: &mut Properties| p.session_expiry_interval = Some(Default::default()),
            |p: &mut Properties| p.assigned_client_identifier = Some(Default::default()),
            |p: &mut Properties| p.server_keep_alive = Some(Default::default()),
            |p: &mut Properties| p.authentication_method = Some(Default::default()),
            |p: &mut Properties| p.authentication_data = Some(Default::default()),
            |p: &mut Properties| p.request_problem_information = Some(Default::default()),
            |p: &mut Properties| p.will_delay_interval = Some(Default::default()),
            |p: &mut Properties| p.request_response_information = Some(Default::default()),
            |p: &mut Properties| p.response_information = Some(Default::default()),
            |p: &mut Properties| p.server_reference = Some(Default::default()),
            |p: &mut Properties| p.reason_string = Some(Default::default()),
            |p: &mut Properties| p.receive_maximum = Some(Default::default()),
            |p: &mut Properties| p.topic_alias_maximum = Some(Default::default()),
            |p: &mut Properties| p.topic_alias = Some(Default::default()),
            |p: &mut Properties| p.maximum_qos = Some(Default::default()),
            |p: &mut Properties| p.retain_available = Some(Default::default()),
            |p: &mut Properties| p.user_properties.push(Default::default()),
            |p: &mut Properties| p.maximum_packet_size = Some(Default::default()),
            |p: &mut Properties| p.wildcard_subscription_available = Some(Default::default()),
            |p: &mut Properties| p.subscription_identifier_available = Some(Default::default()),
            |p: &mut Properties| p.shared_subscription_available = Some(Default::default()),
        ];
        assert!(Properties::default().is_empty());
        for (i, set) in setters.iter().enumerate() {
            let mut p = Properties::default();
            set(&mut p);
            assert!(!p.is_empty(), "field {i}");
            assert_ne!(p, Properties::default(), "field {i}");
        }
    }

    #[test]
    fn empty_properties_are_one_zero_byte_both_ways() {
        let mut out = bytes::BytesMut::new();
        Properties::default().encode(&mut out).unwrap();
        assert_eq!(&out[..], [0]);
        // A zero length followed by the rest of the packet: only the length is taken.
        let mut buf = Bytes::from_static(&[0, 0xAB]);
        let p = Properties::decode(&mut buf, PropertyContext::Publish).unwrap();
        assert!(p.is_empty());
        assert_eq!(&buf[..], [0xAB]);
    }

    #[test]
    fn set_properties_still_round_trip() {
        let p = Properties {
            message_expiry_interval: Some(30),
            content_type: Some("text/plain".into()),
            user_properties: vec![("k".into(), "v".into())],
            ..Properties::default()
        };
        let mut out = bytes::BytesMut::new();
        p.encode(&mut out).unwrap();
        assert_ne!(&out[..], [0]);
        let mut buf = out.freeze();
        let back = Properties::decode(&mut buf, PropertyContext::Publish).unwrap();
        assert_eq!(back, p);
        assert!(buf.is_empty());
    }
}

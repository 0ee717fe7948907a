//! proptest strategies for the codec's property tests: packets valid for a version
//! (every field, every property allowed in its packet, reason codes of the packet's
//! list), topic names and filters over a small alphabet, and loose property sets with
//! out-of-range values for the error paths.

use bytes::Bytes;
use mqtk::protocol::properties::{PropertyContext, PropertyId};
use mqtk::protocol::topic::parse_shared;
use mqtk::protocol::{
    Auth, ConnAck, Connect, Disconnect, Packet, Properties, ProtocolVersion, PubResponse, Publish,
    QoS, ReasonCode, RetainHandling, SubAck, Subscribe, Subscription, UnsubAck, Unsubscribe, Will,
};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use proptest::sample::select;

use ProtocolVersion::{V311, V5};

pub fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![Just(V311), Just(V5)]
}

/// Short strings of any characters but U+0000, which MQTT strings may not hold.
pub fn string() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,12}"
}

pub fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

pub fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

/// Topic names: levels of a small alphabet (so the matcher finds matches), `$` included.
pub fn topic_name() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            Just(""),
            Just("a"),
            Just("b"),
            Just("$x"),
            Just("é"),
            Just("long level")
        ],
        1..5,
    )
    .prop_map(|levels| match levels.join("/") {
        // One empty level is the empty name, which is invalid: no filter (and so no
        // rejections, which proptest caps) but a remap.
        t if t.is_empty() => "a".to_string(),
        t => t,
    })
}

/// Valid topic filters: levels, `+` levels, an optional trailing `#`, maybe shared.
pub fn topic_filter() -> impl Strategy<Value = String> {
    filter_of(prop_oneof![3 => Just(None), 1 => Just(Some("g"))])
}

/// Valid topic filters that are not shared subscriptions.
pub fn plain_topic_filter() -> impl Strategy<Value = String> {
    filter_of(Just(None))
}

pub fn filter_of(
    group: impl Strategy<Value = Option<&'static str>>,
) -> impl Strategy<Value = String> {
    let level = prop_oneof![Just("a"), Just("b"), Just(""), Just("+"), Just("$x")];
    (vec(level, 0..4), any::<bool>(), group).prop_map(|(levels, hash, group)| {
        let mut levels: Vec<&str> = levels;
        if hash || levels.is_empty() {
            levels.push("#");
        }
        let mut filter = levels.join("/");
        if filter.is_empty() {
            // A single empty level is the empty filter, which is invalid.
            filter.push('#');
        }
        match group {
            Some(g) => format!("$share/{g}/{filter}"),
            None => filter,
        }
    })
}

/// Any set of properties, then only those allowed in `context` kept: every generated
/// packet is one a correct peer could send.
pub fn properties(context: PropertyContext) -> impl Strategy<Value = Properties> {
    any_properties(false).prop_map(move |mut p| {
        keep_allowed(&mut p, context);
        p
    })
}

/// Every property set at random. `loose`: any value, 0 and out-of-range flags included
/// (for the error paths); otherwise only values a correct peer sends.
pub fn any_properties(loose: bool) -> BoxedStrategy<Properties> {
    let (lo, flag_max, id_max): (u8, u8, u32) = if loose {
        (0, u8::MAX, u32::MAX)
    } else {
        (1, 1, 268_435_455)
    };
    let flag = move || of(0..=flag_max);
    let response_topic = if loose {
        string().boxed()
    } else {
        topic_name().boxed()
    };
    let publish_like = (
        flag(),
        of(any::<u32>()),
        of(string()),
        of(response_topic),
        of(binary()),
    );
    let ids = vec(u32::from(lo)..=id_max, 0..3);
    let session = (
        of(any::<u32>()),
        of(string()),
        of(any::<u16>()),
        of(string()),
        of(binary()),
    );
    let requests = (
        flag(),
        of(any::<u32>()),
        flag(),
        of(string()),
        of(string()),
        of(string()),
    );
    let limits = (
        of(u16::from(lo)..=u16::MAX),
        of(any::<u16>()),
        of(u16::from(lo)..=u16::MAX),
        flag(),
        flag(),
    );
    let rest = (
        vec((string(), string()), 0..3),
        of(u32::from(lo)..=u32::MAX),
        flag(),
        flag(),
        flag(),
    );
    (publish_like, ids, session, requests, limits, rest)
        .prop_map(|(a, ids, s, r, l, z)| Properties {
            payload_format_indicator: a.0,
            message_expiry_interval: a.1,
            content_type: a.2,
            response_topic: a.3.map(Into::into),
            correlation_data: a.4,
            subscription_identifiers: ids,
            session_expiry_interval: s.0,
            assigned_client_identifier: s.1,
            server_keep_alive: s.2,
            authentication_method: s.3,
            authentication_data: s.4,
            request_problem_information: r.0,
            will_delay_interval: r.1,
            request_response_information: r.2,
            response_information: r.3,
            server_reference: r.4,
            reason_string: r.5,
            receive_maximum: l.0,
            topic_alias_maximum: l.1,
            topic_alias: l.2,
            maximum_qos: l.3,
            retain_available: l.4,
            user_properties: z.0,
            maximum_packet_size: z.1,
            wildcard_subscription_available: z.2,
            subscription_identifier_available: z.3,
            shared_subscription_available: z.4,
        })
        .boxed()
}

/// Clears every property not allowed in `context` (MQTT 5.0 §2.2.2.2).
pub fn keep_allowed(p: &mut Properties, context: PropertyContext) {
    use PropertyId as P;
    let allowed = |id: PropertyId| id.allowed_in(context);
    macro_rules! clear {
        ($($id:ident => $field:ident),*) => {
            $( if !allowed(P::$id) { p.$field = Default::default(); } )*
        };
    }
    clear!(
        PayloadFormatIndicator => payload_format_indicator,
        MessageExpiryInterval => message_expiry_interval,
        ContentType => content_type,
        ResponseTopic => response_topic,
        CorrelationData => correlation_data,
        SubscriptionIdentifier => subscription_identifiers,
        SessionExpiryInterval => session_expiry_interval,
        AssignedClientIdentifier => assigned_client_identifier,
        ServerKeepAlive => server_keep_alive,
        AuthenticationMethod => authentication_method,
        AuthenticationData => authentication_data,
        RequestProblemInformation => request_problem_information,
        WillDelayInterval => will_delay_interval,
        RequestResponseInformation => request_response_information,
        ResponseInformation => response_information,
        ServerReference => server_reference,
        ReasonString => reason_string,
        ReceiveMaximum => receive_maximum,
        TopicAliasMaximum => topic_alias_maximum,
        TopicAlias => topic_alias,
        MaximumQoS => maximum_qos,
        RetainAvailable => retain_available,
        UserProperty => user_properties,
        MaximumPacketSize => maximum_packet_size,
        WildcardSubscriptionAvailable => wildcard_subscription_available,
        SubscriptionIdentifierAvailable => subscription_identifier_available,
        SharedSubscriptionAvailable => shared_subscription_available
    );
    if context == PropertyContext::Subscribe {
        p.subscription_identifiers.truncate(1);
    }
    // Authentication data only comes with a method (MQTT 5.0 §3.1.2.11.10, §3.15.2.2.3).
    if p.authentication_data.is_some() && p.authentication_method.is_none() {
        p.authentication_method = Some("m".into());
    }
}

/// Properties on 5.0, none on 3.1.1.
pub fn props(version: ProtocolVersion, context: PropertyContext) -> BoxedStrategy<Properties> {
    match version {
        V5 => properties(context).boxed(),
        V311 => Just(Properties::default()).boxed(),
    }
}

/// A reason code from a list (MQTT 5.0 §2.4 per packet), or Success on 3.1.1.
pub fn reason(version: ProtocolVersion, codes: &'static [u8]) -> BoxedStrategy<ReasonCode> {
    match version {
        V5 => select(codes)
            .prop_map(|c| ReasonCode::from_u8(c).expect("listed codes exist"))
            .boxed(),
        V311 => Just(ReasonCode::Success).boxed(),
    }
}

const CONNACK_V5: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
];
const PUBACK_V5: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
const PUBREL_V5: &[u8] = &[0x00, 0x92];
const SUBACK_V5: &[u8] = &[
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
];
const SUBACK_V311: &[u8] = &[0x00, 0x01, 0x02, 0x80];
const UNSUBACK_V5: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];
const DISCONNECT_V5: &[u8] = &[
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
    0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
];
const AUTH_V5: &[u8] = &[0x00, 0x18, 0x19];

pub fn connect(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let will = (
        topic_name(),
        binary(),
        qos(),
        any::<bool>(),
        props(version, PropertyContext::Will),
    );
    let fields = (
        string(),
        any::<bool>(),
        any::<u16>(),
        of(string()),
        of(binary()),
        of(will),
    );
    (fields, props(version, PropertyContext::Connect)).prop_map(
        move |(
            (client_id, clean_start, keep_alive_secs, username, mut password, will),
            properties,
        )| {
            if version == V311 && username.is_none() {
                // MQTT 3.1.1 [MQTT-3.1.2-22]: no password without a user name.
                password = None;
            }
            Packet::Connect(Connect {
                protocol_version: version,
                client_id,
                clean_start,
                keep_alive_secs,
                username,
                password,
                will: will.map(|(topic, payload, qos, retain, properties)| Will {
                    topic: topic.into(),
                    payload,
                    qos,
                    retain,
                    properties,
                }),
                properties,
            })
        },
    )
}

pub fn publish(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let head = (
        any::<bool>(),
        qos(),
        any::<bool>(),
        topic_name(),
        1..=u16::MAX,
    );
    (
        head,
        props(version, PropertyContext::Publish),
        vec(any::<u8>(), 0..64),
        any::<bool>(),
    )
        .prop_map(
            move |((dup, qos, retain, topic, id), properties, payload, drop_topic)| {
                let mut topic: String = topic;
                // MQTT 5.0 §3.3.2.3.4: an empty topic is allowed when an alias stands for it.
                if version == V5 && drop_topic && properties.topic_alias.is_some() {
                    topic.clear();
                }
                let at_most_once = qos == QoS::AtMostOnce;
                Packet::Publish(Publish {
                    dup: dup && !at_most_once,
                    qos,
                    retain,
                    topic: topic.into(),
                    packet_id: if at_most_once { 0 } else { id },
                    properties,
                    payload: Bytes::from(payload),
                })
            },
        )
}

pub fn pub_response(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let ack = (
        1..=u16::MAX,
        reason(version, PUBACK_V5),
        props(version, PropertyContext::PubAck),
    );
    let rel = (
        1..=u16::MAX,
        reason(version, PUBREL_V5),
        props(version, PropertyContext::PubRel),
    );
    (0..4u8, ack, rel).prop_map(
        |(kind, (id, ack_code, ack_props), (id2, rel_code, rel_props))| {
            let ack = PubResponse {
                packet_id: id,
                reason_code: ack_code,
                properties: ack_props,
            };
            let rel = PubResponse {
                packet_id: id2,
                reason_code: rel_code,
                properties: rel_props,
            };
            match kind {
                0 => Packet::PubAck(ack),
                1 => Packet::PubRec(ack),
                2 => Packet::PubRel(rel),
                _ => Packet::PubComp(rel),
            }
        },
    )
}

pub fn subscription(version: ProtocolVersion) -> impl Strategy<Value = Subscription> {
    let handling = prop_oneof![
        Just(RetainHandling::SendOnSubscribe),
        Just(RetainHandling::SendIfNew),
        Just(RetainHandling::DoNotSend)
    ];
    (
        topic_filter(),
        qos(),
        any::<bool>(),
        any::<bool>(),
        handling,
    )
        .prop_map(
            move |(filter, qos, no_local, retain_as_published, retain_handling)| {
                let mut sub = Subscription::new(filter, qos);
                if version == V5 {
                    // [MQTT-3.8.3-4]: no local on a shared subscription is a protocol error.
                    sub.no_local = no_local && parse_shared(&sub.filter).is_none();
                    sub.retain_as_published = retain_as_published;
                    sub.retain_handling = retain_handling;
                }
                sub
            },
        )
}

pub fn subscribe_family(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let suback_codes = if version == V5 {
        SUBACK_V5
    } else {
        SUBACK_V311
    };
    let sub = (
        1..=u16::MAX,
        vec(subscription(version), 1..4),
        props(version, PropertyContext::Subscribe),
    );
    let suback = (
        1..=u16::MAX,
        vec(select(suback_codes), 1..4),
        props(version, PropertyContext::SubAck),
    );
    let unsub = (
        1..=u16::MAX,
        vec(topic_filter(), 1..4),
        props(version, PropertyContext::Unsubscribe),
    );
    let unsuback = (
        1..=u16::MAX,
        vec(select(UNSUBACK_V5), 1..4),
        props(version, PropertyContext::UnsubAck),
    );
    prop_oneof![
        sub.prop_map(|(packet_id, subscriptions, properties)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                subscriptions,
                properties,
            })
        }),
        suback.prop_map(|(packet_id, codes, properties)| {
            let reason_codes = codes
                .into_iter()
                .map(|c| ReasonCode::from_u8(c).unwrap())
                .collect();
            Packet::SubAck(SubAck {
                packet_id,
                reason_codes,
                properties,
            })
        }),
        unsub.prop_map(|(packet_id, filters, properties)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters,
                properties,
            })
        }),
        unsuback.prop_map(move |(packet_id, codes, properties)| {
            // MQTT 3.1.1 UNSUBACK carries no reason codes.
            let reason_codes = match version {
                V5 => codes
                    .into_iter()
                    .map(|c| ReasonCode::from_u8(c).unwrap())
                    .collect(),
                V311 => Vec::new(),
            };
            Packet::UnsubAck(UnsubAck {
                packet_id,
                reason_codes,
                properties,
            })
        }),
    ]
}

pub fn other(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let code = match version {
        V5 => reason(version, CONNACK_V5),
        V311 => select(&[0u8, 1, 2, 3, 4, 5][..])
            .prop_map(|c| ReasonCode::from_v311_connack(c).expect("0-5 are defined"))
            .boxed(),
    };
    let connack = (
        any::<bool>(),
        code,
        props(version, PropertyContext::ConnAck),
    )
        .prop_map(|(session_present, reason_code, properties)| {
            Packet::ConnAck(ConnAck {
                // [MQTT-3.2.2-4]/[MQTT-3.2.2-6]: no session on a refusal.
                session_present: session_present && reason_code.is_success(),
                reason_code,
                properties,
            })
        });
    let disconnect = (
        reason(version, DISCONNECT_V5),
        props(version, PropertyContext::Disconnect),
    )
        .prop_map(|(reason_code, properties)| {
            Packet::Disconnect(Disconnect {
                reason_code,
                properties,
            })
        });
    let pings = prop_oneof![Just(Packet::PingReq), Just(Packet::PingResp)];
    match version {
        V311 => prop_oneof![connack, disconnect, pings].boxed(),
        V5 => {
            let auth = (
                reason(version, AUTH_V5),
                props(version, PropertyContext::Auth),
            )
                .prop_map(|(reason_code, mut properties)| {
                    // MQTT 5.0 §3.15.2.2.2: only the abbreviated AUTH has no method.
                    let abbreviated = reason_code == ReasonCode::Success && properties.is_empty();
                    if !abbreviated && properties.authentication_method.is_none() {
                        properties.authentication_method = Some("SCRAM-SHA-1".into());
                    }
                    Packet::Auth(Auth {
                        reason_code,
                        properties,
                    })
                });
            prop_oneof![connack, disconnect, pings, auth].boxed()
        }
    }
}

/// Any packet that is valid for `version`.
pub fn packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    prop_oneof![
        1 => connect(version),
        3 => publish(version),
        1 => pub_response(version),
        2 => subscribe_family(version),
        1 => other(version),
    ]
    .boxed()
}

pub fn versioned_packets(max: usize) -> impl Strategy<Value = (ProtocolVersion, Vec<Packet>)> {
    version().prop_flat_map(move |v| (Just(v), vec(packet(v), 1..max)))
}

//! Malformed and forbidden input: the broker closes the offender (MQTT 5 with the right
//! reason code where it sends a DISCONNECT) and keeps serving everyone else. Each case
//! writes raw bytes through the offender's own connection. Must not test valid flows.

use super::common::{closes_offender, frame, publish_body, Ctx};
use crate::conformance::case::Case;
use crate::conformance::verdict::{section, spec, Check};
use crate::conformance_case as case;
use crate::protocol::ReasonCode;

const MALFORMED: &[ReasonCode] = &[ReasonCode::MalformedPacket, ReasonCode::ProtocolError];

pub const CASES: &[Case] = &[
    case!(
        "malformed",
        "wildcard-in-topic",
        Must,
        spec("3.3.2.1", "MQTT-3.3.2-2"),
        spec("3.3.2.1", "MQTT-3.3.2-2"),
        "a PUBLISH topic with + or # closes the connection",
        wildcard_in_topic
    ),
    case!(
        "malformed",
        "qos3",
        Must,
        spec("3.3.1.2", "MQTT-3.3.1-4"),
        spec("3.3.1.2", "MQTT-3.3.1-4"),
        "a PUBLISH with QoS 3 closes the connection",
        qos3
    ),
    case!(
        "malformed",
        "packet-id-zero",
        Must,
        spec("2.3.1", "MQTT-2.3.1-1"),
        section("2.2.1"),
        "a QoS 1 PUBLISH with packet id 0 closes the connection",
        packet_id_zero
    ),
    case!(
        "malformed",
        "reserved-bits",
        Must,
        spec("3.8.1", "MQTT-3.8.1-1"),
        spec("3.8.1", "MQTT-3.8.1-1"),
        "a SUBSCRIBE with fixed header flags other than 0010 closes the connection",
        reserved_bits
    ),
    case!(
        "malformed",
        "bad-utf8",
        Must,
        spec("1.5.3", "MQTT-1.5.3-1"),
        spec("1.5.4", "MQTT-1.5.4-1"),
        "a topic that is not valid UTF-8 closes the connection",
        bad_utf8
    ),
    case!(
        "malformed",
        "nul-in-topic",
        Must,
        spec("1.5.3", "MQTT-1.5.3-2"),
        spec("1.5.4", "MQTT-1.5.4-2"),
        "a topic containing U+0000 closes the connection",
        nul_in_topic
    ),
    case!(
        "malformed",
        "truncated",
        Must,
        section("2.2.3"),
        spec("4.13.1", "MQTT-4.13.1-1"),
        "a PUBLISH whose topic length runs past the packet closes the connection",
        truncated
    ),
    case!(
        "malformed",
        "oversize-remaining-length",
        Must,
        section("2.2.3"),
        section("1.5.5"),
        "a remaining length of more than four bytes closes the connection",
        oversize_remaining_length
    ),
    case!(
        "malformed",
        "duplicate-property",
        Must,
        None,
        section("2.2.2.2"),
        "a property that may appear once, given twice, closes the connection",
        duplicate_property
    ),
    case!(
        "malformed",
        "property-not-allowed",
        Must,
        None,
        section("2.2.2.2"),
        "a property not allowed in the packet (session expiry in PUBLISH) closes it",
        property_not_allowed
    ),
];

async fn wildcard_in_topic(cx: Ctx) -> Check {
    let body = publish_body(&cx, cx.topic("a/+").as_bytes(), None, b"x");
    let reasons = [
        ReasonCode::TopicNameInvalid,
        ReasonCode::MalformedPacket,
        ReasonCode::ProtocolError,
    ];
    closes_offender(&cx, &frame(0x30, &body), &reasons).await
}

async fn qos3(cx: Ctx) -> Check {
    let body = publish_body(&cx, cx.topic("q3").as_bytes(), Some(1), b"x");
    closes_offender(&cx, &frame(0x36, &body), MALFORMED).await
}

async fn packet_id_zero(cx: Ctx) -> Check {
    let body = publish_body(&cx, cx.topic("id0").as_bytes(), Some(0), b"x");
    closes_offender(&cx, &frame(0x32, &body), MALFORMED).await
}

async fn reserved_bits(cx: Ctx) -> Check {
    let mut body = vec![0, 1];
    if cx.v5() {
        body.push(0);
    }
    body.extend_from_slice(&super::common::string(cx.topic("rb").as_bytes()));
    body.push(1);
    closes_offender(&cx, &frame(0x80, &body), MALFORMED).await
}

async fn bad_utf8(cx: Ctx) -> Check {
    let mut topic = cx.topic("u").into_bytes();
    topic.extend_from_slice(&[0xC3, 0x28]);
    let body = publish_body(&cx, &topic, None, b"x");
    closes_offender(&cx, &frame(0x30, &body), MALFORMED).await
}

async fn nul_in_topic(cx: Ctx) -> Check {
    let mut topic = cx.topic("n").into_bytes();
    topic.push(0);
    let body = publish_body(&cx, &topic, None, b"x");
    let reasons = [
        ReasonCode::MalformedPacket,
        ReasonCode::ProtocolError,
        ReasonCode::TopicNameInvalid,
    ];
    closes_offender(&cx, &frame(0x30, &body), &reasons).await
}

async fn truncated(cx: Ctx) -> Check {
    // Topic length 200 in a packet of 5 bytes.
    let body = [0, 200, b'a', b'b', b'c'];
    closes_offender(&cx, &frame(0x30, &body), MALFORMED).await
}

async fn oversize_remaining_length(cx: Ctx) -> Check {
    closes_offender(&cx, &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], MALFORMED).await
}

/// A QoS 0 PUBLISH to `leaf` with the property bytes `properties`.
fn with_properties(cx: &Ctx, leaf: &str, properties: &[u8]) -> Vec<u8> {
    let mut body = super::common::string(cx.topic(leaf).as_bytes());
    super::common::varint(properties.len(), &mut body);
    body.extend_from_slice(properties);
    body.push(b'x');
    frame(0x30, &body)
}

async fn duplicate_property(cx: Ctx) -> Check {
    // Payload Format Indicator (0x01) twice.
    let bytes = with_properties(&cx, "dp", &[0x01, 0x00, 0x01, 0x01]);
    closes_offender(&cx, &bytes, MALFORMED).await
}

async fn property_not_allowed(cx: Ctx) -> Check {
    // Session Expiry Interval (0x11) belongs to CONNECT, CONNACK and DISCONNECT.
    let bytes = with_properties(&cx, "pn", &[0x11, 0, 0, 0, 10]);
    closes_offender(&cx, &bytes, MALFORMED).await
}

//! MQTT 5 reason codes on the PUBACK of a PUBLISH the broker accepts with a note or
//! refuses: 0x10 when nobody subscribed, 0x99 for a payload that is not the UTF-8 its
//! Payload Format Indicator says. Both are the broker's option (MAY), so `may` cases.
//! A PUBLISH the ACL refuses is `access`'s (it needs `--denied-topic`). Must not test
//! PUBLISH flows (`qos`).

use bytes::Bytes;

use super::common::{hex, Ctx};
use crate::conformance::case::Case;
use crate::conformance::peer::{message, Next};
use crate::conformance::verdict::{ensure, section, Check, Verdict};
use crate::conformance_case as case;
use crate::protocol::{Packet, QoS, ReasonCode};

pub const CASES: &[Case] = &[
    case!(
        "v5",
        "puback-no-subscribers",
        May,
        None,
        section("3.4.2.1"),
        "PUBACK says 0x10 (no matching subscribers) when nobody subscribed",
        puback_no_subscribers
    ),
    case!(
        "v5",
        "payload-format-invalid",
        May,
        None,
        section("3.3.2.3.2"),
        "a payload that is not UTF-8 with Payload Format Indicator 1 gets PUBACK (or DISCONNECT) 0x99",
        payload_format_invalid
    ),
];

async fn puback_no_subscribers(cx: Ctx) -> Check {
    let mut publisher = cx.peer().await?;
    let ack = publisher
        .publish(
            message(&cx.topic("nobody"), QoS::AtLeastOnce, b"x"),
            cx.arrive(),
        )
        .await?
        .expect("QoS 1 has a PUBACK");
    ensure(ack.reason_code == ReasonCode::NoMatchingSubscribers, || {
        format!("PUBACK {}", ack.reason_code)
    })
}

async fn payload_format_invalid(cx: Ctx) -> Check {
    let mut publisher = cx.peer().await?;
    let mut p = message(&cx.topic("pfi"), QoS::AtLeastOnce, b"");
    p.payload = Bytes::from_static(&[b'o', b'k', 0xC3, 0x28]);
    p.properties.payload_format_indicator = Some(1);
    p.packet_id = publisher.packet_id();
    let id = p.packet_id;
    publisher.send(&Packet::Publish(p)).await?;
    let said = match publisher.next(cx.arrive()).await {
        Next::Packet(Packet::PubAck(ack)) if ack.packet_id == id => ack.reason_code,
        Next::Packet(Packet::Disconnect(d)) => d.reason_code,
        Next::Packet(other) => {
            return Err(Verdict::Fail(format!(
                "expected PUBACK {id}, got {}",
                crate::output::packet_summary(&other)
            )))
        }
        Next::Closed => return Err(Verdict::Fail("closed without a reason code".into())),
        Next::Silent => return Err(Verdict::Fail(format!("no PUBACK within {:?}", cx.arrive()))),
        Next::Broken(e) => return Err(Verdict::Fail(format!("malformed answer: {e}"))),
    };
    ensure(said == ReasonCode::PayloadFormatInvalid, || {
        format!(
            "payload {} with Payload Format Indicator 1: {said}",
            hex(&[b'o', b'k', 0xC3, 0x28])
        )
    })
}

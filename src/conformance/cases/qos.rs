//! QoS 0/1/2 flows in both directions, QoS downgrade to the granted QoS, no duplicate
//! delivery of a QoS 2 message resent with DUP before PUBREL, packet id reuse.
//! Must not test sessions across connections (that is `session`).

use super::common::{shown, Ctx};
use crate::conformance::case::Case;
use crate::conformance::peer::message;
use crate::conformance::verdict::{ensure, section, spec, Check, Verdict};
use crate::conformance_case as case;
use crate::protocol::{Packet, PubResponse, QoS};

pub const CASES: &[Case] = &[
    case!(
        "qos",
        "qos0-delivery",
        Must,
        section("4.3.1"),
        section("4.3.1"),
        "a QoS 0 message reaches a QoS 0 subscriber, at QoS 0",
        qos0
    ),
    case!(
        "qos",
        "qos1-flow",
        Must,
        spec("4.3.2", "MQTT-4.3.2-2"),
        spec("4.3.2", "MQTT-4.3.2-4"),
        "QoS 1: PUBACK with the packet id; the subscriber gets it at QoS 1 with a non-zero id",
        qos1
    ),
    case!(
        "qos",
        "qos2-flow",
        Must,
        spec("4.3.3", "MQTT-4.3.3-2"),
        spec("4.3.3", "MQTT-4.3.3-8"),
        "QoS 2: PUBREC, PUBREL, PUBCOMP both ways, delivered exactly once",
        qos2
    ),
    case!(
        "qos",
        "downgrade",
        Must,
        spec("3.8.4", "MQTT-3.8.4-6"),
        spec("3.8.4", "MQTT-3.8.4-8"),
        "delivery QoS is the minimum of the published QoS and the granted QoS",
        downgrade
    ),
    case!(
        "qos",
        "qos2-dup-resend",
        Must,
        spec("4.3.3", "MQTT-4.3.3-2"),
        spec("4.3.3", "MQTT-4.3.3-10"),
        "a QoS 2 PUBLISH resent with DUP before PUBREL is delivered once",
        qos2_dup_resend
    ),
    case!(
        "qos",
        "packet-id-reuse",
        Must,
        section("2.3.1"),
        section("2.2.1"),
        "a packet id is free again once its flow is complete",
        packet_id_reuse
    ),
];

async fn pair(
    cx: &Ctx,
    qos: QoS,
) -> Result<(super::common::Peer, super::common::Peer, String), Verdict> {
    let topic = cx.topic("t");
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, qos, cx.arrive()).await?;
    let publisher = cx.peer().await?;
    Ok((sub, publisher, topic))
}

async fn qos0(cx: Ctx) -> Check {
    let (mut sub, mut publisher, topic) = pair(&cx, QoS::AtMostOnce).await?;
    publisher
        .publish(message(&topic, QoS::AtMostOnce, b"zero"), cx.arrive())
        .await?;
    let got = sub.expect_publish(cx.arrive()).await?;
    ensure(
        got.qos == QoS::AtMostOnce && &got.payload[..] == b"zero",
        || format!("got qos {} payload {}", got.qos as u8, shown(&got.payload)),
    )
}

async fn qos1(cx: Ctx) -> Check {
    let (mut sub, mut publisher, topic) = pair(&cx, QoS::AtLeastOnce).await?;
    let ack = publisher
        .publish(message(&topic, QoS::AtLeastOnce, b"one"), cx.arrive())
        .await?
        .expect("QoS 1 has a PUBACK");
    ensure(ack.reason_code.is_success(), || {
        format!("PUBACK {}", ack.reason_code)
    })?;
    let got = sub.expect_publish(cx.arrive()).await?;
    ensure(got.qos == QoS::AtLeastOnce && got.packet_id != 0, || {
        format!(
            "delivered at qos {} with packet id {}",
            got.qos as u8, got.packet_id
        )
    })?;
    sub.ack(&got).await?;
    sub.expect_no_publish(cx.quiet(), "acknowledged once, nothing more was due")
        .await
}

async fn qos2(cx: Ctx) -> Check {
    let (mut sub, mut publisher, topic) = pair(&cx, QoS::ExactlyOnce).await?;
    let rec = publisher
        .publish(message(&topic, QoS::ExactlyOnce, b"two"), cx.arrive())
        .await?
        .expect("QoS 2 has a PUBREC");
    ensure(rec.reason_code.is_success(), || {
        format!("PUBREC {}", rec.reason_code)
    })?;
    let got = sub.expect_publish(cx.arrive()).await?;
    ensure(got.qos == QoS::ExactlyOnce && got.packet_id != 0, || {
        format!(
            "delivered at qos {} with packet id {}",
            got.qos as u8, got.packet_id
        )
    })?;
    sub.ack(&got).await?;
    sub.expect_no_publish(cx.quiet(), "one QoS 2 message was published")
        .await
}

async fn downgrade(cx: Ctx) -> Check {
    let (mut sub, mut publisher, topic) = pair(&cx, QoS::AtLeastOnce).await?;
    publisher
        .publish(message(&topic, QoS::ExactlyOnce, b"2 to 1"), cx.arrive())
        .await?;
    let got = sub.expect_publish(cx.arrive()).await?;
    sub.ack(&got).await?;
    ensure(got.qos == QoS::AtLeastOnce, || {
        format!(
            "published at QoS 2 to a QoS 1 subscription, delivered at QoS {}",
            got.qos as u8
        )
    })?;
    publisher
        .publish(message(&topic, QoS::AtMostOnce, b"0 stays 0"), cx.arrive())
        .await?;
    let got = sub.expect_publish(cx.arrive()).await?;
    ensure(got.qos == QoS::AtMostOnce, || {
        format!(
            "published at QoS 0 to a QoS 1 subscription, delivered at QoS {}",
            got.qos as u8
        )
    })
}

async fn qos2_dup_resend(cx: Ctx) -> Check {
    let (mut sub, mut publisher, topic) = pair(&cx, QoS::ExactlyOnce).await?;
    let mut publish = message(&topic, QoS::ExactlyOnce, b"once");
    publish.packet_id = publisher.packet_id();
    let id = publish.packet_id;
    publisher.send(&Packet::Publish(publish.clone())).await?;
    publisher.expect_ack(id, "PUBREC", cx.arrive()).await?;
    publish.dup = true;
    publisher.send(&Packet::Publish(publish)).await?;
    publisher.expect_ack(id, "PUBREC", cx.arrive()).await?;
    publisher
        .send(&Packet::PubRel(PubResponse::new(id)))
        .await?;
    publisher.expect_ack(id, "PUBCOMP", cx.arrive()).await?;
    let got = sub.collect_n(1, cx.arrive(), cx.quiet()).await?;
    ensure(got.len() == 1, || {
        format!(
            "PUBLISH, PUBREC, PUBLISH with DUP, PUBREC, PUBREL, PUBCOMP: delivered {} times",
            got.len()
        )
    })
}

async fn packet_id_reuse(cx: Ctx) -> Check {
    let (mut sub, mut publisher, topic) = pair(&cx, QoS::AtLeastOnce).await?;
    for (qos, payload) in [
        (QoS::AtLeastOnce, &b"first"[..]),
        (QoS::ExactlyOnce, b"second"),
    ] {
        for round in 0..2 {
            let mut publish = message(&topic, qos, b"");
            publish.payload = bytes::Bytes::copy_from_slice(payload);
            publish.packet_id = 7;
            publisher.publish(publish, cx.arrive()).await.map_err(|e| {
                Verdict::Fail(format!(
                    "QoS {} with packet id 7, round {}: {}",
                    qos as u8,
                    round + 1,
                    e.detail()
                ))
            })?;
        }
    }
    let got = sub.collect_n(4, cx.arrive(), cx.quiet()).await?;
    ensure(got.len() == 4, || {
        format!(
            "4 messages published reusing packet id 7, {} delivered",
            got.len()
        )
    })
}

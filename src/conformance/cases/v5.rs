//! MQTT 5 only: message expiry, receive maximum both ways, maximum packet size, no
//! local, subscription identifiers, shared subscriptions, properties forwarded (user
//! properties in order, request/response, payload format, content type). Topic aliases
//! are `topic_alias`'s, the reason codes of a PUBACK `publish_reasons`'. Must not test
//! what 3.1.1 has too (the other groups run both).

use std::time::Duration;

use bytes::Bytes;

use super::common::{shown, Ctx, Peer};
use crate::conformance::case::Case;
use crate::conformance::peer::message;
use crate::conformance::verdict::{ensure, section, spec, Check, Verdict};
use crate::conformance_case as case;
use crate::protocol::{Packet, Properties, Publish, QoS, ReasonCode, Subscription};

pub const CASES: &[Case] = &[
    case!(
        "v5",
        "message-expiry",
        Must,
        None,
        spec("3.3.2.3.3", "MQTT-3.3.2-5"),
        "an expired message is not delivered to a session that comes back later",
        message_expiry
    ),
    case!(
        "v5",
        "expiry-decremented",
        Must,
        None,
        spec("3.3.2.3.3", "MQTT-3.3.2-6"),
        "a queued message is delivered with its expiry interval minus the time it waited",
        expiry_decremented
    ),
    case!(
        "v5",
        "receive-maximum-client",
        Must,
        None,
        spec("3.3.4", "MQTT-3.3.4-9"),
        "the broker sends no more unacknowledged QoS 1 messages than the client's receive maximum",
        receive_maximum_client
    ),
    case!(
        "v5",
        "receive-maximum-exceeded",
        Should,
        None,
        section("3.2.2.3.3"),
        "more unacknowledged QoS 2 PUBLISHes than the broker's receive maximum: DISCONNECT 0x93",
        receive_maximum_exceeded
    ),
    case!(
        "v5",
        "maximum-packet-size",
        Must,
        None,
        spec("3.1.2.11.4", "MQTT-3.1.2-24"),
        "the broker does not send a packet larger than the client's maximum packet size",
        maximum_packet_size
    ),
    case!(
        "v5",
        "no-local",
        Must,
        None,
        spec("3.8.3.1", "MQTT-3.8.3-3"),
        "with No Local a client does not get its own messages",
        no_local
    ),
    case!(
        "v5",
        "subscription-identifier",
        Must,
        None,
        spec("3.3.4", "MQTT-3.3.4-3"),
        "a delivery carries the subscription identifier of the subscription",
        subscription_identifier
    ),
    case!(
        "v5",
        "shared-subscription",
        Must,
        None,
        section("4.8.2"),
        "each message of a shared subscription goes to one member only",
        shared_subscription
    ),
    case!(
        "v5",
        "user-properties-order",
        Must,
        None,
        spec("3.3.2.3.7", "MQTT-3.3.2-18"),
        "user properties are forwarded unaltered and in order",
        user_properties
    ),
    case!(
        "v5",
        "request-response",
        Must,
        None,
        spec("3.3.2.3.5", "MQTT-3.3.2-15"),
        "response topic and correlation data are forwarded unaltered",
        request_response
    ),
    case!(
        "v5",
        "payload-format",
        Must,
        None,
        spec("3.3.2.3.2", "MQTT-3.3.2-4"),
        "payload format indicator and content type are forwarded unaltered",
        payload_format
    ),
    case!("v5", "packet-too-large", Must, None, section("3.2.2.3.6"),
        "a packet larger than the maximum packet size the broker announced closes the connection (0x95)",
        packet_too_large),
    case!(
        "v5",
        "shared-redelivery",
        Should,
        None,
        section("4.8.2"),
        "a QoS 1 message unacknowledged by a shared member that left goes to another member",
        shared_redelivery
    ),
];

/// A session for `id` kept 60 s after the connection ends.
async fn kept(cx: &Ctx, id: &str, fresh: bool, props: Properties) -> Result<Peer, Verdict> {
    let mut connect = cx.connect_packet(id);
    connect.clean_start = fresh;
    connect.properties = props;
    connect.properties.session_expiry_interval = Some(60);
    cx.open(connect).await
}

async fn end(cx: &Ctx, id: &str) -> Check {
    cx.open(cx.connect_packet(id)).await?.disconnect().await;
    Ok(())
}

fn expiring(topic: &str, secs: u32, payload: &'static [u8]) -> Publish {
    let mut p = message(topic, QoS::AtLeastOnce, payload);
    p.properties.message_expiry_interval = Some(secs);
    p
}

async fn message_expiry(cx: Ctx) -> Check {
    let (id, topic) = (cx.client_id(), cx.topic("e"));
    let mut sub = kept(&cx, &id, true, Properties::default()).await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    sub.disconnect().await;
    let mut publisher = cx.peer().await?;
    publisher
        .publish(expiring(&topic, 1, b"expires"), cx.arrive())
        .await?;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let mut back = kept(&cx, &id, false, Properties::default()).await?;
    let got = back.collect(cx.quiet() * 2).await;
    back.disconnect().await;
    end(&cx, &id).await?;
    let got = got?;
    ensure(got.is_empty(), || {
        format!(
            "message expiry 1 s, delivered after 2.2 s: {:?}",
            got.iter().map(|p| shown(&p.payload)).collect::<Vec<_>>()
        )
    })
}

async fn expiry_decremented(cx: Ctx) -> Check {
    let (id, topic) = (cx.client_id(), cx.topic("e"));
    let mut sub = kept(&cx, &id, true, Properties::default()).await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    sub.disconnect().await;
    let mut publisher = cx.peer().await?;
    publisher
        .publish(expiring(&topic, 60, b"waits"), cx.arrive())
        .await?;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut back = kept(&cx, &id, false, Properties::default()).await?;
    let got = back.expect_publish(cx.arrive()).await;
    back.disconnect().await;
    end(&cx, &id).await?;
    let left = got?.properties.message_expiry_interval;
    ensure(matches!(left, Some(n) if n <= 58), || {
        format!("expiry 60 s, waited 2.1 s, delivered with {left:?} (expected 58 or less)")
    })
}

async fn receive_maximum_client(cx: Ctx) -> Check {
    let topic = cx.topic("rm");
    let mut connect = cx.connect_packet(&cx.client_id());
    connect.properties.receive_maximum = Some(2);
    let mut sub = cx.open(connect).await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let mut publisher = cx.peer().await?;
    for _ in 0..5 {
        publisher
            .publish(message(&topic, QoS::AtLeastOnce, b"m"), cx.arrive())
            .await?;
    }
    let mut unacked = Vec::new();
    while let Ok(p) = sub.expect_publish(cx.quiet()).await {
        unacked.push(p);
    }
    ensure(unacked.len() == 2, || {
        format!(
            "receive maximum 2: {} unacknowledged QoS 1 messages sent",
            unacked.len()
        )
    })?;
    for p in &unacked {
        sub.ack(p).await?;
    }
    let rest = sub.collect_n(3, cx.arrive(), cx.quiet()).await?;
    ensure(rest.len() == 3, || {
        format!("after acknowledging 2 of 5, {} more came", rest.len())
    })
}

async fn receive_maximum_exceeded(cx: Ctx) -> Check {
    let max = cx
        .caps()
        .connack
        .as_ref()
        .and_then(|a| a.receive_maximum)
        .unwrap_or(u16::MAX);
    if max > 1000 {
        return Err(Verdict::Skip(format!(
            "receive maximum {max}: too many to exceed in a test"
        )));
    }
    let mut peer = cx.peer().await?;
    let topic = cx.topic("rmx");
    for _ in 0..=max {
        let mut p = message(&topic, QoS::ExactlyOnce, b"x");
        p.packet_id = peer.packet_id();
        peer.conn
            .queue(&Packet::Publish(p))
            .map_err(|e| Verdict::Error(e.to_string()))?;
    }
    peer.send_raw(&[]).await.ok();
    let reason = peer.expect_closed(cx.arrive()).await.map_err(|_| {
        Verdict::Fail(format!("{} unacknowledged QoS 2 PUBLISHes with receive maximum {max}: the connection stayed open", u32::from(max) + 1))
    })?;
    ensure(reason == Some(ReasonCode::ReceiveMaximumExceeded), || {
        format!("closed with DISCONNECT {reason:?}, expected 0x93 receive maximum exceeded")
    })
}

async fn maximum_packet_size(cx: Ctx) -> Check {
    let topic = cx.topic("mps");
    let mut connect = cx.connect_packet(&cx.client_id());
    connect.properties.maximum_packet_size = Some(128);
    let mut sub = cx.open(connect).await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let mut publisher = cx.peer().await?;
    let mut big = message(&topic, QoS::AtLeastOnce, b"");
    big.payload = Bytes::from(vec![b'x'; 500]);
    publisher.publish(big, cx.arrive()).await?;
    publisher
        .publish(message(&topic, QoS::AtLeastOnce, b"small"), cx.arrive())
        .await?;
    let got = sub.collect_n(1, cx.arrive(), cx.quiet()).await?;
    let sizes: Vec<usize> = got.iter().map(|p| p.payload.len()).collect();
    ensure(sizes == [5], || {
        format!("maximum packet size 128: got payloads of {sizes:?} bytes, expected only the 5-byte one")
    })
}

async fn no_local(cx: Ctx) -> Check {
    let topic = cx.topic("nl");
    let mut peer = cx.peer().await?;
    let mut s = Subscription::new(&topic, QoS::AtLeastOnce);
    s.no_local = true;
    peer.subscribe_with(vec![s], Properties::default(), cx.arrive())
        .await?;
    peer.publish(message(&topic, QoS::AtLeastOnce, b"mine"), cx.arrive())
        .await?;
    peer.expect_no_publish(cx.quiet(), "No Local").await?;
    let mut other = cx.peer().await?;
    other
        .publish(message(&topic, QoS::AtLeastOnce, b"theirs"), cx.arrive())
        .await?;
    peer.expect_publish(cx.arrive()).await.map(drop)
}

async fn subscription_identifier(cx: Ctx) -> Check {
    if !cx.caps().announces(|a| a.subscription_identifier_available) {
        return Err(Verdict::Skip(
            "CONNACK announces subscription identifiers 0".into(),
        ));
    }
    let topic = cx.topic("sid");
    let mut sub = cx.peer().await?;
    let props = Properties {
        subscription_identifiers: vec![42],
        ..Default::default()
    };
    sub.subscribe_with(
        vec![Subscription::new(&topic, QoS::AtLeastOnce)],
        props,
        cx.arrive(),
    )
    .await?;
    let mut publisher = cx.peer().await?;
    publisher
        .publish(message(&topic, QoS::AtLeastOnce, b"id"), cx.arrive())
        .await?;
    let got = sub.expect_publish(cx.arrive()).await?;
    let ids = got.properties.subscription_identifiers.clone();
    ensure(ids == [42], || {
        format!("subscribed with identifier 42, delivered with {ids:?}")
    })
}

async fn shared_subscription(cx: Ctx) -> Check {
    if !cx.caps().announces(|a| a.shared_subscription_available) {
        return Err(Verdict::Skip(
            "CONNACK announces shared subscriptions 0".into(),
        ));
    }
    let topic = cx.topic("sh");
    let filter = format!("$share/{}/{topic}", cx.client_id());
    let mut a = cx.peer().await?;
    a.subscribe(&filter, QoS::AtLeastOnce, cx.arrive()).await?;
    let mut b = cx.peer().await?;
    b.subscribe(&filter, QoS::AtLeastOnce, cx.arrive()).await?;
    let mut publisher = cx.peer().await?;
    for i in 0..10u8 {
        let mut p = message(&topic, QoS::AtLeastOnce, b"");
        p.payload = Bytes::from(vec![b'0' + i]);
        publisher.publish(p, cx.arrive()).await?;
    }
    let mut got: Vec<u8> = a
        .collect(cx.quiet())
        .await?
        .iter()
        .map(|p| p.payload[0])
        .collect();
    got.extend(b.collect(cx.quiet()).await?.iter().map(|p| p.payload[0]));
    got.sort();
    ensure(got == b"0123456789", || {
        format!(
            "10 messages to a group of 2: delivered {:?}",
            String::from_utf8_lossy(&got)
        )
    })
}

async fn forwarded(cx: &Ctx, props: Properties) -> Result<Properties, Verdict> {
    let topic = cx.topic("props");
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let mut publisher = cx.peer().await?;
    let mut p = message(&topic, QoS::AtLeastOnce, b"{}");
    p.properties = props;
    publisher.publish(p, cx.arrive()).await?;
    Ok(sub.expect_publish(cx.arrive()).await?.properties)
}

async fn user_properties(cx: Ctx) -> Check {
    let sent: Vec<(String, String)> = [("z", "1"), ("a", "2"), ("z", "3"), ("m", "")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let props = Properties {
        user_properties: sent.clone(),
        ..Default::default()
    };
    let got = forwarded(&cx, props).await?.user_properties;
    ensure(got == sent, || format!("sent {sent:?}, delivered {got:?}"))
}

async fn request_response(cx: Ctx) -> Check {
    let props = Properties {
        response_topic: Some(cx.topic("reply").as_str().into()),
        correlation_data: Some(Bytes::from_static(&[0, 1, 0xFE, 0xFF])),
        ..Default::default()
    };
    let got = forwarded(&cx, props.clone()).await?;
    ensure(
        got.response_topic == props.response_topic
            && got.correlation_data == props.correlation_data,
        || {
            format!(
                "sent {:?} {:?}, delivered {:?} {:?}",
                props.response_topic,
                props.correlation_data,
                got.response_topic,
                got.correlation_data
            )
        },
    )
}

async fn payload_format(cx: Ctx) -> Check {
    let props = Properties {
        payload_format_indicator: Some(1),
        content_type: Some("application/json".into()),
        ..Default::default()
    };
    let got = forwarded(&cx, props).await?;
    ensure(
        got.payload_format_indicator == Some(1)
            && got.content_type.as_deref() == Some("application/json"),
        || {
            format!(
                "sent format 1 and content type application/json, delivered {:?} {:?}",
                got.payload_format_indicator, got.content_type
            )
        },
    )
}

async fn shared_redelivery(cx: Ctx) -> Check {
    if !cx.caps().announces(|a| a.shared_subscription_available) {
        return Err(Verdict::Skip(
            "CONNACK announces shared subscriptions 0".into(),
        ));
    }
    let topic = cx.topic("shr");
    let filter = format!("$share/{}/{topic}", cx.client_id());
    let mut a = cx.peer().await?;
    a.subscribe(&filter, QoS::AtLeastOnce, cx.arrive()).await?;
    let mut b = cx.peer().await?;
    b.subscribe(&filter, QoS::AtLeastOnce, cx.arrive()).await?;
    let mut publisher = cx.peer().await?;
    publisher
        .publish(message(&topic, QoS::AtLeastOnce, b"left"), cx.arrive())
        .await?;
    // Whoever got it leaves without PUBACK; its session ends with the connection.
    let (leaver, mut stayer) = tokio::select! {
        got = a.expect_publish(cx.arrive()) => { got?; (a, b) }
        got = b.expect_publish(cx.arrive()) => { got?; (b, a) }
    };
    leaver.drop_connection().await;
    let again = stayer.expect_publish(cx.arrive()).await.map_err(|_| {
        Verdict::Fail(
            "the member that got the message left without PUBACK; the other member never got it"
                .into(),
        )
    })?;
    ensure(&again.payload[..] == b"left", || {
        format!("got {}", shown(&again.payload))
    })
}

async fn packet_too_large(cx: Ctx) -> Check {
    let Some(max) = cx
        .caps()
        .connack
        .as_ref()
        .and_then(|a| a.maximum_packet_size)
    else {
        return Err(Verdict::Skip(
            "CONNACK announces no maximum packet size".into(),
        ));
    };
    let payload = vec![b'x'; max as usize + 16];
    let body = super::common::publish_body(&cx, cx.topic("big").as_bytes(), None, &payload);
    super::common::closes_offender(
        &cx,
        &super::common::frame(0x30, &body),
        &[ReasonCode::PacketTooLarge],
    )
    .await
}

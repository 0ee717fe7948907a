//! What the cases share: retained messages that clean up after themselves, the raw
//! packet builders of the negative tests, and "the offender is closed and everyone else
//! still served"; and the types every case names. Must not define cases.

use bytes::Bytes;

pub(super) use crate::conformance::ctx::Ctx;
use crate::conformance::peer::message;
pub(super) use crate::conformance::peer::Peer;
use crate::conformance::verdict::{Check, Verdict};
use crate::protocol::{Publish, QoS, ReasonCode};

/// A retained PUBLISH.
pub(super) fn retained_message(topic: &str, qos: QoS, payload: &'static [u8]) -> Publish {
    let mut publish = message(topic, qos, payload);
    publish.retain = true;
    publish
}

/// Deletes the retained message of `topic` (an empty retained PUBLISH).
pub(super) async fn clear_retained(cx: &Ctx, peer: &mut Peer, topic: &str) -> Check {
    peer.publish(retained_message(topic, QoS::AtLeastOnce, b""), cx.arrive())
        .await
        .map(drop)
}

/// A connection for `id` that keeps its session (3.1.1: clean session 0; 5: clean
/// start 0 and `expiry_secs`), starting clean when `fresh`.
pub(super) async fn kept(
    cx: &Ctx,
    id: &str,
    fresh: bool,
    expiry_secs: u32,
) -> Result<Peer, Verdict> {
    let mut connect = cx.connect_packet(id);
    connect.clean_start = fresh && cx.v5();
    if cx.v5() {
        connect.properties.session_expiry_interval = Some(expiry_secs);
    }
    if fresh && !cx.v5() {
        // 3.1.1 has no "clean and keep": end any old session first.
        cx.open(cx.connect_packet(id)).await?.disconnect().await;
    }
    cx.open(connect).await
}

/// Ends `id`'s kept session.
pub(super) async fn end_session(cx: &Ctx, id: &str) -> Check {
    cx.open(cx.connect_packet(id)).await?.disconnect().await;
    Ok(())
}

/// `payload` as text for messages.
pub(super) fn shown(payload: &Bytes) -> String {
    format!("{:?}", String::from_utf8_lossy(payload))
}

/// MQTT's Variable Byte Integer.
pub(super) fn varint(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n % 128) as u8;
        n /= 128;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A packet: `first` byte, remaining length, `body`.
pub(super) fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    varint(body.len(), &mut out);
    out.extend_from_slice(body);
    out
}

/// A length-prefixed string (or binary) field.
pub(super) fn string(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// A PUBLISH body from raw parts: topic bytes, packet id (QoS > 0), an empty property
/// list on MQTT 5, payload.
pub(super) fn publish_body(
    cx: &Ctx,
    topic: &[u8],
    packet_id: Option<u16>,
    payload: &[u8],
) -> Vec<u8> {
    let mut body = string(topic);
    if let Some(id) = packet_id {
        body.extend_from_slice(&id.to_be_bytes());
    }
    if cx.v5() {
        body.push(0);
    }
    body.extend_from_slice(payload);
    body
}

/// Sends `bytes` on a connection of its own and checks that the broker closes it (on
/// MQTT 5 with a DISCONNECT reason among `reasons`, if it sends one), while a
/// subscriber connected before still gets a message published after.
pub(super) async fn closes_offender(cx: &Ctx, bytes: &[u8], reasons: &[ReasonCode]) -> Check {
    let topic = cx.topic("bystander");
    let mut bystander = cx.peer().await?;
    bystander
        .subscribe(&topic, QoS::AtLeastOnce, cx.arrive())
        .await?;
    let mut offender = cx.peer().await?;
    offender.send_raw(bytes).await.ok();
    let closed = offender.expect_closed(cx.arrive()).await.map_err(|_| {
        Verdict::Fail(format!(
            "sent {}, the connection stayed open for {:?}",
            hex(bytes),
            cx.arrive()
        ))
    })?;
    if let Some(code) = closed {
        if !reasons.contains(&code) {
            return Err(Verdict::Fail(format!(
                "sent {}, closed with DISCONNECT {code}, expected one of {}",
                hex(bytes),
                reasons
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let mut publisher = cx.peer().await?;
    publisher
        .publish(
            message(&topic, QoS::AtLeastOnce, b"still here"),
            cx.arrive(),
        )
        .await?;
    bystander.expect_publish(cx.arrive()).await.map_err(|e| {
        Verdict::Fail(format!(
            "after closing the offender, another client was not served: {}",
            e.detail()
        ))
    })?;
    publisher.disconnect().await;
    bystander.disconnect().await;
    Ok(())
}

/// Bytes as hex, spaced: `30 05 00 01 61`.
pub(super) fn hex(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().take(48).map(|b| format!("{b:02X}")).collect();
    let more = if bytes.len() > 48 { " …" } else { "" };
    format!("{}{more}", shown.join(" "))
}

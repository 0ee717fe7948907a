//! The capability probe that runs before the cases: which versions the broker accepts,
//! what its MQTT 5 CONNACK announces, and what it cannot announce, measured: the
//! largest packet it accepts (binary search up to a bound), whether it keeps retained
//! messages, publishes wills and has `$SYS` topics. Cases read it to skip what the
//! broker says it does not do. Must not judge conformance (no case results here).

use std::time::Duration;

use super::capabilities::{Announced, Capabilities};
use super::ctx::Ctx;
use super::peer::message;
use super::verdict::Verdict;
use crate::protocol::{Packet, Properties, ProtocolVersion, QoS, Will};
use bytes::Bytes;

/// Runs the probe over contexts `cx(version, leaf)` for `versions`, trying packets up
/// to `bound` bytes.
pub async fn probe(
    versions: &[ProtocolVersion],
    bound: u32,
    cx: &dyn Fn(ProtocolVersion, &str) -> Ctx,
) -> Capabilities {
    let mut caps = Capabilities::default();
    let mut usable = None;
    for &version in versions {
        let c = cx(version, "probe");
        let state = match c.peer().await {
            Ok(peer) => {
                if version == ProtocolVersion::V5 {
                    caps.connack = Some(Announced::from(&peer.connack.properties));
                }
                peer.disconnect().await;
                usable = Some(version);
                Ok(())
            }
            Err(verdict) => Err(verdict.detail().to_string()),
        };
        match version {
            ProtocolVersion::V311 => caps.v311 = Some(state),
            ProtocolVersion::V5 => caps.v5 = Some(state),
        }
    }
    let Some(version) = usable else {
        return caps;
    };
    let c = cx(version, "probe");
    let limit = Duration::from_secs(20);
    if let Ok((largest, is_bound)) = bounded(limit, largest_packet(&c, bound)).await {
        caps.largest_packet_bytes = Some(largest);
        caps.largest_packet_is_bound = is_bound;
    }
    caps.retained = bounded(limit, retained(&c)).await.ok();
    caps.wills = bounded(limit, wills(&c)).await.ok();
    caps.sys_topics = bounded(limit, sys_topics(&c)).await.ok();
    caps
}

async fn bounded<T>(
    limit: Duration,
    f: impl std::future::Future<Output = Result<T, Verdict>>,
) -> Result<T, ()> {
    match tokio::time::timeout(limit, f).await {
        Ok(Ok(value)) => Ok(value),
        _ => Err(()),
    }
}

/// The PUBLISH of `payload_len` bytes used by the size search, and its encoded size.
fn sized(cx: &Ctx, payload_len: usize) -> (crate::protocol::Publish, u64) {
    let mut publish = message(&cx.topic("size"), QoS::AtLeastOnce, b"");
    publish.payload = Bytes::from(vec![b'x'; payload_len]);
    publish.packet_id = 1;
    let mut buf = bytes::BytesMut::new();
    let len = match Packet::Publish(publish.clone()).encode(cx.version, &mut buf) {
        Ok(()) => buf.len() as u64,
        Err(_) => u64::MAX,
    };
    (publish, len)
}

async fn accepts(cx: &Ctx, payload_len: usize) -> Result<bool, Verdict> {
    let mut peer = cx.peer().await?;
    let (publish, _) = sized(cx, payload_len);
    let accepted = match peer.publish(publish, cx.arrive()).await {
        Ok(Some(ack)) => ack.reason_code.is_success(),
        _ => false,
    };
    peer.disconnect().await;
    Ok(accepted)
}

/// Binary search over the payload length for the largest acknowledged PUBLISH.
async fn largest_packet(cx: &Ctx, bound: u32) -> Result<(u64, bool), Verdict> {
    let overhead = sized(cx, 0).1 as usize + 4;
    let mut hi = (bound as usize).saturating_sub(overhead);
    if accepts(cx, hi).await? {
        return Ok((sized(cx, hi).1, true));
    }
    let mut lo = 0;
    if !accepts(cx, lo).await? {
        return Err(Verdict::Error("not even an empty PUBLISH".into()));
    }
    // lo is accepted, hi is not.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if accepts(cx, mid).await? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok((sized(cx, lo).1, false))
}

async fn retained(cx: &Ctx) -> Result<bool, Verdict> {
    let topic = cx.topic("retained");
    let mut publisher = cx.peer().await?;
    let mut kept = message(&topic, QoS::AtLeastOnce, b"probe");
    kept.retain = true;
    publisher.publish(kept, cx.arrive()).await?;
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let got = sub.expect_publish(cx.arrive()).await.is_ok();
    let mut clear = message(&topic, QoS::AtLeastOnce, b"");
    clear.retain = true;
    publisher.publish(clear, cx.arrive()).await?;
    publisher.disconnect().await;
    sub.disconnect().await;
    Ok(got)
}

async fn wills(cx: &Ctx) -> Result<bool, Verdict> {
    let topic = cx.topic("will");
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let mut connect = cx.connect_packet(&cx.client_id());
    connect.will = Some(will(&topic, b"gone"));
    let dying = cx.open(connect).await?;
    dying.drop_connection().await;
    let got = sub.expect_publish(cx.arrive()).await.is_ok();
    sub.disconnect().await;
    Ok(got)
}

async fn sys_topics(cx: &Ctx) -> Result<bool, Verdict> {
    let mut sub = cx.peer().await?;
    sub.subscribe("$SYS/#", QoS::AtMostOnce, cx.arrive())
        .await?;
    let got = sub.expect_publish(Duration::from_secs(2)).await.is_ok();
    sub.disconnect().await;
    Ok(got)
}

/// A QoS 1 will on `topic`, not retained.
pub fn will(topic: &str, payload: &'static [u8]) -> Will {
    Will {
        topic: topic.into(),
        payload: Bytes::from_static(payload),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties::default(),
    }
}

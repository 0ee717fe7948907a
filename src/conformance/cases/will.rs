//! Wills: published on an abnormal close, not after DISCONNECT, retained when asked,
//! and the MQTT 5 will delay (its end with the session, and no will when the client
//! comes back in time). Must not test keep alive (a will after a keep-alive
//! timeout is `keepalive`'s).

use std::time::{Duration, Instant};

use super::common::{clear_retained, shown, Ctx};
use crate::conformance::case::Case;
use crate::conformance::probe::will;
use crate::conformance::verdict::{ensure, spec, Check, Verdict};
use crate::conformance_case as case;
use crate::protocol::QoS;

pub const CASES: &[Case] = &[
    case!(
        "will",
        "abnormal-close",
        Must,
        spec("3.1.2.5", "MQTT-3.1.2-8"),
        spec("3.1.2.5", "MQTT-3.1.2-8"),
        "the will is published when the connection closes without DISCONNECT",
        abnormal_close
    ),
    case!(
        "will",
        "none-on-disconnect",
        Must,
        spec("3.1.2.5", "MQTT-3.1.2-10"),
        spec("3.1.2.5", "MQTT-3.1.2-10"),
        "no will after a normal DISCONNECT",
        none_on_disconnect
    ),
    case!(
        "will",
        "retain",
        Must,
        spec("3.1.2.7", "MQTT-3.1.2-17"),
        spec("3.1.2.7", "MQTT-3.1.2-15"),
        "a will with will retain 1 is published as a retained message",
        will_retain
    ),
    case!(
        "will",
        "delay",
        Must,
        None,
        spec("3.1.2.5", "MQTT-3.1.2-8"),
        "a will delay interval holds the will back until it has passed",
        will_delay
    ),
    case!(
        "will",
        "delay-ends-with-session",
        Must,
        None,
        spec("3.1.2.5", "MQTT-3.1.2-8"),
        "a will delayed longer than the session lasts is published when the session ends",
        delay_ends_with_session
    ),
    case!(
        "will",
        "delay-reconnect",
        Must,
        None,
        spec("3.1.3.2.2", "MQTT-3.1.3-9"),
        "no will when the client reconnects to its session before the will delay has passed",
        delay_reconnect
    ),
];

async fn with_will(
    cx: &Ctx,
    topic: &str,
    retain: bool,
    delay: Option<u32>,
) -> Result<super::common::Peer, Verdict> {
    let mut connect = cx.connect_packet(&cx.client_id());
    let mut w = will(topic, b"gone");
    w.retain = retain;
    w.properties.will_delay_interval = delay;
    connect.will = Some(w);
    if delay.is_some() {
        connect.properties.session_expiry_interval = Some(60);
    }
    cx.open(connect).await
}

async fn abnormal_close(cx: Ctx) -> Check {
    let topic = cx.topic("will");
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    with_will(&cx, &topic, false, None)
        .await?
        .drop_connection()
        .await;
    let got = sub.expect_publish(cx.arrive()).await?;
    ensure(&got.payload[..] == b"gone", || {
        format!("will payload {}", shown(&got.payload))
    })
}

async fn none_on_disconnect(cx: Ctx) -> Check {
    let topic = cx.topic("will");
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    with_will(&cx, &topic, false, None)
        .await?
        .disconnect()
        .await;
    sub.expect_no_publish(cx.quiet() * 2, "the client sent DISCONNECT")
        .await
}

async fn will_retain(cx: Ctx) -> Check {
    let topic = cx.topic("will");
    with_will(&cx, &topic, true, None)
        .await?
        .drop_connection()
        .await;
    // Give the broker the time to publish the will before subscribing.
    let mut watcher = cx.peer().await?;
    watcher
        .subscribe(&cx.topic("none"), QoS::AtMostOnce, cx.arrive())
        .await?;
    let deadline = Instant::now() + cx.arrive();
    let mut got = None;
    while Instant::now() < deadline && got.is_none() {
        let mut sub = cx.peer().await?;
        sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
        got = sub.expect_publish(Duration::from_millis(300)).await.ok();
        sub.disconnect().await;
    }
    clear_retained(&cx, &mut watcher, &topic).await?;
    let got = got.ok_or_else(|| Verdict::Fail("no retained will for a new subscriber".into()))?;
    ensure(got.retain, || "the will came with retain 0".into())
}

async fn will_delay(cx: Ctx) -> Check {
    let topic = cx.topic("will");
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let dying = with_will(&cx, &topic, false, Some(2)).await?;
    let id = dying.client_id.clone();
    let closed = Instant::now();
    dying.drop_connection().await;
    let got = sub.expect_publish(Duration::from_secs(5)).await?;
    let after = closed.elapsed();
    // Clean up the session kept for 60 s.
    let mut end = cx.connect_packet(&id);
    end.clean_start = true;
    cx.open(end).await?.disconnect().await;
    ensure(after >= Duration::from_millis(1800), || {
        format!(
            "will delay 2 s, the will {} came after {after:?}",
            shown(&got.payload)
        )
    })
}

async fn delay_ends_with_session(cx: Ctx) -> Check {
    let topic = cx.topic("will");
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let mut connect = cx.connect_packet(&cx.client_id());
    let mut w = will(&topic, b"session over");
    w.properties.will_delay_interval = Some(30);
    connect.will = Some(w);
    connect.properties.session_expiry_interval = Some(1);
    let dying = cx.open(connect).await?;
    let closed = Instant::now();
    dying.drop_connection().await;
    let got = sub
        .expect_publish(Duration::from_secs(4))
        .await
        .map_err(|_| {
            Verdict::Fail("will delay 30 s, session expiry 1 s: no will within 4 s".into())
        })?;
    let after = closed.elapsed();
    ensure(after >= Duration::from_millis(800), || {
        format!(
            "session expiry 1 s: the will {} came after {after:?}",
            shown(&got.payload)
        )
    })
}

async fn delay_reconnect(cx: Ctx) -> Check {
    let topic = cx.topic("will");
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let dying = with_will(&cx, &topic, false, Some(2)).await?;
    let id = dying.client_id.clone();
    dying.drop_connection().await;
    // Let the broker see the close and start the delay, then resume the session.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = cx.connect_packet(&id);
    again.clean_start = false;
    again.properties.session_expiry_interval = Some(60);
    let back = cx.open(again).await?;
    let quiet = sub
        .expect_no_publish(
            Duration::from_millis(2700),
            "reconnected 0.3 s into a will delay of 2 s",
        )
        .await;
    back.disconnect().await;
    cx.open(cx.connect_packet(&id)).await?.disconnect().await;
    quiet
}

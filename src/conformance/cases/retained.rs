//! Retained messages: delivered on subscribe with the retain flag, replaced, deleted by
//! an empty payload, the flag cleared on live delivery, and MQTT 5 retain handling and
//! retain-as-published. Every case deletes what it retained. Must not test wills.

use super::common::{clear_retained, retained_message, shown, Ctx};
use crate::conformance::case::Case;
use crate::conformance::peer::message;
use crate::conformance::verdict::{ensure, spec, Check, Verdict};
use crate::conformance_case as case;
use crate::protocol::{Properties, QoS, RetainHandling, Subscription};

pub const CASES: &[Case] = &[
    case!(
        "retained",
        "delivered-on-subscribe",
        Must,
        spec("3.3.1.3", "MQTT-3.3.1-6"),
        spec("3.3.1.3", "MQTT-3.3.1-9"),
        "a new subscription gets the retained message, with the retain flag set",
        delivered_on_subscribe
    ),
    case!(
        "retained",
        "replace",
        Must,
        spec("3.3.1.3", "MQTT-3.3.1-5"),
        spec("3.3.1.3", "MQTT-3.3.1-5"),
        "a new retained message replaces the one kept for the topic",
        replace
    ),
    case!(
        "retained",
        "delete-empty",
        Must,
        spec("3.3.1.3", "MQTT-3.3.1-10"),
        spec("3.3.1.3", "MQTT-3.3.1-6"),
        "a retained PUBLISH with an empty payload deletes the retained message",
        delete_empty
    ),
    case!(
        "retained",
        "live-flag-cleared",
        Must,
        spec("3.3.1.3", "MQTT-3.3.1-9"),
        spec("3.3.1.3", "MQTT-3.3.1-12"),
        "a retained message sent to an existing subscription has the retain flag 0",
        live_flag_cleared
    ),
    case!(
        "retained",
        "retain-as-published",
        Must,
        None,
        spec("3.3.1.3", "MQTT-3.3.1-13"),
        "with Retain As Published the retain flag is forwarded as published",
        retain_as_published
    ),
    case!(
        "retained",
        "retain-handling",
        Must,
        None,
        spec("3.3.1.3", "MQTT-3.3.1-11"),
        "retain handling 2 sends no retained messages, 1 only for a new subscription",
        retain_handling
    ),
];

fn skip_unless_retained(cx: &Ctx) -> Check {
    if cx.v5() && !cx.caps().announces(|a| a.retain_available) {
        return Err(Verdict::Skip("CONNACK announces retain available 0".into()));
    }
    Ok(())
}

async fn delivered_on_subscribe(cx: Ctx) -> Check {
    skip_unless_retained(&cx)?;
    let topic = cx.topic("kept");
    let mut publisher = cx.peer().await?;
    publisher
        .publish(
            retained_message(&topic, QoS::AtLeastOnce, b"kept"),
            cx.arrive(),
        )
        .await?;
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let got = sub.expect_publish(cx.arrive()).await;
    clear_retained(&cx, &mut publisher, &topic).await?;
    let got = got?;
    ensure(got.retain && &got.payload[..] == b"kept", || {
        format!(
            "expected payload \"kept\" with retain 1, got {} with retain {}",
            shown(&got.payload),
            u8::from(got.retain)
        )
    })
}

async fn replace(cx: Ctx) -> Check {
    skip_unless_retained(&cx)?;
    let topic = cx.topic("kept");
    let mut publisher = cx.peer().await?;
    publisher
        .publish(
            retained_message(&topic, QoS::AtLeastOnce, b"old"),
            cx.arrive(),
        )
        .await?;
    publisher
        .publish(
            retained_message(&topic, QoS::AtLeastOnce, b"new"),
            cx.arrive(),
        )
        .await?;
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let got = sub.collect_n(1, cx.arrive(), cx.quiet()).await;
    clear_retained(&cx, &mut publisher, &topic).await?;
    let payloads: Vec<String> = got?.iter().map(|p| shown(&p.payload)).collect();
    ensure(payloads == ["\"new\""], || {
        format!("expected only \"new\", got {payloads:?}")
    })
}

async fn delete_empty(cx: Ctx) -> Check {
    skip_unless_retained(&cx)?;
    let topic = cx.topic("kept");
    let mut publisher = cx.peer().await?;
    publisher
        .publish(
            retained_message(&topic, QoS::AtLeastOnce, b"gone soon"),
            cx.arrive(),
        )
        .await?;
    clear_retained(&cx, &mut publisher, &topic).await?;
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    sub.expect_no_publish(cx.quiet(), "the retained message was deleted")
        .await
}

async fn live_flag_cleared(cx: Ctx) -> Check {
    skip_unless_retained(&cx)?;
    let topic = cx.topic("live");
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let mut publisher = cx.peer().await?;
    publisher
        .publish(
            retained_message(&topic, QoS::AtLeastOnce, b"live"),
            cx.arrive(),
        )
        .await?;
    let got = sub.expect_publish(cx.arrive()).await;
    clear_retained(&cx, &mut publisher, &topic).await?;
    let got = got?;
    ensure(!got.retain, || {
        "delivered to an existing subscription with retain 1".into()
    })
}

fn options(filter: &str, rap: bool, handling: RetainHandling) -> Vec<Subscription> {
    let mut s = Subscription::new(filter, QoS::AtLeastOnce);
    s.retain_as_published = rap;
    s.retain_handling = handling;
    vec![s]
}

async fn retain_as_published(cx: Ctx) -> Check {
    skip_unless_retained(&cx)?;
    let topic = cx.topic("rap");
    let mut sub = cx.peer().await?;
    sub.subscribe_with(
        options(&topic, true, RetainHandling::SendOnSubscribe),
        Properties::default(),
        cx.arrive(),
    )
    .await?;
    let mut publisher = cx.peer().await?;
    publisher
        .publish(
            retained_message(&topic, QoS::AtLeastOnce, b"kept"),
            cx.arrive(),
        )
        .await?;
    publisher
        .publish(message(&topic, QoS::AtLeastOnce, b"plain"), cx.arrive())
        .await?;
    let got = sub.collect_n(2, cx.arrive(), cx.quiet()).await;
    clear_retained(&cx, &mut publisher, &topic).await?;
    let flags: Vec<bool> = got?.iter().map(|p| p.retain).collect();
    ensure(flags == [true, false], || {
        format!("published retain 1 then 0, delivered with {flags:?}")
    })
}

async fn retain_handling(cx: Ctx) -> Check {
    skip_unless_retained(&cx)?;
    let topic = cx.topic("rh");
    let mut publisher = cx.peer().await?;
    publisher
        .publish(
            retained_message(&topic, QoS::AtLeastOnce, b"kept"),
            cx.arrive(),
        )
        .await?;
    let mut sub = cx.peer().await?;
    let result = async {
        sub.subscribe_with(
            options(&topic, false, RetainHandling::DoNotSend),
            Properties::default(),
            cx.arrive(),
        )
        .await?;
        sub.expect_no_publish(cx.quiet(), "retain handling 2")
            .await?;
        let other = cx.topic("rh2");
        publisher
            .publish(
                retained_message(&other, QoS::AtLeastOnce, b"kept"),
                cx.arrive(),
            )
            .await?;
        sub.subscribe_with(
            options(&other, false, RetainHandling::SendIfNew),
            Properties::default(),
            cx.arrive(),
        )
        .await?;
        sub.expect_publish(cx.arrive()).await.map_err(|_| {
            Verdict::Fail("retain handling 1 on a new subscription: no retained message".into())
        })?;
        sub.subscribe_with(
            options(&other, false, RetainHandling::SendIfNew),
            Properties::default(),
            cx.arrive(),
        )
        .await?;
        sub.expect_no_publish(cx.quiet(), "retain handling 1 on an existing subscription")
            .await?;
        clear_retained(&cx, &mut publisher, &other).await
    }
    .await;
    clear_retained(&cx, &mut publisher, &topic).await?;
    result
}

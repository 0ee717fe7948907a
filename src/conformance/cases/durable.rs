//! Durability across a broker restart (`--restart-cmd`): retained messages, kept
//! sessions with their subscriptions, and acknowledged QoS 1/2 messages queued for an
//! offline session. `config` cases: whether a broker keeps state on disk is its
//! configuration (mosquitto's `persistence`, serve's `--data-dir`); without the flag
//! they are skipped. Each case restarts the broker once, with no other case running,
//! and cleans up after itself.
//! Must not restart the broker any other way.

use super::common::{clear_retained, end_session, kept, retained_message, shown, Ctx};
use crate::conformance::case::Case;
use crate::conformance::peer::message;
use crate::conformance::verdict::{ensure, section, Check, Verdict};
use crate::conformance_case as case;
use crate::protocol::QoS;

/// MQTT 5 session expiry of the kept sessions here: 1 h, longer than any restart.
const EXPIRY_SECS: u32 = 3600;

pub const CASES: &[Case] = &[
    Case {
        alone: true,
        ..case!(
        "durable",
        "retained",
        Config,
        section("3.3.1.3"),
        section("3.3.1.3"),
        "a retained message is still delivered to a new subscriber after a broker restart",
        retained
    )
    },
    Case {
        alone: true,
        ..case!(
        "durable",
        "session",
        Config,
        section("4.1"),
        section("4.1"),
        "a kept session and its subscription survive a broker restart (session present 1)",
        session
    )
    },
    Case {
        alone: true,
        ..case!(
        "durable",
        "queued",
        Config,
        section("4.1"),
        section("4.1"),
        "QoS 1 and 2 messages acknowledged to the publisher and queued for an offline session survive a restart",
        queued
    )
    },
];

fn skip_unless_restartable(cx: &Ctx) -> Check {
    if !cx.can_restart() {
        return Err(Verdict::Skip(
            "needs --restart-cmd: a command that restarts the broker".into(),
        ));
    }
    Ok(())
}

/// Restarts the broker; when that fails, ends `id`'s kept session (if the broker still
/// answers) so that a failed run leaves nothing behind.
async fn restart_keeping(cx: &Ctx, id: &str) -> Check {
    let restarted = cx.restart().await;
    if restarted.is_err() {
        end_session(cx, id).await.ok();
    }
    restarted
}

async fn retained(cx: Ctx) -> Check {
    skip_unless_restartable(&cx)?;
    let topic = cx.topic("kept");
    let mut publisher = cx.peer().await?;
    publisher
        .publish(
            retained_message(&topic, QoS::AtLeastOnce, b"survives"),
            cx.arrive(),
        )
        .await?;
    publisher.disconnect().await;
    cx.restart().await?;
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let got = sub.expect_publish(cx.arrive()).await;
    let mut cleaner = cx.peer().await?;
    clear_retained(&cx, &mut cleaner, &topic).await?;
    let got = got.map_err(|_| {
        Verdict::Fail("retained \"survives\" (PUBACK received), restarted: no retained message for a new subscriber".into())
    })?;
    ensure(&got.payload[..] == b"survives", || {
        format!(
            "after the restart the retained message is {}",
            shown(&got.payload)
        )
    })
}

async fn session(cx: Ctx) -> Check {
    skip_unless_restartable(&cx)?;
    let id = cx.client_id();
    let topic = cx.topic("s");
    let mut sub = kept(&cx, &id, true, EXPIRY_SECS).await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    sub.disconnect().await;
    restart_keeping(&cx, &id).await?;
    let mut back = kept(&cx, &id, false, EXPIRY_SECS).await?;
    let present = back.connack.session_present;
    let mut publisher = cx.peer().await?;
    publisher
        .publish(message(&topic, QoS::AtLeastOnce, b"after"), cx.arrive())
        .await?;
    let got = back.collect_n(1, cx.arrive(), cx.quiet()).await;
    back.disconnect().await;
    end_session(&cx, &id).await?;
    ensure(present, || {
        "a session kept before the restart: CONNACK session present 0 after it".into()
    })?;
    let got = got?;
    ensure(got.iter().any(|p| &p.payload[..] == b"after"), || {
        "the kept session's subscription did not survive the restart: a message published after it was not delivered".into()
    })
}

async fn queued(cx: Ctx) -> Check {
    skip_unless_restartable(&cx)?;
    let id = cx.client_id();
    let topic = cx.topic("q");
    let mut sub = kept(&cx, &id, true, EXPIRY_SECS).await?;
    sub.subscribe(&topic, QoS::ExactlyOnce, cx.arrive()).await?;
    sub.disconnect().await;
    let mut publisher = cx.peer().await?;
    for (qos, payload) in [
        (QoS::AtLeastOnce, &b"qos 1"[..]),
        (QoS::ExactlyOnce, b"qos 2"),
    ] {
        let mut p = message(&topic, qos, b"");
        p.payload = bytes::Bytes::copy_from_slice(payload);
        publisher.publish(p, cx.arrive()).await?;
    }
    publisher.disconnect().await;
    restart_keeping(&cx, &id).await?;
    let mut back = kept(&cx, &id, false, EXPIRY_SECS).await?;
    let got = back.collect_n(2, cx.arrive(), cx.quiet()).await;
    back.disconnect().await;
    end_session(&cx, &id).await?;
    let mut payloads: Vec<String> = got?.iter().map(|p| shown(&p.payload)).collect();
    payloads.sort();
    payloads.dedup();
    ensure(payloads == ["\"qos 1\"", "\"qos 2\""], || {
        format!("queued QoS 1 and QoS 2 messages (both acknowledged), restarted: delivered {payloads:?}")
    })
}

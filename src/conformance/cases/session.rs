//! Sessions: takeover of a client id (MQTT 5 reason 0x8E), clean session / clean start,
//! the session present flag, subscriptions and QoS 1 messages kept while offline,
//! unacknowledged messages resent with DUP. Every case ends its kept session.
//! Must not test wills (`will`).

use super::common::{end_session, kept, shown, Ctx};
use crate::conformance::case::Case;
use crate::conformance::peer::message;
use crate::conformance::verdict::{ensure, section, spec, Check, Verdict};
use crate::conformance_case as case;
use crate::protocol::{Packet, PubResponse, QoS, ReasonCode};

/// MQTT 5 session expiry of the kept sessions here: longer than any case.
const EXPIRY_SECS: u32 = 60;

pub const CASES: &[Case] = &[
    case!(
        "session",
        "takeover",
        Must,
        spec("3.1.4", "MQTT-3.1.4-2"),
        spec("3.1.4", "MQTT-3.1.4-3"),
        "a CONNECT with a connected client's id closes the first connection",
        takeover
    ),
    case!(
        "session",
        "takeover-reason",
        Should,
        None,
        section("3.1.4"),
        "the connection taken over gets DISCONNECT 0x8E (session taken over) first",
        takeover_reason
    ),
    case!(
        "session",
        "present-flag",
        Must,
        spec("3.2.2.2", "MQTT-3.2.2-2"),
        spec("3.2.2.1.1", "MQTT-3.2.2-3"),
        "session present is 0 for a new or clean session and 1 for a resumed one",
        present_flag
    ),
    case!(
        "session",
        "offline-queue",
        Must,
        spec("3.1.2.4", "MQTT-3.1.2-5"),
        spec("3.1.2.11.2", "MQTT-3.1.2-23"),
        "a kept session keeps its subscriptions and the QoS 1 messages published while offline",
        offline_queue
    ),
    case!(
        "session",
        "dup-resend",
        Must,
        spec("4.4", "MQTT-4.4.0-1"),
        spec("4.4", "MQTT-4.4.0-1"),
        "an unacknowledged QoS 1 message is resent with DUP 1 when the session resumes",
        dup_resend
    ),
    case!(
        "session",
        "clean-start-discards",
        Must,
        spec("3.1.2.4", "MQTT-3.1.2-6"),
        spec("3.1.2.4", "MQTT-3.1.2-4"),
        "a clean start discards the kept session and its queued messages",
        clean_start_discards
    ),
    case!(
        "session",
        "pubrel-resent",
        Must,
        spec("4.4", "MQTT-4.4.0-1"),
        spec("4.4", "MQTT-4.4.0-1"),
        "a PUBREL not completed by PUBCOMP is resent when the session resumes",
        pubrel_resent
    ),
    case!(
        "session",
        "expiry",
        Must,
        None,
        spec("4.1", "MQTT-4.1.0-2"),
        "a session ends when its session expiry interval has passed after the disconnect",
        session_expiry
    ),
];

async fn takeover(cx: Ctx) -> Check {
    let id = cx.client_id();
    let mut first = cx.open(cx.connect_packet(&id)).await?;
    let second = cx.open(cx.connect_packet(&id)).await?;
    first.expect_closed(cx.arrive()).await?;
    second.disconnect().await;
    Ok(())
}

async fn takeover_reason(cx: Ctx) -> Check {
    let id = cx.client_id();
    let mut first = cx.open(cx.connect_packet(&id)).await?;
    let second = cx.open(cx.connect_packet(&id)).await?;
    let reason = first.expect_closed(cx.arrive()).await?;
    second.disconnect().await;
    ensure(
        reason == Some(ReasonCode::SessionTakenOver),
        || {
            match reason {
        Some(code) => format!("the first connection got DISCONNECT {code}, expected 0x8E session taken over"),
        None => "the first connection was closed without a DISCONNECT, expected 0x8E session taken over".into(),
    }
        },
    )
}

async fn present_flag(cx: Ctx) -> Check {
    let id = cx.client_id();
    let first = kept(&cx, &id, true, EXPIRY_SECS).await?;
    let fresh = first.connack.session_present;
    first.disconnect().await;
    let again = kept(&cx, &id, false, EXPIRY_SECS).await?;
    let resumed = again.connack.session_present;
    again.disconnect().await;
    let clean = cx.open(cx.connect_packet(&id)).await?;
    let cleaned = clean.connack.session_present;
    clean.disconnect().await;
    ensure(!fresh && resumed && !cleaned, || {
        format!("session present: new session {fresh}, resumed {resumed}, clean {cleaned}; expected false, true, false")
    })
}

async fn offline_queue(cx: Ctx) -> Check {
    let id = cx.client_id();
    let topic = cx.topic("q");
    let mut sub = kept(&cx, &id, true, EXPIRY_SECS).await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    sub.disconnect().await;
    let mut publisher = cx.peer().await?;
    publisher
        .publish(
            message(&topic, QoS::AtLeastOnce, b"while away"),
            cx.arrive(),
        )
        .await?;
    publisher
        .publish(message(&topic, QoS::AtMostOnce, b"qos 0"), cx.arrive())
        .await?;
    let mut back = kept(&cx, &id, false, EXPIRY_SECS).await?;
    let got = back.collect_n(1, cx.arrive(), cx.quiet()).await;
    back.disconnect().await;
    end_session(&cx, &id).await?;
    let got = got?;
    ensure(got.iter().any(|p| &p.payload[..] == b"while away"), || {
        format!(
            "the QoS 1 message published while offline was not delivered; got {:?}",
            got.iter().map(|p| shown(&p.payload)).collect::<Vec<_>>()
        )
    })
}

async fn dup_resend(cx: Ctx) -> Check {
    let id = cx.client_id();
    let topic = cx.topic("dup");
    let mut sub = kept(&cx, &id, true, EXPIRY_SECS).await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let mut publisher = cx.peer().await?;
    publisher
        .publish(message(&topic, QoS::AtLeastOnce, b"ack me"), cx.arrive())
        .await?;
    let first = sub.expect_publish(cx.arrive()).await?;
    sub.drop_connection().await;
    let mut back = kept(&cx, &id, false, EXPIRY_SECS).await?;
    let again = back.expect_publish(cx.arrive()).await;
    if let Ok(p) = &again {
        back.ack(p).await?;
    }
    back.disconnect().await;
    end_session(&cx, &id).await?;
    let again = again
        .map_err(|_| Verdict::Fail("the unacknowledged QoS 1 message was not resent".into()))?;
    ensure(
        again.dup && again.packet_id == first.packet_id && again.payload == first.payload,
        || {
            format!(
                "resent with DUP {} packet id {} (first {}), payload {}",
                u8::from(again.dup),
                again.packet_id,
                first.packet_id,
                shown(&again.payload)
            )
        },
    )
}

async fn clean_start_discards(cx: Ctx) -> Check {
    let id = cx.client_id();
    let topic = cx.topic("q");
    let mut sub = kept(&cx, &id, true, EXPIRY_SECS).await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    sub.disconnect().await;
    let mut publisher = cx.peer().await?;
    publisher
        .publish(message(&topic, QoS::AtLeastOnce, b"dropped"), cx.arrive())
        .await?;
    let mut clean = cx.open(cx.connect_packet(&id)).await?;
    let present = clean.connack.session_present;
    clean.expect_no_publish(cx.quiet(), "clean start").await?;
    publisher
        .publish(message(&topic, QoS::AtLeastOnce, b"after"), cx.arrive())
        .await?;
    clean
        .expect_no_publish(cx.quiet(), "the clean session has no subscription")
        .await?;
    clean.disconnect().await;
    ensure(!present, || "session present 1 after a clean start".into())
}

async fn pubrel_resent(cx: Ctx) -> Check {
    let id = cx.client_id();
    let topic = cx.topic("rel");
    let mut sub = kept(&cx, &id, true, EXPIRY_SECS).await?;
    sub.subscribe(&topic, QoS::ExactlyOnce, cx.arrive()).await?;
    let mut publisher = cx.peer().await?;
    publisher
        .publish(message(&topic, QoS::ExactlyOnce, b"two"), cx.arrive())
        .await?;
    let got = sub.expect_publish(cx.arrive()).await?;
    sub.send(&Packet::PubRec(PubResponse::new(got.packet_id)))
        .await?;
    sub.expect_ack(got.packet_id, "PUBREL", cx.arrive()).await?;
    // No PUBCOMP: the broker must send PUBREL again on the resumed session.
    sub.drop_connection().await;
    let mut back = kept(&cx, &id, false, EXPIRY_SECS).await?;
    let again = back.expect_ack(got.packet_id, "PUBREL", cx.arrive()).await;
    if again.is_ok() {
        back.send(&Packet::PubComp(PubResponse::new(got.packet_id)))
            .await?;
    }
    let redelivered = back.collect(cx.quiet()).await;
    back.disconnect().await;
    end_session(&cx, &id).await?;
    again.map_err(|e| {
        Verdict::Fail(format!(
            "after PUBREC and a lost connection: {}",
            e.detail()
        ))
    })?;
    let redelivered = redelivered?;
    ensure(redelivered.is_empty(), || {
        "the message was delivered again after its PUBREC".to_string()
    })
}

async fn session_expiry(cx: Ctx) -> Check {
    let id = cx.client_id();
    let mut connect = cx.connect_packet(&id);
    connect.properties.session_expiry_interval = Some(1);
    let mut first = cx.open(connect).await?;
    first
        .subscribe(&cx.topic("x"), QoS::AtLeastOnce, cx.arrive())
        .await?;
    first.disconnect().await;
    let mut soon = cx.connect_packet(&id);
    soon.clean_start = false;
    soon.properties.session_expiry_interval = Some(1);
    let kept_then = cx.open(soon.clone()).await?;
    let present_soon = kept_then.connack.session_present;
    kept_then.disconnect().await;
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let later = cx.open(soon).await?;
    let present_later = later.connack.session_present;
    later.disconnect().await;
    end_session(&cx, &id).await?;
    ensure(present_soon && !present_later, || {
        format!("session expiry 1 s: session present {present_soon} right after, {present_later} 2.2 s after; expected true, false")
    })
}

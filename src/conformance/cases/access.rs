//! `config` cases: behaviour that depends on the broker's ACL, run only when the user
//! names a filter it refuses (`--denied-topic`): a refused SUBSCRIBE and a refused
//! PUBLISH. Must not guess a configuration.

use super::common::Ctx;
use crate::conformance::case::Case;
use crate::conformance::peer::{message, Next};
use crate::conformance::verdict::{ensure, section, spec, Check, Verdict};
use crate::conformance_case as case;
use crate::protocol::{Packet, Properties, QoS, ReasonCode, Subscription};

pub const CASES: &[Case] = &[
case!(
    "config",
    "denied-subscribe",
    Config,
    section("3.9.3"),
    section("3.9.3"),
    "a SUBSCRIBE the ACL refuses gets a SUBACK failure code, and the connection stays usable",
    denied_subscribe
),
case!(
    "config",
    "denied-publish",
    Config,
    spec("3.3.5", "MQTT-3.3.5-2"),
    section("3.4.2.1"),
    "a PUBLISH the ACL refuses: 3.1.1 a positive PUBACK or the connection closed; 5 PUBACK 0x87 (not authorized)",
    denied_publish
)];

async fn denied_subscribe(cx: Ctx) -> Check {
    let Some(filter) = cx.denied_topic().map(str::to_string) else {
        return Err(Verdict::Skip(
            "needs --denied-topic: a filter the broker's ACL refuses".into(),
        ));
    };
    let mut peer = cx.peer().await?;
    let subs = vec![Subscription::new(&filter, QoS::AtLeastOnce)];
    let ack = peer
        .subscribe_with(subs, Properties::default(), cx.arrive())
        .await?;
    let code = ack.reason_codes.first().copied();
    ensure(code.is_some_and(|c| !c.is_success()), || {
        format!("SUBSCRIBE {filter} (named by --denied-topic) was granted: {code:?}")
    })?;
    peer.subscribe(&cx.topic("after"), QoS::AtLeastOnce, cx.arrive())
        .await
}

/// A topic `filter` matches: each `+` and a trailing `#` replaced by a level.
fn topic_in(filter: &str) -> String {
    let levels: Vec<&str> = filter
        .split('/')
        .map(|level| match level {
            "+" | "#" => "mqtk",
            other => other,
        })
        .collect();
    levels.join("/")
}

async fn denied_publish(cx: Ctx) -> Check {
    let Some(filter) = cx.denied_topic().map(str::to_string) else {
        return Err(Verdict::Skip(
            "needs --denied-topic: a filter the broker's ACL refuses".into(),
        ));
    };
    let topic = topic_in(&filter);
    let mut peer = cx.peer().await?;
    let mut p = message(&topic, QoS::AtLeastOnce, b"denied");
    p.packet_id = peer.packet_id();
    let id = p.packet_id;
    peer.send(&Packet::Publish(p)).await?;
    let reason = match peer.next(cx.arrive()).await {
        Next::Packet(Packet::PubAck(ack)) if ack.packet_id == id => ack.reason_code,
        // MQTT-3.3.5-2 (3.1.1) lets the broker close instead; MQTT 5 may say why first.
        Next::Closed | Next::Packet(Packet::Disconnect(_)) => return Ok(()),
        Next::Packet(other) => {
            return Err(Verdict::Fail(format!(
                "QoS 1 PUBLISH to {topic}: expected PUBACK {id}, got {}",
                crate::output::packet_summary(&other)
            )))
        }
        Next::Silent => {
            return Err(Verdict::Fail(format!(
                "QoS 1 PUBLISH to {topic}: no PUBACK and the connection still open after {:?}",
                cx.arrive()
            )))
        }
        Next::Broken(e) => return Err(Verdict::Fail(format!("malformed answer: {e}"))),
    };
    if cx.v5() {
        ensure(reason == ReasonCode::NotAuthorized, || {
            format!("QoS 1 PUBLISH to {topic} (in --denied-topic {filter}): PUBACK {reason}, expected 0x87 not authorized")
        })?;
    }
    peer.publish(
        message(&cx.topic("after"), QoS::AtLeastOnce, b"ok"),
        cx.arrive(),
    )
    .await
    .map(drop)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_topic_in_a_filter_replaces_its_wildcards() {
        assert_eq!(super::topic_in("secret/#"), "secret/mqtk");
        assert_eq!(super::topic_in("a/+/b"), "a/mqtk/b");
        assert_eq!(super::topic_in("plain"), "plain");
    }
}

//! Topic rules: `+` and `#` matching (a parent level included), `$` topics not matched
//! by a leading wildcard, overlapping subscriptions delivered at the highest QoS.
//! Must not test malformed topics (`malformed`).

use super::common::{shown, Ctx};
use crate::conformance::case::Case;
use crate::conformance::peer::message;
use crate::conformance::verdict::{ensure, section, spec, Check, Verdict};
use crate::conformance_case as case;
use crate::protocol::QoS;

pub const CASES: &[Case] = &[
    case!("topics", "wildcards", Must,
        section("4.7.1"), section("4.7.1"),
        "+ matches one level, # any number including the parent level",
        wildcards),
    // Alone: its `#` would otherwise change what other cases see (PUBACK 0x10).
    Case { alone: true, ..case!("topics", "dollar-not-matched", Must,
        spec("4.7.2", "MQTT-4.7.2-1"), spec("4.7.2", "MQTT-4.7.2-1"),
        "a filter starting with a wildcard does not match topics starting with $",
        dollar_not_matched) },
    case!("topics", "overlapping", Must,
        spec("3.3.5", "MQTT-3.3.5-1"), spec("3.3.4", "MQTT-3.3.4-2"),
        "overlapping subscriptions: delivered at the highest QoS of them, at most once per subscription",
        overlapping),
];

async fn wildcards(cx: Ctx) -> Check {
    if cx.v5() && !cx.caps().announces(|a| a.wildcard_subscription_available) {
        return Err(Verdict::Skip(
            "CONNACK announces wildcard subscriptions 0".into(),
        ));
    }
    let base = cx.topic("w");
    let mut plus = cx.peer().await?;
    plus.subscribe(&format!("{base}/+/c"), QoS::AtLeastOnce, cx.arrive())
        .await?;
    let mut hash = cx.peer().await?;
    hash.subscribe(&format!("{base}/a/#"), QoS::AtLeastOnce, cx.arrive())
        .await?;
    let mut publisher = cx.peer().await?;
    for leaf in ["a", "a/c", "b/c", "a/b/c", "b/c/d"] {
        let mut p = message(&format!("{base}/{leaf}"), QoS::AtLeastOnce, b"");
        p.payload = bytes::Bytes::copy_from_slice(leaf.as_bytes());
        publisher.publish(p, cx.arrive()).await?;
    }
    let names = |got: Vec<crate::protocol::Publish>| {
        let mut v: Vec<String> = got
            .iter()
            .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
            .collect();
        v.sort();
        v
    };
    let (wait, extra) = (cx.arrive(), cx.quiet());
    let by_plus = names(plus.collect_n(2, wait, extra).await?);
    let by_hash = names(hash.collect_n(3, wait, extra).await?);
    ensure(by_plus == ["a/c", "b/c"], || {
        format!("{base}/+/c got {by_plus:?}, expected a/c and b/c")
    })?;
    ensure(by_hash == ["a", "a/b/c", "a/c"], || {
        format!("{base}/a/# got {by_hash:?}, expected a, a/b/c and a/c")
    })
}

async fn dollar_not_matched(cx: Ctx) -> Check {
    if cx.caps().sys_topics != Some(true) {
        return Err(Verdict::Skip(
            "the probe saw no $SYS topics to check with".into(),
        ));
    }
    let mut sub = cx.peer().await?;
    sub.subscribe("#", QoS::AtMostOnce, cx.arrive()).await?;
    sub.subscribe("+/broker/#", QoS::AtMostOnce, cx.arrive())
        .await?;
    let deadline = tokio::time::Instant::now() + cx.quiet() * 2;
    while tokio::time::Instant::now() < deadline {
        let left = deadline - tokio::time::Instant::now();
        let Ok(got) = sub.expect_publish(left).await else {
            break;
        };
        if got.topic.starts_with('$') {
            return Err(Verdict::Fail(format!(
                "# and +/broker/# delivered {}",
                got.topic
            )));
        }
    }
    Ok(())
}

async fn overlapping(cx: Ctx) -> Check {
    let topic = cx.topic("o/x");
    let mut sub = cx.peer().await?;
    sub.subscribe(&cx.topic("o/+"), QoS::AtMostOnce, cx.arrive())
        .await?;
    sub.subscribe(&cx.topic("o/#"), QoS::AtLeastOnce, cx.arrive())
        .await?;
    let mut publisher = cx.peer().await?;
    publisher
        .publish(message(&topic, QoS::AtLeastOnce, b"both"), cx.arrive())
        .await?;
    let got = sub.collect_n(1, cx.arrive(), cx.quiet()).await?;
    let seen: Vec<String> = got
        .iter()
        .map(|p| format!("qos {} {}", p.qos as u8, shown(&p.payload)))
        .collect();
    ensure(
        !got.is_empty() && got.len() <= 2 && got.iter().any(|p| p.qos == QoS::AtLeastOnce),
        || format!("subscribed o/+ at QoS 0 and o/# at QoS 1, published QoS 1: got {seen:?}"),
    )
}

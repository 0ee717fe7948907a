//! MQTT 5 topic aliases both ways (§3.3.2.3.4): an alias the client sets stands for
//! its topic; the aliases the broker uses towards a client that announced a Topic Alias
//! Maximum stay within it and resolve to the published topics; a client that announced
//! none gets none. Must not test other properties (`v5`).

use bytes::Bytes;

use super::common::{shown, Ctx};
use crate::conformance::case::Case;
use crate::conformance::peer::message;
use crate::conformance::verdict::{ensure, spec, Check, Verdict};
use crate::conformance_case as case;
use crate::protocol::{Publish, QoS};

pub const CASES: &[Case] = &[
    case!(
        "v5",
        "topic-alias",
        Must,
        None,
        spec("3.3.2.3.4", "MQTT-3.3.2-12"),
        "a topic alias set by the client stands for its topic in later PUBLISHes",
        topic_alias
    ),
    case!(
        "v5",
        "topic-alias-to-client",
        Must,
        None,
        spec("3.3.2.3.4", "MQTT-3.3.2-11"),
        "aliases the broker sends stay within the client's Topic Alias Maximum and stand for the published topics",
        topic_alias_to_client
    ),
    case!(
        "v5",
        "no-topic-alias-unasked",
        Must,
        None,
        spec("3.1.2.11.5", "MQTT-3.1.2-27"),
        "a client that announces no Topic Alias Maximum gets no topic aliases",
        no_topic_alias_unasked
    ),
];

async fn topic_alias(cx: Ctx) -> Check {
    let max = cx
        .caps()
        .connack
        .as_ref()
        .and_then(|a| a.topic_alias_maximum)
        .unwrap_or(0);
    if max == 0 {
        return Err(Verdict::Skip(
            "CONNACK announces topic alias maximum 0".into(),
        ));
    }
    let topic = cx.topic("alias");
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let mut publisher = cx.peer().await?;
    let mut first = message(&topic, QoS::AtLeastOnce, b"set");
    first.properties.topic_alias = Some(1);
    publisher.publish(first, cx.arrive()).await?;
    let mut second = message("", QoS::AtLeastOnce, b"used");
    second.properties.topic_alias = Some(1);
    publisher.publish(second, cx.arrive()).await?;
    let got = sub.collect_n(2, cx.arrive(), cx.quiet()).await?;
    let seen: Vec<String> = got
        .iter()
        .map(|p| format!("{} {}", p.topic, shown(&p.payload)))
        .collect();
    ensure(
        got.len() == 2 && got.iter().all(|p| p.topic == topic.as_str()),
        || format!("published to {topic} with alias 1, then by alias 1 alone: delivered {seen:?}"),
    )
}

/// The leaves published to, in order: with a maximum of 2, a broker that aliases must
/// reuse and (or) leave some topics unaliased.
const LEAVES: [&str; 6] = ["a", "a", "b", "c", "a", "c"];

/// The topic each delivery stands for, resolving aliases as a client must (MQTT 5.0
/// §3.3.2.3.4); an error names the first delivery that breaks a rule.
fn resolve(got: &[Publish], max: u16) -> Result<Vec<String>, String> {
    let mut aliases: Vec<Option<String>> = vec![None; usize::from(max) + 1];
    let mut topics = Vec::new();
    for (n, p) in got.iter().enumerate() {
        let topic = match p.properties.topic_alias {
            None => p.topic.to_string(),
            Some(alias) if alias == 0 || alias > max => {
                return Err(format!(
                    "delivery {} has topic alias {alias}, outside 1..={max} (the client's Topic Alias Maximum)",
                    n + 1
                ))
            }
            Some(alias) => {
                let slot = &mut aliases[usize::from(alias)];
                if !p.topic.is_empty() {
                    *slot = Some(p.topic.to_string());
                }
                slot.clone().ok_or_else(|| {
                    format!(
                        "delivery {} uses topic alias {alias} with an empty topic before the alias was set",
                        n + 1
                    )
                })?
            }
        };
        topics.push(topic);
    }
    Ok(topics)
}

async fn topic_alias_to_client(cx: Ctx) -> Check {
    let base = cx.topic("ta");
    let mut connect = cx.connect_packet(&cx.client_id());
    connect.properties.topic_alias_maximum = Some(2);
    let mut sub = cx.open(connect).await?;
    sub.subscribe(&format!("{base}/+"), QoS::AtLeastOnce, cx.arrive())
        .await?;
    let mut publisher = cx.peer().await?;
    let sent: Vec<String> = LEAVES.iter().map(|leaf| format!("{base}/{leaf}")).collect();
    for (i, topic) in sent.iter().enumerate() {
        let mut p = message(topic, QoS::AtLeastOnce, b"");
        p.payload = Bytes::from(i.to_string());
        publisher.publish(p, cx.arrive()).await?;
    }
    let got = sub.collect_n(sent.len(), cx.arrive(), cx.quiet()).await?;
    // Whether to use aliases at all is the broker's choice; how it uses them is not.
    let topics = resolve(&got, 2).map_err(Verdict::Fail)?;
    ensure(topics == sent, || {
        format!(
            "Topic Alias Maximum 2, published to {LEAVES:?} under {base}: delivered (aliases resolved) {topics:?}"
        )
    })
}

async fn no_topic_alias_unasked(cx: Ctx) -> Check {
    let topic = cx.topic("na");
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let mut publisher = cx.peer().await?;
    for payload in [&b"1"[..], b"2", b"3"] {
        let mut p = message(&topic, QoS::AtLeastOnce, b"");
        p.payload = Bytes::copy_from_slice(payload);
        publisher.publish(p, cx.arrive()).await?;
    }
    let got = sub.collect_n(3, cx.arrive(), cx.quiet()).await?;
    let aliases: Vec<Option<u16>> = got.iter().map(|p| p.properties.topic_alias).collect();
    ensure(
        got.len() == 3 && aliases.iter().all(Option::is_none),
        || {
            format!("no Topic Alias Maximum in CONNECT, 3 messages to one topic: delivered {} with topic aliases {aliases:?}", got.len())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(topic: &str, alias: Option<u16>) -> Publish {
        let mut p = message(topic, QoS::AtMostOnce, b"");
        p.properties.topic_alias = alias;
        p
    }

    #[test]
    fn aliases_resolve_and_out_of_range_or_unset_ones_are_named() {
        let got = [
            delivery("t/a", Some(1)),
            delivery("", Some(1)),
            delivery("t/b", None),
            delivery("t/c", Some(1)),
            delivery("", Some(1)),
        ];
        let topics = resolve(&got, 2).unwrap();
        assert_eq!(topics, ["t/a", "t/a", "t/b", "t/c", "t/c"]);
        let too_big = resolve(&[delivery("t/a", Some(3))], 2).unwrap_err();
        assert!(too_big.contains("outside 1..=2"), "{too_big}");
        let unset = resolve(&[delivery("", Some(2))], 2).unwrap_err();
        assert!(unset.contains("before the alias was set"), "{unset}");
    }
}

//! The retained message store: at most one message per topic (MQTT 5.0 §3.3.1.3), in a
//! trie by topic level so that a wildcard SUBSCRIBE finds its retained messages
//! without scanning every topic. Expired messages are never returned and are pruned
//! when met. Bounded by `--max-retained` and `--max-retained-bytes` (a message beyond
//! them is delivered but not kept). Must not decide who receives them (router.rs does).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::broker::limits::{self, Limit};
use crate::broker::route::message::Message;

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    message: Option<Arc<Message>>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.message.is_none()
    }
}

/// Retained messages by topic.
#[derive(Debug)]
pub struct RetainedStore {
    root: Node,
    count: usize,
    /// Messages and their topic and payload bytes, `$SYS` left out.
    limited: usize,
    bytes: usize,
    /// `--max-retained`, `--max-retained-bytes`.
    max: usize,
    max_bytes: usize,
}

impl Default for RetainedStore {
    fn default() -> Self {
        RetainedStore::with_limits(usize::MAX, usize::MAX)
    }
}

/// What a retained message counts against `--max-retained-bytes`: topic and payload;
/// nothing for the broker's own `$SYS` topics (not counted against `--max-retained`
/// either), which a client cannot flood.
fn size(msg: &Message) -> usize {
    if is_sys(msg) {
        0
    } else {
        msg.topic.len() + msg.payload.len()
    }
}

fn is_sys(msg: &Message) -> bool {
    msg.topic.starts_with("$SYS")
}

impl RetainedStore {
    /// An empty store keeping at most `max` messages and `max_bytes` bytes (topics and
    /// payloads). The broker's own `$SYS` topics are not counted against them.
    pub fn with_limits(max: usize, max_bytes: usize) -> RetainedStore {
        RetainedStore {
            root: Node::default(),
            count: 0,
            limited: 0,
            bytes: 0,
            max,
            max_bytes,
        }
    }

    /// Stores `msg` for its topic, replacing the previous one; an empty payload
    /// deletes the topic's retained message instead (MQTT 5.0 §3.3.1.3). False when
    /// the limits refused it (logged): the previous message, if any, stays.
    pub fn set(&mut self, msg: Arc<Message>) -> bool {
        let levels: Vec<&str> = msg.topic.split('/').collect();
        if msg.payload.is_empty() {
            if let Some(old) = remove(&mut self.root, &levels) {
                self.forget(&old);
            }
            return true;
        }
        let old = find(&self.root, &levels).map(|m| size(m));
        if !is_sys(&msg) && !self.has_room(&msg, old) {
            return false;
        }
        let mut node = &mut self.root;
        for level in levels {
            node = node.children.entry(level.into()).or_default();
        }
        self.count += 1;
        self.limited += usize::from(!is_sys(&msg));
        self.bytes += size(&msg);
        if let Some(old) = node.message.replace(msg) {
            self.forget(&old);
        }
        true
    }

    /// Takes a message that left the store out of the counts.
    fn forget(&mut self, old: &Message) {
        self.count -= 1;
        self.limited -= usize::from(!is_sys(old));
        self.bytes -= size(old);
    }

    /// True when `msg` fits in place of a message of `old` bytes (`None`: a new topic).
    fn has_room(&self, msg: &Message, old: Option<usize>) -> bool {
        let new_topic = old.is_none();
        let old = old.unwrap_or(0);
        if new_topic && self.limited >= self.max {
            let max = self.max;
            limits::hit(Limit::Retained, || {
                format!(
                    "{max} retained messages are kept; not retaining one more (on {})",
                    &*msg.topic
                )
            });
            return false;
        }
        if (self.bytes - old).saturating_add(size(msg)) > self.max_bytes {
            let (max, kept) = (self.max_bytes, self.bytes);
            limits::hit(Limit::RetainedBytes, || {
                format!(
                    "retained messages take {kept} of {max} bytes; not retaining {} more bytes (on {})",
                    size(msg),
                    &*msg.topic
                )
            });
            return false;
        }
        true
    }

    /// The unexpired retained messages whose topic matches `filter` (a valid,
    /// non-shared filter), with the `$` rule of MQTT 5.0 §4.7.2.
    pub fn matching(&self, filter: &str, now: Instant) -> Vec<Arc<Message>> {
        let levels: Vec<&str> = filter.split('/').collect();
        let mut out = Vec::new();
        walk(&self.root, &levels, true, now, &mut out);
        out
    }

    /// Drops expired messages; returns how many.
    pub fn prune_expired(&mut self, now: Instant) -> usize {
        let mut gone = Vec::new();
        prune(&mut self.root, now, &mut gone);
        for old in &gone {
            self.forget(old);
        }
        gone.len()
    }

    /// Number of retained messages (for `$SYS/broker/retained messages/count`).
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no message is retained.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

fn push_live(node: &Node, now: Instant, out: &mut Vec<Arc<Message>>) {
    if let Some(m) = &node.message {
        if !m.is_expired(now) {
            out.push(m.clone());
        }
    }
}

fn walk(node: &Node, filter: &[&str], first: bool, now: Instant, out: &mut Vec<Arc<Message>>) {
    let Some((level, rest)) = filter.split_first() else {
        push_live(node, now, out);
        return;
    };
    match *level {
        "#" => {
            // "a/#" includes "a" itself (MQTT 5.0 §4.7.1.2).
            push_live(node, now, out);
            for (name, child) in &node.children {
                if !(first && name.starts_with('$')) {
                    everything(child, now, out);
                }
            }
        }
        "+" => {
            for (name, child) in &node.children {
                if !(first && name.starts_with('$')) {
                    walk(child, rest, false, now, out);
                }
            }
        }
        name => {
            if let Some(child) = node.children.get(name) {
                walk(child, rest, false, now, out);
            }
        }
    }
}

fn everything(node: &Node, now: Instant, out: &mut Vec<Arc<Message>>) {
    push_live(node, now, out);
    for child in node.children.values() {
        everything(child, now, out);
    }
}

fn find<'a>(node: &'a Node, levels: &[&str]) -> Option<&'a Arc<Message>> {
    match levels.split_first() {
        None => node.message.as_ref(),
        Some((level, rest)) => find(node.children.get(*level)?, rest),
    }
}

fn remove(node: &mut Node, levels: &[&str]) -> Option<Arc<Message>> {
    let Some((level, rest)) = levels.split_first() else {
        return node.message.take();
    };
    let child = node.children.get_mut(*level)?;
    let removed = remove(child, rest);
    if child.is_empty() {
        node.children.remove(*level);
    }
    removed
}

/// Drops the expired messages under `node` into `gone`.
fn prune(node: &mut Node, now: Instant, gone: &mut Vec<Arc<Message>>) {
    if node.message.as_ref().is_some_and(|m| m.is_expired(now)) {
        gone.extend(node.message.take());
    }
    node.children.retain(|_, child| {
        prune(child, now, gone);
        !child.is_empty()
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;
    use crate::protocol::{Properties, QoS};

    fn msg(topic: &str, payload: &'static str, expiry: Option<u32>, now: Instant) -> Arc<Message> {
        let properties = Properties {
            message_expiry_interval: expiry,
            ..Default::default()
        };
        Arc::new(Message {
            topic: topic.into(),
            payload: Bytes::from_static(payload.as_bytes()),
            qos: QoS::AtMostOnce,
            retain: true,
            properties,
            publisher: 1,
            received_at: now,
        })
    }

    fn topics(store: &RetainedStore, filter: &str, now: Instant) -> Vec<String> {
        let mut t: Vec<String> = store
            .matching(filter, now)
            .iter()
            .map(|m| format!("{}={}", &*m.topic, String::from_utf8_lossy(&m.payload)))
            .collect();
        t.sort();
        t
    }

    #[test]
    fn the_limits_refuse_new_topics_and_growth_but_not_replacements_or_sys() {
        let now = Instant::now();
        let mut s = RetainedStore::with_limits(2, 12);
        assert!(s.set(msg("a", "12345", None, now)));
        assert!(s.set(msg("b", "1", None, now)));
        assert!(!s.set(msg("c", "1", None, now)), "a third topic");
        assert!(s.set(msg("$SYS/x", "1", None, now)), "$SYS is not counted");
        assert!(
            s.set(msg("b", "1234", None, now)),
            "a replacement of the same size"
        );
        assert!(!s.set(msg("b", "123456", None, now)), "bytes: 6 + 7 > 12");
        assert_eq!(topics(&s, "b", now), ["b=1234"]);
        assert!(s.set(msg("a", "", None, now)), "a delete");
        assert!(
            s.set(msg("c", "123456", None, now)),
            "room again: 5 + 7 <= 12"
        );
        assert_eq!(s.bytes, 12);
    }

    #[test]
    fn set_replace_and_delete() {
        let now = Instant::now();
        let mut s = RetainedStore::default();
        s.set(msg("a/b", "1", None, now));
        s.set(msg("a/b", "2", None, now));
        assert_eq!(topics(&s, "a/b", now), vec!["a/b=2"]);
        assert_eq!(s.len(), 1);
        s.set(msg("a/b", "", None, now));
        assert!(topics(&s, "a/b", now).is_empty());
        assert!(s.is_empty());
        assert!(s.root.is_empty());
    }

    #[test]
    fn wildcard_filters_find_every_matching_topic() {
        let now = Instant::now();
        let mut s = RetainedStore::default();
        for t in ["a", "a/b", "a/c", "a/b/c", "x/b", "$SYS/up"] {
            s.set(msg(t, "v", None, now));
        }
        assert_eq!(
            topics(&s, "a/#", now),
            vec!["a/b/c=v", "a/b=v", "a/c=v", "a=v"]
        );
        assert_eq!(topics(&s, "+/b", now), vec!["a/b=v", "x/b=v"]);
        assert_eq!(topics(&s, "#", now).len(), 5);
        assert_eq!(topics(&s, "$SYS/#", now), vec!["$SYS/up=v"]);
        assert_eq!(topics(&s, "+/up", now), Vec::<String>::new());
    }

    #[test]
    fn expired_retained_messages_are_not_sent_and_get_pruned() {
        let now = Instant::now();
        let mut s = RetainedStore::default();
        s.set(msg("t", "v", Some(5), now));
        assert_eq!(topics(&s, "t", now + Duration::from_secs(4)).len(), 1);
        assert!(topics(&s, "t", now + Duration::from_secs(5)).is_empty());
        assert_eq!(s.prune_expired(now + Duration::from_secs(6)), 1);
        assert!(s.is_empty());
    }
}

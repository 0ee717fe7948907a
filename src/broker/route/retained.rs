//! The retained message store: at most one message per topic (MQTT 5.0 §3.3.1.3), in a
//! trie by topic level so that a wildcard SUBSCRIBE finds its retained messages
//! without scanning every topic. Expired messages are never returned and are pruned
//! when met. Must not decide who receives them (router.rs does).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

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
#[derive(Debug, Default)]
pub struct RetainedStore {
    root: Node,
    count: usize,
}

impl RetainedStore {
    /// Stores `msg` for its topic, replacing the previous one; an empty payload
    /// deletes the topic's retained message instead (MQTT 5.0 §3.3.1.3).
    pub fn set(&mut self, msg: Arc<Message>) {
        let levels: Vec<&str> = msg.topic.split('/').collect();
        if msg.payload.is_empty() {
            if remove(&mut self.root, &levels) {
                self.count -= 1;
            }
            return;
        }
        let mut node = &mut self.root;
        for level in levels {
            node = node.children.entry(level.into()).or_default();
        }
        if node.message.replace(msg).is_none() {
            self.count += 1;
        }
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
        let pruned = prune(&mut self.root, now);
        self.count -= pruned;
        pruned
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

fn remove(node: &mut Node, levels: &[&str]) -> bool {
    let Some((level, rest)) = levels.split_first() else {
        return node.message.take().is_some();
    };
    let Some(child) = node.children.get_mut(*level) else {
        return false;
    };
    let removed = remove(child, rest);
    if child.is_empty() {
        node.children.remove(*level);
    }
    removed
}

fn prune(node: &mut Node, now: Instant) -> usize {
    let mut pruned = 0;
    if node.message.as_ref().is_some_and(|m| m.is_expired(now)) {
        node.message = None;
        pruned += 1;
    }
    node.children.retain(|_, child| {
        pruned += prune(child, now);
        !child.is_empty()
    });
    pruned
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

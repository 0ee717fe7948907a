//! The subscription tree: a trie with one node per topic level, holding each filter's
//! subscribers and shared-subscription groups. Matching a topic walks at most three
//! branches per level (the level itself, `+`, `#`), so a publish costs in proportion
//! to the filters that match, not to the number of subscriptions.
//! Must not deliver or queue anything: it answers "who matches" (see router.rs).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::broker::route::mailbox::Mailbox;
use crate::broker::route::message::{SharedKey, SubOptions};
use crate::protocol::topic::SHARE_PREFIX;
use crate::small_map::SmallMap;
use smol_str::SmolStr;

/// A shared subscription `$share/GROUP/FILTER`: each message goes to one member.
#[derive(Debug)]
pub struct SharedGroup {
    /// `$share/GROUP/FILTER` as written, the group's identity.
    pub key: SharedKey,
    /// Members in subscription order.
    pub members: Vec<(Arc<Mailbox>, SubOptions)>,
    /// Round-robin cursor; atomic so that publishers only need the read lock.
    next: AtomicUsize,
}

impl SharedGroup {
    /// Members starting at the next one in turn, wrapping around once.
    pub fn rotation(&self) -> impl Iterator<Item = &(Arc<Mailbox>, SubOptions)> {
        let n = self.members.len();
        let start = if n == 0 {
            0
        } else {
            self.next.fetch_add(1, Ordering::Relaxed) % n
        };
        (0..n).map(move |i| &self.members[(start + i) % n])
    }
}

/// A subscription that matched a topic.
#[derive(Debug, Clone, Copy)]
pub enum Matched<'a> {
    /// An ordinary subscription of one session.
    Plain(&'a Arc<Mailbox>, &'a SubOptions),
    /// A shared subscription: the router picks one member.
    Shared(&'a SharedGroup),
}

/// A node's shared subscription groups, by group name.
type Groups = Vec<(Box<str>, SharedGroup)>;

/// Most nodes of a broker with many clients have one child (`idle/17/cmd`) and one
/// subscriber or none, or are one of thousands of children: `SmallMap`s hold exactly
/// their entries until they grow big, a level's name is kept inline up to 23 bytes
/// (`SmolStr`: no allocation of its own), and children are boxed so that
/// a big table's slot is a pointer, not a node (memory per connection). Subscribers
/// are keyed by their mailbox's session id.
#[derive(Debug, Default)]
struct Node {
    children: SmallMap<SmolStr, Box<Node>>,
    subscribers: Subscribers,
    /// Shared subscription groups (rare): a plain list, boxed, `None` when empty.
    shared: Option<Box<Groups>>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.subscribers.is_empty() && self.shared.is_none()
    }

    fn collect<'a>(&'a self, out: &mut Vec<Matched<'a>>) {
        out.extend(self.subscribers.iter().map(|(m, o)| Matched::Plain(m, o)));
        out.extend(
            self.shared
                .iter()
                .flat_map(|v| v.iter())
                .map(|(_, g)| Matched::Shared(g)),
        );
    }
}

/// Up to this many plain subscribers of a node are kept in a vector.
const MAX_FEW: usize = 8;

/// A node's plain subscribers, by their session (the mailbox's `session_id`): a vector
/// of exactly its entries while few (24 bytes each: the session id is not stored
/// twice), a map beyond (memory per connection).
#[derive(Debug)]
enum Subscribers {
    Few(Vec<(Arc<Mailbox>, SubOptions)>),
    // Boxed: the enum stays the size of the vector.
    #[allow(clippy::box_collection)]
    Many(Box<HashMap<u64, (Arc<Mailbox>, SubOptions)>>),
}

impl Default for Subscribers {
    fn default() -> Self {
        Subscribers::Few(Vec::new())
    }
}

impl Subscribers {
    fn is_empty(&self) -> bool {
        match self {
            Subscribers::Few(v) => v.is_empty(),
            Subscribers::Many(m) => m.is_empty(),
        }
    }

    /// Adds or replaces the subscription of `mailbox`'s session; true if it existed.
    fn insert(&mut self, mailbox: &Arc<Mailbox>, options: SubOptions) -> bool {
        let id = mailbox.session_id;
        let entry = (mailbox.clone(), options);
        match self {
            Subscribers::Few(v) => {
                if let Some(old) = v.iter_mut().find(|(m, _)| m.session_id == id) {
                    *old = entry;
                    return true;
                }
                if v.len() < MAX_FEW {
                    if v.capacity() == 0 {
                        v.reserve_exact(1);
                    }
                    v.push(entry);
                    return false;
                }
                let mut map: HashMap<u64, (Arc<Mailbox>, SubOptions)> = std::mem::take(v)
                    .into_iter()
                    .map(|e| (e.0.session_id, e))
                    .collect();
                map.insert(id, entry);
                *self = Subscribers::Many(Box::new(map));
                false
            }
            Subscribers::Many(m) => m.insert(id, entry).is_some(),
        }
    }

    /// Removes the subscription of session `session_id`; true if it existed.
    fn remove(&mut self, session_id: u64) -> bool {
        match self {
            Subscribers::Few(v) => match v.iter().position(|(m, _)| m.session_id == session_id) {
                Some(i) => {
                    v.swap_remove(i);
                    true
                }
                None => false,
            },
            Subscribers::Many(m) => m.remove(&session_id).is_some(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &(Arc<Mailbox>, SubOptions)> {
        let (few, many) = match self {
            Subscribers::Few(v) => (Some(v.iter()), None),
            Subscribers::Many(m) => (None, Some(m.values())),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }
}

/// The subscription trie. Kept behind an `RwLock` by the router: publishers read,
/// SUBSCRIBE/UNSUBSCRIBE and session ends write.
#[derive(Debug, Default)]
pub struct SubscriptionTree {
    root: Node,
    count: usize,
}

impl SubscriptionTree {
    /// Adds or replaces (MQTT 5.0 §3.8.4) the subscription of `mailbox`'s session to
    /// `filter`, in shared group `share` if given. Returns true when it existed already
    /// (Retain Handling 1 sends retained messages only for new subscriptions).
    pub fn subscribe(
        &mut self,
        filter: &str,
        share: Option<&str>,
        mailbox: &Arc<Mailbox>,
        options: SubOptions,
    ) -> bool {
        let mut node = &mut self.root;
        for level in filter.split('/') {
            node = node.children.get_or_insert_with(level.into(), Box::default);
        }
        let existed = match share {
            None => node.subscribers.insert(mailbox, options),
            Some(group) => {
                let groups = node.shared.get_or_insert_with(Box::default);
                let i = match groups.iter().position(|(g, _)| &**g == group) {
                    Some(i) => i,
                    None => {
                        groups.push((
                            group.into(),
                            SharedGroup {
                                key: format!("{SHARE_PREFIX}{group}/{filter}").into(),
                                members: Vec::new(),
                                next: AtomicUsize::new(0),
                            },
                        ));
                        groups.len() - 1
                    }
                };
                let entry = &mut groups[i].1;
                match entry
                    .members
                    .iter_mut()
                    .find(|(m, _)| m.session_id == mailbox.session_id)
                {
                    Some(member) => {
                        *member = (mailbox.clone(), options);
                        true
                    }
                    None => {
                        entry.members.push((mailbox.clone(), options));
                        false
                    }
                }
            }
        };
        if !existed {
            self.count += 1;
        }
        existed
    }

    /// Removes one subscription; true when it existed.
    pub fn unsubscribe(&mut self, filter: &str, share: Option<&str>, session_id: u64) -> bool {
        let levels: Vec<&str> = filter.split('/').collect();
        let removed = remove(&mut self.root, &levels, share, session_id);
        if removed {
            self.count -= 1;
        }
        removed
    }

    /// Every subscription matching `topic` (a valid topic name), per MQTT 5.0 §4.7:
    /// `+` one level, `#` this level and all below, and no leading wildcard for
    /// topics starting with `$` (§4.7.2).
    pub fn collect<'a>(&'a self, topic: &str, out: &mut Vec<Matched<'a>>) {
        let levels: Vec<&str> = topic.split('/').collect();
        walk(&self.root, &levels, true, out);
    }

    /// The shared group named by `key`'s filter and group, if it still exists.
    pub fn shared_group(&self, share: &str, filter: &str) -> Option<&SharedGroup> {
        let mut node = &self.root;
        for level in filter.split('/') {
            node = node.children.get(level)?;
        }
        node.shared
            .as_ref()?
            .iter()
            .find(|(g, _)| &**g == share)
            .map(|(_, g)| g)
    }

    /// How many subscriptions exist (for `$SYS/broker/subscriptions/count`).
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when nobody subscribes to anything.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

fn walk<'a>(node: &'a Node, levels: &[&str], first: bool, out: &mut Vec<Matched<'a>>) {
    let Some((level, rest)) = levels.split_first() else {
        node.collect(out);
        // "a/#" also matches "a" (MQTT 5.0 §4.7.1.2).
        if let Some(hash) = node.children.get("#") {
            hash.collect(out);
        }
        return;
    };
    if let Some(child) = node.children.get(*level) {
        walk(child, rest, false, out);
    }
    if first && level.starts_with('$') {
        return;
    }
    if let Some(plus) = node.children.get("+") {
        walk(plus, rest, false, out);
    }
    if let Some(hash) = node.children.get("#") {
        hash.collect(out);
    }
}

fn remove(node: &mut Node, levels: &[&str], share: Option<&str>, session_id: u64) -> bool {
    let Some((level, rest)) = levels.split_first() else {
        return match share {
            None => node.subscribers.remove(session_id),
            Some(group) => {
                let Some(groups) = node.shared.as_mut() else {
                    return false;
                };
                let Some(i) = groups.iter().position(|(g, _)| &**g == group) else {
                    return false;
                };
                let g = &mut groups[i].1;
                let before = g.members.len();
                g.members.retain(|(m, _)| m.session_id != session_id);
                let removed = g.members.len() != before;
                if g.members.is_empty() {
                    groups.swap_remove(i);
                    if groups.is_empty() {
                        node.shared = None;
                    }
                }
                removed
            }
        };
    };
    let Some(child) = node.children.get_mut(*level) else {
        return false;
    };
    let removed = remove(child, rest, share, session_id);
    if child.is_empty() {
        node.children.remove(*level);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::QoS;

    fn mailbox(id: u64) -> Arc<Mailbox> {
        Mailbox::new(id, format!("c{id}").into(), 10).0
    }

    fn opts(qos: QoS) -> SubOptions {
        SubOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            subscription_id: None,
        }
    }

    fn matching(tree: &SubscriptionTree, topic: &str) -> Vec<u64> {
        let mut out = Vec::new();
        tree.collect(topic, &mut out);
        let mut ids: Vec<u64> = out
            .iter()
            .map(|m| match m {
                Matched::Plain(mb, _) => mb.session_id,
                Matched::Shared(g) => 1000 + g.members.len() as u64,
            })
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn wildcards_match_as_the_specification_says() {
        let mut t = SubscriptionTree::default();
        let filters = ["a/b", "a/+", "a/#", "#", "+/+", "a/b/c", "+", "a/+/c", "/+"];
        for (i, f) in filters.iter().enumerate() {
            t.subscribe(f, None, &mailbox(i as u64), opts(QoS::AtMostOnce));
        }
        assert_eq!(matching(&t, "a/b"), vec![0, 1, 2, 3, 4]);
        assert_eq!(matching(&t, "a"), vec![2, 3, 6]);
        assert_eq!(matching(&t, "a/b/c"), vec![2, 3, 5, 7]);
        assert_eq!(matching(&t, "/x"), vec![3, 4, 8]);
        assert_eq!(matching(&t, "b"), vec![3, 6]);
        assert_eq!(matching(&t, "a/"), vec![1, 2, 3, 4]);
    }

    #[test]
    fn dollar_topics_are_not_matched_by_a_leading_wildcard() {
        let mut t = SubscriptionTree::default();
        t.subscribe("#", None, &mailbox(1), opts(QoS::AtMostOnce));
        t.subscribe("+/broker/uptime", None, &mailbox(2), opts(QoS::AtMostOnce));
        t.subscribe("$SYS/#", None, &mailbox(3), opts(QoS::AtMostOnce));
        t.subscribe("$SYS/+/uptime", None, &mailbox(4), opts(QoS::AtMostOnce));
        assert_eq!(matching(&t, "$SYS/broker/uptime"), vec![3, 4]);
        assert_eq!(matching(&t, "$SYS/x"), vec![3]);
        assert_eq!(matching(&t, "SYS/broker/uptime"), vec![1, 2]);
    }

    #[test]
    fn resubscribing_replaces_and_unsubscribing_prunes() {
        let mut t = SubscriptionTree::default();
        let m = mailbox(1);
        assert!(!t.subscribe("a/+/c", None, &m, opts(QoS::AtMostOnce)));
        assert!(t.subscribe("a/+/c", None, &m, opts(QoS::ExactlyOnce)));
        assert_eq!(t.len(), 1);
        let mut out = Vec::new();
        t.collect("a/b/c", &mut out);
        match out[0] {
            Matched::Plain(_, o) => assert_eq!(o.qos, QoS::ExactlyOnce),
            Matched::Shared(_) => panic!("expected a plain subscription"),
        }
        assert!(t.unsubscribe("a/+/c", None, 1));
        assert!(!t.unsubscribe("a/+/c", None, 1));
        assert!(t.root.is_empty());
        assert!(t.is_empty());
    }

    #[test]
    fn shared_groups_hold_members_and_rotate() {
        let mut t = SubscriptionTree::default();
        let (a, b) = (mailbox(1), mailbox(2));
        t.subscribe("s/#", Some("g"), &a, opts(QoS::AtLeastOnce));
        t.subscribe("s/#", Some("g"), &b, opts(QoS::AtLeastOnce));
        t.subscribe("s/#", Some("h"), &a, opts(QoS::AtLeastOnce));
        assert_eq!(matching(&t, "s/x"), vec![1001, 1002]);
        let g = t.shared_group("g", "s/#").unwrap();
        assert_eq!(&*g.key, "$share/g/s/#");
        let first: Vec<u64> = g.rotation().map(|(m, _)| m.session_id).collect();
        let second: Vec<u64> = g.rotation().map(|(m, _)| m.session_id).collect();
        assert_eq!(first.len(), 2);
        assert_ne!(first[0], second[0]);
        assert!(t.unsubscribe("s/#", Some("g"), 1));
        assert!(t.unsubscribe("s/#", Some("g"), 2));
        assert!(t.shared_group("g", "s/#").is_none());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn many_subscribers_of_one_filter_switch_to_a_map_and_back_out() {
        let mut t = SubscriptionTree::default();
        let boxes: Vec<Arc<Mailbox>> = (0..20).map(mailbox).collect();
        for m in &boxes {
            assert!(!t.subscribe("a/b", None, m, opts(QoS::AtMostOnce)));
        }
        assert!(t.subscribe("a/b", None, &boxes[3], opts(QoS::AtLeastOnce)));
        assert_eq!(matching(&t, "a/b"), (0..20).collect::<Vec<u64>>());
        for id in 0..20 {
            assert!(t.unsubscribe("a/b", None, id));
        }
        assert!(!t.unsubscribe("a/b", None, 0));
        assert!(t.root.is_empty());
    }

    #[test]
    fn publish_cost_does_not_visit_unrelated_filters() {
        let mut t = SubscriptionTree::default();
        for i in 0..10_000u64 {
            t.subscribe(
                &format!("devices/{i}/state"),
                None,
                &mailbox(i),
                opts(QoS::AtMostOnce),
            );
        }
        assert_eq!(matching(&t, "devices/42/state"), vec![42]);
        assert_eq!(t.len(), 10_000);
    }
}

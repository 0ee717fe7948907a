//! The plan of a run: every client's identifier, topic or filter, and which receivers
//! (subscribers, or shared-subscription groups counted once) expect each publisher's
//! messages. Computed once before connecting; loss is counted against it.
//! Must not connect or measure.

use std::collections::HashMap;

use crate::protocol::topic;

use super::config::{expand, BenchConfig};

/// One subscriber's subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberPlan {
    /// The filter as sent in SUBSCRIBE (`$share/GROUP/…` for shared subscriptions).
    pub filter: String,
    /// The receiver its deliveries are accounted to: its own for a plain
    /// subscription, the group's for a shared one.
    pub receiver: u32,
}

/// Who publishes where and who expects what.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Topic of each publisher.
    pub publisher_topics: Vec<String>,
    /// Subscription of each subscriber.
    pub subscribers: Vec<SubscriberPlan>,
    /// For each publisher, the receivers expecting every one of its messages.
    pub receivers_of: Vec<Vec<u32>>,
    /// Distinct receivers.
    pub receivers: u32,
    /// For each receiver, whether it is a shared-subscription group.
    pub shared_receivers: Vec<bool>,
}

impl Plan {
    /// Builds the plan of `config`; an invalid expanded topic or filter is an error
    /// naming the flag.
    /// With `--cross-shard` the publishers are every publisher of the whole run (by
    /// global index: this shard's subscribers hear them all) and the subscribers this
    /// shard's, numbered from its first.
    pub fn build(config: &BenchConfig) -> Result<Plan, String> {
        let (publishers, first_subscriber) = config.cross().map_or((config.publishers, 0), |c| {
            (c.run_publishers, c.first_subscriber)
        });
        let mut publisher_topics = Vec::with_capacity(publishers as usize);
        for i in 0..publishers {
            let name = expand(&config.topic, i);
            topic::validate_topic_name(&name)
                .map_err(|e| format!("--topic {:?} gives {name:?}: {e}", config.topic))?;
            publisher_topics.push(name);
        }
        // Receivers by the filter they match with: plain subscribers each have their
        // own; a shared group (same group, same filter) is one receiver.
        let mut receiver_filters: Vec<String> = Vec::new();
        let mut shared_ids: HashMap<String, u32> = HashMap::new();
        let mut subscribers = Vec::with_capacity(config.subscribers as usize);
        for i in first_subscriber..first_subscriber + config.subscribers {
            let plain = expand(&config.sub_topic, i);
            topic::validate_topic_filter(&plain)
                .map_err(|e| format!("--sub-topic {:?} gives {plain:?}: {e}", config.sub_topic))?;
            let (filter, receiver) = match &config.shared_group {
                Some(group) => {
                    let filter = format!("$share/{group}/{plain}");
                    let next = receiver_filters.len() as u32;
                    let id = *shared_ids.entry(filter.clone()).or_insert(next);
                    if id == next {
                        receiver_filters.push(plain);
                    }
                    (filter, id)
                }
                None => {
                    receiver_filters.push(plain.clone());
                    (plain, receiver_filters.len() as u32 - 1)
                }
            };
            subscribers.push(SubscriberPlan { filter, receiver });
        }
        // Match every publisher topic against the receivers' filters: filters without
        // wildcards by lookup, the (usually few) wildcard filters one by one.
        let mut exact: HashMap<&str, Vec<u32>> = HashMap::new();
        let mut wildcard: HashMap<&str, Vec<u32>> = HashMap::new();
        for (id, filter) in receiver_filters.iter().enumerate() {
            let map = if filter.contains(['+', '#']) {
                &mut wildcard
            } else {
                &mut exact
            };
            map.entry(filter.as_str()).or_default().push(id as u32);
        }
        let receivers_of = publisher_topics
            .iter()
            .map(|name| {
                let mut ids: Vec<u32> = exact.get(name.as_str()).cloned().unwrap_or_default();
                for (filter, receivers) in &wildcard {
                    if topic::matches(filter, name) {
                        ids.extend_from_slice(receivers);
                    }
                }
                ids.sort_unstable();
                ids
            })
            .collect();
        let shared_receivers = vec![config.shared_group.is_some(); receiver_filters.len()];
        Ok(Plan {
            publisher_topics,
            subscribers,
            receivers_of,
            receivers: receiver_filters.len() as u32,
            shared_receivers,
        })
    }

    /// Deliveries expected when publisher `p` has sent `sent` messages.
    pub fn expected(&self, sent_by_publisher: impl Iterator<Item = u64>) -> u64 {
        sent_by_publisher
            .zip(&self.receivers_of)
            .map(|(sent, receivers)| sent * receivers.len() as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::config::{default_sub_topic, Target};

    fn config(
        publishers: u32,
        subscribers: u32,
        topic: &str,
        sub_topic: Option<&str>,
    ) -> BenchConfig {
        let mut c = BenchConfig::new(Target::Embedded);
        c.publishers = publishers;
        c.subscribers = subscribers;
        c.topic = topic.into();
        c.sub_topic = sub_topic.map_or_else(|| default_sub_topic(topic), String::from);
        c
    }

    #[test]
    fn fan_in_sends_every_publisher_to_every_wildcard_subscriber() {
        let plan = Plan::build(&config(5, 2, "b/%i", None)).unwrap();
        assert_eq!(plan.publisher_topics[3], "b/3");
        assert_eq!(
            plan.subscribers[1],
            SubscriberPlan {
                filter: "b/+".into(),
                receiver: 1
            }
        );
        assert!(plan.receivers_of.iter().all(|r| r == &[0, 1]));
        assert_eq!(plan.expected([10u64; 5].into_iter()), 100);
    }

    #[test]
    fn fan_out_expects_each_message_once_per_subscriber() {
        let plan = Plan::build(&config(1, 50, "b/%i", None)).unwrap();
        assert_eq!(plan.receivers_of[0].len(), 50);
        assert_eq!(plan.expected([7u64].into_iter()), 350);
    }

    #[test]
    fn pairs_match_one_to_one() {
        let plan = Plan::build(&config(4, 4, "b/%i", Some("b/%i"))).unwrap();
        for (p, receivers) in plan.receivers_of.iter().enumerate() {
            assert_eq!(receivers, &[p as u32]);
        }
    }

    #[test]
    fn a_shared_group_is_one_receiver() {
        let mut c = config(3, 4, "b/%i", None);
        c.shared_group = Some("g".into());
        let plan = Plan::build(&c).unwrap();
        assert_eq!(plan.receivers, 1);
        assert!(plan
            .subscribers
            .iter()
            .all(|s| s.filter == "$share/g/b/+" && s.receiver == 0));
        assert_eq!(plan.expected([10u64; 3].into_iter()), 30);
    }

    #[test]
    fn invalid_expanded_topics_name_the_flag() {
        let err = Plan::build(&config(1, 1, "b/%i", Some("a/#/b"))).unwrap_err();
        assert!(err.contains("--sub-topic"), "{err}");
    }
}

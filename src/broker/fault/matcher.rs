//! Which packets a fault rule is about (`Match`): client identifier and user name globs,
//! a topic filter, packet types, the direction, and the counting and timing keys (the
//! Nth match, at most N times, a probability, a time window). Plain and unit-tested:
//! the caller gives the time and the draw. Must not do I/O or read the clock.

use crate::glob::glob;
use std::time::Duration;

use crate::protocol::{topic, Packet};

/// Which way a packet goes, seen from the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// From the client to the broker.
    In,
    /// From the broker to the client.
    Out,
}

impl Dir {
    /// `in` or `out`, as in rules and traces.
    pub fn name(self) -> &'static str {
        match self {
            Dir::In => "in",
            Dir::Out => "out",
        }
    }
}

/// Packet types a client sends, by the specification's names (`Packet::name`).
pub const FROM_CLIENT: [&str; 11] = [
    "CONNECT",
    "PUBLISH",
    "PUBACK",
    "PUBREC",
    "PUBREL",
    "PUBCOMP",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "PINGREQ",
    "DISCONNECT",
    "AUTH",
];

/// Packet types the broker sends.
pub const FROM_BROKER: [&str; 10] = [
    "CONNACK",
    "PUBLISH",
    "PUBACK",
    "PUBREC",
    "PUBREL",
    "PUBCOMP",
    "SUBACK",
    "UNSUBACK",
    "PINGRESP",
    "DISCONNECT",
];

/// Packet types that carry a topic or topic filters (what `topic=` looks at).
pub const WITH_TOPIC: [&str; 3] = ["PUBLISH", "SUBSCRIBE", "UNSUBSCRIBE"];

/// One packet as rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The client identifier (empty in a CONNECT without one).
    pub client_id: &'a str,
    /// The user name of its CONNECT.
    pub username: Option<&'a str>,
    /// Which way the packet goes.
    pub dir: Dir,
    /// The packet (a CONNECT is checked before the session starts).
    pub packet: &'a Packet,
}

/// The match half of a rule. Every key given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match {
    /// `client=GLOB`.
    pub client: Option<String>,
    /// `user=GLOB`.
    pub user: Option<String>,
    /// `topic=FILTER`: a PUBLISH's topic matches it, or a SUBSCRIBE/UNSUBSCRIBE has a
    /// filter it covers.
    pub topic: Option<String>,
    /// `type=puback,pubrec`: names as `Packet::name` gives them.
    pub types: Option<Vec<&'static str>>,
    /// `dir=in|out`.
    pub dir: Option<Dir>,
    /// `nth=N`: only the Nth packet that matches the keys above (counted broker-wide
    /// from when the rule was loaded).
    pub nth: Option<u64>,
    /// `count=N`: fires at most N times.
    pub count: Option<u64>,
    /// `p=P`: fires with probability P (0 < P <= 1).
    pub p: Option<f64>,
    /// `after=TIME`: not before TIME since the rule was loaded.
    pub after: Option<Duration>,
    /// `for=TIME`: only during TIME (from `after`, or from loading).
    pub window: Option<Duration>,
}

impl Match {
    /// True when the packet has what the rule names (client, user, type, direction,
    /// topic). Counting and timing are `in_window` and `counts`.
    pub fn selects(&self, ctx: &Ctx<'_>) -> bool {
        if self.dir.is_some_and(|d| d != ctx.dir) {
            return false;
        }
        let name = ctx.packet.name();
        if let Some(types) = &self.types {
            if !types.contains(&name) {
                return false;
            }
        }
        if let Some(g) = &self.client {
            if !glob(g.as_bytes(), ctx.client_id.as_bytes()) {
                return false;
            }
        }
        if let Some(g) = &self.user {
            match ctx.username {
                Some(user) if glob(g.as_bytes(), user.as_bytes()) => {}
                _ => return false,
            }
        }
        match &self.topic {
            None => true,
            Some(filter) => topic_matches(filter, ctx.packet),
        }
    }

    /// True when `since_loaded` is inside the rule's time window.
    pub fn in_window(&self, since_loaded: Duration) -> bool {
        let start = self.after.unwrap_or_default();
        since_loaded >= start && self.window.is_none_or(|w| since_loaded < start + w)
    }

    /// Given the 1-based number of this match, the number of times the rule fired so
    /// far and a draw in [0, 1), true when it fires now.
    pub fn counts(&self, nth_match: u64, fired: u64, draw: f64) -> bool {
        self.nth.is_none_or(|n| n == nth_match)
            && self.count.is_none_or(|c| fired < c)
            && self.p.is_none_or(|p| draw < p)
    }
}

fn topic_matches(filter: &str, packet: &Packet) -> bool {
    match packet {
        Packet::Publish(p) => topic::matches(filter, &p.topic),
        Packet::Subscribe(s) => s
            .subscriptions
            .iter()
            .any(|sub| topic::filter_covers(filter, topic::split_shared(&sub.filter).1)),
        Packet::Unsubscribe(u) => u
            .filters
            .iter()
            .any(|f| topic::filter_covers(filter, topic::split_shared(f).1)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{PubResponse, Publish, QoS};

    fn publish(topic: &str) -> Packet {
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: topic.into(),
            packet_id: 1,
            properties: Default::default(),
            payload: Default::default(),
        })
    }

    #[test]
    fn a_match_needs_every_key_it_names() {
        let m = Match {
            client: Some("dev-*".into()),
            types: Some(vec!["PUBACK"]),
            dir: Some(Dir::In),
            ..Match::default()
        };
        let ack = Packet::PubAck(PubResponse::new(1));
        let ctx = |client_id, dir, packet| Ctx {
            client_id,
            username: None,
            dir,
            packet,
        };
        assert!(m.selects(&ctx("dev-1", Dir::In, &ack)));
        assert!(!m.selects(&ctx("dev-1", Dir::Out, &ack)));
        assert!(!m.selects(&ctx("ops", Dir::In, &ack)));
        let other = publish("a");
        assert!(!m.selects(&ctx("dev-1", Dir::In, &other)));
        let by_user = Match {
            user: Some("alice".into()),
            ..Match::default()
        };
        assert!(!by_user.selects(&ctx("dev-1", Dir::In, &ack)));
    }

    #[test]
    fn topic_keys_look_at_topics_and_filters() {
        let m = Match {
            topic: Some("sensors/#".into()),
            ..Match::default()
        };
        let ctx = |packet| Ctx {
            client_id: "c",
            username: None,
            dir: Dir::In,
            packet,
        };
        let (inside, outside) = (publish("sensors/1/t"), publish("other"));
        assert!(m.selects(&ctx(&inside)));
        assert!(!m.selects(&ctx(&outside)));
        assert!(!m.selects(&ctx(&Packet::PingReq)));
    }

    #[test]
    fn counting_and_windows() {
        let nth = Match {
            nth: Some(2),
            ..Match::default()
        };
        assert!(!nth.counts(1, 0, 0.0));
        assert!(nth.counts(2, 0, 0.0));
        assert!(!nth.counts(3, 1, 0.0));
        let twice = Match {
            count: Some(2),
            p: Some(0.5),
            ..Match::default()
        };
        assert!(twice.counts(1, 1, 0.4));
        assert!(!twice.counts(1, 1, 0.6));
        assert!(!twice.counts(5, 2, 0.1));
        let window = Match {
            after: Some(Duration::from_secs(5)),
            window: Some(Duration::from_secs(10)),
            ..Match::default()
        };
        assert!(!window.in_window(Duration::from_secs(4)));
        assert!(window.in_window(Duration::from_secs(5)));
        assert!(window.in_window(Duration::from_secs(14)));
        assert!(!window.in_window(Duration::from_secs(15)));
    }
}

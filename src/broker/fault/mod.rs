//! Fault injection for `mqtk serve` as a test fixture: rules (`--fault`, `--faults FILE`,
//! `$CONTROL/mqtk/faults`) that make the broker misbehave on purpose towards chosen
//! clients, so that client code meets dropped acknowledgements, closed connections,
//! stalls and refusals in CI. `rule` parses the text, `matcher` says which packets a
//! rule is about, `action` what it does; `Faults` here is the broker's rule set, which
//! connection tasks ask about each packet, and its counters. The connection task
//! applies what fired (`conn/fixture.rs`). Must not do I/O.
//!
//! Repeatable randomness: a rule's Nth draw is a hash of the seed, the rule's number
//! and N, so a run with the same `--fault-seed` and the same packet order fires the
//! same faults, without a shared generator to lock.

pub mod action;
pub mod matcher;
pub mod rule;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

pub use action::Action;
pub use matcher::{Ctx, Dir};
pub use rule::{RuleError, RuleSpec};

/// Where a rule came from (SIGHUP replaces the file's rules only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--fault`.
    Flag,
    /// `--faults FILE`.
    File,
    /// A publish to `$CONTROL/mqtk/faults`.
    Control,
}

/// A rule in force, with its counters.
#[derive(Debug)]
pub struct Rule {
    /// Its number, unique for the broker's life, from 1 (logs, `$CONTROL` removal).
    pub id: u64,
    /// Text, match and action.
    pub spec: RuleSpec,
    /// Where it came from.
    pub source: Source,
    loaded: Instant,
    matched: AtomicU64,
    fired: AtomicU64,
}

/// The broker's fault rules and what they did.
#[derive(Debug)]
pub struct Faults {
    rules: RwLock<Arc<[Arc<Rule>]>>,
    seed: u64,
    next_id: AtomicU64,
    /// Whether `$CONTROL/mqtk/faults` may change the rules (`--allow-control`).
    pub allow_control: bool,
    fired: [AtomicU64; action::KINDS.len()],
    active: AtomicUsize,
}

impl Faults {
    /// A rule set with draws from `seed` (see the module comment).
    pub fn new(seed: u64, allow_control: bool) -> Faults {
        Faults {
            rules: RwLock::new(Arc::from(Vec::new())),
            seed,
            next_id: AtomicU64::new(1),
            allow_control,
            fired: Default::default(),
            active: AtomicUsize::new(0),
        }
    }

    /// The seed of the draws (logged at start so a run can be repeated).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Adds rules; returns their numbers.
    pub fn add(&self, specs: Vec<RuleSpec>, source: Source, now: Instant) -> Vec<u64> {
        let new: Vec<Arc<Rule>> = specs
            .into_iter()
            .map(|s| self.rule(s, source, now))
            .collect();
        let ids = new.iter().map(|r| r.id).collect();
        self.update(|rules| rules.extend(new));
        ids
    }

    /// Replaces every rule from `source` (SIGHUP: the file's).
    pub fn replace(&self, specs: Vec<RuleSpec>, source: Source, now: Instant) {
        let new: Vec<Arc<Rule>> = specs
            .into_iter()
            .map(|s| self.rule(s, source, now))
            .collect();
        self.update(|rules| {
            rules.retain(|r| r.source != source);
            rules.extend(new);
        });
    }

    /// Removes the rules whose number is `what` (`3`, `#3`), or whose text is `what`
    /// (as written, spaces aside); `all` removes every rule. Returns how many went.
    pub fn remove(&self, what: &str) -> usize {
        let what = what.trim();
        let id = what.trim_start_matches('#').parse::<u64>().ok();
        fn words(t: &str) -> Vec<&str> {
            t.split_whitespace().collect()
        }
        let mut removed = 0;
        self.update(|rules| {
            let before = rules.len();
            rules.retain(|r| {
                let hit = what == "all" || Some(r.id) == id || words(&r.spec.text) == words(what);
                !hit
            });
            removed = before - rules.len();
        });
        removed
    }

    /// The rules in force (a snapshot).
    pub fn rules(&self) -> Arc<[Arc<Rule>]> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The first rule that fires for this packet, counted; `None` when none does.
    pub fn check(&self, ctx: &Ctx<'_>, now: Instant) -> Option<Arc<Rule>> {
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
        let rule = rules.iter().find(|r| r.fires(ctx, now, self.seed))?.clone();
        drop(rules);
        self.fired[rule.spec.action.kind()].fetch_add(1, Ordering::Relaxed);
        Some(rule)
    }

    /// Faults fired so far, by action (in the order of `action::KINDS`).
    pub fn fired(&self) -> [u64; action::KINDS.len()] {
        std::array::from_fn(|i| self.fired[i].load(Ordering::Relaxed))
    }

    /// Rules in force.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    fn rule(&self, spec: RuleSpec, source: Source, now: Instant) -> Arc<Rule> {
        Arc::new(Rule {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            spec,
            source,
            loaded: now,
            matched: AtomicU64::new(0),
            fired: AtomicU64::new(0),
        })
    }

    fn update(&self, change: impl FnOnce(&mut Vec<Arc<Rule>>)) {
        let mut rules = self.rules.write().unwrap_or_else(|e| e.into_inner());
        let mut list = rules.to_vec();
        change(&mut list);
        self.active.store(list.len(), Ordering::Relaxed);
        *rules = Arc::from(list);
    }
}

impl Rule {
    fn fires(&self, ctx: &Ctx<'_>, now: Instant, seed: u64) -> bool {
        let m = &self.spec.matcher;
        if !m.selects(ctx) || !m.in_window(now.saturating_duration_since(self.loaded)) {
            return false;
        }
        let n = self.matched.fetch_add(1, Ordering::Relaxed) + 1;
        let draw = if m.p.is_some() {
            unit_draw(seed, self.id, n)
        } else {
            0.0
        };
        let fired = self.fired.load(Ordering::Relaxed);
        if !m.counts(n, fired, draw) {
            return false;
        }
        self.fired.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Times this rule fired.
    pub fn fired(&self) -> u64 {
        self.fired.load(Ordering::Relaxed)
    }
}

/// A number in [0, 1) from (seed, rule, n): splitmix64's finaliser.
fn unit_draw(seed: u64, rule: u64, n: u64) -> f64 {
    let mut z =
        seed ^ rule.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.wrapping_mul(0xD1B5_4A32_D192_ED69);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Packet, PubResponse};

    fn ctx(packet: &Packet) -> Ctx<'_> {
        Ctx {
            client_id: "dev-1",
            username: None,
            dir: Dir::In,
            packet,
        }
    }

    fn fired_pattern(seed: u64) -> Vec<bool> {
        let faults = Faults::new(seed, false);
        let now = Instant::now();
        faults.add(
            vec![rule::parse("p=0.3 ; drop").unwrap()],
            Source::Flag,
            now,
        );
        let ack = Packet::PubAck(PubResponse::new(1));
        (0..200)
            .map(|_| faults.check(&ctx(&ack), now).is_some())
            .collect()
    }

    #[test]
    fn the_same_seed_fires_the_same_faults() {
        let a = fired_pattern(7);
        assert_eq!(a, fired_pattern(7));
        assert_ne!(a, fired_pattern(8));
        let hits = a.iter().filter(|f| **f).count();
        assert!((30..90).contains(&hits), "{hits} of 200 at p=0.3");
    }

    #[test]
    fn nth_fires_once_and_counts_by_action() {
        let faults = Faults::new(1, false);
        let now = Instant::now();
        let specs = vec![rule::parse("type=puback nth=2 ; drop").unwrap()];
        assert_eq!(faults.add(specs, Source::Flag, now), vec![1]);
        let ack = Packet::PubAck(PubResponse::new(1));
        let fired: Vec<bool> = (0..4)
            .map(|_| faults.check(&ctx(&ack), now).is_some())
            .collect();
        assert_eq!(fired, [false, true, false, false]);
        assert!(faults.check(&ctx(&Packet::PingReq), now).is_none());
        assert_eq!(faults.fired()[Action::Drop.kind()], 1);
    }

    #[test]
    fn rules_are_removed_by_number_or_text_and_replaced_by_source() {
        let faults = Faults::new(1, true);
        let now = Instant::now();
        let parse = |t: &str| rule::parse(t).unwrap();
        faults.add(vec![parse("type=pingreq ; drop")], Source::Flag, now);
        faults.add(vec![parse("type=puback ; drop")], Source::File, now);
        faults.add(vec![parse("nth=3 ;  close")], Source::Control, now);
        assert_eq!(faults.active(), 3);
        assert_eq!(faults.remove("nth=3 ; close"), 1);
        faults.replace(vec![parse("type=pubrec ; drop")], Source::File, now);
        let texts: Vec<_> = faults.rules().iter().map(|r| r.spec.text.clone()).collect();
        assert_eq!(texts, ["type=pingreq ; drop", "type=pubrec ; drop"]);
        assert_eq!(faults.remove("#1"), 1);
        assert_eq!(faults.remove("all"), 1);
        assert_eq!(faults.active(), 0);
    }
}

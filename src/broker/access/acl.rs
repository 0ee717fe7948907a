//! Mosquitto's ACL file (`acl_file`): parse it and answer "may this client publish to /
//! receive from / subscribe to this topic?". Pure data and matching: no I/O beyond `load`,
//! no logging (parse warnings are returned for the caller to log).
//!
//! Semantics follow mosquitto 2.0 (mosquitto.conf(5) "acl_file", security_default.c):
//! - `topic [read|write|readwrite|deny] FILTER` lines before any `user` line belong to
//!   anonymous clients (no username); after `user NAME` they belong to that user. A client
//!   with a username and no `user` section gets only the patterns.
//! - `pattern [access] FILTER` applies to every client; a level that is exactly `%c` or
//!   `%u` stands for the client id / username. A pattern with `%u` never matches a client
//!   without a username. When patterns exist, a client whose id or username contains `+`
//!   or `#` is denied by them (it could otherwise widen its own patterns).
//! - Denials are checked before grants, first the client's own list, then the patterns; no
//!   matching grant means denied. A topic starting with `$` is only matched by a rule whose
//!   filter starts with `$`.
//!
//! Subscriptions: mosquitto 2.0 grants every SUBSCRIBE and filters on delivery. Issue 6 asks
//! for denied subscriptions to be refused, so `can_subscribe` refuses a filter that no
//! read grant overlaps, or that a deny rule covers entirely; delivery is still checked per
//! message with `can_read`, so `sub '#'` with read access to `a/#` gets only `a/…`.

use std::collections::HashMap;
use std::path::Path;

use crate::broker::file_error::{self, FileError};
use crate::protocol::topic::{self, filter_covers, filters_overlap};

/// Why an ACL file could not be used.
pub type AclError = FileError;

/// The access a rule grants, or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Explicitly denied, whatever a broader rule grants.
    Deny,
    /// Receive messages (subscribe and delivery).
    Read,
    /// Publish.
    Write,
    /// Both.
    ReadWrite,
}

impl Access {
    fn grants(self, want: Want) -> bool {
        matches!(
            (self, want),
            (Access::ReadWrite, _) | (Access::Read, Want::Read) | (Access::Write, Want::Write)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Read,
    Write,
}

/// One `topic` or `pattern` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    access: Access,
    filter: String,
}

/// A parsed ACL file.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    anonymous: Vec<Rule>,
    users: HashMap<String, Vec<Rule>>,
    patterns: Vec<Rule>,
}

/// Who is asking: the identity the ACL is evaluated for.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    /// The client identifier (after the broker assigned one, if it did).
    pub client_id: &'a str,
    /// The authenticated username, `None` for an anonymous client.
    pub username: Option<&'a str>,
}

impl Acl {
    /// Parse an ACL file's text. Returns the ACL and warnings (line-numbered) to log.
    pub fn parse(text: &str) -> Result<(Acl, Vec<String>), AclError> {
        let mut acl = Acl::default();
        let mut warnings = Vec::new();
        let mut user: Option<String> = None;
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let bad = |reason: String| FileError::line(line_no, reason);
            let line = raw.trim_end();
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim_start();
            if line.is_empty() {
                continue;
            }
            let (keyword, rest) = split_word(line);
            match keyword {
                "user" => {
                    let name = rest.trim();
                    if name.is_empty() {
                        return Err(bad("missing username after 'user'".into()));
                    }
                    user = Some(name.to_string());
                }
                "topic" | "pattern" => {
                    let (first, after) = split_word(rest);
                    if first.is_empty() {
                        return Err(bad(format!("empty topic after '{keyword}'")));
                    }
                    let after = after.trim();
                    let (access, filter) = if after.is_empty() {
                        (Access::ReadWrite, first)
                    } else {
                        let access = match first {
                            "read" => Access::Read,
                            "write" => Access::Write,
                            "readwrite" => Access::ReadWrite,
                            "deny" => Access::Deny,
                            other => {
                                return Err(bad(format!(
                                "invalid access type {other:?}: use read, write, readwrite or deny"
                            )))
                            }
                        };
                        (access, after)
                    };
                    validate_filter(filter).map_err(|reason| {
                        bad(format!("invalid topic filter {filter:?}: {reason}"))
                    })?;
                    let rule = Rule {
                        access,
                        filter: filter.to_string(),
                    };
                    if keyword == "pattern" {
                        if !filter.split('/').any(|l| l == "%c" || l == "%u") {
                            warnings.push(format!(
                                "line {line_no}: pattern {filter:?} has no level that is exactly %c or %u"
                            ));
                        }
                        push_rule(&mut acl.patterns, rule);
                    } else {
                        let list = match &user {
                            Some(name) => acl.users.entry(name.clone()).or_default(),
                            None => &mut acl.anonymous,
                        };
                        push_rule(list, rule);
                    }
                }
                other => {
                    return Err(bad(format!(
                        "unknown keyword {other:?}: expected user, topic or pattern"
                    )))
                }
            }
        }
        Ok((acl, warnings))
    }

    /// Read and parse an ACL file; errors name the file and line.
    pub fn load(path: &Path) -> Result<(Acl, Vec<String>), AclError> {
        file_error::load(path, "", Self::parse)
    }

    /// May this client publish to `topic` (mosquitto's MOSQ_ACL_WRITE)?
    pub fn can_publish(&self, who: Identity<'_>, topic: &str) -> bool {
        self.check(who, Want::Write, |filter| topic::matches(filter, topic))
    }

    /// May a message on `topic` be delivered to this client (MOSQ_ACL_READ)?
    pub fn can_read(&self, who: Identity<'_>, topic: &str) -> bool {
        self.check(who, Want::Read, |filter| topic::matches(filter, topic))
    }

    /// May this client subscribe to `filter`? See the module comment for why this is
    /// stricter than mosquitto 2.0, which grants every subscription.
    pub fn can_subscribe(&self, who: Identity<'_>, filter: &str) -> bool {
        let own = self.own_rules(who);
        for rule in own.iter().filter(|r| r.access == Access::Deny) {
            if filter_covers(&rule.filter, filter) {
                return false;
            }
        }
        for rule in own.iter().filter(|r| r.access != Access::Deny) {
            if rule.access.grants(Want::Read) && filters_overlap(&rule.filter, filter) {
                return true;
            }
        }
        let Some(patterns) = self.usable_patterns(who) else {
            return false;
        };
        for (rule, expanded) in &patterns {
            if rule.access == Access::Deny && filter_covers(expanded, filter) {
                return false;
            }
        }
        patterns.iter().any(|(rule, expanded)| {
            rule.access.grants(Want::Read) && filters_overlap(expanded, filter)
        })
    }

    fn own_rules(&self, who: Identity<'_>) -> &[Rule] {
        match who.username {
            Some(name) => self.users.get(name).map(Vec::as_slice).unwrap_or(&[]),
            None => &self.anonymous,
        }
    }

    /// Patterns with `%c`/`%u` substituted, or `None` when the identity is dangerous.
    fn usable_patterns(&self, who: Identity<'_>) -> Option<Vec<(&Rule, String)>> {
        if self.patterns.is_empty() {
            return Some(Vec::new());
        }
        let dangerous = |s: &str| s.contains('+') || s.contains('#');
        if who.username.is_some_and(dangerous) || dangerous(who.client_id) {
            return None;
        }
        Some(
            self.patterns
                .iter()
                .filter_map(|rule| {
                    let levels: Option<Vec<&str>> = rule
                        .filter
                        .split('/')
                        .map(|level| match level {
                            "%c" => Some(who.client_id),
                            "%u" => who.username,
                            other => Some(other),
                        })
                        .collect();
                    levels.map(|l| (rule, l.join("/")))
                })
                .collect(),
        )
    }

    fn check(&self, who: Identity<'_>, want: Want, matches: impl Fn(&str) -> bool) -> bool {
        // Deny rules sit first in each list (as mosquitto's add__acl puts them), so the
        // first matching rule that denies or grants decides.
        for rule in self.own_rules(who) {
            if matches(&rule.filter) {
                if rule.access == Access::Deny {
                    return false;
                }
                if rule.access.grants(want) {
                    return true;
                }
            }
        }
        let Some(patterns) = self.usable_patterns(who) else {
            return false;
        };
        for (rule, expanded) in patterns {
            if matches(&expanded) {
                if rule.access == Access::Deny {
                    return false;
                }
                if rule.access.grants(want) {
                    return true;
                }
            }
        }
        false
    }
}

/// Deny rules go in front of the list, grants at the end (mosquitto's add__acl).
fn push_rule(list: &mut Vec<Rule>, rule: Rule) {
    if rule.access == Access::Deny {
        let at = list.iter().take_while(|r| r.access == Access::Deny).count();
        list.insert(at, rule);
    } else {
        list.push(rule);
    }
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

/// A subscription filter as MQTT 3.1.1 §4.7.1 allows it.
fn validate_filter(filter: &str) -> Result<(), &'static str> {
    if filter.is_empty() {
        return Err("it is empty");
    }
    if filter.contains('\0') {
        return Err("it contains a NUL character");
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err("'#' must be a whole level and the last one");
        }
        if level.contains('+') && *level != "+" {
            return Err("'+' must be a whole level");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(id: &str) -> Identity<'_> {
        Identity {
            client_id: id,
            username: None,
        }
    }
    fn user<'a>(id: &'a str, name: &'a str) -> Identity<'a> {
        Identity {
            client_id: id,
            username: Some(name),
        }
    }
    fn acl(text: &str) -> Acl {
        Acl::parse(text).unwrap().0
    }

    // The example of mosquitto's aclfile.example, shipped with mosquitto.
    const EXAMPLE: &str = "\
# This affects access control for clients with no username.
topic read $SYS/#

# This only affects clients with username \"roger\".
user roger
topic foo/bar

# This affects all clients.
pattern write $SYS/broker/connection/%c/state
";

    #[test]
    fn mosquitto_example_file_grants_what_its_comments_say() {
        let acl = acl(EXAMPLE);
        assert!(acl.can_read(anon("c"), "$SYS/broker/uptime"));
        assert!(!acl.can_publish(anon("c"), "$SYS/broker/uptime"));
        assert!(!acl.can_read(user("c", "roger"), "$SYS/broker/uptime"));
        assert!(acl.can_publish(user("c", "roger"), "foo/bar"));
        assert!(acl.can_read(user("c", "roger"), "foo/bar"));
        assert!(!acl.can_publish(anon("c"), "foo/bar"));
        assert!(acl.can_publish(user("c1", "roger"), "$SYS/broker/connection/c1/state"));
        assert!(acl.can_publish(anon("c1"), "$SYS/broker/connection/c1/state"));
        assert!(!acl.can_publish(anon("c1"), "$SYS/broker/connection/c2/state"));
    }

    #[test]
    fn access_defaults_to_readwrite_and_each_keyword_grants_its_direction() {
        let acl = acl("topic a\ntopic read r/#\ntopic write w/#\ntopic readwrite rw/+\n");
        let c = anon("c");
        assert!(acl.can_publish(c, "a") && acl.can_read(c, "a"));
        assert!(acl.can_read(c, "r/x") && !acl.can_publish(c, "r/x"));
        assert!(acl.can_publish(c, "w/x/y") && !acl.can_read(c, "w/x"));
        assert!(acl.can_publish(c, "rw/1") && !acl.can_publish(c, "rw/1/2"));
        assert!(!acl.can_publish(c, "other"), "no grant means denied");
    }

    #[test]
    fn deny_wins_over_a_broader_grant_wherever_it_is_written() {
        let acl = acl("user u\ntopic readwrite a/#\ntopic deny a/secret\n");
        let c = user("c", "u");
        assert!(acl.can_publish(c, "a/open"));
        assert!(!acl.can_publish(c, "a/secret"));
        assert!(!acl.can_read(c, "a/secret"));
    }

    #[test]
    fn users_without_a_section_get_only_patterns_and_anonymous_rules_stay_anonymous() {
        let acl = acl("topic anon/#\nuser alice\ntopic alice/#\npattern readwrite home/%u/#\n");
        assert!(acl.can_publish(anon("c"), "anon/x"));
        assert!(!acl.can_publish(user("c", "alice"), "anon/x"));
        assert!(acl.can_publish(user("c", "alice"), "alice/x"));
        assert!(!acl.can_publish(user("c", "bob"), "alice/x"));
        assert!(acl.can_publish(user("c", "bob"), "home/bob/t"));
        assert!(!acl.can_publish(user("c", "bob"), "home/alice/t"));
        assert!(
            !acl.can_publish(anon("c"), "home/%u/t"),
            "%u never matches a client without a username"
        );
    }

    #[test]
    fn patterns_substitute_client_id_only_as_a_whole_level() {
        let acl = acl("pattern read devices/%c/#\npattern write x%c/y\n");
        assert!(acl.can_read(anon("dev1"), "devices/dev1/temp"));
        assert!(!acl.can_read(anon("dev1"), "devices/dev2/temp"));
        assert!(!acl.can_publish(anon("d"), "xd/y"));
        assert!(
            acl.can_publish(anon("d"), "x%c/y"),
            "x%c is a literal level"
        );
    }

    #[test]
    fn wildcards_in_identity_are_denied_when_patterns_exist() {
        let acl = acl("pattern readwrite devices/%c\n");
        assert!(!acl.can_publish(anon("+"), "devices/x"));
        assert!(!acl.can_publish(anon("#"), "devices/#"));
        assert!(!acl.can_publish(user("c", "a+b"), "devices/c"));
    }

    #[test]
    fn dollar_topics_need_a_rule_starting_with_dollar() {
        let acl = acl("topic #\ntopic +/x\n");
        assert!(acl.can_read(anon("c"), "a/b"));
        assert!(!acl.can_read(anon("c"), "$SYS/x"));
        assert!(!acl.can_publish(anon("c"), "$share/x"));
    }

    #[test]
    fn subscriptions_are_refused_when_no_read_grant_overlaps() {
        let acl = acl("topic read a/#\ntopic write w/#\ntopic deny a/secret/#\n");
        let c = anon("c");
        assert!(acl.can_subscribe(c, "a/b"));
        assert!(acl.can_subscribe(c, "#"), "overlaps a/#, delivery filters");
        assert!(acl.can_subscribe(c, "+/b"));
        assert!(!acl.can_subscribe(c, "w/x"), "write-only");
        assert!(!acl.can_subscribe(c, "b/#"));
        assert!(!acl.can_subscribe(c, "a/secret/x"), "covered by the deny");
        assert!(!acl.can_subscribe(c, "a/secret/#"));
        assert!(acl.can_subscribe(c, "a/+/x"), "not fully denied");
        assert!(!acl.can_read(c, "a/secret/x"), "but delivery is filtered");
        assert!(!acl.can_subscribe(c, "$SYS/#"));
    }

    #[test]
    fn pattern_subscriptions_follow_the_substituted_filter() {
        let acl = acl("pattern read cmd/%c/#\n");
        assert!(acl.can_subscribe(anon("d1"), "cmd/d1/#"));
        assert!(!acl.can_subscribe(anon("d1"), "cmd/d2/#"));
        assert!(!acl.can_subscribe(anon("d+"), "cmd/d+/#"));
    }

    #[test]
    fn bad_lines_are_errors_naming_the_line_and_patterns_without_substitution_warn() {
        for (text, needle) in [
            ("topic\n", "empty topic"),
            ("topic rw a/b\n", "invalid access type"),
            ("topic a/#/b\n", "invalid topic filter"),
            ("topic read a+/b\n", "invalid topic filter"),
            ("user\n", "missing username"),
            ("users bob\n", "unknown keyword"),
        ] {
            let err = Acl::parse(&format!("# ok\n{text}"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("line 2") && err.contains(needle),
                "{text:?}: {err}"
            );
        }
        let (_, warnings) = Acl::parse("pattern read a/b\n").unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("line 1"));
    }

    #[test]
    fn usernames_may_contain_spaces_and_topics_after_access_keep_spaces() {
        let acl = acl("user John Smith\ntopic read room 1/temp\n");
        assert!(acl.can_read(user("c", "John Smith"), "room 1/temp"));
    }

    #[test]
    fn empty_acl_denies_everything() {
        let acl = acl("# nothing\n\n");
        assert!(!acl.can_publish(anon("c"), "a"));
        assert!(!acl.can_subscribe(anon("c"), "#"));
    }
}

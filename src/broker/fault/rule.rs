//! The text of a fault rule: `MATCH... ; ACTION`, e.g.
//! `client=dev-* dir=in type=puback nth=2 ; drop`, parsed into a `Match` and an
//! `Action` and checked for what cannot work (a type the broker never receives, an
//! action for CONNECT on another packet). A rules file is one rule a line, `#` comments.
//! Mistakes are a `RuleError` naming the rule and the word. Must not do I/O.

use super::action::{self, Action};
use super::matcher::{Dir, Match, FROM_BROKER, FROM_CLIENT, WITH_TOPIC};
use crate::protocol::topic;

/// The match keys, for messages.
const KEYS: &str = "client, user, topic, type, dir, nth, count, p, after, for";

/// A rule that cannot be used: which rule, which word, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{where_}fault rule `{rule}`: {why}")]
pub struct RuleError {
    /// `FILE:LINE: ` for a rules file, empty otherwise.
    pub where_: String,
    /// The rule as written.
    pub rule: String,
    /// What is wrong, naming the word.
    pub why: String,
}

/// A parsed rule: what it matches and what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    /// The rule as written (trimmed), for logs and `$CONTROL` removal.
    pub text: String,
    /// The match.
    pub matcher: Match,
    /// The action.
    pub action: Action,
}

/// Parses one rule.
pub fn parse(text: &str) -> Result<RuleSpec, RuleError> {
    let text = text.trim();
    let err = |why: String| RuleError {
        where_: String::new(),
        rule: text.to_string(),
        why,
    };
    let Some((keys, action_words)) = text.split_once(';') else {
        return Err(err(
            "no `;` between the match and the action (e.g. `type=puback dir=in ; drop`)".into(),
        ));
    };
    let mut words = action_words.split_whitespace();
    let word = words
        .next()
        .ok_or_else(|| err("no action after `;` (e.g. `; drop`)".into()))?;
    if let Some(extra) = words.next() {
        return Err(err(format!("`{extra}`: one action per rule")));
    }
    let (action, implied) = Action::parse(word).map_err(err)?;
    let mut matcher = Match::default();
    for key in keys.split_whitespace() {
        set_key(&mut matcher, key).map_err(err)?;
    }
    apply_implied(&mut matcher, word, implied).map_err(err)?;
    check(&matcher, word, &action).map_err(err)?;
    Ok(RuleSpec {
        text: text.to_string(),
        matcher,
        action,
    })
}

/// Parses a rules file: one rule a line; blank lines and `#` comments are skipped.
/// `name` is how errors name the file.
pub fn parse_file(name: &str, contents: &str) -> Result<Vec<RuleSpec>, RuleError> {
    let mut rules = Vec::new();
    for (i, line) in contents.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let rule = parse(line).map_err(|e| RuleError {
            where_: format!("{name}:{}: ", i + 1),
            ..e
        })?;
        rules.push(rule);
    }
    Ok(rules)
}

fn set_key(m: &mut Match, word: &str) -> Result<(), String> {
    let Some((key, value)) = word.split_once('=') else {
        return Err(format!("`{word}`: a match is KEY=VALUE (keys: {KEYS})"));
    };
    if value.is_empty() {
        return Err(format!("`{word}`: `{key}` needs a value"));
    }
    let twice = || format!("`{word}`: `{key}` is given twice");
    let count = |v: &str| {
        v.parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{word}`: `{key}` is a count from 1"))
    };
    macro_rules! once {
        ($field:expr, $value:expr) => {{
            if $field.is_some() {
                return Err(twice());
            }
            $field = Some($value);
        }};
    }
    match key {
        "client" => once!(m.client, value.to_string()),
        "user" => once!(m.user, value.to_string()),
        "topic" => {
            topic::validate_topic_filter(value)
                .map_err(|e| format!("`{word}`: not a topic filter ({e})"))?;
            once!(m.topic, value.to_string())
        }
        "type" => {
            let types = value
                .split(',')
                .map(|t| packet_type(t).ok_or_else(|| unknown_type(word, t)))
                .collect::<Result<Vec<_>, _>>()?;
            once!(m.types, types)
        }
        "dir" => {
            let dir = match value {
                "in" => Dir::In,
                "out" => Dir::Out,
                _ => {
                    return Err(format!(
                        "`{word}`: `dir` is `in` (from the client) or `out`"
                    ))
                }
            };
            once!(m.dir, dir)
        }
        "nth" => once!(m.nth, count(value)?),
        "count" => once!(m.count, count(value)?),
        "p" => {
            let p = value
                .parse::<f64>()
                .ok()
                .filter(|p| *p > 0.0 && *p <= 1.0)
                .ok_or_else(|| format!("`{word}`: `p` is a probability, 0 < p <= 1 (e.g. 0.1)"))?;
            once!(m.p, p)
        }
        "after" => once!(
            m.after,
            action::duration(value).map_err(|e| format!("`{word}`: {e}"))?
        ),
        "for" => once!(
            m.window,
            action::duration(value).map_err(|e| format!("`{word}`: {e}"))?
        ),
        _ => return Err(format!("`{word}`: unknown key `{key}` (keys: {KEYS})")),
    }
    Ok(())
}

/// `puback` → `"PUBACK"`, as `Packet::name` spells it.
fn packet_type(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    FROM_CLIENT
        .iter()
        .chain(FROM_BROKER.iter())
        .find(|t| **t == upper)
        .copied()
}

fn unknown_type(word: &str, t: &str) -> String {
    format!(
        "`{word}`: unknown packet type `{t}` (connect, connack, publish, puback, pubrec, \
         pubrel, pubcomp, subscribe, suback, unsubscribe, unsuback, pingreq, pingresp, \
         disconnect, auth)"
    )
}

/// `duplicate`, `connack=...`, `no-pingresp` fix the type and direction: given keys
/// must agree, missing ones are filled in.
fn apply_implied(m: &mut Match, word: &str, implied: action::Implied) -> Result<(), String> {
    if let Some(only) = implied.types {
        match &m.types {
            Some(types) if types.iter().any(|t| !only.contains(t)) => {
                return Err(format!(
                    "`{word}` acts on {} only, not on {}",
                    lower(only),
                    lower(types)
                ))
            }
            Some(_) => {}
            None => m.types = Some(only.to_vec()),
        }
    }
    if let Some(dir) = implied.dir {
        match m.dir {
            Some(d) if d != dir => {
                return Err(format!(
                    "`{word}` acts on packets going {} only, not `dir={}`",
                    dir.name(),
                    d.name()
                ))
            }
            _ => m.dir = Some(dir),
        }
    }
    Ok(())
}

fn lower(types: &[&str]) -> String {
    types
        .iter()
        .map(|t| t.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What cannot work: types that never go the given way, `topic=` on packets without
/// a topic, an action CONNECT cannot take (it comes before the session).
fn check(m: &Match, word: &str, action: &Action) -> Result<(), String> {
    if let (Some(types), Some(dir)) = (&m.types, m.dir) {
        let possible: &[&str] = match dir {
            Dir::In => &FROM_CLIENT,
            Dir::Out => &FROM_BROKER,
        };
        if let Some(t) = types.iter().find(|t| !possible.contains(t)) {
            let who = if dir == Dir::In { "receives" } else { "sends" };
            return Err(format!(
                "`dir={}`: the broker never {who} {}",
                dir.name(),
                t.to_ascii_lowercase()
            ));
        }
    }
    if let (Some(_), Some(types)) = (&m.topic, &m.types) {
        if let Some(t) = types.iter().find(|t| !WITH_TOPIC.contains(t)) {
            return Err(format!(
                "`topic=`: a {} has no topic (topic= matches publish, subscribe, unsubscribe)",
                t.to_ascii_lowercase()
            ));
        }
    }
    let on_connect = m.types.as_ref().is_some_and(|t| t.contains(&"CONNECT"));
    if on_connect && !action.works_on_connect() {
        return Err(format!(
            "`{word}` cannot act on a CONNECT (there: connack=CODE, close, drop, delay=TIME)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ReasonCode;
    use std::time::Duration;

    #[test]
    fn the_example_rule_parses() {
        let rule = parse("client=dev-* dir=in type=puback nth=2 ; drop").unwrap();
        assert_eq!(rule.action, Action::Drop);
        assert_eq!(
            rule.matcher,
            Match {
                client: Some("dev-*".into()),
                dir: Some(Dir::In),
                types: Some(vec!["PUBACK"]),
                nth: Some(2),
                ..Match::default()
            }
        );
        let rule = parse("  topic=a/# p=0.25 after=5s for=10s ;  delay=500ms ").unwrap();
        assert_eq!(
            rule.text,
            "topic=a/# p=0.25 after=5s for=10s ;  delay=500ms"
        );
        assert_eq!(rule.matcher.p, Some(0.25));
        assert_eq!(rule.matcher.window, Some(Duration::from_secs(10)));
        assert_eq!(parse("; close").unwrap().matcher, Match::default());
    }

    #[test]
    fn actions_fill_in_their_type_and_direction() {
        let rule = parse("client=bad-* ; connack=0x87").unwrap();
        assert_eq!(rule.action, Action::ConnAck(ReasonCode::NotAuthorized));
        assert_eq!(rule.matcher.types, Some(vec!["CONNECT"]));
        assert_eq!(rule.matcher.dir, Some(Dir::In));
        let rule = parse("topic=t ; duplicate").unwrap();
        assert_eq!(rule.matcher.dir, Some(Dir::Out));
        let rule = parse("count=1 ; no-pingresp").unwrap();
        assert_eq!(rule.matcher.types, Some(vec!["PINGRESP"]));
    }

    #[test]
    fn mistakes_name_the_rule_and_the_word() {
        let err = |text: &str| parse(text).unwrap_err().to_string();
        assert_eq!(
            err("tpye=puback ; drop"),
            "fault rule `tpye=puback ; drop`: `tpye=puback`: unknown key `tpye` \
             (keys: client, user, topic, type, dir, nth, count, p, after, for)"
        );
        assert!(err("type=puback drop").contains("no `;`"));
        assert!(err("type=puback ;").contains("no action"));
        assert!(err("type=puback ; drop close").contains("`close`: one action per rule"));
        assert!(err("type=pubak ; drop").contains("unknown packet type `pubak`"));
        assert!(err("dir=in type=suback ; drop").contains("never receives suback"));
        assert!(err("dir=in ; duplicate").contains("not `dir=in`"));
        assert!(err("type=puback ; connack=0x87").contains("connect only, not on puback"));
        assert!(err("type=connect ; duplicate").contains("publish only"));
        assert!(err("type=connect ; stall=1s").contains("cannot act on a CONNECT"));
        assert!(err("type=puback topic=a ; drop").contains("a puback has no topic"));
        assert!(err("p=2 ; drop").contains("probability"));
        assert!(err("nth=0 ; drop").contains("count from 1"));
        assert!(err("nth=1 nth=2 ; drop").contains("given twice"));
        assert!(err("topic=a/#/b ; drop").contains("not a topic filter"));
        assert!(err("after=5 ; drop").contains("unit"));
    }

    #[test]
    fn a_file_skips_comments_and_names_the_line() {
        let rules = parse_file("f", "# faults\n\ntype=pingresp ; drop\n").unwrap();
        assert_eq!(rules.len(), 1);
        let err = parse_file("faults.txt", "; close\nbogus\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("faults.txt:2: fault rule `bogus`"),
            "{err}"
        );
    }
}

//! Topic names and filters: validation (MQTT 5.0 §4.7), matching a name against a
//! filter with `+` and `#` (and the `$` rule of §4.7.2), comparing two filters (for
//! access rules), and `$share/GROUP/FILTER`.
//! Must not keep subscriptions: the broker's trie does that.

use super::codec::MAX_FIELD_LEN;
use super::error::ProtocolError;

/// The prefix of a shared subscription's filter (MQTT 5.0 §4.8.2).
pub const SHARE_PREFIX: &str = "$share/";

/// Checks a topic name for PUBLISH: non-empty, no wildcards, no U+0000, ≤ 65535 bytes.
pub fn validate_topic_name(topic: &str) -> Result<(), ProtocolError> {
    if topic.is_empty() {
        // MQTT 5.0 §4.7.3 [MQTT-4.7.3-1]: at least one character long.
        return Err(ProtocolError::TopicNameInvalid("topic name is empty"));
    }
    if topic.len() > MAX_FIELD_LEN {
        return Err(ProtocolError::TopicNameInvalid(
            "topic name is longer than 65,535 bytes",
        ));
    }
    if topic.contains(['+', '#']) {
        // [MQTT-3.3.2-2]: the Topic Name in PUBLISH must not contain wildcards.
        return Err(ProtocolError::TopicNameInvalid(
            "topic name contains a wildcard (+ or #)",
        ));
    }
    if topic.contains('\0') {
        // [MQTT-4.7.3-2]: topic names and filters must not include U+0000.
        return Err(ProtocolError::TopicNameInvalid(
            "topic name contains U+0000",
        ));
    }
    Ok(())
}

/// Checks a topic filter for SUBSCRIBE/UNSUBSCRIBE (shared filters included).
pub fn validate_topic_filter(filter: &str) -> Result<(), ProtocolError> {
    if filter.len() > MAX_FIELD_LEN {
        return Err(ProtocolError::TopicFilterInvalid(
            "topic filter is longer than 65,535 bytes",
        ));
    }
    if let Some(rest) = filter.strip_prefix(SHARE_PREFIX) {
        // MQTT 5.0 §4.8.2: $share/{ShareName}/{filter}; the ShareName is at least one
        // character and contains no "/", "+" or "#" [MQTT-4.8.2-1, MQTT-4.8.2-2].
        let Some((group, inner)) = rest.split_once('/') else {
            return Err(ProtocolError::TopicFilterInvalid(
                "shared subscription needs $share/GROUP/FILTER",
            ));
        };
        if group.is_empty() {
            return Err(ProtocolError::TopicFilterInvalid(
                "shared subscription group is empty",
            ));
        }
        if group.contains(['+', '#']) {
            return Err(ProtocolError::TopicFilterInvalid(
                "shared subscription group contains a wildcard (+ or #)",
            ));
        }
        return validate_plain_filter(inner);
    }
    validate_plain_filter(filter)
}

fn validate_plain_filter(filter: &str) -> Result<(), ProtocolError> {
    if filter.is_empty() {
        // MQTT 5.0 §4.7.3 [MQTT-4.7.3-1].
        return Err(ProtocolError::TopicFilterInvalid("topic filter is empty"));
    }
    if filter.contains('\0') {
        return Err(ProtocolError::TopicFilterInvalid(
            "topic filter contains U+0000",
        ));
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            // §4.7.1.2 [MQTT-4.7.1-1]: "#" must be a whole level and the last one.
            return Err(ProtocolError::TopicFilterInvalid(
                "# must be the last level of a topic filter and stand alone in it",
            ));
        }
        if level.contains('+') && level != "+" {
            // §4.7.1.3 [MQTT-4.7.1-2]: "+" must occupy an entire level.
            return Err(ProtocolError::TopicFilterInvalid(
                "+ must occupy an entire level of a topic filter",
            ));
        }
    }
    Ok(())
}

/// True when `topic` (a valid name) matches `filter` (a valid, non-shared filter).
///
/// `#` matches its parent level and any number of child levels, `+` exactly one level
/// (§4.7.1); filters starting with a wildcard do not match names starting with `$`
/// (§4.7.2 [MQTT-4.7.2-1]).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A `$share/GROUP/FILTER` split into its group and filter; `None` for other filters.
pub fn parse_shared(filter: &str) -> Option<(&str, &str)> {
    filter.strip_prefix(SHARE_PREFIX)?.split_once('/')
}

/// A subscription filter as written → (share group, filter to match): `parse_shared`
/// for callers that treat both kinds alike.
pub fn split_shared(filter: &str) -> (Option<&str>, &str) {
    match parse_shared(filter) {
        Some((group, inner)) => (Some(group), inner),
        None => (None, filter),
    }
}

/// The `$` rule when comparing two filters: one (`other`) starting with `$` only meets
/// a filter (`rule`) that starts with `$` too (§4.7.2).
fn dollar_ok(rule: &str, other: &str) -> bool {
    !other.starts_with('$') || rule.starts_with('$')
}

/// True when some topic name could match both `rule` and `sub` (valid, non-shared
/// filters): each level equal, or a `+` on either side, until a `#` on either side.
pub fn filters_overlap(rule: &str, sub: &str) -> bool {
    if !dollar_ok(rule, sub) {
        return false;
    }
    let mut a = rule.split('/');
    let mut b = sub.split('/');
    loop {
        match (a.next(), b.next()) {
            (Some("#"), _) | (_, Some("#")) => return true,
            (Some("+"), Some(_)) | (Some(_), Some("+")) => {}
            (Some(x), Some(y)) if x == y => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// True when every topic name matching `sub` also matches `rule` (valid, non-shared
/// filters).
pub fn filter_covers(rule: &str, sub: &str) -> bool {
    if !dollar_ok(rule, sub) {
        return false;
    }
    let mut a = rule.split('/');
    let mut b = sub.split('/');
    loop {
        match (a.next(), b.next()) {
            (Some("#"), _) => return true,
            (_, Some("#")) => return false,
            (Some("+"), Some(_)) => {}
            (Some(x), Some(y)) if x == y && y != "+" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_level_wildcard_examples_of_the_spec() {
        // MQTT 5.0 §4.7.1.2.
        for topic in [
            "sport/tennis/player1",
            "sport/tennis/player1/ranking",
            "sport/tennis/player1/score/wimbledon",
        ] {
            assert!(matches("sport/tennis/player1/#", topic), "{topic}");
        }
        assert!(matches("sport/#", "sport"));
        assert!(validate_topic_filter("#").is_ok());
        assert!(validate_topic_filter("sport/tennis/#").is_ok());
        assert!(validate_topic_filter("sport/tennis#").is_err());
        assert!(validate_topic_filter("sport/tennis/#/ranking").is_err());
    }

    #[test]
    fn single_level_wildcard_examples_of_the_spec() {
        // MQTT 5.0 §4.7.1.3.
        assert!(matches("sport/tennis/+", "sport/tennis/player1"));
        assert!(matches("sport/tennis/+", "sport/tennis/player2"));
        assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("sport/+", "sport/"));
        for filter in ["+", "+/tennis/#", "sport/+/player1"] {
            assert!(validate_topic_filter(filter).is_ok(), "{filter}");
        }
        assert!(validate_topic_filter("sport+").is_err());
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
    }

    #[test]
    fn dollar_topics_are_not_matched_by_leading_wildcards() {
        // MQTT 5.0 §4.7.2.
        assert!(!matches("#", "$SYS/broker/uptime"));
        assert!(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/#", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
    }

    #[test]
    fn topic_names_with_wildcards_or_nul_or_empty_are_invalid() {
        assert!(validate_topic_name("a/b").is_ok());
        assert!(validate_topic_name("/").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("a/+").is_err());
        assert!(validate_topic_name("a/#").is_err());
        assert!(validate_topic_name("a\0b").is_err());
        assert!(validate_topic_name(&"a".repeat(65_536)).is_err());
        assert_eq!(
            validate_topic_name("a/+").unwrap_err().reason_code(),
            super::super::ReasonCode::TopicNameInvalid
        );
    }

    #[test]
    fn shared_filters_are_parsed_and_checked() {
        assert_eq!(parse_shared("$share/g/a/b"), Some(("g", "a/b")));
        assert_eq!(parse_shared("$share/g/#"), Some(("g", "#")));
        assert_eq!(parse_shared("a/b"), None);
        assert_eq!(parse_shared("$shared/g/a"), None);
        assert!(validate_topic_filter("$share/g/a/+").is_ok());
        assert!(validate_topic_filter("$share/g").is_err());
        assert!(validate_topic_filter("$share//a").is_err());
        assert!(validate_topic_filter("$share/g/").is_err());
        assert!(validate_topic_filter("$share/g+/a").is_err());
        assert!(validate_topic_filter("$share/g/a#").is_err());
        assert!(validate_topic_filter("").is_err());
        assert!(validate_topic_filter("a\0").is_err());
    }

    #[test]
    fn filter_relations() {
        assert!(matches("a/+/c", "a/b/c"));
        assert!(matches("a/#", "a"));
        assert!(!matches("a/+", "a"));
        assert!(filters_overlap("a/+", "+/b"));
        assert!(!filters_overlap("a/b", "a/b/c"));
        assert!(filters_overlap("a/b/#", "a/b"));
        assert!(filter_covers("a/#", "a/+/c"));
        assert!(!filter_covers("a/+", "a/#"));
        assert!(!filter_covers("a/b", "a/+"));
        assert!(filter_covers("a/+", "a/+"));
    }

    #[test]
    fn shared_filters_split_into_group_and_filter() {
        assert_eq!(split_shared("$share/g/a/b"), (Some("g"), "a/b"));
        assert_eq!(split_shared("a/b"), (None, "a/b"));
    }
}

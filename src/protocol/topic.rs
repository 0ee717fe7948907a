//! Topic names and filters: validation (MQTT 5.0 §4.7), matching a name against a
//! filter with `+` and `#` (and the `$` rule of §4.7.2), and `$share/GROUP/FILTER`.
//! Must not keep subscriptions: the broker's trie does that.

use super::error::ProtocolError;

/// Checks a topic name for PUBLISH: non-empty, no wildcards, no U+0000, ≤ 65535 bytes.
pub fn validate_topic_name(topic: &str) -> Result<(), ProtocolError> {
    let _ = topic;
    todo!("codec helper")
}

/// Checks a topic filter for SUBSCRIBE/UNSUBSCRIBE (shared filters included).
pub fn validate_topic_filter(filter: &str) -> Result<(), ProtocolError> {
    let _ = filter;
    todo!("codec helper")
}

/// True when `topic` (a valid name) matches `filter` (a valid, non-shared filter).
pub fn matches(filter: &str, topic: &str) -> bool {
    let _ = (filter, topic);
    todo!("codec helper")
}

/// A `$share/GROUP/FILTER` split into its group and filter; `None` for other filters.
pub fn parse_shared(filter: &str) -> Option<(&str, &str)> {
    let _ = filter;
    todo!("codec helper")
}

//! Which codec decodes a topic's payloads: `sub --decode CODEC` for every topic and
//! `--decode 'FILTER=CODEC'` for the topics a filter matches (repeatable). The filter
//! match is `protocol::topic::matches`; this file must not match topics itself.

use super::{Codec, Decoded, Schemas};
use crate::protocol::topic;

/// The `--decode` rules in the order given, and the default for the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeRules {
    by_filter: Vec<(String, Codec)>,
    default: Option<Codec>,
}

impl DecodeRules {
    /// Builds the rules from `--decode` values, `CODEC` or `FILTER=CODEC`. The first
    /// filter that matches a topic wins; a plain `CODEC` (at most one) covers the rest.
    pub fn parse<S: AsRef<str>>(specs: &[S], schemas: &Schemas) -> Result<DecodeRules, String> {
        let mut rules = DecodeRules::default();
        for spec in specs {
            let spec = spec.as_ref();
            // A topic may hold '=' but no codec name does: split at the last one.
            match spec.rsplit_once('=') {
                None => {
                    let codec = Codec::parse(spec, schemas)?;
                    if let Some(first) = rules.default.replace(codec.clone()) {
                        return Err(format!(
                            "two codecs for all topics ({first} and {codec}): give one, \
                             and FILTER=CODEC for the others"
                        ));
                    }
                }
                Some((filter, name)) => {
                    let codec = Codec::parse(name, schemas)?;
                    if filter.starts_with("$share/") {
                        return Err(format!(
                            "'{filter}': a message's topic never starts with $share/; \
                             give the filter without $share/GROUP/"
                        ));
                    }
                    topic::validate_topic_filter(filter).map_err(|e| format!("'{filter}': {e}"))?;
                    rules.by_filter.push((filter.to_string(), codec));
                }
            }
        }
        Ok(rules)
    }

    /// True when no payload is decoded.
    pub fn is_empty(&self) -> bool {
        self.by_filter.is_empty() && self.default.is_none()
    }

    /// The codec for messages on `topic`, if any.
    pub fn codec_for(&self, topic: &str) -> Option<&Codec> {
        self.by_filter
            .iter()
            .find(|(filter, _)| topic::matches(filter, topic))
            .map(|(_, codec)| codec)
            .or(self.default.as_ref())
    }

    /// `payload` on `topic` decoded by the codec for the topic: `None` when no rule
    /// covers it, the decoder's message when it does not decode.
    pub fn decode(&self, topic: &str, payload: &[u8]) -> Option<Result<Decoded, String>> {
        self.codec_for(topic)
            .map(|codec| codec.decode_on(topic, payload).map_err(|e| e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(specs: &[&str]) -> Result<DecodeRules, String> {
        DecodeRules::parse(specs, &Schemas::default())
    }

    #[test]
    fn the_first_matching_filter_wins_and_the_default_covers_the_rest() {
        let rules = parse(&["a/#=cbor", "auto", "a/b=msgpack", "x=y/+=hex"]).unwrap();
        assert_eq!(rules.codec_for("a/b"), Some(&Codec::Cbor));
        assert_eq!(rules.codec_for("x=y/1"), Some(&Codec::Hex));
        assert_eq!(rules.codec_for("other"), Some(&Codec::Auto));
        let only = parse(&["s/+=json"]).unwrap();
        assert_eq!(only.codec_for("t"), None);
        assert!(DecodeRules::parse::<&str>(&[], &Schemas::default())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn bad_rules_say_what_to_fix() {
        let err = parse(&["hex", "cbor"]).unwrap_err();
        assert!(err.contains("two codecs for all topics"), "{err}");
        assert!(parse(&["a/#=yaml"])
            .unwrap_err()
            .contains("unknown codec 'yaml'"));
        assert!(parse(&["a/#/b=hex"]).unwrap_err().starts_with("'a/#/b': "));
        assert!(parse(&["$share/g/a=hex"])
            .unwrap_err()
            .contains("without $share"));
    }
}

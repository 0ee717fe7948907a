//! The checked `mqtk pub` flags (`Plan`) and what a line of stdin becomes under them:
//! a payload (-l), a topic and payload (--topic-per-line) or a whole message read from
//! a `record::Record` (--jsonl), with --encode, the topic rewrites and the flags'
//! defaults applied. Must not read stdin or talk to the client.

use std::io::Read;

use anyhow::{bail, Context};
use bytes::Bytes;
use bytestring::ByteString;

use super::args::PublishArgs;
use super::pace::Pacing;
use crate::cli::exit::Exit;
use crate::payload::Codec;
use crate::protocol::{topic, Properties, Publish, QoS};
use crate::record::Record;

/// Where the payloads come from.
pub(super) enum Source {
    /// One payload (-m, -f, -s, -n), published `repeat` times.
    Once(Bytes),
    /// Each line of stdin.
    Lines(LineFormat),
}

/// What a line of stdin holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LineFormat {
    /// -l: the payload.
    Payload,
    /// -l --topic-per-line: TOPIC<TAB>PAYLOAD.
    TopicTab,
    /// --jsonl: a `sub --json` record.
    Jsonl,
}

/// A line that became a message: the message and when it was recorded (--jsonl's
/// `received_unix_ns`, for --replay).
pub(super) struct LineMessage {
    pub publish: Publish,
    pub recorded_ns: Option<u128>,
}

/// The checked publish flags.
pub(super) struct Plan {
    /// -t (or the URL's topic), rewritten and checked; `None` only when lines carry
    /// their own.
    topic: Option<ByteString>,
    pub source: Source,
    pub qos: QoS,
    retain: bool,
    pub repeat: u64,
    pub pacing: Pacing,
    properties: Properties,
    encode: Option<Codec>,
    pub keep_going: bool,
    /// --loop: passes over the input (`Some(0)`: until interrupted).
    pub passes: Option<u64>,
    rewrite: TopicRewrite,
}

impl Plan {
    pub fn from_args(args: &PublishArgs) -> anyhow::Result<Plan> {
        let url_topic = args.connect.url.as_ref().and_then(|u| u.topic.clone());
        let topic = args.topic.clone().or(url_topic);
        let format = if args.jsonl {
            Some(LineFormat::Jsonl)
        } else if args.topic_per_line {
            Some(LineFormat::TopicTab)
        } else if args.stdin_line {
            Some(LineFormat::Payload)
        } else {
            None
        };
        let rewrite = TopicRewrite::from_args(args)?;
        let topic = match (topic, format) {
            (Some(topic), _) => {
                topic::validate_topic_name(&topic).with_context(|| format!("-t {topic}"))?;
                let rewritten = rewrite.apply(&topic);
                topic::validate_topic_name(&rewritten)
                    .with_context(|| format!("-t {topic} rewritten to {rewritten}"))?;
                Some(ByteString::from(rewritten))
            }
            (None, Some(LineFormat::TopicTab | LineFormat::Jsonl)) => None,
            (None, _) => bail!(
                "-t: give the topic to publish to (or put it in the URL: -L mqtt://HOST/TOPIC)"
            ),
        };
        flag_needs(args.replay, "--replay", args.jsonl, "--jsonl")?;
        flag_needs(
            args.topic_per_line,
            "--topic-per-line",
            args.stdin_line,
            "-l",
        )?;
        if format.is_some() && args.repeat > 1 {
            bail!("--repeat works with -m, -f, -s and -n, not with -l or --jsonl (each line is sent once; --loop repeats the input)");
        }
        if format.is_none() && (args.keep_going || args.passes.is_some()) {
            let flag = if args.keep_going {
                "--keep-going"
            } else {
                "--loop"
            };
            bail!("{flag} works with -l and --jsonl (use --repeat N for one message)");
        }
        let encode = match &args.encode {
            Some(name) => Some(args.schema.encode_codec(name)?),
            None => None,
        };
        let source = match format {
            Some(format) => Source::Lines(format),
            None => Source::Once(once_payload(args, encode.as_ref())?),
        };
        let mut properties = args.connect.properties()?.publish;
        args.message_properties.apply(&mut properties);
        Ok(Plan {
            topic,
            source,
            qos: args.qos,
            retain: args.retain,
            repeat: args.repeat,
            pacing: Pacing::new(
                args.replay.then(|| args.speed.unwrap_or(1.0)),
                args.rate,
                args.repeat_delay,
            ),
            properties,
            encode,
            keep_going: args.keep_going,
            passes: args.passes,
            rewrite,
        })
    }

    /// The message of -m/-f/-s/-n (`Source::Once`, which always has -t).
    pub fn message(&self, payload: Bytes) -> Publish {
        Publish {
            dup: false,
            qos: self.qos,
            retain: self.retain,
            topic: self.topic.clone().unwrap_or_default(),
            packet_id: 0,
            properties: self.properties.clone(),
            payload,
        }
    }

    /// What one line of stdin becomes; the error says what is wrong with it (the
    /// caller adds its number).
    pub fn line_message(&self, format: LineFormat, line: &[u8]) -> Result<LineMessage, String> {
        let (topic, payload) = match format {
            LineFormat::Payload => (None, self.encoded(line)?),
            LineFormat::TopicTab => {
                let Some(tab) = line.iter().position(|&b| b == b'\t') else {
                    return Err("no tab: --topic-per-line reads TOPIC<TAB>PAYLOAD".into());
                };
                let topic = std::str::from_utf8(&line[..tab])
                    .map_err(|_| "the topic is not UTF-8".to_string())?;
                (Some(topic), self.encoded(&line[tab + 1..])?)
            }
            LineFormat::Jsonl => return self.record_message(line),
        };
        Ok(LineMessage {
            publish: Publish {
                dup: false,
                qos: self.qos,
                retain: self.retain,
                topic: self.topic_of(topic)?,
                packet_id: 0,
                properties: self.properties.clone(),
                payload,
            },
            recorded_ns: None,
        })
    }

    fn record_message(&self, line: &[u8]) -> Result<LineMessage, String> {
        let text = std::str::from_utf8(line).map_err(|_| "not UTF-8 (a --jsonl line is JSON)")?;
        let record = Record::parse(text)?;
        let payload = match (&self.encode, record.decoded_input()) {
            // The subscriber could not decode it: these are the bytes that arrived.
            (Some(_), _) if record.decode_error.is_some() => record.payload_bytes()?,
            (Some(_), Some(decoded)) => self
                .encoded(decoded.as_bytes())
                .map_err(|e| format!("decoded: {e}"))?,
            (Some(_), None) => self.encoded(&record.payload_bytes()?)?,
            (None, _) => record.payload_bytes()?,
        };
        let mut properties = self.properties.clone();
        record.apply_properties(&mut properties)?;
        let topic = self.topic_of(record.topic.as_deref())?;
        Ok(LineMessage {
            publish: Publish {
                dup: false,
                qos: record.qos()?.unwrap_or(self.qos),
                retain: record.retain.unwrap_or(self.retain),
                topic,
                packet_id: 0,
                properties,
                payload,
            },
            recorded_ns: record.received_unix_ns,
        })
    }

    /// The line's topic, rewritten and checked, or -t's (checked once, at start).
    fn topic_of(&self, line_topic: Option<&str>) -> Result<ByteString, String> {
        let Some(topic) = line_topic else {
            return self
                .topic
                .clone()
                .ok_or_else(|| "no topic: the line has none and -t is not given".into());
        };
        let topic = self.rewrite.apply(topic);
        topic::validate_topic_name(&topic).map_err(|e| format!("topic '{topic}': {e}"))?;
        Ok(topic.into())
    }

    /// A line's payload through --encode.
    fn encoded(&self, input: &[u8]) -> Result<Bytes, String> {
        match &self.encode {
            None => Ok(Bytes::copy_from_slice(input)),
            Some(codec) => codec
                .encode(input)
                .map(Bytes::from)
                .map_err(|e| format!("--encode {codec}: the payload is {e}")),
        }
    }
}

/// `flag` works only with `needed`: a usage error (status 2) when it is given alone.
/// (clap's `requires` counts a flag's default as given, so it cannot say this.)
fn flag_needs(given: bool, flag: &str, present: bool, needed: &str) -> anyhow::Result<()> {
    if given && !present {
        return Err(Exit::new(2, format!("{flag} works with {needed}: add {needed}")).into());
    }
    Ok(())
}

/// The payload of -m, -f, -s or -n, through --encode.
fn once_payload(args: &PublishArgs, encode: Option<&Codec>) -> anyhow::Result<Bytes> {
    let (flag, input) = if let Some(message) = &args.message {
        ("-m", Bytes::from(message.clone()))
    } else if let Some(path) = &args.file {
        let bytes = std::fs::read(path)
            .with_context(|| format!("-f {}: cannot read the file", path.display()))?;
        ("-f", Bytes::from(bytes))
    } else if args.stdin_file {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("-s: cannot read stdin")?;
        ("-s", Bytes::from(bytes))
    } else {
        return Ok(Bytes::new());
    };
    match encode {
        None => Ok(input),
        Some(codec) => codec
            .encode(&input)
            .map(Bytes::from)
            .map_err(|e| anyhow::anyhow!("--encode {codec}: the {flag} payload is {e}")),
    }
}

/// --topic-map and --topic-prefix.
#[derive(Debug, Default)]
struct TopicRewrite {
    /// (OLD, NEW): exact topics, or `OLD/#` → `NEW/#` with the `/#` cut off and
    /// `under` set.
    maps: Vec<TopicMap>,
    prefix: Option<String>,
}

#[derive(Debug)]
struct TopicMap {
    old: String,
    new: String,
    /// `OLD/#=NEW/#`: every topic under OLD.
    under: bool,
}

impl TopicRewrite {
    fn from_args(args: &PublishArgs) -> anyhow::Result<TopicRewrite> {
        let mut maps = Vec::new();
        for (old, new) in &args.topic_map {
            let map = match (old.strip_suffix("/#"), new.strip_suffix("/#")) {
                (Some(old), Some(new)) => TopicMap {
                    old: old.into(),
                    new: new.into(),
                    under: true,
                },
                (None, None) => TopicMap {
                    old: old.clone(),
                    new: new.clone(),
                    under: false,
                },
                _ => bail!(
                    "--topic-map {old}={new}: end both sides with /# (a subtree) or neither \
                     (one topic)"
                ),
            };
            for side in [&map.old, &map.new] {
                if !side.is_empty() {
                    topic::validate_topic_name(side)
                        .with_context(|| format!("--topic-map {old}={new}"))?;
                }
            }
            maps.push(map);
        }
        Ok(TopicRewrite {
            maps,
            prefix: args.topic_prefix.clone(),
        })
    }

    fn apply(&self, topic: &str) -> String {
        let mapped = self.maps.iter().find_map(|m| {
            if topic == m.old {
                Some(m.new.clone())
            } else if m.under {
                let rest = topic.strip_prefix(m.old.as_str())?.strip_prefix('/')?;
                Some(format!("{}/{rest}", m.new))
            } else {
                None
            }
        });
        let topic = mapped.as_deref().unwrap_or(topic);
        match &self.prefix {
            Some(prefix) => format!("{prefix}{topic}"),
            None => topic.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(maps: &[(&str, &str)], prefix: Option<&str>) -> TopicRewrite {
        let maps = maps
            .iter()
            .map(|(old, new)| {
                let (o, n) = (old.strip_suffix("/#"), new.strip_suffix("/#"));
                TopicMap {
                    old: o.unwrap_or(old).into(),
                    new: n.unwrap_or(new).into(),
                    under: o.is_some(),
                }
            })
            .collect();
        TopicRewrite {
            maps,
            prefix: prefix.map(Into::into),
        }
    }

    #[test]
    fn topic_maps_rewrite_one_topic_or_a_subtree_then_the_prefix_goes_in_front() {
        let r = rewrite(&[("a/b", "x"), ("a/#", "b/#")], Some("test/"));
        assert_eq!(r.apply("a/b"), "test/x");
        assert_eq!(r.apply("a/c/d"), "test/b/c/d");
        assert_eq!(r.apply("a"), "test/b");
        assert_eq!(r.apply("ab/c"), "test/ab/c");
        assert_eq!(rewrite(&[], None).apply("k"), "k");
    }
}

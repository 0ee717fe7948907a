//! `mqtk pub`: its flags (`PublishArgs`) and `run`, which turns them into a checked
//! publish config and drives the client. Must not print directly (use `output`).

use std::path::PathBuf;
use std::time::Duration;

use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{ArgGroup, Args};

use super::connect_args::ConnectArgs;
use super::properties::MessagePropertyArgs;
use super::schema_args::SchemaArgs;
use super::{connect, values};
use crate::client::{Client, ClientError, ClientEvent};
use crate::output;
use crate::payload::Codec;
use crate::protocol::{topic, Properties, Publish, QoS};

/// Long help of the subcommand (`--help`, man page). Lines indented by two spaces are
/// kept as written in the man page (see `docs.rs`).
pub const LONG_ABOUT: &str = "\
Publish messages to an MQTT broker, like mosquitto_pub.

The payload comes from exactly one of:
  -m MESSAGE   the text given
  -f FILE      the whole file, as one message
  -s           all of stdin, as one message
  -l           each line of stdin as its own message, until end of input; the newline
               is removed (a \\r before it is kept), an empty line is an empty message,
               and a last line without a newline is sent too
  -n           an empty message (with -r: clears the retained message of the topic)
--repeat N publishes the -m, -f, -s or -n message N times, --repeat-delay apart.

--encode CODEC reads the -m, -f, -s or -l payload in another form and publishes
the bytes it stands for:
  hex       hex digits (whitespace between them is ignored)
  base64    standard base64 (RFC 4648)
  json      a JSON text, checked, then sent as it is
  cbor      a JSON text, sent as CBOR (RFC 8949 preferred serialization)
  msgpack   a JSON text, sent as MessagePack
  protobuf  a JSON text in protobuf's JSON mapping (field names as in the .proto
            or in lowerCamelCase), sent as a message of the --message-type type;
            protobuf:TYPE names the type (package.Message) in place of
            --message-type. --proto FILE.proto gives the schema (repeatable,
            compiled at start-up without protoc), --proto-path DIR where its
            imports are looked up
  sparkplug a JSON text, sent as a Sparkplug B payload (built-in schema):
            {\"seq\":1,\"metrics\":[{\"name\":\"t\",\"datatype\":\"Double\",
            \"value\":21.5}]}. The datatype, by name, says which field holds the
            value (Int64 may be negative; UInt64 and DateTime may be strings);
            \"value\":null sends is_null. It reads what sub --decode sparkplug
            prints (its \"topic\" is ignored). Errors name the field path, e.g.
            metrics[0].datatype
What `mqtk sub --decode CODEC` prints, `mqtk pub --encode CODEC` reads back: the
same bytes for hex, base64 and protobuf (when the sender wrote the fields in
number order, as protobuf's own encoders do), and for cbor and msgpack when the
sender wrote the shortest forms (JSON has no byte strings or tags: `sub` shows
those as base64 text and the tag's content); an equivalent payload for sparkplug.
With -l a line that does not encode is reported with its line number and skipped;
the others are published and mqtk exits with status 1.

QoS 1 and 2 messages are pipelined: mqtk does not wait for one acknowledgement before
sending the next, but keeps up to the broker's Receive Maximum unacknowledged (MQTT 5;
1000 on MQTT 3.1.1), so -l and --repeat run at the broker's speed. At the end mqtk waits
for every acknowledgement, then disconnects.

If the connection drops, mqtk reconnects with backoff (0.5 s, doubling up to 30 s) and
sends again what was not acknowledged; it gives up (status 1) when the connection has
been lost 5 times in a row with nothing acknowledged, and --no-reconnect exits at the
first drop. The first connection is not retried.

--session-dir DIR (needs -i ID) keeps the unacknowledged QoS 1/2 messages, and the QoS 2
state, in DIR/ID.session, written to disk before the messages are sent, so they survive
even a SIGKILL: the next `mqtk pub` with the same -i and DIR sends them before its own
messages. A lock (DIR/ID.lock) keeps a second process with the same id and directory out.
Add -c so that the broker keeps its half of the session too: the messages then resume
exactly (QoS 2 once and only once). Without -c the broker starts a clean session and
mqtk sends the stored messages again as new messages, so a QoS 1 or 2 message may arrive
twice.

Exit status:
  0   every message was published and, for QoS 1 and 2, acknowledged with success
  1   anything else: cannot connect or read the payload, a bad topic, the broker
      refused a message (e.g. PUBACK \"not authorized\"), or the connection was lost for
      good with messages unacknowledged (the counts are printed)
  2   the command line cannot be parsed";

/// Examples shown after the flags in `--help`.
pub const AFTER_HELP: &str = "\
Examples:
  mqtk pub -t sensors/t1 -m 21.5
  mqtk pub -h broker.local -t cfg/app -f app.json -q 1 -r
  tail -f /var/log/syslog | mqtk pub -l -t logs/syslog
  mqtk pub -L mqtt://alice:secret@broker:1883/alerts -m 'disk full' -q 2
  mqtk pub -t a/b -m hi --user-property source=cron --message-expiry 60
  mqtk pub -t a/b -n -r                       clear the retained message of a/b
  mqtk pub -t dev/1 --encode hex -m 'de ad be ef'
  mqtk pub -t dev/1 --encode cbor -m '{\"t\":21.5,\"ok\":true}'
  mqtk sub -t 'dev/#' --decode msgpack -C 10 | mqtk pub -t copy -l --encode msgpack
  mqtk pub -t dev/1 --proto dev.proto --encode protobuf:dev.Reading -m '{\"value\":21.5}'
  mqtk pub -t spBv1.0/g/DDATA/n/d --encode sparkplug \\
    -m '{\"seq\":1,\"metrics\":[{\"name\":\"t\",\"datatype\":\"Double\",\"value\":21.5}]}'";

/// Flags of `mqtk pub`.
#[derive(Debug, Clone, Args)]
#[command(
    disable_help_flag = true,
    group = ArgGroup::new("payload").required(true).multiple(false)
        .args(["message", "file", "stdin_file", "stdin_line", "null_message"])
)]
pub struct PublishArgs {
    /// Print help (--help only: -h is the host)
    #[arg(long, action = clap::ArgAction::Help, display_order = 999)]
    help: Option<bool>,

    /// Topic to publish to (required unless -L names one)
    #[arg(short = 't', long, value_name = "TOPIC")]
    pub topic: Option<String>,

    /// Publish MESSAGE as the payload
    #[arg(short = 'm', long, value_name = "MESSAGE", help_heading = "Payload")]
    pub message: Option<String>,

    /// Publish the contents of FILE as one message
    #[arg(short = 'f', long, value_name = "FILE", help_heading = "Payload")]
    pub file: Option<PathBuf>,

    /// Read all of stdin and publish it as one message
    #[arg(short = 's', long, help_heading = "Payload")]
    pub stdin_file: bool,

    /// Publish each line of stdin as its own message until end of input
    #[arg(short = 'l', long, help_heading = "Payload")]
    pub stdin_line: bool,

    /// Publish an empty message (with -r: clear the retained message)
    #[arg(short = 'n', long, help_heading = "Payload")]
    pub null_message: bool,

    /// Read the payload as CODEC and publish the bytes it stands for: hex, base64, json, cbor, msgpack, protobuf (or protobuf:TYPE), sparkplug
    #[arg(
        long,
        value_name = "CODEC",
        help_heading = "Payload",
        conflicts_with = "null_message"
    )]
    pub encode: Option<String>,

    /// Protobuf schema flags.
    #[command(flatten)]
    pub schema: SchemaArgs,

    /// Quality of service: 0, 1 or 2
    #[arg(short = 'q', long, value_name = "QOS", value_parser = values::parse_qos, default_value = "0")]
    pub qos: QoS,

    /// Ask the broker to retain the message
    #[arg(short = 'r', long)]
    pub retain: bool,

    /// Publish the message N times
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub repeat: u64,

    /// Wait this long between repeated messages (seconds, or 250ms, 2s, …)
    #[arg(long, value_name = "SECS", value_parser = values::parse_duration, requires = "repeat")]
    pub repeat_delay: Option<Duration>,

    /// MQTT 5 properties of each message.
    #[command(flatten)]
    pub message_properties: MessagePropertyArgs,

    /// Connection flags.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Runs `mqtk pub`: checks the flags, connects, publishes (QoS 1/2 pipelined up to
/// the broker's receive maximum) and waits for every acknowledgement.
pub fn run(args: PublishArgs) -> anyhow::Result<()> {
    let plan = Plan::from_args(&args)?;
    let connection = connect::connection(&args.connect)?;
    connect::block_on(publish(plan, connection))?
}

/// Where the payloads come from.
enum Source {
    /// One payload (-m, -f, -s, -n), published `repeat` times.
    Once(Bytes),
    /// Each line of stdin (-l).
    Lines,
}

/// The checked publish flags.
struct Plan {
    topic: String,
    source: Source,
    qos: QoS,
    retain: bool,
    repeat: u64,
    repeat_delay: Option<Duration>,
    properties: Properties,
    encode: Option<Codec>,
}

impl Plan {
    fn from_args(args: &PublishArgs) -> anyhow::Result<Plan> {
        let url_topic = args.connect.url.as_ref().and_then(|u| u.topic.clone());
        let Some(topic) = args.topic.clone().or(url_topic) else {
            bail!("-t: give the topic to publish to (or put it in the URL: -L mqtt://HOST/TOPIC)");
        };
        topic::validate_topic_name(&topic).with_context(|| format!("-t {topic}"))?;
        let source = if let Some(message) = &args.message {
            Source::Once(Bytes::from(message.clone()))
        } else if let Some(path) = &args.file {
            let bytes = std::fs::read(path)
                .with_context(|| format!("-f {}: cannot read the file", path.display()))?;
            Source::Once(Bytes::from(bytes))
        } else if args.stdin_file {
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .context("-s: cannot read stdin")?;
            Source::Once(Bytes::from(bytes))
        } else if args.stdin_line {
            if args.repeat > 1 {
                bail!(
                    "--repeat works with -m, -f, -s and -n, not with -l (each line is sent once)"
                );
            }
            Source::Lines
        } else {
            Source::Once(Bytes::new())
        };
        let encode = match &args.encode {
            Some(name) => Some(encode_codec(name, &args.schema)?),
            None => None,
        };
        let source = match (source, &encode) {
            (Source::Once(input), Some(codec)) if !args.null_message => {
                let flag = if args.message.is_some() {
                    "-m"
                } else if args.file.is_some() {
                    "-f"
                } else {
                    "-s"
                };
                let payload = codec
                    .encode(&input)
                    .map_err(|e| anyhow::anyhow!("--encode {codec}: the {flag} payload is {e}"))?;
                Source::Once(Bytes::from(payload))
            }
            (source, _) => source,
        };
        let mut properties = args.connect.properties()?.publish;
        args.message_properties.apply(&mut properties);
        Ok(Plan {
            topic,
            source,
            qos: args.qos,
            retain: args.retain,
            repeat: args.repeat,
            repeat_delay: args.repeat_delay,
            properties,
            encode,
        })
    }

    /// One `-l` line as its payload: encoded with --encode, or `None` (after a
    /// warning naming the line) when it does not encode.
    fn encoded_line(&self, line: Bytes, line_number: u64) -> Option<Bytes> {
        let Some(codec) = &self.encode else {
            return Some(line);
        };
        match codec.encode(&line) {
            Ok(payload) => Some(Bytes::from(payload)),
            Err(e) => {
                output::warning(format!(
                    "-l line {line_number}: --encode {codec}: the line is {e}; not published"
                ));
                None
            }
        }
    }

    fn message(&self, payload: Bytes) -> Publish {
        Publish {
            dup: false,
            qos: self.qos,
            retain: self.retain,
            topic: self.topic.as_str().into(),
            packet_id: 0,
            properties: self.properties.clone(),
            payload,
        }
    }
}

/// Connections lost in a row with no message acknowledged, refused or dropped in
/// between, after which pub stops resending and fails.
const MAX_LOSSES_WITHOUT_PROGRESS: u32 = 5;

/// What became of the messages.
#[derive(Default)]
struct Tally {
    acknowledged: u64,
    refused: u64,
    first_refusal: Option<String>,
    dropped: u64,
    first_drop: Option<String>,
}

async fn publish(plan: Plan, connection: connect::Connection) -> anyhow::Result<()> {
    let debug = connection.config.observer.is_some();
    let address = connection.config.address();
    let (client, mut events) = Client::connect(connection.config).await?;
    let qos = plan.qos;
    let handed = Arc::new(AtomicU64::new(0));
    let producer = tokio::spawn(produce(client, plan, Arc::clone(&handed)));
    let mut tally = Tally::default();
    let (mut losses_without_progress, mut progress_at_last_loss) = (0u32, 0u64);
    let closed = loop {
        let Some(event) = events.recv().await else {
            break Err(ClientError::Closed);
        };
        match event {
            ClientEvent::Connected {
                fell_back,
                reconnected,
                ..
            } => {
                if fell_back && (debug || reconnected) {
                    output::note(format!("{address} refused MQTT 5, using MQTT 3.1.1"));
                }
                if reconnected {
                    output::note(format!("reconnected to {address}"));
                }
            }
            ClientEvent::Delivered { reason_code, .. } if reason_code.is_success() => {
                tally.acknowledged += 1
            }
            ClientEvent::Delivered { reason_code, .. } => {
                tally.refused += 1;
                tally
                    .first_refusal
                    .get_or_insert_with(|| reason_code.to_string());
            }
            ClientEvent::Dropped { reason, .. } => {
                tally.dropped += 1;
                tally.first_drop.get_or_insert(reason);
            }
            ClientEvent::ConnectionLost { error, retry_in } => {
                // A broker that drops every connection before acknowledging anything
                // (a message it cannot take, 3.1.1 having no maximum packet size to
                // tell us) would have us resend it for ever: give up after a few.
                // Only while QoS 1/2 messages wait (QoS 0 ones are never resent; an idle
                // `tail -f | mqtk pub -l` rides out any number of broker restarts).
                let progress = tally.acknowledged + tally.refused + tally.dropped;
                let waiting = qos != QoS::AtMostOnce && handed.load(Ordering::Relaxed) > progress;
                if !waiting {
                    losses_without_progress = 0;
                } else if progress == progress_at_last_loss {
                    losses_without_progress += 1;
                } else {
                    losses_without_progress = 1;
                }
                progress_at_last_loss = progress;
                if losses_without_progress >= MAX_LOSSES_WITHOUT_PROGRESS {
                    break Err(ClientError::ConnectionLost {
                        address: address.clone(),
                        reason: format!(
                            "the broker closed the connection {MAX_LOSSES_WITHOUT_PROGRESS} \
                             times in a row without acknowledging anything (is a message \
                             too large for it, or not allowed?)"
                        ),
                    });
                }
                if let Some(delay) = retry_in {
                    output::note(format!("{error}; reconnecting in {}", seconds(delay)));
                }
            }
            ClientEvent::ReconnectFailed { error, retry_in } => {
                output::note(format!("{error}; trying again in {}", seconds(retry_in)));
            }
            ClientEvent::Closed(result) => break result,
            ClientEvent::Message(_) | ClientEvent::SubAck(_) | ClientEvent::UnsubAck(_) => {}
        }
    };
    let (sent, unencodable) = if closed.is_ok() {
        // Closed(Ok) comes after the producer asked to disconnect: it is done.
        let produced = producer.await.context("the publishing task failed")??;
        (produced.sent, produced.unencodable)
    } else {
        // The connection is gone for good: stop reading stdin (it may never end).
        producer.abort();
        (handed.load(Ordering::Relaxed), 0)
    };
    let unfinished = |what: &str| -> String {
        if qos == QoS::AtMostOnce {
            format!("{what}; some of the {sent} QoS 0 messages may not have been sent")
        } else {
            let missing = sent.saturating_sub(tally.acknowledged + tally.refused + tally.dropped);
            format!("{what}; {missing} of {sent} messages were not acknowledged")
        }
    };
    if let Err(error) = closed {
        bail!(unfinished(&error.to_string()));
    }
    if tally.refused > 0 {
        let reason = tally.first_refusal.unwrap_or_default();
        bail!(
            "the broker refused {} of {sent} messages: {reason}",
            tally.refused
        );
    }
    if unencodable > 0 {
        bail!(
            "{unencodable} line{} of stdin did not encode and {} not published \
             (the warnings above name them); {sent} were",
            if unencodable == 1 { "" } else { "s" },
            if unencodable == 1 { "was" } else { "were" },
        );
    }
    if tally.dropped > 0 {
        let reason = tally.first_drop.unwrap_or_default();
        bail!(
            "{} of {sent} messages were not sent: {reason}",
            tally.dropped
        );
    }
    Ok(())
}

/// What the producer did: messages handed to the client, `-l` lines that did not
/// encode (each one warned about, none published).
struct Produced {
    sent: u64,
    unencodable: u64,
}

/// Hands every message to the client, then asks it to finish; returns how many.
async fn produce(client: Client, plan: Plan, handed: Arc<AtomicU64>) -> anyhow::Result<Produced> {
    let mut sent = 0u64;
    let mut unencodable = 0u64;
    let outcome = async {
        match &plan.source {
            Source::Once(payload) => {
                for i in 0..plan.repeat {
                    if i > 0 {
                        if let Some(delay) = plan.repeat_delay {
                            tokio::time::sleep(delay).await;
                        }
                    }
                    client.publish(plan.message(payload.clone())).await?;
                    sent += 1;
                    handed.store(sent, Ordering::Relaxed);
                }
            }
            Source::Lines => {
                let mut lines = stdin_lines();
                let mut line_number = 0u64;
                while let Some(batch) = lines.recv().await {
                    for line in batch.context("-l: cannot read stdin")? {
                        line_number += 1;
                        let Some(line) = plan.encoded_line(line, line_number) else {
                            unencodable += 1;
                            continue;
                        };
                        client.publish(plan.message(line)).await?;
                        sent += 1;
                        handed.store(sent, Ordering::Relaxed);
                    }
                }
            }
        }
        anyhow::Ok(())
    }
    .await;
    // Finish what was handed over even when reading stopped early.
    let _ = client.disconnect().await;
    match outcome {
        // The client task ended (its reason arrives as `Closed`): report the count.
        Err(e) if e.downcast_ref::<ClientError>().is_some() => Ok(Produced { sent, unencodable }),
        Err(e) => Err(e),
        Ok(()) => Ok(Produced { sent, unencodable }),
    }
}

/// Reads stdin on its own thread and sends its lines in batches as they arrive (each
/// batch is what one read returned), without the line ends. A last line without a
/// newline is sent too.
fn stdin_lines() -> tokio::sync::mpsc::Receiver<std::io::Result<Vec<Bytes>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut partial: Vec<u8> = Vec::new();
        loop {
            let chunk = match stdin.fill_buf() {
                Ok([]) => break,
                Ok(chunk) => chunk,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            let mut batch = Vec::new();
            let mut rest = chunk;
            while let Some(end) = rest.iter().position(|&b| b == b'\n') {
                if partial.is_empty() {
                    batch.push(Bytes::copy_from_slice(&rest[..end]));
                } else {
                    partial.extend_from_slice(&rest[..end]);
                    batch.push(Bytes::from(std::mem::take(&mut partial)));
                }
                rest = &rest[end + 1..];
            }
            partial.extend_from_slice(rest);
            let used = chunk.len();
            stdin.consume(used);
            if !batch.is_empty() && tx.blocking_send(Ok(batch)).is_err() {
                return;
            }
        }
        if !partial.is_empty() {
            let _ = tx.blocking_send(Ok(vec![Bytes::from(partial)]));
        }
    });
    rx
}

/// A delay for messages: `0.5 s`, `2 s`.
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// `--encode`'s codec: one that writes (`auto` only reads), its schema compiled.
fn encode_codec(name: &str, schema: &SchemaArgs) -> anyhow::Result<Codec> {
    let schemas = schema.schemas()?;
    match Codec::parse(name, &schemas).map_err(|e| anyhow::anyhow!("--encode: {e}"))? {
        Codec::Auto => bail!("--encode: {}", crate::payload::EncodeError::Auto),
        codec => Ok(codec),
    }
}

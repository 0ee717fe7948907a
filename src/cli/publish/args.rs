//! The flags of `mqtk pub` (`PublishArgs`) and its help text (`--help`, man page).
//! Definitions only: `plan` checks them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args};

use super::pace;
use crate::cli::connect_args::ConnectArgs;
use crate::cli::properties::MessagePropertyArgs;
use crate::cli::schema_args::SchemaArgs;
use crate::cli::values;
use crate::protocol::QoS;

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
  --jsonl      each line of stdin as one message in the format `mqtk sub --json`
               prints (topic, payload and payload_encoding, qos, retain, properties;
               see below), until end of input
--repeat N publishes the -m, -f, -s or -n message N times, --repeat-delay apart.

Many topics over one connection:
  -l --topic-per-line   lines are TOPIC<TAB>PAYLOAD (split at the first tab)
  --jsonl               `mqtk sub -t '#' --json > capture.jsonl` then
                        `mqtk pub --jsonl < capture.jsonl` publishes the same messages:
                        binary payloads, retained flags and MQTT 5 properties included
A field a --jsonl line leaves out comes from the flags: topic from -t, qos from -q,
retain from -r, properties from the property flags (a property the line has replaces
the flag's; its user_properties replace the flags' list). payload_encoding is \"text\"
(the default) or \"base64\"; correlation_data_encoding likewise. Blank lines are
skipped. Subscription identifiers, topic aliases, dup and packet_id describe the
connection the message came on and are not sent.
A bad line (no tab with --topic-per-line, not a record, no topic, a bad topic, a
payload --encode cannot read) stops mqtk: the lines before it are published and
acknowledged first, then the error names the line number (status 1). With
--keep-going each bad line is reported and skipped, the rest are published, and
mqtk exits with status 1 at the end.
--topic-map OLD=NEW rewrites the topic OLD to NEW, or with OLD/# and NEW/# every
topic under OLD (OLD itself included) to the same place under NEW (repeatable, the
first that matches wins); --topic-prefix P then puts P in front of every topic.

Pacing:
  --rate N[/s]   at most N messages a second (also N/m, N/h), evenly spread, for -l,
                 --jsonl and --repeat
  --replay       --jsonl only: keep the gaps between the messages as recorded (from
                 received_unix_ns); --speed X divides them (2: twice as fast, 0: no
                 gaps). A line without received_unix_ns goes right after the one
                 before it
  --loop [N]     -l and --jsonl: publish the input N times (no N: until interrupted);
                 stdin is read once and kept in memory for the passes after the first
On a terminal, --rate, --replay and --loop show progress on stderr (messages, rate,
elapsed; a bar and ETA when the end is known); nothing when stderr is not a terminal.

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
With --jsonl and --encode, a line's \"decoded\" field (what `sub --decode --json`
writes) is what gets encoded; a line without one has its payload encoded, and a line
with \"decode_error\" (the subscriber could not decode it) is published raw, as it
arrived. So `sub --decode X --json | pub --jsonl --encode X` sends the same bytes.
A -l or --jsonl line that does not encode is a bad line (see above).

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
  printf 'a/1\t21.5\na/2\t19\n' | mqtk pub -l --topic-per-line -q 1
  mqtk sub -t 'plant/#' --json > rec.jsonl    record, then replay twice as fast:
  mqtk pub --jsonl --replay --speed 2 --topic-prefix test/ < rec.jsonl
  seq 1000 | mqtk pub -t load -l --rate 50/s
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
        .args(["message", "file", "stdin_file", "stdin_line", "jsonl", "null_message"])
)]
pub struct PublishArgs {
    /// Print help (--help only: -h is the host)
    #[arg(long, action = clap::ArgAction::Help, display_order = 999)]
    help: Option<bool>,

    /// Topic to publish to (required unless -L names one or each line carries its own)
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

    /// Publish each line of stdin as one message in `mqtk sub --json`'s format
    #[arg(long, help_heading = "Payload")]
    pub jsonl: bool,

    /// With -l: each line is a topic, a tab, then the payload
    #[arg(long, help_heading = "Payload")]
    pub topic_per_line: bool,

    /// With -l or --jsonl: report and skip bad lines instead of stopping at the first
    #[arg(long, help_heading = "Payload")]
    pub keep_going: bool,

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

    /// At most N messages a second, evenly spread (N/s, N/m, N/h); for -l, --jsonl, --repeat
    #[arg(long, value_name = "N[/s]", value_parser = pace::parse_rate, help_heading = "Pacing",
          conflicts_with_all = ["repeat_delay", "replay"])]
    pub rate: Option<Duration>,

    /// With --jsonl: keep the recorded gaps between messages (from received_unix_ns)
    #[arg(long, help_heading = "Pacing")]
    pub replay: bool,

    /// With --replay: play X times as fast (0: no gaps)
    #[arg(long, value_name = "X", value_parser = pace::parse_speed, help_heading = "Pacing",
          requires = "replay")]
    pub speed: Option<f64>,

    /// With -l or --jsonl: publish the input N times (no N: until interrupted)
    #[arg(long = "loop", value_name = "N", num_args = 0..=1, default_missing_value = "0",
          value_parser = clap::value_parser!(u64), help_heading = "Pacing")]
    pub passes: Option<u64>,

    /// Put PREFIX in front of every topic
    #[arg(long, value_name = "PREFIX", help_heading = "Topics")]
    pub topic_prefix: Option<String>,

    /// Rewrite topic OLD to NEW, or with OLD/#=NEW/# every topic under OLD (repeatable)
    #[arg(long, value_name = "OLD=NEW", value_parser = values::parse_key_value,
          help_heading = "Topics")]
    pub topic_map: Vec<(String, String)>,

    /// MQTT 5 properties of each message.
    #[command(flatten)]
    pub message_properties: MessagePropertyArgs,

    /// Connection flags.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

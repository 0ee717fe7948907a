//! `mqtk sub`: its long help and `run`. The flags are `args.rs` (`SubscribeArgs`), their
//! checked form `plan.rs` (`Plan`), the run `receive.rs`, and what happens to each
//! message `printer.rs`. Must not print directly (use `output`).

mod args;
mod plan;
mod printer;
mod receive;

pub use args::SubscribeArgs;

use super::connect;
use plan::Plan;

/// Long help of the subcommand (`--help`, man page). Lines indented by two spaces are
/// tables: the man page keeps them as they are (see `docs.rs`).
pub const LONG_ABOUT: &str = "\
Subscribe to topic filters and print each message, like mosquitto_sub.

Each message is printed as its payload alone, as `topic payload` with -v, through a
template with -F, or as one JSON object with --json; a newline follows unless -N.
Output is flushed after every message, so `mqtk sub ... | grep` and `| head -1` work;
a closed pipe ends mqtk quietly with status 0.

When the connection drops, the subscriber reconnects on its own: it waits 0.5 s, doubles
the wait after each failed attempt up to 30 s, tries for as long as it runs, and
subscribes again when the broker kept no session. Each step is a note on stderr. The
first connection is not retried: if it fails, mqtk exits with status 1. With
--no-reconnect a dropped connection also ends mqtk with status 1.

-F TEMPLATE, as in mosquitto_sub. `%` parameters take printf-style flags (`-` left
aligns, `0` zero-pads %A %E %F %l %m %S %x %X), a width (`%10t`), and a maximum width
for %C %I %R %t (`%.20t`):
  %t  topic                          %p  payload, raw bytes
  %q  QoS                            %r  retain flag, 0 or 1
  %m  packet id (0 for QoS 0)        %l  payload length in bytes
  %x  payload in lower-case hex      %X  payload in upper-case hex
  %f  payload as a 4-byte float      %d  payload as an 8-byte double
      (IEEE 754, little-endian as mosquitto_sub on x86 and ARM; %.2f sets the
      decimals, 6 by default; another payload size is an error on stderr)
  %I  ISO-8601 local time: 2026-11-25T13:40:21+0000
  %U  Unix time with nanoseconds: 1795614021.011534990
  %j  mosquitto_sub's JSON: tst, topic, qos, retain, payloadlen, mid (QoS 1/2),
      properties (MQTT 5), payload as a string
  %J  the same with the payload inserted as JSON; a payload that is not JSON prints
      an error on stderr instead of the message (it still counts for -C)
  %A  topic alias                    %C  content type
  %D  correlation data, raw bytes    %E  message expiry interval
  %F  payload format indicator       %R  response topic
  %P  user properties, key:value separated by spaces
  %S  subscription identifiers, separated by spaces
  %%  a percent sign
--pretty indents the JSON of %j, %J and --json.
The MQTT 5 parameters (%A to %S) print nothing when the message lacks the property.
`@` sequences are strftime(3) conversions in local time:
  @X  strftime's %X, e.g. @Y-@m-@d @H:@M:@S
  @N  nanoseconds of the current second      @@  an @ sign
`\\` escapes:
  \\n newline   \\r carriage return   \\t tab   \\v vertical tab   \\a bell
  \\e escape (for ANSI colours)   \\0 NUL (for xargs -0)   \\\\ a backslash

--decode shows payloads decoded. `--decode CODEC` covers every topic; `--decode
'FILTER=CODEC'` the topics FILTER matches (repeatable; the first matching filter
wins, a plain CODEC covers the rest):
  hex       the payload as hex digits
  base64    the payload as base64 (RFC 4648)
  json      a JSON text, printed compact
  auto      JSON when it parses, else the text when it is UTF-8, else base64
  cbor      CBOR (RFC 8949) as JSON
  msgpack   MessagePack as JSON
  protobuf  a message of the --message-type type; protobuf:TYPE names the type
            (package.Message) in place of --message-type
  sparkplug Sparkplug B (built-in schema): metrics with name, alias, timestamp,
            datatype by name (\"Double\") and value; seq, timestamp; the topic's
            parts under \"topic\" (group, message_type, edge_node, device);
            STATE payloads (JSON or text) under \"state\". A gap in an edge
            node's seq numbers (0-255, NBIRTH starts over) is reported on stderr:
            a message this subscriber missed
Protobuf needs the schema: --proto FILE.proto (repeatable), compiled at start-up
without protoc, with --proto-path DIR (repeatable) where imports are looked up
(then the file's own directory, then protobuf's well-known types). Its JSON is
protobuf's JSON mapping: field names as in the .proto, 64-bit integers as strings,
enums by name, bytes as base64, fields at their default value left out.
CBOR and MessagePack are never guessed (almost any bytes start a valid item). In
their JSON, byte strings are base64 text, map keys that are not strings are their
JSON text, integers beyond 64 bits (CBOR) are decimal strings, NaN and the
infinities are \"NaN\", \"Infinity\", \"-Infinity\", and CBOR tags are dropped (their
content kept); a MessagePack extension is {\"ext_type\": N, \"data\": BASE64}.
The payload alone, -v and -F %p print the decoded payload: hex, base64 and text as
they are, JSON compact; --json adds it beside the raw payload (below). %x, %X, %l,
%j and %J keep the raw payload. A payload that does not decode is printed raw, with
one warning per topic on stderr; the total is counted at the end. `mqtk pub
--encode CODEC` reads back what --decode CODEC prints.

--json prints one object a line, fields in this order (packet_id and properties only
when they apply):
  topic                 the topic
  payload               the payload: text when it is UTF-8, else base64
  payload_encoding      \"text\" or \"base64\": which of the two payload is
  payload_bytes         payload length in bytes
  decoded_as            with --decode: the form read (hex, base64, json, cbor,
                        msgpack, protobuf, sparkplug; for auto: json, text or base64)
  decoded               with --decode: the payload as a JSON value
  decode_error          with --decode, when the payload did not decode: why
  qos, retain, dup      as received (retain and dup are true or false)
  packet_id             QoS 1 and 2 only
  received              arrival time, RFC 3339 in UTC with microseconds
  received_unix_ns      arrival time in nanoseconds since the Unix epoch
  properties            MQTT 5 properties, only when the message has any:
                        payload_format_indicator, message_expiry_interval,
                        content_type, response_topic, correlation_data and
                        correlation_data_encoding (text or base64 as for the
                        payload), subscription_identifiers, topic_alias,
                        user_properties (a list of [key, value] pairs, in order)
For example, `mqtk sub -t 'a/#' -q 1 --json` prints this line for
`mqtk pub -t a/b -m hi -q 1 --user-property k=v`:
  {\"topic\":\"a/b\",\"payload\":\"hi\",\"payload_encoding\":\"text\",\"payload_bytes\":2,
  \"qos\":1,\"retain\":false,\"dup\":false,\"packet_id\":1,
  \"received\":\"2026-11-25T13:42:50.875861Z\",\"received_unix_ns\":1795614170875861236,
  \"properties\":{\"user_properties\":[[\"k\",\"v\"]]}}
(on one line; wrapped here).

Beside printing: -E exits once the broker has acknowledged the subscriptions (with
-c -i ID this sets up a session whose messages wait on the broker for a later run);
-U FILTER unsubscribes after subscribing (with no -t: only unsubscribes, then exits;
with -c -i ID it removes a subscription from a kept session). --message-rate prints
`N msgs/s` each second instead of the messages. -w keeps one terminal line per topic
and rewrites it on each message (line wrapping is off meanwhile; a topic beyond the
terminal's height is not shown); when stdout is not a terminal it prints normally.
--random-filter PCT prints each message with a chance of PCT percent; -C still counts
every message, as mosquitto_sub.

Exit status:
  0   -C N messages printed, --retained-only done, -E or -U answered, SIGINT or SIGTERM (mqtk disconnects
      cleanly, so the broker does not publish the will), or stdout closed
  27  -W SECS ran out first (before -C N messages, when -C is given), as
      mosquitto_sub
  1   an error: cannot connect, the broker refused the connection or every
      subscription, the connection dropped with --no-reconnect, a bad topic filter or
      -F template
  2   the command line cannot be parsed (unknown flag, bad value)";

/// Examples shown after the flags in `--help`.
pub const AFTER_HELP: &str = "\
Examples:
  mqtk sub -t 'sensors/#' -v
  mqtk sub -t a -t b -C 1 -W 5                 wait up to 5 s for one message
  mqtk sub -t 'logs/#' | grep -i error
  mqtk sub -t 'sensors/+/temp' --json | jq .payload
  mqtk sub -t '#' -F '%I %t %x'
  mqtk sub -t 'cfg/#' --retained-only --remove-retained -W 2   clear retained messages
  mqtk sub -t 'dev/#' --decode cbor -v
  mqtk sub -t '#' --decode 'sensors/#=msgpack' --decode auto --json
  mqtk sub -t 'dev/#' --proto dev.proto --decode protobuf:dev.Reading -v
  mqtk sub -t 'spBv1.0/#' --decode sparkplug -v
  mqtk sub -c -i logger -q 1 -t 'logs/#' -E      create a session, exit at once
  mqtk sub -c -i logger -U 'logs/#'              remove that subscription again
  mqtk sub -t 'sensors/#' -w -v                  one updating line per sensor
  mqtk sub -t '#' --message-rate                 messages per second
  mqtk sub -t 'bin/temp' -F '%t %.1f'            4-byte float payloads";

/// Runs `mqtk sub`: checks the flags, connects, subscribes and prints each message
/// until -C, -W, -E, --retained-only, a closed stdout, or a connection lost for good.
pub fn run(args: SubscribeArgs) -> anyhow::Result<()> {
    let plan = Plan::from_args(&args)?;
    let connection = connect::connection(&args.connect)?;
    connect::block_on(receive::subscribe(plan, connection))?
}

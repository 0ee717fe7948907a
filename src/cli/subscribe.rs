//! `mqtk sub`: its flags (`SubscribeArgs`) and `run`, which turns them into a checked
//! subscribe config and drives the client. Must not print directly (use `output`).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use bytes::Bytes;
use bytestring::ByteString;
use clap::Args;

use super::connect_args::ConnectArgs;
use super::exit::Exit;
use super::schema_args::SchemaArgs;
use super::{connect, values};
use crate::client::{Client, ClientError, ClientEvent};
use crate::output::message::{MessageFormat, Received, Template};
use crate::output::{self, message};
use crate::payload::rules::DecodeRules;
use crate::payload::sparkplug::SeqGaps;
use crate::protocol::{
    topic, Properties, ProtocolVersion, Publish, QoS, ReasonCode, RetainHandling, Subscription,
};

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

Exit status:
  0   -C N messages printed, --retained-only done, SIGINT or SIGTERM (mqtk disconnects
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
  mqtk sub -t 'spBv1.0/#' --decode sparkplug -v";

/// Flags of `mqtk sub`.
#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct SubscribeArgs {
    /// Print help (--help only: -h is the host)
    #[arg(long, action = clap::ArgAction::Help, display_order = 999)]
    help: Option<bool>,

    /// Topic filter to subscribe to (repeatable; required unless -L names one)
    #[arg(short = 't', long, value_name = "FILTER")]
    pub topic: Vec<String>,

    /// Drop messages whose topic matches FILTER (repeatable)
    #[arg(short = 'T', long, value_name = "FILTER")]
    pub filter_out: Vec<String>,

    /// Maximum QoS of the subscriptions: 0, 1 or 2
    #[arg(short = 'q', long, value_name = "QOS", value_parser = values::parse_qos, default_value = "0")]
    pub qos: QoS,

    /// Exit after N messages
    #[arg(short = 'C', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Give up after SECS with exit status 27 (if -C messages have not arrived by then)
    #[arg(short = 'W', long, value_name = "SECS", value_parser = values::parse_duration)]
    pub timeout: Option<Duration>,

    /// Print `topic payload` for each message
    #[arg(short = 'v', long, help_heading = "Output")]
    pub verbose: bool,

    /// Print each message through a mosquitto_sub template (%t %p %q %r %x %I %j …)
    #[arg(short = 'F', long, value_name = "TEMPLATE", help_heading = "Output",
          conflicts_with_all = ["verbose", "json"])]
    pub format: Option<String>,

    /// One JSON object per line: topic, payload (text or base64), qos, retain, received, properties
    #[arg(long, help_heading = "Output", conflicts_with = "verbose")]
    pub json: bool,

    /// Show payloads decoded: CODEC for all topics, FILTER=CODEC for some (repeatable; hex, base64, json, auto, cbor, msgpack, protobuf, protobuf:TYPE, sparkplug)
    #[arg(long, value_name = "[FILTER=]CODEC", help_heading = "Output")]
    pub decode: Vec<String>,

    /// Protobuf schema flags.
    #[command(flatten)]
    pub schema: SchemaArgs,

    /// Do not print a newline after each payload
    #[arg(short = 'N', long = "no-newline", help_heading = "Output")]
    pub no_newline: bool,

    /// Skip retained messages
    #[arg(short = 'R', long)]
    pub no_stale: bool,

    /// Print retained messages only; exit when the first non-retained message arrives
    #[arg(long, conflicts_with = "no_stale")]
    pub retained_only: bool,

    /// Clear each retained message received (publish an empty retained message)
    #[arg(long)]
    pub remove_retained: bool,

    /// MQTT 5: do not receive the messages this client publishes itself
    #[arg(long = "nl", help_heading = "MQTT 5 subscription options")]
    pub no_local: bool,

    /// MQTT 5: keep the retain flag as published instead of clearing it
    #[arg(long = "rap", help_heading = "MQTT 5 subscription options")]
    pub retain_as_published: bool,

    /// MQTT 5 retain handling: 0 always send retained, 1 only on a new subscription, 2 never
    #[arg(long = "rh", value_name = "0|1|2", help_heading = "MQTT 5 subscription options",
          value_parser = clap::value_parser!(u8).range(0..=2))]
    pub retain_handling: Option<u8>,

    /// MQTT 5 user property on the SUBSCRIBE, KEY=VALUE (repeatable)
    #[arg(long, value_name = "KEY=VALUE", help_heading = "MQTT 5 subscription options",
          value_parser = values::parse_key_value)]
    pub user_property: Vec<(String, String)>,

    /// Connection flags.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Runs `mqtk sub`: checks the flags, connects, subscribes and prints each message
/// until -C, -W, --retained-only, a closed stdout, or a connection lost for good.
pub fn run(args: SubscribeArgs) -> anyhow::Result<()> {
    let plan = Plan::from_args(&args)?;
    let connection = connect::connection(&args.connect)?;
    connect::block_on(subscribe(plan, connection))?
}

/// The checked subscribe flags.
struct Plan {
    subscriptions: Vec<Subscription>,
    properties: Properties,
    filter_out: Vec<String>,
    count: Option<u64>,
    timeout: Option<Duration>,
    format: MessageFormat,
    decode: DecodeRules,
    no_newline: bool,
    no_stale: bool,
    retained_only: bool,
    remove_retained: bool,
}

impl Plan {
    fn from_args(args: &SubscribeArgs) -> anyhow::Result<Plan> {
        let mut filters = args.topic.clone();
        if let Some(topic) = args.connect.url.as_ref().and_then(|u| u.topic.clone()) {
            filters.push(topic);
        }
        if filters.is_empty() {
            bail!("-t: give at least one topic filter to subscribe to (or put it in the URL: -L mqtt://HOST/FILTER)");
        }
        for filter in filters.iter().chain(&args.filter_out) {
            let flag = if args.filter_out.contains(filter) {
                "-T"
            } else {
                "-t"
            };
            topic::validate_topic_filter(filter).with_context(|| format!("{flag} {filter}"))?;
        }
        let retain_handling = match args.retain_handling {
            Some(1) => RetainHandling::SendIfNew,
            Some(2) => RetainHandling::DoNotSend,
            _ => RetainHandling::SendOnSubscribe,
        };
        let subscriptions = filters
            .into_iter()
            .map(|filter| Subscription {
                filter,
                qos: args.qos,
                // Our own clearing PUBLISHes must not come back as messages (MQTT 5).
                no_local: args.no_local || args.remove_retained,
                retain_as_published: args.retain_as_published,
                retain_handling,
            })
            .collect();
        let mut properties = args.connect.properties()?.subscribe;
        properties
            .user_properties
            .extend(args.user_property.iter().cloned());
        let format = if args.json {
            MessageFormat::Json
        } else if let Some(template) = &args.format {
            MessageFormat::Template(
                Template::parse(template).map_err(|e| anyhow::anyhow!("-F: {e}"))?,
            )
        } else if args.verbose {
            MessageFormat::Verbose
        } else {
            MessageFormat::Payload
        };
        let schemas = args.schema.schemas()?;
        let decode = DecodeRules::parse(&args.decode, &schemas)
            .map_err(|e| anyhow::anyhow!("--decode: {e}"))?;
        Ok(Plan {
            subscriptions,
            properties,
            filter_out: args.filter_out.clone(),
            count: args.count,
            timeout: args.timeout,
            format,
            decode,
            no_newline: args.no_newline,
            no_stale: args.no_stale,
            retained_only: args.retained_only,
            remove_retained: args.remove_retained,
        })
    }
}

/// Bytes of output gathered before they are written even though more messages wait.
const OUTPUT_BATCH: usize = 64 * 1024;

async fn subscribe(plan: Plan, connection: connect::Connection) -> anyhow::Result<()> {
    let debug = connection.config.observer.is_some();
    let address = connection.config.address();
    let (client, mut events) = Client::connect(connection.config).await?;
    client
        .subscribe(plan.subscriptions.clone(), plan.properties.clone())
        .await?;
    let deadline = plan.timeout.map(|d| tokio::time::Instant::now() + d);
    let mut printer = Printer::new(plan, debug, address);
    let result = receive(&client, &mut events, &mut printer, deadline).await;
    printer.undecoded.report();
    result
}

/// Prints messages until the subscription ends (-C, -W, a signal, the client).
async fn receive(
    client: &Client,
    events: &mut crate::client::Events,
    printer: &mut Printer,
    deadline: Option<tokio::time::Instant>,
) -> anyhow::Result<()> {
    let mut interrupts = Interrupts::new();
    loop {
        let event = match events.try_recv() {
            Ok(event) => event,
            Err(_) => {
                // Nothing else is waiting: what was gathered goes out now.
                printer.flush()?;
                match wait(events, &mut interrupts, deadline).await {
                    Ok(event) => event,
                    // Ctrl-C or SIGTERM: a clean DISCONNECT, so no will is published
                    // (as mosquitto_sub does).
                    Err(Woken::Interrupted) => return finish(client, events).await,
                    Err(Woken::Closed) => return Err(ClientError::Closed.into()),
                    Err(Woken::TimedOut) => return Err(printer.timed_out().into()),
                }
            }
        };
        match printer.on_event(client, event).await? {
            Step::Continue => {}
            Step::Finish => return finish(client, events).await,
            Step::Closed(result) => return result.map_err(Into::into),
        }
    }
}

/// What ended a wait for the next event, when no event did.
enum Woken {
    Interrupted,
    Closed,
    TimedOut,
}

/// Waits for the next event, SIGINT/SIGTERM, or -W running out.
async fn wait(
    events: &mut crate::client::Events,
    interrupts: &mut Interrupts,
    deadline: Option<tokio::time::Instant>,
) -> Result<ClientEvent, Woken> {
    tokio::select! {
        _ = interrupts.recv() => Err(Woken::Interrupted),
        event = events.recv() => event.ok_or(Woken::Closed),
        _ = sleep_until(deadline) => Err(Woken::TimedOut),
    }
}

/// What the subscription does after an event.
enum Step {
    Continue,
    /// Done (-C, --retained-only): disconnect cleanly.
    Finish,
    /// The client ended on its own, with this result.
    Closed(Result<(), ClientError>),
}

/// The printing side of `sub`: filters and renders messages into a batch written to
/// stdout, counts them for -C, and clears retained messages for --remove-retained.
struct Printer {
    plan: Plan,
    debug: bool,
    address: String,
    received: u64,
    out: Vec<u8>,
    // 3.1.1 has no "no local": the empty messages that clear a retained message come
    // back to us; these topics are waiting for theirs.
    clearing: HashSet<ByteString>,
    version: ProtocolVersion,
    undecoded: Undecoded,
    seq_gaps: SeqGaps,
}

impl Printer {
    fn new(plan: Plan, debug: bool, address: String) -> Printer {
        Printer {
            plan,
            debug,
            address,
            received: 0,
            out: Vec::new(),
            clearing: HashSet::new(),
            version: ProtocolVersion::V5,
            undecoded: Undecoded::default(),
            seq_gaps: SeqGaps::default(),
        }
    }

    async fn on_event(&mut self, client: &Client, event: ClientEvent) -> anyhow::Result<Step> {
        match event {
            ClientEvent::Message(publish) => return self.on_message(client, publish).await,
            ClientEvent::SubAck(ack) => {
                check_suback(&self.plan.subscriptions, &ack.reason_codes, self.version)?
            }
            ClientEvent::Connected {
                fell_back,
                reconnected,
                version,
                ..
            } => {
                self.version = version;
                if fell_back && (self.debug || reconnected) {
                    output::note(format!("{} refused MQTT 5, using MQTT 3.1.1", self.address));
                }
                if reconnected {
                    output::note(format!("reconnected to {}", self.address));
                }
            }
            ClientEvent::ConnectionLost { error, retry_in } => {
                self.flush()?;
                if let Some(delay) = retry_in {
                    output::note(format!(
                        "{error}; reconnecting in {} s",
                        delay.as_secs_f64()
                    ));
                }
            }
            ClientEvent::ReconnectFailed { error, retry_in } => {
                output::note(format!(
                    "{error}; trying again in {} s",
                    retry_in.as_secs_f64()
                ));
            }
            ClientEvent::Closed(result) => {
                self.flush()?;
                return Ok(Step::Closed(result));
            }
            ClientEvent::Delivered { .. }
            | ClientEvent::Dropped { .. }
            | ClientEvent::UnsubAck(_) => {}
        }
        Ok(Step::Continue)
    }

    async fn on_message(&mut self, client: &Client, publish: Publish) -> anyhow::Result<Step> {
        let at = SystemTime::now();
        let plan = &self.plan;
        if publish.payload.is_empty() && !publish.retain && self.clearing.remove(&publish.topic) {
            return Ok(Step::Continue);
        }
        if plan
            .filter_out
            .iter()
            .any(|f| topic::matches(f, &publish.topic))
        {
            return Ok(Step::Continue);
        }
        if plan.remove_retained && publish.retain {
            if self.version == ProtocolVersion::V311 {
                self.clearing.insert(publish.topic.clone());
            }
            client.publish(clear_retained(&publish)).await?;
        }
        if plan.no_stale && publish.retain {
            return Ok(Step::Continue);
        }
        if plan.retained_only && !publish.retain {
            self.flush()?;
            return Ok(Step::Finish);
        }
        let decoding = plan.decode.decode(&publish.topic, &publish.payload);
        match &decoding {
            Some(Err(error)) => self.undecoded.note(&publish.topic, error),
            Some(Ok(decoded)) if decoded.form == "sparkplug" => {
                if let Some(gap) = self.seq_gaps.observe(&decoded.value) {
                    output::warning(gap);
                }
            }
            _ => {}
        }
        let received = Received::new(&publish, at, decoding.as_ref());
        match message::render(&plan.format, &received, plan.no_newline) {
            Ok(bytes) => self.out.extend_from_slice(&bytes),
            Err(e) => output::error_message(e),
        }
        self.received += 1;
        if plan.count.is_some_and(|count| self.received >= count) {
            self.flush()?;
            return Ok(Step::Finish);
        }
        if self.out.len() >= OUTPUT_BATCH {
            self.flush()?;
        }
        Ok(Step::Continue)
    }

    /// The exit of -W running out (status 27, as mosquitto_sub).
    fn timed_out(&self) -> Exit {
        let waited = self
            .plan
            .timeout
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        let message = match self.plan.count {
            Some(count) => format!(
                "timed out after {waited} s: {} of {count} messages arrived",
                self.received
            ),
            None => format!("timed out after {waited} s"),
        };
        Exit::new(27, message)
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        flush(&mut self.out)
    }
}

/// Payloads that a `--decode` rule covered but that did not decode: printed raw, with
/// one warning per topic (a stream of bad payloads must not bury the output) and a
/// count at the end.
#[derive(Default)]
struct Undecoded {
    count: u64,
    warned: HashSet<ByteString>,
}

impl Undecoded {
    fn note(&mut self, topic: &ByteString, error: &str) {
        self.count += 1;
        if self.warned.insert(topic.clone()) {
            output::warning(format!(
                "payload on '{topic}' is {error}; printed raw (further failures on this \
                 topic are counted, not shown)"
            ));
        }
    }

    fn report(&self) {
        if self.count > 0 {
            output::warning(format!(
                "{} payload{} on {} topic{} could not be decoded and {} printed raw",
                self.count,
                plural(self.count),
                self.warned.len(),
                plural(self.warned.len() as u64),
                if self.count == 1 { "was" } else { "were" }
            ));
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The empty retained message that clears `publish`'s (MQTT 3.1.1 §3.3.1.3).
fn clear_retained(publish: &Publish) -> Publish {
    Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: true,
        topic: publish.topic.clone(),
        packet_id: 0,
        properties: Properties::default(),
        payload: Bytes::new(),
    }
}

/// Warns about each refused filter; fails when none was granted.
fn check_suback(
    subscriptions: &[Subscription],
    codes: &[ReasonCode],
    version: ProtocolVersion,
) -> anyhow::Result<()> {
    let mut refused = 0;
    for (sub, code) in subscriptions.iter().zip(codes) {
        if !code.is_success() {
            refused += 1;
            let reason = match version {
                // MQTT 3.1.1 §3.9.3: 0x80, its only refusal, is "Failure"; "unspecified
                // error" is MQTT 5's name for the byte.
                ProtocolVersion::V311 => "failure",
                ProtocolVersion::V5 => code.description(),
            };
            output::warning(format!(
                "the broker refused the subscription to '{}' ({reason}, 0x{:02X})",
                sub.filter, *code as u8
            ));
        }
    }
    if refused == subscriptions.len() {
        bail!("the broker refused every subscription");
    }
    Ok(())
}

/// Disconnects cleanly (the acks of what was printed go out first) and waits for the end.
async fn finish(client: &Client, events: &mut crate::client::Events) -> anyhow::Result<()> {
    let _ = client.disconnect().await;
    let wait = async {
        while let Some(event) = events.recv().await {
            if let ClientEvent::Closed(_) = event {
                break;
            }
        }
    };
    // The output is complete; a broker that does not let go must not keep us here.
    let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
    Ok(())
}

fn flush(out: &mut Vec<u8>) -> anyhow::Result<()> {
    if !out.is_empty() {
        output::stdout_bytes(out).context("cannot write to stdout")?;
        out.clear();
    }
    Ok(())
}

/// SIGINT and SIGTERM, caught from the start of the subscription on.
struct Interrupts {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    fn new() -> Interrupts {
        use tokio::signal::unix::{signal, SignalKind};
        Interrupts {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Resolves when either signal arrives (never, if neither could be caught).
    async fn recv(&mut self) {
        async fn one(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = one(&mut self.int) => {}
            _ = one(&mut self.term) => {}
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

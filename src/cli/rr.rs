//! `mqtk rr`: its flags (`RrArgs`) and `run`: subscribe to the response topic, publish
//! one request, print the matching responses as `sub` prints messages. Must not print
//! directly (use `output`), and formats nothing itself (`output::message` does).

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{ArgGroup, Args};

use super::connect_args::ConnectArgs;
use super::exit::Exit;
use super::format_args::FormatArgs;
use super::schema_args::SchemaArgs;
use super::{connect, values};
use crate::client::{Client, ClientError, ClientEvent, Events};
use crate::output;
use crate::output::message::{self, MessageFormat, Received};
use crate::payload::rules::DecodeRules;
use crate::protocol::{
    topic, Properties, ProtocolVersion, Publish, QoS, RetainHandling, Subscription,
};

/// Long help of the subcommand (`--help`, man page). Lines indented by two spaces are
/// kept as written in the man page (see `docs.rs`).
pub const LONG_ABOUT: &str = "\
Send one request and print its response, like mosquitto_rr, on MQTT 5 and 3.1.1.

mqtk subscribes to the response topic (-e) first, waits for the broker's SUBACK, and only
then publishes the request to -t, so a fast responder is never missed. It prints the
responses as `mqtk sub` prints messages (payload alone, -v, -F or --json) and exits after
-C of them (default 1).

MQTT 5: the request carries the Response Topic (-e) and Correlation Data (16 random
bytes in hex, or --correlation-data), and only a response with the same correlation
data counts; others on -e are ignored (a note each with -d).
MQTT 3.1.1 has no properties: the responder must know the response topic by itself,
and the first message on -e is taken as the response, whatever its origin (so -e must
differ from -t there). A retained message on -e is never a response.

--encode CODEC reads the -m, -f or -s payload as `mqtk pub --encode` does (hex,
base64, json, cbor, msgpack, protobuf, sparkplug) and sends the bytes it stands for;
--decode [FILTER=]CODEC shows the responses decoded as `mqtk sub --decode` does (in
place of the payload with -v and -F %p, in a \"decoded\" field with --json). A response
that does not decode is printed raw with a warning. --proto, --proto-path and
--message-type give the protobuf schema.

`mqtk rr --serve` (answering requests) is not implemented.

Exit status:
  0   -C responses were printed
  27  -W SECS ran out first, as mosquitto_rr
  1   an error: cannot connect, the broker refused the subscription or the request,
      the connection dropped
  2   the command line cannot be parsed";

/// Examples shown after the flags in `--help`.
pub const AFTER_HELP: &str = "\
Examples:
  mqtk rr -t svc/time/req -e svc/time/resp/$$ -m now -W 5
  mqtk rr -t svc/echo -e reply/me -m hello -v --latency
  mqtk rr -V 311 -t dev/42/get -e dev/42/state -n -W 2 --json
  mqtk rr -t dev/42/cmd -e dev/42/reply --encode cbor -m '{\"get\":\"t\"}' --decode cbor";

/// Flags of `mqtk rr`.
#[derive(Debug, Clone, Args)]
#[command(
    disable_help_flag = true,
    group = ArgGroup::new("payload").required(true).multiple(false)
        .args(["message", "file", "stdin_file", "null_message"])
)]
pub struct RrArgs {
    /// Print help (--help only: -h is the host)
    #[arg(long, action = clap::ArgAction::Help, display_order = 999)]
    help: Option<bool>,

    /// Topic to send the request to (required unless -L names one)
    #[arg(short = 't', long, value_name = "TOPIC")]
    pub topic: Option<String>,

    /// Topic the response comes back on (subscribed to before the request is sent)
    #[arg(short = 'e', long, value_name = "TOPIC", required = true)]
    pub response_topic: String,

    /// Send MESSAGE as the request payload
    #[arg(short = 'm', long, value_name = "MESSAGE", help_heading = "Payload")]
    pub message: Option<String>,

    /// Send the contents of FILE as the request payload
    #[arg(short = 'f', long, value_name = "FILE", help_heading = "Payload")]
    pub file: Option<PathBuf>,

    /// Read all of stdin and send it as the request payload
    #[arg(short = 's', long, help_heading = "Payload")]
    pub stdin_file: bool,

    /// Send an empty request
    #[arg(short = 'n', long, help_heading = "Payload")]
    pub null_message: bool,

    /// Read the request payload as CODEC and send the bytes it stands for (as pub --encode)
    #[arg(
        long,
        value_name = "CODEC",
        help_heading = "Payload",
        conflicts_with = "null_message"
    )]
    pub encode: Option<String>,

    /// QoS of the request and of the response subscription: 0, 1 or 2
    #[arg(short = 'q', long, value_name = "QOS", value_parser = values::parse_qos, default_value = "0")]
    pub qos: QoS,

    /// MQTT 5: the correlation data of the request [default: 16 random bytes, in hex]
    #[arg(long, value_name = "DATA")]
    pub correlation_data: Option<String>,

    /// Exit after N responses
    #[arg(short = 'C', long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,

    /// Give up after SECS with exit status 27 if the responses have not arrived
    #[arg(short = 'W', long, value_name = "SECS", value_parser = values::parse_duration)]
    pub timeout: Option<Duration>,

    /// Print `latency: MS ms` (request sent → response received) on stderr per response
    #[arg(long, help_heading = "Output")]
    pub latency: bool,

    /// -v, -F, --json, --pretty, -N, as `mqtk sub` prints messages.
    #[command(flatten)]
    pub output: FormatArgs,

    /// Show responses decoded: CODEC, or FILTER=CODEC (repeatable; as sub --decode)
    #[arg(long, value_name = "[FILTER=]CODEC", help_heading = "Output")]
    pub decode: Vec<String>,

    /// Protobuf schema flags.
    #[command(flatten)]
    pub schema: SchemaArgs,

    /// Connection flags.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Runs `mqtk rr`: checks the flags, connects, subscribes to -e, sends the request and
/// prints the responses until -C of them or -W.
pub fn run(args: RrArgs) -> anyhow::Result<()> {
    let plan = Plan::from_args(&args)?;
    let connection = connect::connection(&args.connect)?;
    connect::block_on(request(plan, connection))?
}

/// The checked rr flags.
struct Plan {
    request_topic: String,
    response_topic: String,
    payload: Bytes,
    qos: QoS,
    correlation_data: Bytes,
    /// --correlation-data was given (a warning on 3.1.1, which cannot carry it).
    correlation_given: bool,
    properties: Properties,
    count: u64,
    timeout: Option<Duration>,
    latency: bool,
    format: MessageFormat,
    no_newline: bool,
    decode: DecodeRules,
}

impl Plan {
    fn from_args(args: &RrArgs) -> anyhow::Result<Plan> {
        let url_topic = args.connect.url.as_ref().and_then(|u| u.topic.clone());
        let Some(request_topic) = args.topic.clone().or(url_topic) else {
            bail!("-t: give the topic to send the request to (or put it in the URL: -L mqtt://HOST/TOPIC)");
        };
        topic::validate_topic_name(&request_topic)
            .with_context(|| format!("-t {request_topic}"))?;
        // A response topic is where a responder publishes (MQTT 5 §3.3.2.3.5): a
        // name, not a filter.
        topic::validate_topic_name(&args.response_topic)
            .with_context(|| format!("-e {}", args.response_topic))?;
        let payload = request_payload(args)?;
        let payload =
            match &args.encode {
                Some(name) if !args.null_message => {
                    let codec = args.schema.encode_codec(name)?;
                    let flag = if args.message.is_some() {
                        "-m"
                    } else if args.file.is_some() {
                        "-f"
                    } else {
                        "-s"
                    };
                    Bytes::from(codec.encode(&payload).map_err(|e| {
                        anyhow::anyhow!("--encode {codec}: the {flag} payload is {e}")
                    })?)
                }
                _ => payload,
            };
        let decode = DecodeRules::parse(&args.decode, &args.schema.schemas()?)
            .map_err(|e| anyhow::anyhow!("--decode: {e}"))?;
        let correlation_data = match &args.correlation_data {
            Some(data) => Bytes::from(data.clone()),
            None => random_correlation_data()?,
        };
        let format = args.output.message_format()?;
        Ok(Plan {
            request_topic,
            response_topic: args.response_topic.clone(),
            payload,
            qos: args.qos,
            correlation_data,
            correlation_given: args.correlation_data.is_some(),
            properties: args.connect.properties()?.publish,
            count: args.count,
            timeout: args.timeout,
            latency: args.latency,
            format,
            no_newline: args.output.no_newline,
            decode,
        })
    }

    /// The request; on MQTT 5 with Response Topic and Correlation Data (MQTT 5
    /// §4.10.1), which 3.1.1 cannot carry.
    fn request(&self, version: ProtocolVersion) -> Publish {
        let mut properties = self.properties.clone();
        if version == ProtocolVersion::V5 {
            properties.response_topic = Some(self.response_topic.as_str().into());
            properties.correlation_data = Some(self.correlation_data.clone());
        }
        Publish {
            dup: false,
            qos: self.qos,
            retain: false,
            topic: self.request_topic.as_str().into(),
            packet_id: 0,
            properties,
            payload: self.payload.clone(),
        }
    }

    /// Whether `publish` answers our request: on 3.1.1 anything on -e does.
    fn matches(&self, publish: &Publish, version: ProtocolVersion) -> bool {
        version == ProtocolVersion::V311
            || publish.properties.correlation_data.as_ref() == Some(&self.correlation_data)
    }
}

/// The request payload of -m, -f, -s or -n, as given.
fn request_payload(args: &RrArgs) -> anyhow::Result<Bytes> {
    Ok(if let Some(message) = &args.message {
        Bytes::from(message.clone())
    } else if let Some(path) = &args.file {
        Bytes::from(
            std::fs::read(path)
                .with_context(|| format!("-f {}: cannot read the file", path.display()))?,
        )
    } else if args.stdin_file {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
            .context("-s: cannot read stdin")?;
        Bytes::from(bytes)
    } else {
        Bytes::new()
    })
}

/// 16 random bytes in lower-case hex: unique per request, and readable in `-d` lines
/// and in a responder's logs.
fn random_correlation_data() -> anyhow::Result<Bytes> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).context("cannot draw random correlation data")?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Bytes::from(hex))
}

async fn request(plan: Plan, connection: connect::Connection) -> anyhow::Result<()> {
    let debug = connection.config.observer.is_some();
    let (client, mut events) = Client::connect(connection.config).await?;
    let deadline = plan.timeout.map(|d| tokio::time::Instant::now() + d);
    let version = match next(&mut events, deadline, &plan).await? {
        ClientEvent::Connected { version, .. } => version,
        other => bail!("the client reported {other:?} before connecting"),
    };
    if version == ProtocolVersion::V311 && plan.response_topic == plan.request_topic {
        // MQTT 3.1.1 has no No Local option: the request itself would be the response.
        bail!(
            "-e {}: on MQTT 3.1.1 the response topic must differ from -t",
            plan.response_topic
        );
    }
    if version == ProtocolVersion::V311 && plan.correlation_given {
        output::warning("--correlation-data is not sent: MQTT 3.1.1 has no properties");
    }
    let subscription = Subscription {
        filter: plan.response_topic.clone(),
        qos: plan.qos,
        // Our own request must not come back as its response when -e equals -t.
        no_local: true,
        retain_as_published: false,
        // An old retained message on -e is not the answer to this request.
        retain_handling: RetainHandling::DoNotSend,
    };
    client
        .subscribe(vec![subscription], Properties::default())
        .await?;
    let sent_at = loop {
        match next(&mut events, deadline, &plan).await? {
            ClientEvent::SubAck(ack) => {
                if let Some(code) = ack.reason_codes.first().filter(|c| !c.is_success()) {
                    bail!(
                        "the broker refused the subscription to -e {} (0x{:02X})",
                        plan.response_topic,
                        *code as u8
                    );
                }
                client.publish(plan.request(version)).await?;
                break Instant::now();
            }
            event => on_other(event)?,
        }
    };
    let mut printed = 0;
    while printed < plan.count {
        match next(&mut events, deadline, &plan).await? {
            ClientEvent::Message(publish) => {
                // 3.1.1 has no retain handling: a retained message is old news.
                if publish.retain && version == ProtocolVersion::V311 {
                    continue;
                }
                if !plan.matches(&publish, version) {
                    if debug {
                        output::note(format!(
                            "ignored a message on {} without our correlation data",
                            publish.topic
                        ));
                    }
                    continue;
                }
                print(&plan, &publish, sent_at)?;
                printed += 1;
            }
            event => on_other(event)?,
        }
    }
    let _ = client.disconnect().await;
    // The responses are printed; a broker that does not let go must not keep us here.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(event) = events.recv().await {
            if let ClientEvent::Closed(_) = event {
                break;
            }
        }
    })
    .await;
    Ok(())
}

fn print(plan: &Plan, publish: &Publish, sent_at: Instant) -> anyhow::Result<()> {
    let elapsed = sent_at.elapsed();
    let at = SystemTime::now();
    let decoding = plan.decode.decode(&publish.topic, &publish.payload);
    if let Some(Err(error)) = &decoding {
        output::warning(format!(
            "response on '{}' is {error}; printed raw",
            publish.topic
        ));
    }
    let received = Received::new(publish, at, decoding.as_ref());
    match message::render(&plan.format, &received, plan.no_newline) {
        Ok(bytes) => output::stdout_bytes(&bytes).context("cannot write to stdout")?,
        Err(e) => output::error_message(e),
    }
    if plan.latency {
        output::note(format!("latency: {:.3} ms", elapsed.as_secs_f64() * 1e3));
    }
    Ok(())
}

/// Events that are not responses: failures end rr, the rest are notes or nothing.
fn on_other(event: ClientEvent) -> anyhow::Result<()> {
    match event {
        ClientEvent::Delivered { reason_code, .. } if !reason_code.is_success() => {
            bail!(
                "the broker refused the request ({})",
                reason_code.description()
            )
        }
        ClientEvent::Dropped { reason, .. } => bail!("the request was not sent: {reason}"),
        ClientEvent::Closed(result) => {
            result?;
            Err(ClientError::Closed.into())
        }
        ClientEvent::ConnectionLost {
            error,
            retry_in: Some(delay),
        } => {
            output::note(format!(
                "{error}; reconnecting in {} s",
                delay.as_secs_f64()
            ));
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The next event, or exit 27 when -W runs out first.
async fn next(
    events: &mut Events,
    deadline: Option<tokio::time::Instant>,
    plan: &Plan,
) -> anyhow::Result<ClientEvent> {
    let event = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, events.recv())
            .await
            .map_err(|_| timed_out(plan))?,
        None => events.recv().await,
    };
    event.ok_or_else(|| ClientError::Closed.into())
}

fn timed_out(plan: &Plan) -> Exit {
    let waited = plan.timeout.map(|d| d.as_secs_f64()).unwrap_or_default();
    Exit::new(
        27,
        format!(
            "timed out after {waited} s waiting for a response on {}",
            plan.response_topic
        ),
    )
}

//! `mqtk sub`: its flags (`SubscribeArgs`) and `run`, which turns them into a checked
//! subscribe config and drives the client. Must not print directly (use `output`).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use bytes::Bytes;
use bytestring::ByteString;
use clap::Args;

use super::{connect, values, ConnectArgs, Exit};
use crate::client::{Client, ClientError, ClientEvent};
use crate::output::message::{MessageFormat, Received, Template};
use crate::output::{self, message};
use crate::protocol::{
    topic, Properties, ProtocolVersion, Publish, QoS, ReasonCode, RetainHandling, Subscription,
};

/// Long help of the subcommand (`--help`, man page).
pub const LONG_ABOUT: &str = "\
Subscribe to topic filters and print each message, like mosquitto_sub.

Output is flushed after every message, so `mqtk sub ... | grep` and `| head -1` work;
a closed pipe ends mqtk quietly with status 0. When the connection drops the subscriber
reconnects with backoff, unless --no-reconnect. With -C N -W SECS it exits with status 27
if fewer than N messages arrived within SECS.

-F templates (as mosquitto_sub): %t topic, %p payload, %q QoS, %r retain flag, %m message
id, %I ISO-8601 time, %x payload in hex, %j JSON, %% a percent sign; \\n \\t \\\\ escapes.";

/// Examples shown after the flags in `--help`.
pub const AFTER_HELP: &str = "\
Examples:
  mqtk sub -t 'sensors/#' -v
  mqtk sub -t a -t b -C 1 -W 5                 wait up to 5 s for one message
  mqtk sub -t 'logs/#' | grep -i error
  mqtk sub -t 'sensors/+/temp' --json | jq .payload
  mqtk sub -t '#' -F '%I %t %x'
  mqtk sub -t 'cfg/#' --retained-only --remove-retained   clear retained messages";

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

    /// Give up after SECS: exit status 27 if fewer than -C messages arrived
    #[arg(short = 'W', long, value_name = "SECS", value_parser = values::parse_duration)]
    pub timeout: Option<Duration>,

    /// Print `topic payload` for each message
    #[arg(short = 'v', long, help_heading = "Output")]
    pub verbose: bool,

    /// Print each message with a mosquitto-style template (%t %p %q %r %m %I %x %j)
    #[arg(short = 'F', long, value_name = "TEMPLATE", help_heading = "Output",
          conflicts_with_all = ["verbose", "json"])]
    pub format: Option<String>,

    /// One JSON object per line: topic, payload (text or base64), qos, retain, time, properties
    #[arg(long, help_heading = "Output", conflicts_with = "verbose")]
    pub json: bool,

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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(subscribe(plan, connection))
}

/// The checked subscribe flags.
struct Plan {
    subscriptions: Vec<Subscription>,
    properties: Properties,
    filter_out: Vec<String>,
    count: Option<u64>,
    timeout: Option<Duration>,
    format: MessageFormat,
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
        Ok(Plan {
            subscriptions,
            properties,
            filter_out: args.filter_out.clone(),
            count: args.count,
            timeout: args.timeout,
            format,
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
    let mut received = 0u64;
    let mut out: Vec<u8> = Vec::new();
    // 3.1.1 has no "no local": the empty messages that clear a retained message come
    // back to us; these topics are waiting for theirs.
    let mut clearing: HashSet<ByteString> = HashSet::new();
    let mut version = ProtocolVersion::V5;
    let mut interrupts = Interrupts::new();
    loop {
        let event = match events.try_recv() {
            Ok(event) => event,
            Err(_) => {
                // Nothing else is waiting: what was gathered goes out now.
                flush(&mut out)?;
                tokio::select! {
                    _ = interrupts.recv() => {
                        // Ctrl-C or SIGTERM: a clean DISCONNECT, so no will is published
                        // (as mosquitto_sub does).
                        return finish(&client, &mut events).await;
                    }
                    event = events.recv() => match event {
                        Some(event) => event,
                        None => return Err(ClientError::Closed.into()),
                    },
                    _ = sleep_until(deadline) => {
                        let waited = plan.timeout.map(|d| d.as_secs_f64()).unwrap_or_default();
                        let message = match plan.count {
                            Some(count) => format!("timed out after {waited} s: {received} of {count} messages arrived"),
                            None => format!("timed out after {waited} s"),
                        };
                        return Err(Exit::new(27, message).into());
                    }
                }
            }
        };
        match event {
            ClientEvent::Message(publish) => {
                let at = SystemTime::now();
                if publish.payload.is_empty() && !publish.retain && clearing.remove(&publish.topic)
                {
                    continue;
                }
                if plan
                    .filter_out
                    .iter()
                    .any(|f| topic::matches(f, &publish.topic))
                {
                    continue;
                }
                if plan.remove_retained && publish.retain {
                    if version == ProtocolVersion::V311 {
                        clearing.insert(publish.topic.clone());
                    }
                    client.publish(clear_retained(&publish)).await?;
                }
                if plan.no_stale && publish.retain {
                    continue;
                }
                if plan.retained_only && !publish.retain {
                    flush(&mut out)?;
                    return finish(&client, &mut events).await;
                }
                match message::render(
                    &plan.format,
                    &Received {
                        publish: &publish,
                        at,
                    },
                    plan.no_newline,
                ) {
                    Ok(bytes) => out.extend_from_slice(&bytes),
                    Err(e) => output::error_message(e),
                }
                received += 1;
                if plan.count.is_some_and(|count| received >= count) {
                    flush(&mut out)?;
                    return finish(&client, &mut events).await;
                }
                if out.len() >= OUTPUT_BATCH {
                    flush(&mut out)?;
                }
            }
            ClientEvent::SubAck(ack) => {
                check_suback(&plan.subscriptions, &ack.reason_codes, version)?
            }
            ClientEvent::Connected {
                fell_back,
                reconnected,
                version: now_speaking,
                ..
            } => {
                version = now_speaking;
                if fell_back && (debug || reconnected) {
                    output::note(format!("{address} refused MQTT 5, using MQTT 3.1.1"));
                }
                if reconnected {
                    output::note(format!("reconnected to {address}"));
                }
            }
            ClientEvent::ConnectionLost { error, retry_in } => {
                flush(&mut out)?;
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
                flush(&mut out)?;
                return result.map_err(Into::into);
            }
            ClientEvent::Delivered { .. }
            | ClientEvent::Dropped { .. }
            | ClientEvent::UnsubAck(_) => {}
        }
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

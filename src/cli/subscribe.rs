//! `mqtk sub`: its flags (`SubscribeArgs`) and `run`, which turns them into a checked
//! subscribe config and drives the client. Must not print directly (use `output`).

use std::time::Duration;

use clap::Args;

use super::{values, ConnectArgs, Exit};
use crate::protocol::QoS;

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

/// Runs `mqtk sub`.
pub fn run(_args: SubscribeArgs) -> anyhow::Result<()> {
    Err(Exit::not_implemented("sub").into())
}

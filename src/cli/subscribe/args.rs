//! The flags of `mqtk sub` (`SubscribeArgs`), as clap parses them. Must not check
//! combinations beyond what clap declares (`plan.rs` does).

use std::time::Duration;

use clap::Args;

use crate::cli::connect_args::ConnectArgs;
use crate::cli::format_args::FormatArgs;
use crate::cli::schema_args::SchemaArgs;
use crate::cli::values;
use crate::protocol::{QoS, RetainHandling};

/// Flags of `mqtk sub`.
#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct SubscribeArgs {
    /// Print help (--help only: -h is the host)
    #[arg(long, action = clap::ArgAction::Help, display_order = 999)]
    help: Option<bool>,

    /// Topic filter to subscribe to (repeatable; required unless -L names one, or -U is given)
    #[arg(short = 't', long, value_name = "FILTER")]
    pub topic: Vec<String>,

    /// Unsubscribe from FILTER after subscribing to -t (repeatable); with no -t, exit when the broker has answered (use with -c -i ID)
    #[arg(short = 'U', long = "unsubscribe", value_name = "FILTER")]
    pub unsubscribe: Vec<String>,

    /// Exit as soon as the broker has acknowledged the subscriptions (with -c -i ID: set up a session for later)
    #[arg(short = 'E', long = "exit-after-subscribe")]
    pub exit_after_subscribe: bool,

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

    /// -v, -F, --json, --pretty, -N.
    #[command(flatten)]
    pub output: FormatArgs,

    /// On a terminal, keep one line per topic and update it in place
    #[arg(short = 'w', long, help_heading = "Output")]
    pub watch: bool,

    /// Print how many messages arrived each second (`N msgs/s`) instead of the messages
    #[arg(long, help_heading = "Output",
          conflicts_with_all = ["verbose", "format", "json", "pretty", "watch", "no_newline", "decode", "count"])]
    pub message_rate: bool,

    /// Print each message with a chance of PCT percent (0.1 to 100); -C still counts every message
    #[arg(long, value_name = "PCT", help_heading = "Output", value_parser = values::parse_percent)]
    pub random_filter: Option<f64>,

    /// Show payloads decoded: CODEC for all topics, FILTER=CODEC for some (repeatable; hex, base64, json, auto, cbor, msgpack, protobuf, protobuf:TYPE, sparkplug)
    #[arg(long, value_name = "[FILTER=]CODEC", help_heading = "Output")]
    pub decode: Vec<String>,

    /// Protobuf schema flags.
    #[command(flatten)]
    pub schema: SchemaArgs,

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

    /// MQTT 5 retained messages on subscribing: always, new (only for a new subscription), never (also 0, 1, 2)
    #[arg(long = "retain-handling", visible_alias = "rh", value_name = "WHEN",
          help_heading = "MQTT 5 subscription options", value_parser = values::parse_retain_handling)]
    pub retain_handling: Option<RetainHandling>,

    /// MQTT 5 user property on the SUBSCRIBE, KEY=VALUE (repeatable)
    #[arg(long, value_name = "KEY=VALUE", help_heading = "MQTT 5 subscription options",
          value_parser = values::parse_key_value)]
    pub user_property: Vec<(String, String)>,

    /// Connection flags.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

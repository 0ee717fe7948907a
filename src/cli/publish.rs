//! `mqtk pub`: its flags (`PublishArgs`) and `run`, which turns them into a checked
//! publish config and drives the client. Must not print directly (use `output`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args};

use super::properties::MessagePropertyArgs;
use super::{values, ConnectArgs, Exit};
use crate::protocol::QoS;

/// Long help of the subcommand (`--help`, man page).
pub const LONG_ABOUT: &str = "\
Publish messages to an MQTT broker, like mosquitto_pub.

The payload comes from exactly one of -m, -f, -s, -l or -n. With -l every line of stdin
is published as its own message until end of input, so a log can be streamed.
The exit status is 0 only when every message was published and, for QoS 1 and 2,
acknowledged by the broker.";

/// Examples shown after the flags in `--help`.
pub const AFTER_HELP: &str = "\
Examples:
  mqtk pub -t sensors/t1 -m 21.5
  mqtk pub -h broker.local -t cfg/app -f app.json -q 1 -r
  tail -f /var/log/syslog | mqtk pub -l -t logs/syslog
  mqtk pub -L mqtt://alice:secret@broker:1883/alerts -m 'disk full' -q 2
  mqtk pub -t a/b -m hi --user-property source=cron --message-expiry 60
  mqtk pub -t a/b -n -r                       clear the retained message of a/b";

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

/// Runs `mqtk pub`.
pub fn run(_args: PublishArgs) -> anyhow::Result<()> {
    Err(Exit::not_implemented("pub").into())
}

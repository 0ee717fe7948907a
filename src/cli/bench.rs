//! `mqtk bench`: its flags (`BenchArgs`) and `run`, which turns them into a checked
//! scenario for `crate::bench`. Must not print directly (use `output`) or measure.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::properties::MessagePropertyArgs;
use super::{values, ConnectArgs, Exit};
use crate::protocol::QoS;

/// Long help of the subcommand (`--help`, man page).
pub const LONG_ABOUT: &str = "\
Load-test an MQTT broker with simulated publishers and subscribers and report throughput,
latency percentiles, losses and duplicates.

With no -h or -L it starts the mqtk broker in-process on a free port and measures that.
Publisher i publishes to --topic with %i replaced by i; subscriber j subscribes to
--sub-topic with %i replaced by j. The default --sub-topic is --topic with %i replaced by
`+`, so `--topic 'b/%i'` alone is fan-in and adding `--sub-topic 'b/%i'` gives one-to-one
pairs. Progress goes to stderr (a bar on a terminal, plain lines otherwise).";

/// Examples shown after the flags in `--help`.
pub const AFTER_HELP: &str = "\
Examples:
  mqtk bench                                            the built-in broker, defaults
  mqtk bench -h localhost --publishers 10 --subscribers 1 --messages 10000 -q 1
  mqtk bench -h localhost --publishers 100 --subscribers 100 --topic 'b/%i' --sub-topic 'b/%i'
  mqtk bench --scenario fan-out --subscribers 500 --duration 30s --rate 100
  mqtk bench -h broker --publishers 1000 --connect-rate 200 --json report.json";

/// Ready-made shapes of load; explicit flags override what they set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Many publishers on their own topics, subscribers on a wildcard over all of them.
    FanIn,
    /// Few publishers on one topic, many subscribers on that topic.
    FanOut,
    /// Publisher i to subscriber i, one topic per pair.
    Pairs,
    /// Subscribers share one `$share/GROUP/…` subscription: each message goes to one.
    Shared,
    /// Connections only: connect, hold, disconnect; measures connect times.
    Connect,
}

/// Flags of `mqtk bench`.
#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct BenchArgs {
    /// Print help (--help only: -h is the host)
    #[arg(long, action = clap::ArgAction::Help, display_order = 999)]
    help: Option<bool>,

    /// Number of publishing clients
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub publishers: u32,

    /// Number of subscribing clients
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub subscribers: u32,

    /// QoS of publishes and subscriptions: 0, 1 or 2
    #[arg(short = 'q', long, value_name = "QOS", value_parser = values::parse_qos, default_value = "0")]
    pub qos: QoS,

    /// Payload size in bytes (includes the timestamp used for latency)
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    pub size: usize,

    /// Messages per publisher [default: 1000 unless --duration]
    #[arg(long, value_name = "K", conflicts_with = "duration",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub messages: Option<u64>,

    /// Publish for this long instead of a count (seconds, or 30s, 2m, …)
    #[arg(long, value_name = "SECS", value_parser = values::parse_duration)]
    pub duration: Option<Duration>,

    /// Messages per second per publisher [default: as fast as possible]
    #[arg(long, value_name = "MSGS_PER_SEC")]
    pub rate: Option<f64>,

    /// Publish topic template; %i is the publisher index
    #[arg(long, value_name = "TEMPLATE", default_value = "mqtk/bench/%i")]
    pub topic: String,

    /// Subscription template; %i is the subscriber index [default: --topic with %i → +]
    #[arg(long, value_name = "TEMPLATE")]
    pub sub_topic: Option<String>,

    /// Subscribers join the shared subscription $share/GROUP/… (each message goes to one)
    #[arg(long, value_name = "GROUP")]
    pub shared: Option<String>,

    /// Ready-made load shape; explicit flags override it
    #[arg(long, value_name = "NAME", visible_alias = "preset")]
    pub scenario: Option<Scenario>,

    /// Open at most this many connections per second while starting up
    #[arg(long, value_name = "PER_SEC")]
    pub connect_rate: Option<f64>,

    /// Spread client connections over these local addresses (comma separated), for
    /// more than ~60k connections to one broker port
    #[arg(long, value_name = "ADDR,...", value_delimiter = ',')]
    pub bind_addresses: Vec<IpAddr>,

    /// Measure nothing for this long after start (seconds, or 5s, …)
    #[arg(long, value_name = "SECS", value_parser = values::parse_duration)]
    pub warmup: Option<Duration>,

    /// At most N unacknowledged QoS 1/2 messages per publisher [default: receive maximum]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub inflight: Option<u16>,

    /// Retain published messages
    #[arg(short = 'r', long)]
    pub retain: bool,

    /// Write the JSON report to FILE, or to stdout with `-`
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<PathBuf>,

    /// Write the latency histogram in HdrHistogram log format to FILE
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,

    /// MQTT 5 properties of each message.
    #[command(flatten)]
    pub message_properties: MessagePropertyArgs,

    /// Connection flags (no -h/-L: bench the built-in broker).
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Runs `mqtk bench`.
pub fn run(_args: BenchArgs) -> anyhow::Result<()> {
    Err(Exit::not_implemented("bench").into())
}

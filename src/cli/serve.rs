//! `mqtk serve`: its flags (`ServeArgs`) and `run`, which turns them (and `-c FILE`) into
//! a checked broker config and runs `crate::broker`. Must not print directly.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::broker::{self, BrokerConfig};
use crate::output;

use super::serve_setup;
use super::{values, Exit};
use crate::broker::listeners::ListenerSpec;

/// Long help of the subcommand (`--help`, man page). Lines indented by two spaces are
/// kept as written in the man page (see `docs.rs`).
pub const LONG_ABOUT: &str = "\
Run an MQTT 3.1.1 and 5.0 broker.

Before any other output on stdout it prints exactly one line
`listening on mqtt://ADDR:PORT` (the real port with -p 0) and flushes it, then one line
per further listener (mqtts://, ws://), so a script can start it in the background and
read the port. Nothing else goes to stdout; logs go to stderr.

By default it listens on 127.0.0.1:1883 only, allows anonymous clients, keeps everything
in memory, and applies mosquitto's default limits: 20 QoS 1/2 messages in flight and 1000
more queued per client, packets up to 268435455 bytes, keep alive up to 65535 s, no
connection limit. When a connected client's queue is full, a message for it (any QoS)
makes the publisher wait (up to 1 s) for room; messages for a client that is offline or
has stopped reading are dropped and counted instead (-vv shows them). Long before that,
a connected client with more than 64 messages queued makes the publishers wait until
it has taken half of them (nothing is dropped for this), so publishers go at their
subscribers' pace and messages do not wait behind long queues. Unlike mosquitto,
QoS 0 messages count towards the queue too. MQTT 5 clients
learn the limits from CONNACK (Receive Maximum, Maximum Packet Size, Server Keep Alive);
a client that exceeds them is disconnected.

--password-file FILE checks user names and passwords against a mosquitto_passwd file and
refuses anonymous clients, as mosquitto 2.0 does, unless --allow-anonymous true. A refused
client gets CONNACK \"not authorized\" (MQTT 5: 0x87, 3.1.1: 5). --acl-file restricts
topics per user; see README.md for both file formats.

-v logs to stderr, one line each, in mosquitto's words: connections, refusals,
disconnections, subscriptions. -vv also logs every PUBLISH received and how many
receivers it went to and how many were dropped. $SYS/# topics publish the broker's
counters every second, and afresh for each new $SYS subscriber.

SIGINT and SIGTERM stop it cleanly: MQTT 5 clients get DISCONNECT \"server shutting
down\" (0x8B), and the exit status is 0. -c reads the common subset of a mosquitto.conf;
flags given on the command line win over the file.

Exit status: 0 after SIGINT or SIGTERM; 1 when it cannot start (port in use, bad -c file,
unreadable --password-file or --acl-file, a --data-dir that is not an mqtk store); 2 when
the command line cannot be parsed.";

/// Examples shown after the flags in `--help`.
pub const AFTER_HELP: &str = "\
Examples:
  mqtk serve                                   127.0.0.1:1883, anonymous clients allowed
  mqtk serve --bind 0.0.0.0 -p 1883 -v
  mqtk serve -p 0 | head -1                     pick a free port and print it
  mqtk serve -c /etc/mosquitto/mosquitto.conf
  mqtk serve --data-dir /var/lib/mqtk --password-file passwd --allow-anonymous false
  mqtk serve --tls-port 8883 --cert server.pem --key server.key --ws-port 9001";

/// Flags of `mqtk serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: String,

    /// MQTT/TCP port; 0 picks a free one
    #[arg(short = 'p', long, value_name = "PORT", default_value_t = 1883, value_parser = values::parse_port)]
    pub port: u16,

    /// Log connections and packets to stderr (-vv: every publish too)
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Read settings from a mosquitto.conf (the common subset)
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Keep retained messages and sessions in DIR across restarts
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// With --data-dir: when changes reach the disk, `always` (before each acknowledgement)
    /// or `every-N-ms` (faster; a crash loses at most the last N ms) [default: always]
    #[arg(long, value_name = "WHEN")]
    pub fsync: Option<String>,

    /// Maximum number of client connections [default: unlimited]
    #[arg(long, value_name = "N", help_heading = "Limits",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,

    /// Largest packet accepted, in bytes [default: 268435455, the MQTT maximum]
    #[arg(long, value_name = "BYTES", help_heading = "Limits",
          value_parser = clap::value_parser!(u32).range(2..=268_435_460))]
    pub max_packet_size: Option<u32>,

    /// QoS 1/2 messages in flight per client [default: 20]
    #[arg(long, value_name = "N", help_heading = "Limits",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_inflight: Option<u16>,

    /// Messages queued per client beyond those in flight, QoS 0 included; 0: no limit [default: 1000]
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub max_queued: Option<u32>,

    /// Largest keep alive granted to clients, in seconds [default: 65535]
    #[arg(long, value_name = "SECS", help_heading = "Limits",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_keepalive: Option<u16>,

    /// Allow clients without a user name: true or false [default: true, false with --password-file]
    #[arg(long, value_name = "BOOL", help_heading = "Access", num_args = 0..=1,
          default_missing_value = "true")]
    pub allow_anonymous: Option<bool>,

    /// Check user names and passwords against FILE (mosquitto_passwd format)
    #[arg(long, value_name = "FILE", help_heading = "Access")]
    pub password_file: Option<PathBuf>,

    /// Restrict topics per user with FILE (mosquitto acl_file format)
    #[arg(long, value_name = "FILE", help_heading = "Access")]
    pub acl_file: Option<PathBuf>,

    /// Also listen for MQTT over TLS on PORT (needs --cert and --key)
    #[arg(long, value_name = "PORT", help_heading = "More listeners", value_parser = values::parse_port,
          requires_all = ["cert", "key"])]
    pub tls_port: Option<u16>,

    /// Server certificate chain (PEM) for --tls-port
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "More listeners",
        requires = "tls_port"
    )]
    pub cert: Option<PathBuf>,

    /// Private key (PEM) of --cert
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "More listeners",
        requires = "tls_port"
    )]
    pub key: Option<PathBuf>,

    /// CA certificates (PEM) that client certificates must chain to
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "More listeners",
        requires = "tls_port"
    )]
    pub cafile: Option<PathBuf>,

    /// Refuse TLS clients without a certificate signed by --cafile
    #[arg(long, help_heading = "More listeners", requires = "cafile")]
    pub require_certificate: bool,

    /// Also listen for MQTT over WebSocket on PORT
    #[arg(long, value_name = "PORT", help_heading = "More listeners", value_parser = values::parse_port)]
    pub ws_port: Option<u16>,
}

/// Runs `mqtk serve` until SIGINT or SIGTERM.
pub fn run(mut args: ServeArgs) -> anyhow::Result<()> {
    let deployment = serve_setup::setup(&mut args)?;
    for warning in &deployment.warnings {
        output::warning(warning);
    }
    let mut config = broker_config(&args)?;
    deployment.apply_to(&mut config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config, deployment.listeners))
}

/// Turns the flags into a checked broker configuration.
fn broker_config(args: &ServeArgs) -> anyhow::Result<BrokerConfig> {
    let ip: IpAddr = args.bind.parse().map_err(|_| {
        Exit::new(
            2,
            format!(
                "invalid --bind address '{}': give an IP address such as 127.0.0.1 or 0.0.0.0",
                args.bind
            ),
        )
    })?;
    let defaults = BrokerConfig::default();
    Ok(BrokerConfig {
        bind: SocketAddr::new(ip, args.port),
        verbosity: args.verbose,
        max_connections: args.max_connections.map(|n| n as usize),
        max_packet_size: args.max_packet_size.unwrap_or(defaults.max_packet_size),
        max_inflight: args.max_inflight.unwrap_or(defaults.max_inflight),
        max_queued: args
            .max_queued
            // 0 is "no limit", as max_queued_messages 0 is in mosquitto.conf.
            .map(|n| if n == 0 { super::serve_setup::UNLIMITED_QUEUE } else { n } as usize)
            .unwrap_or(defaults.max_queued),
        max_keepalive: args.max_keepalive.unwrap_or(defaults.max_keepalive),
        ..defaults
    })
}

async fn serve(config: BrokerConfig, listeners: Vec<ListenerSpec>) -> anyhow::Result<()> {
    // Handlers first: a script may send SIGTERM as soon as it reads the port.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot install the SIGINT handler")?;
    let broker = broker::start(config).await?;
    output::stdout_line(format!("listening on mqtt://{}", broker.local_addr()))
        .context("cannot write to stdout")?;
    for url in serve_setup::start_listeners(listeners, broker.handle()).await? {
        output::stdout_line(format!("listening on {url}")).context("cannot write to stdout")?;
    }
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    broker.shutdown().await;
    Ok(())
}

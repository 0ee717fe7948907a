//! `mqtk serve`: its flags (`ServeArgs`) and `run`, which turns them (and `-c FILE`) into
//! a checked broker config and runs `crate::broker`. Must not print directly.

use std::path::PathBuf;

use clap::Args;

use super::{values, Exit};

/// Long help of the subcommand (`--help`, man page).
pub const LONG_ABOUT: &str = "\
Run an MQTT 3.1.1 and 5.0 broker.

Before any other output on stdout it prints exactly one line
`listening on mqtt://ADDR:PORT` (the real port with -p 0), then one line per further
listener (mqtts://, ws://), so a script can start it in the background and read the port.
It stops cleanly on SIGINT and SIGTERM. -c reads the common subset of a mosquitto.conf;
flags given on the command line win over the file.";

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

    /// Maximum number of client connections [default: unlimited]
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub max_connections: Option<u32>,

    /// Largest packet accepted, in bytes [default: 268435455, the MQTT maximum]
    #[arg(long, value_name = "BYTES", help_heading = "Limits",
          value_parser = clap::value_parser!(u32).range(2..=268_435_460))]
    pub max_packet_size: Option<u32>,

    /// QoS 1/2 messages in flight per client [default: 20]
    #[arg(long, value_name = "N", help_heading = "Limits",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_inflight: Option<u16>,

    /// Messages queued per client beyond those in flight [default: 1000]
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub max_queued: Option<u32>,

    /// Largest keep alive granted to clients, in seconds [default: 65535]
    #[arg(long, value_name = "SECS", help_heading = "Limits",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_keepalive: Option<u16>,

    /// Allow clients without a user name: true or false [default: true]
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

/// Runs `mqtk serve`.
pub fn run(_args: ServeArgs) -> anyhow::Result<()> {
    Err(Exit::not_implemented("serve").into())
}

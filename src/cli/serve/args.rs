//! The flags of `mqtk serve` (`ServeArgs`), as clap parses them. Must not check
//! combinations beyond what clap declares (`setup.rs` and `run` do).

use std::path::PathBuf;

use clap::Args;

use crate::cli::values;
use crate::protocol::codec::MAX_PACKET_SIZE;

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

    /// Threads serving clients; 1: one event loop, packets applied in the order they are read [default: one per core]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

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
          value_parser = clap::value_parser!(u32).range(2..=i64::from(MAX_PACKET_SIZE)))]
    pub max_packet_size: Option<u32>,

    /// QoS 1/2 messages in flight per client [default: 20]
    #[arg(long, value_name = "N", help_heading = "Limits",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_inflight: Option<u16>,

    /// Messages queued per client beyond those in flight, QoS 0 included; 0: no limit [default: 1000]
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub max_queued: Option<u32>,

    /// Bytes (topics + payloads) queued per client beyond those in flight; 0: no limit [default: 134217728]
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    pub max_queued_bytes: Option<u64>,

    /// Subscriptions one client may hold; more get SUBACK 0x97 (quota exceeded) [default: 10000]
    #[arg(long, value_name = "N", help_heading = "Limits",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_subscriptions_per_client: Option<u32>,

    /// Levels a topic or filter may have; deeper ones are refused [default: 200]
    #[arg(long, value_name = "N", help_heading = "Limits",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_topic_levels: Option<u32>,

    /// Retained messages kept, all topics together; more are delivered but not kept [default: 1000000]
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub max_retained: Option<u32>,

    /// Bytes (topics + payloads) of retained messages kept, all together [default: 1073741824]
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    pub max_retained_bytes: Option<u64>,

    /// Connections at once from one IP address, counted from the first byte [default: unlimited]
    #[arg(long, value_name = "N", help_heading = "Limits",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_ip: Option<u32>,

    /// Largest keep alive granted to clients, in seconds [default: 65535]
    #[arg(long, value_name = "SECS", help_heading = "Limits",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_keepalive: Option<u16>,

    /// Seconds a new connection has to send its whole CONNECT before it is closed [default: 5]
    #[arg(long, value_name = "SECS", help_heading = "Limits",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub connect_timeout: Option<u16>,

    /// CONNECTs per second taken from one IP address (bursts up to N); more get CONNACK 0x9F [default: unlimited]
    #[arg(long, value_name = "N", help_heading = "Limits",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connect_rate: Option<u32>,

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

    /// Inject a fault: `MATCH... ; ACTION`, e.g. 'client=dev-* type=puback nth=2 ; drop' (repeatable)
    #[arg(long = "fault", value_name = "RULE", help_heading = "Test fixture")]
    pub faults_given: Vec<String>,

    /// Fault rules from FILE, one a line (# comments); read again on SIGHUP
    #[arg(long = "faults", value_name = "FILE", help_heading = "Test fixture")]
    pub faults_file: Option<PathBuf>,

    /// Seed for the p= draws of fault rules, to repeat a run [default: random, logged with -v]
    #[arg(long, value_name = "N", help_heading = "Test fixture")]
    pub fault_seed: Option<u64>,

    /// Let clients the ACL allows add and remove fault rules by publishing to $CONTROL/mqtk/faults
    #[arg(long, help_heading = "Test fixture")]
    pub allow_control: bool,

    /// Write one JSON line per packet, both directions, to FILE (- for stdout)
    #[arg(long, value_name = "FILE|-", help_heading = "Test fixture")]
    pub trace: Option<PathBuf>,

    /// Trace only clients whose identifier matches GLOB (* and ?)
    #[arg(
        long,
        value_name = "GLOB",
        help_heading = "Test fixture",
        requires = "trace"
    )]
    pub trace_client: Option<String>,

    /// Payload bytes kept per trace line; longer payloads are cut [default: 256]
    #[arg(
        long,
        value_name = "BYTES",
        help_heading = "Test fixture",
        requires = "trace"
    )]
    pub trace_payload: Option<usize>,

    /// Format of the -v log lines on stderr: text (mosquitto's) or json (one object a line)
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Also listen for MQTT on a Unix socket at PATH (removed again on exit)
    #[arg(long, value_name = "PATH", help_heading = "More listeners")]
    pub unix: Option<PathBuf>,
}

//! `ConnectArgs`, the connection flags defined once and flattened into pub, sub, rr and
//! bench (`profile` lays the config file under them, `options_file` puts `-o FILE`'s
//! before them), and what they say about TLS, the route (Unix socket, SOCKS5 proxy,
//! local address) and MQTT 5 properties. Must not connect (`cli::connect` does).

use std::path::PathBuf;

use clap::Args;

use super::exit::Exit;
use super::properties;
use super::values::{self, BrokerUrl, VersionArg};
use crate::net::dial::Route;
use crate::net::socks::Proxy;
use crate::net::tls::TlsVersion;
use crate::protocol::{ProtocolVersion, QoS};

/// Connection flags shared by pub, sub, rr and bench (mosquitto's names).
///
/// `-h` is the host here, so the subcommands that flatten this turn off clap's `-h` and
/// keep `--help` only.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectArgs {
    /// Broker host [default: localhost]
    #[arg(short = 'h', long, value_name = "HOST")]
    pub host: Option<String>,

    /// Broker port [default: 1883, 8883 with TLS]
    #[arg(short = 'p', long, value_name = "PORT", value_parser = values::parse_port)]
    pub port: Option<u16>,

    /// Broker URL: mqtt://[user[:pass]@]host[:port][/topic], also mqtts://, ws://, wss://
    // The doc line is clap's help text, where the brackets mean "optional": not links.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(short = 'L', long, value_name = "URL", value_parser = values::parse_url,
          conflicts_with_all = ["host", "port"])]
    pub url: Option<BrokerUrl>,

    /// MQTT version: 5 or 311 (also mqttv5, mqttv311) [default: 5, falling back to 311]
    #[arg(short = 'V', long, value_name = "VERSION", value_parser = values::parse_version_arg)]
    pub protocol_version: Option<VersionArg>,

    /// Client identifier [default: generated]
    #[arg(
        short = 'i',
        long = "id",
        value_name = "ID",
        conflicts_with = "id_prefix"
    )]
    pub id: Option<String>,

    /// Prefix of the generated client identifier (the process id is appended)
    #[arg(short = 'I', long, value_name = "PREFIX")]
    pub id_prefix: Option<String>,

    /// Keep alive interval in seconds; 0 turns keep alive off [default: 60]
    #[arg(short = 'k', long = "keepalive", value_name = "SECS")]
    pub keepalive: Option<u16>,

    /// Keep the session on the broker (3.1.1: clean session 0; 5: clean start 0)
    #[arg(short = 'c', long)]
    pub disable_clean_session: bool,

    /// MQTT 5 session expiry interval in seconds, or `never` [default: 0, never with -c]
    #[arg(short = 'x', long, value_name = "SECS", value_parser = values::parse_session_expiry)]
    pub session_expiry: Option<u32>,

    /// Keep unacknowledged QoS 1/2 messages of client -i ID in DIR, so they survive a
    /// crash or restart of mqtk (add -c so the broker keeps its half)
    #[arg(long, value_name = "DIR")]
    pub session_dir: Option<PathBuf>,

    /// User name
    #[arg(short = 'u', long, value_name = "USER")]
    pub username: Option<String>,

    /// Password; `-P -` reads it from the first line of stdin
    #[arg(short = 'P', long = "pw", value_name = "PASSWORD")]
    pub password: Option<String>,

    /// Read the password from the first line of FILE
    #[arg(long, value_name = "FILE", conflicts_with = "password")]
    pub pw_file: Option<PathBuf>,

    /// Use [profile.NAME] of the config file (flags given here win over it)
    #[arg(
        long,
        value_name = "NAME",
        env = "MQTK_PROFILE",
        help_heading = "Profile"
    )]
    pub profile: Option<String>,

    /// The config file [default: $XDG_CONFIG_HOME/mqtk/config.toml or ~/.config/mqtk/config.toml]
    #[arg(
        long,
        value_name = "FILE",
        env = "MQTK_CONFIG",
        help_heading = "Profile"
    )]
    pub config: Option<PathBuf>,

    /// Set once `profile::apply` has laid the config file under these flags.
    #[arg(skip)]
    pub profile_applied: bool,

    /// Topic of the last will, published by the broker if the client vanishes
    #[arg(long, value_name = "TOPIC")]
    pub will_topic: Option<String>,

    /// Payload of the last will [default: empty]
    #[arg(long, value_name = "PAYLOAD", requires = "will_topic")]
    pub will_payload: Option<String>,

    /// QoS of the last will: 0, 1 or 2
    #[arg(long, value_name = "QOS", value_parser = values::parse_qos, requires = "will_topic")]
    pub will_qos: Option<QoS>,

    /// Retain the last will
    #[arg(long, requires = "will_topic")]
    pub will_retain: bool,

    /// Trust the CA certificates in FILE (PEM) and connect with TLS
    #[arg(long, value_name = "FILE")]
    pub cafile: Option<PathBuf>,

    /// Client certificate (PEM) for TLS client authentication
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,

    /// Private key (PEM) of --cert
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Do not check the broker's certificate or host name (testing only)
    #[arg(long)]
    pub insecure: bool,

    /// Trust the CA certificates in the PEM files of DIR and connect with TLS
    #[arg(long, value_name = "DIR")]
    pub capath: Option<PathBuf>,

    /// Trust the system's CA certificates too (beside --cafile/--capath) and connect with TLS
    #[arg(long)]
    pub tls_use_os_certs: bool,

    /// Only this TLS version: tlsv1.2 or tlsv1.3 [default: either]
    #[arg(long, value_name = "VERSION", value_parser = values::parse_tls_version)]
    pub tls_version: Option<TlsVersion>,

    /// Connect without TLS, whatever TLS flags -o FILE or the profile set
    #[arg(long)]
    pub no_tls: bool,

    /// MQTT 5 property on a packet, as in mosquitto: -D connect receive-maximum 10,
    /// -D publish user-property KEY VALUE (repeatable)
    #[arg(
        short = 'D',
        long = "property",
        value_names = ["CMD", "NAME", "VALUE"],
        num_args = 3..=4,
    )]
    pub property: Vec<String>,

    /// MQTT 5: at most N unacknowledged QoS 1/2 messages from the broker at once
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub receive_maximum: Option<u16>,

    /// MQTT 5: the largest packet in bytes this client accepts
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..))]
    pub maximum_packet_size: Option<u32>,

    /// MQTT 5: the number of topic aliases the broker may use towards this client
    #[arg(long, value_name = "N")]
    pub topic_alias_maximum: Option<u16>,

    /// Print one line per MQTT packet sent or received on stderr
    #[arg(short = 'd', long)]
    pub debug: bool,

    /// Do not reconnect when the connection drops; exit with an error instead
    #[arg(long)]
    pub no_reconnect: bool,

    /// Connect to the broker's Unix socket at PATH instead of -h/-p
    #[arg(long, value_name = "PATH", conflicts_with_all = ["host", "port", "url", "proxy"])]
    pub unix: Option<PathBuf>,

    /// Connect through a SOCKS5 proxy: socks5h://[USER[:PASSWORD]@]HOST[:PORT] (port 1080)
    // Brackets mean "optional" in clap's help text, as for --url.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, value_name = "URL", value_parser = values::parse_proxy)]
    pub proxy: Option<Proxy>,

    /// Connect from this local address (or host name)
    #[arg(short = 'A', long = "bind-address", value_name = "ADDR")]
    pub bind_address: Option<String>,

    /// Accepted for mosquitto's scripts: mqtk always turns Nagle's algorithm off
    #[arg(long)]
    pub nodelay: bool,

    /// Read options from FILE first, one `-option value` a line, as mosquitto's -o (flags given here win)
    #[arg(short = 'o', long = "options-file", value_name = "FILE")]
    pub options_file: Option<PathBuf>,
}

impl ConnectArgs {
    /// `-V` of a command that speaks one version (all but `mqtk test`): `None` when not
    /// given; `-V both` is a usage error (exit status 2).
    pub fn single_version(&self) -> Result<Option<ProtocolVersion>, Exit> {
        match self.protocol_version {
            None => Ok(None),
            Some(VersionArg::One(version)) => Ok(Some(version)),
            Some(VersionArg::Both) => Err(Exit::new(
                2,
                "-V both: only mqtk test speaks both versions; use -V 5 or -V 311",
            )),
        }
    }

    /// Keep alive in seconds: `-k`, else the profile's, else 60.
    pub fn keepalive_secs(&self) -> u16 {
        self.keepalive.unwrap_or(60)
    }

    /// The first TLS flag given (`--cafile`, `--capath`, `--tls-use-os-certs`, `--cert`,
    /// `--insecure`): any of them switches TLS on for `-h`/`-p`, with port 8883 by
    /// default. None with `--no-tls`.
    pub fn tls_flag(&self) -> Option<&'static str> {
        if self.no_tls {
            return None;
        }
        [
            (self.cafile.is_some(), "--cafile"),
            (self.capath.is_some(), "--capath"),
            (self.tls_use_os_certs, "--tls-use-os-certs"),
            (self.cert.is_some(), "--cert"),
            (self.insecure, "--insecure"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }

    /// Whether the connection is TLS: an `mqtts://` or `wss://` URL, or a TLS flag, and
    /// no `--no-tls`.
    pub fn wants_tls(&self) -> bool {
        !self.no_tls
            && (self.url.as_ref().is_some_and(|u| u.scheme.is_tls()) || self.tls_flag().is_some())
    }

    /// The TLS files and choices of the flags, for `TlsOptions::load`.
    pub fn tls_files(&self) -> crate::net::tls::ClientTlsFiles {
        crate::net::tls::ClientTlsFiles {
            cafile: self.cafile.clone(),
            capath: self.capath.clone(),
            os_certs: self.tls_use_os_certs,
            version: self.tls_version,
            cert: self.cert.clone(),
            key: self.key.clone(),
            insecure: self.insecure,
        }
    }

    /// The route of `--unix`, `--proxy` and `-A`, checked against the other flags.
    pub fn route(&self) -> anyhow::Result<Route> {
        if self.tls_version.is_some() && !self.wants_tls() {
            anyhow::bail!("--tls-version needs TLS: add --cafile, --capath or --tls-use-os-certs, or use mqtts://");
        }
        if self.unix.is_some() {
            if let Some(flag) = self.tls_flag() {
                anyhow::bail!("--unix: TLS over a Unix socket is not supported; drop {flag} (or use --no-tls)");
            }
            if self.bind_address.is_some() {
                anyhow::bail!("-A binds a local IP address; a --unix connection has none");
            }
        }
        Ok(Route {
            unix: self.unix.clone(),
            proxy: self.proxy.clone(),
            bind: self.bind_address.clone(),
        })
    }

    /// The MQTT 5 properties of `-D` and the dedicated flags, checked and sorted by
    /// packet. Errors name the flag and the property.
    pub fn properties(&self) -> anyhow::Result<properties::CommandProperties> {
        let mut props = properties::CommandProperties::from_raw(&self.property)?;
        let connect = &mut props.connect;
        if let Some(n) = self.receive_maximum {
            connect.receive_maximum = Some(n);
        }
        if let Some(n) = self.maximum_packet_size {
            connect.maximum_packet_size = Some(n);
        }
        if let Some(n) = self.topic_alias_maximum {
            connect.topic_alias_maximum = Some(n);
        }
        if let Some(secs) = self.session_expiry {
            connect.session_expiry_interval = Some(secs);
        }
        Ok(props)
    }
}

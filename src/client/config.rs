//! `ConnectConfig`: everything needed to open and keep a connection to a broker, as
//! plain checked values (the CLI builds it from its flags in `cli/connect.rs`; bench
//! builds it directly). Must not parse command lines or touch the network.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use crate::net::tls::TlsOptions;
use crate::protocol::{Packet, Properties, ProtocolVersion, Will};

/// How bytes reach the broker (`handshake::attempt` turns it into a `net::dial::Target`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Plain TCP.
    Tcp,
    /// TLS over TCP.
    Tls(TlsOptions),
    /// MQTT over WebSocket (`ws://`), at `path` (`/mqtt` when `None`).
    Ws {
        /// The HTTP path of the upgrade.
        path: Option<String>,
    },
    /// MQTT over WebSocket over TLS (`wss://`).
    Wss {
        /// TLS options.
        tls: TlsOptions,
        /// The HTTP path of the upgrade.
        path: Option<String>,
    },
}

/// Which way a packet went, for the packet observer (`-d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketDirection {
    /// Written to the broker.
    Sent,
    /// Read from the broker.
    Received,
}

/// Called for every packet sent or received (`-d` prints them): client id, direction,
/// packet. Keeps the client free of printing.
pub type PacketObserver = Arc<dyn Fn(&str, PacketDirection, &Packet) + Send + Sync>;

/// Reports a packet to the observer, if there is one.
pub fn observe(
    observer: &Option<PacketObserver>,
    client_id: &str,
    direction: PacketDirection,
    packet: &Packet,
) {
    if let Some(observer) = observer {
        observer(client_id, direction, packet);
    }
}

/// How to reconnect when the connection drops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconnect {
    /// First delay; doubled after each failed attempt.
    pub initial_delay: Duration,
    /// Ceiling of the delay.
    pub max_delay: Duration,
}

impl Default for Reconnect {
    fn default() -> Reconnect {
        Reconnect {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// A checked connection configuration.
#[derive(Clone)]
pub struct ConnectConfig {
    /// Broker host name or address.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// TCP or TLS.
    pub transport: Transport,
    /// Directly, from a local address, over a Unix socket or through a SOCKS5 proxy.
    pub route: crate::net::dial::Route,
    /// `None`: MQTT 5, falling back to 3.1.1 when the broker refuses 5.
    pub version: Option<ProtocolVersion>,
    /// Client identifier; empty lets an MQTT 5 broker assign one.
    pub client_id: String,
    /// Keep alive; zero turns it off.
    pub keep_alive: Duration,
    /// Clean session (3.1.1) / clean start (5).
    pub clean_start: bool,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Vec<u8>>,
    /// Last will.
    pub will: Option<Will>,
    /// CONNECT properties (MQTT 5): session expiry, receive maximum, maximum packet
    /// size, topic alias maximum, user properties, …
    pub properties: Properties,
    /// DISCONNECT properties (MQTT 5) for a normal end.
    pub disconnect_properties: Properties,
    /// Client-side store of unacknowledged QoS 1/2 state (`--session-dir`).
    pub session_dir: Option<PathBuf>,
    /// `None`: do not reconnect.
    pub reconnect: Option<Reconnect>,
    /// How long to wait for the TCP connection and the CONNACK.
    pub connect_timeout: Duration,
    /// Messages waiting for a send-window slot before `publish` waits.
    pub max_queued: usize,
    /// Sees every packet (`-d`).
    pub observer: Option<PacketObserver>,
}

impl ConnectConfig {
    /// A configuration for `host:port` with the defaults of the command line: MQTT 5
    /// with fallback, keep alive 60 s, clean start, no store, reconnect on.
    pub fn new(host: impl Into<String>, port: u16, client_id: impl Into<String>) -> ConnectConfig {
        ConnectConfig {
            host: host.into(),
            port,
            transport: Transport::Tcp,
            route: Default::default(),
            version: None,
            client_id: client_id.into(),
            keep_alive: Duration::from_secs(60),
            clean_start: true,
            username: None,
            password: None,
            will: None,
            properties: Properties::default(),
            disconnect_properties: Properties::default(),
            session_dir: None,
            reconnect: Some(Reconnect::default()),
            connect_timeout: Duration::from_secs(10),
            max_queued: 1000,
            observer: None,
        }
    }

    /// `host:port`, with brackets around an IPv6 address (or the `--unix` path), for
    /// messages.
    pub fn address(&self) -> String {
        if let Some(path) = &self.route.unix {
            return path.display().to_string();
        }
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Debug for ConnectConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectConfig")
            .field("address", &self.address())
            .field("transport", &self.transport)
            .field("version", &self.version)
            .field("client_id", &self.client_id)
            .field("keep_alive", &self.keep_alive)
            .field("clean_start", &self.clean_start)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("session_dir", &self.session_dir)
            .finish_non_exhaustive()
    }
}

//! `Ctx`, what a case works with: the version it runs on, its own topics and client
//! ids under the run's prefixes, what the probe found, and connections to the broker
//! (`dial` for raw bytes, `open`/`peer` after the handshake). Must not judge results.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::capabilities::Capabilities;
use super::config::Config;
use super::peer::Peer;
use super::verdict::Verdict;
use crate::net::{self, dial, Connection};
use crate::protocol::codec::MAX_PACKET_SIZE;
use crate::protocol::{Connect, Properties, ProtocolVersion};

/// How long a case waits for something that must arrive.
const ARRIVE: Duration = Duration::from_secs(3);
/// How long a case waits to be sure something does not arrive.
const QUIET: Duration = Duration::from_millis(400);

/// What every context of a run shares.
pub struct Shared {
    /// The run's configuration.
    pub config: Config,
    /// What the probe found (empty while it runs).
    pub caps: Capabilities,
    /// The counter behind unique client ids.
    pub ids: AtomicU32,
}

/// What a case works with: the version it runs on, its own topics and client ids, what
/// the probe found, and connections to the broker.
#[derive(Clone)]
pub struct Ctx {
    shared: Arc<Shared>,
    /// The version this run of the case speaks.
    pub version: ProtocolVersion,
    base: String,
}

impl Ctx {
    /// True on MQTT 5.
    pub fn v5(&self) -> bool {
        self.version == ProtocolVersion::V5
    }

    /// What the probe found.
    pub fn caps(&self) -> &Capabilities {
        &self.shared.caps
    }

    /// The topic filter the broker refuses this client, when the user named one.
    pub fn denied_topic(&self) -> Option<&str> {
        self.shared.config.denied_topic.as_deref()
    }

    /// Whether `--restart-cmd` was given (the `durable` cases run).
    pub fn can_restart(&self) -> bool {
        self.shared.config.restart_cmd.is_some()
    }

    /// Restarts the broker with `--restart-cmd` and waits until it accepts a connection
    /// again, within the case's time limit.
    pub async fn restart(&self) -> Result<(), Verdict> {
        let Some(command) = &self.shared.config.restart_cmd else {
            return Err(Verdict::Skip("needs --restart-cmd".into()));
        };
        super::restart::run(command, self.shared.config.case_timeout).await?;
        let deadline = tokio::time::Instant::now() + self.shared.config.case_timeout;
        loop {
            match self.peer().await {
                Ok(peer) => {
                    peer.disconnect().await;
                    return Ok(());
                }
                Err(why) if tokio::time::Instant::now() >= deadline => {
                    return Err(Verdict::Error(format!(
                        "the broker did not come back after --restart-cmd: {}",
                        why.detail()
                    )))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// How long to wait for what must arrive.
    pub fn arrive(&self) -> Duration {
        ARRIVE.min(self.shared.config.case_timeout / 2)
    }

    /// How long to wait to be sure nothing arrives.
    pub fn quiet(&self) -> Duration {
        QUIET
    }

    /// A topic of this case: `PREFIX/CASE/VERSION/leaf`.
    pub fn topic(&self, leaf: &str) -> String {
        format!("{}/{leaf}", self.base)
    }

    /// A client id no other connection of the run uses (letters and digits, at most 23
    /// characters: what every broker must accept, MQTT 3.1.1 §3.1.3.1).
    pub fn client_id(&self) -> String {
        let n = self.shared.ids.fetch_add(1, Ordering::Relaxed);
        format!("{}{n:x}", self.shared.config.id_prefix)
    }

    /// A CONNECT for `client_id` in this case's version: clean start, keep alive 60 s,
    /// the run's credentials.
    pub fn connect_packet(&self, client_id: &str) -> Connect {
        let config = &self.shared.config;
        Connect {
            protocol_version: self.version,
            client_id: client_id.to_string(),
            clean_start: true,
            keep_alive_secs: 60,
            username: config.username.clone(),
            password: config.password.clone(),
            will: None,
            properties: Properties::default(),
        }
    }

    /// Opens a connection (TCP, TLS, a Unix socket or through a SOCKS5 proxy, as the run's
    /// route says) in this case's version, without CONNECT.
    pub async fn dial(&self) -> Result<Connection, Verdict> {
        let config = &self.shared.config;
        let target = dial::Target {
            host: &config.host,
            port: config.port,
            connect_timeout: Duration::from_secs(5),
            tls: config.tls.as_ref(),
            websocket: None,
            max_packet_bytes: MAX_PACKET_SIZE as usize,
            route: &config.route,
        };
        let stream = dial::open(&target)
            .await
            .map_err(|e| Verdict::Error(e.to_string()))?;
        Ok(Connection::new(stream, self.version))
    }

    /// Connects with `connect`; an error verdict when the broker does not accept it.
    pub async fn open(&self, connect: Connect) -> Result<Peer, Verdict> {
        let mut conn = self.dial().await?;
        let client_id = connect.client_id.clone();
        match net::handshake(&mut conn, connect, self.arrive()).await {
            Ok(connack) => {
                let id = connack
                    .properties
                    .assigned_client_identifier
                    .clone()
                    .filter(|_| client_id.is_empty())
                    .unwrap_or(client_id);
                Ok(Peer::new(conn, id, connack))
            }
            Err(e) => Err(Verdict::Error(format!("cannot connect: {e}"))),
        }
    }

    /// A new clean-start connection with a fresh client id.
    pub async fn peer(&self) -> Result<Peer, Verdict> {
        self.open(self.connect_packet(&self.client_id())).await
    }
}

/// The context of `leaf` (a case id, `probe`) on `version`: topics under
/// `PREFIX/leaf/VERSION`.
pub fn ctx(shared: &Arc<Shared>, version: ProtocolVersion, leaf: &str) -> Ctx {
    let v = match version {
        ProtocolVersion::V311 => "311",
        ProtocolVersion::V5 => "5",
    };
    Ctx {
        shared: shared.clone(),
        version,
        base: format!("{}/{leaf}/{v}", shared.config.topic_prefix),
    }
}

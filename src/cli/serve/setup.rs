//! The deployment part of `mqtk serve`'s setup: merging `-c FILE` (mosquitto.conf subset)
//! into the flags, loading the password and ACL files, opening `--data-dir`, and listing
//! the extra listeners (TLS, WebSocket). Flags given on the command line win over the file;
//! a flag left at its default value counts as not given. Must not print: warnings are
//! returned for `serve::run` to log.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _};

use super::args::ServeArgs;
use crate::broker::access::AccessControl;
use crate::broker::listeners::{ListenerKind, ListenerSpec};
use crate::broker::mosquitto_conf::{self, ListenerProtocol};
use crate::broker::persist::{DurablePersistence, FsyncPolicy, Store};
use crate::broker::{BrokerConfig, BrokerHandle};
use crate::net::tls::{self, ServerTlsFiles};
use crate::protocol::codec::MAX_VARINT;

/// serve's default port and address, to tell "not given" from "given".
const DEFAULT_PORT: u16 = 1883;
const DEFAULT_BIND: &str = "127.0.0.1";
/// Our cap where mosquitto.conf says "no limit" for queued messages.
pub(super) const UNLIMITED_QUEUE: u32 = 1_000_000;

/// What the deployment flags add to a broker.
#[derive(Debug, Default)]
pub struct Deployment {
    /// Access control, `None` when everything is allowed.
    pub access: Option<Arc<AccessControl>>,
    /// The durable store of `--data-dir`.
    pub store: Option<Arc<Store>>,
    /// Listeners beside the plain TCP one, in the order to print them.
    pub listeners: Vec<ListenerSpec>,
    /// Things to log once at start (config and ACL warnings).
    pub warnings: Vec<String>,
}

impl Deployment {
    /// Puts access control and durable storage into the broker's configuration.
    pub fn apply_to(&self, config: &mut BrokerConfig) {
        if let Some(access) = &self.access {
            config.auth = access.clone();
        }
        if let Some(store) = &self.store {
            let on_error = Arc::new(|line: String| crate::output::log_line(line));
            config.persistence = Arc::new(DurablePersistence::new(store.clone(), on_error));
        }
    }
}

/// Opens the extra listeners into a running broker; their URLs, for the `listening on`
/// lines, in order.
pub async fn start_listeners(
    listeners: Vec<ListenerSpec>,
    broker: BrokerHandle,
) -> anyhow::Result<Vec<String>> {
    let mut urls = Vec::with_capacity(listeners.len());
    for spec in listeners {
        urls.push(
            crate::broker::listeners::start(spec, broker.clone())
                .await?
                .url,
        );
    }
    Ok(urls)
}

/// A TCP-only listener from `-c FILE` beyond the first.
#[derive(Debug, Clone)]
struct FileListener {
    addr: SocketAddr,
    kind: Option<ListenerKind>,
}

/// Reads `-c FILE` into `args` (where the flags did not set a value) and builds the rest.
pub fn setup(args: &mut ServeArgs) -> anyhow::Result<Deployment> {
    let mut deployment = Deployment::default();
    let mut file_listeners = Vec::new();
    if let Some(path) = args.config.clone() {
        let (file, warnings) = mosquitto_conf::load(&path)?;
        deployment.warnings.extend(
            warnings
                .into_iter()
                .map(|w| format!("{}: {w}", path.display())),
        );
        file_listeners = merge_file(args, file, &mut deployment.warnings)?;
    }
    // A usage error, as `serve::broker_config` reports it: exit status 2.
    let ip: IpAddr = args.bind.parse().map_err(|_| {
        crate::cli::exit::Exit::new(
            2,
            format!(
                "invalid --bind address '{}': give an IP address such as 127.0.0.1 or 0.0.0.0",
                args.bind
            ),
        )
    })?;

    let allow_anonymous = args.allow_anonymous.unwrap_or(args.password_file.is_none());
    let (access, acl_warnings) = AccessControl::load(
        allow_anonymous,
        args.password_file.as_deref(),
        args.acl_file.as_deref(),
    )?;
    deployment.warnings.extend(acl_warnings);
    if !access.is_open() {
        deployment.access = Some(Arc::new(access));
    }

    if let Some(dir) = &args.data_dir {
        let policy = FsyncPolicy::parse(args.fsync.as_deref().unwrap_or("always"))
            .map_err(anyhow::Error::msg)?;
        let store = Store::open(dir, policy).context("--data-dir")?;
        // Read everything once now: a damaged record is an error at start, not later.
        store.retained().context("--data-dir")?;
        store.sessions().context("--data-dir")?;
        deployment.store = Some(Arc::new(store));
    } else if args.fsync.is_some() {
        bail!("--fsync needs --data-dir");
    }

    for listener in file_listeners {
        let kind = listener.kind.unwrap_or(ListenerKind::Tcp);
        deployment.listeners.push(ListenerSpec {
            addr: listener.addr,
            kind,
        });
    }
    if let Some(port) = args.tls_port {
        let files = ServerTlsFiles {
            cert: args.cert.clone().context("--tls-port needs --cert")?,
            key: args.key.clone().context("--tls-port needs --key")?,
            cafile: args.cafile.clone(),
            require_certificate: args.require_certificate,
        };
        deployment.listeners.push(ListenerSpec {
            addr: SocketAddr::new(ip, port),
            kind: ListenerKind::Tls(tls::server_config(&files)?),
        });
    }
    if let Some(port) = args.ws_port {
        deployment.listeners.push(ListenerSpec {
            addr: SocketAddr::new(ip, port),
            kind: ListenerKind::Ws,
        });
    }
    Ok(deployment)
}

/// Copies the file's settings into `args` where the command line left a default, and
/// returns the file's listeners other than the one that became `--bind`/`--port`.
fn merge_file(
    args: &mut ServeArgs,
    file: mosquitto_conf::FileConfig,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Vec<FileListener>> {
    let data_dir = file.data_dir().map(PathBuf::from);
    fill(&mut args.allow_anonymous, file.allow_anonymous);
    fill(&mut args.password_file, file.password_file);
    fill(&mut args.acl_file, file.acl_file);
    fill(&mut args.data_dir, data_dir);
    if let Some(limit) = file.max_connections {
        fill(&mut args.max_connections, limit);
    }
    fill(
        &mut args.max_packet_size,
        file.max_packet_size
            .map(|n| if n == 0 { MAX_VARINT } else { n }),
    );
    fill(
        &mut args.max_inflight,
        file.max_inflight_messages
            .map(|n| if n == 0 { u16::MAX } else { n }),
    );
    fill(
        &mut args.max_queued,
        file.max_queued_messages
            .map(|n| if n == 0 { UNLIMITED_QUEUE } else { n }),
    );
    fill(&mut args.max_queued_bytes, file.max_queued_bytes);
    fill(
        &mut args.max_keepalive,
        file.max_keepalive.filter(|n| *n > 0),
    );
    if file.message_size_limit.is_some() {
        warnings
            .push("message_size_limit is not enforced by mqtk serve; use max_packet_size".into());
    }

    let mut rest = Vec::new();
    let mut plain_taken = false;
    for listener in file.listeners {
        let bind = listener
            .bind_address
            .clone()
            .unwrap_or_else(|| args.bind.clone());
        let ip: IpAddr = bind.parse().map_err(|_| {
            anyhow::anyhow!(
                "listener {}: bind address {bind:?} is not an IP address",
                listener.port
            )
        })?;
        let tls = match (&listener.certfile, &listener.keyfile) {
            (Some(cert), Some(key)) => Some(tls::server_config(&ServerTlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                cafile: listener.cafile.clone(),
                require_certificate: listener.require_certificate,
            })?),
            (None, None) => None,
            _ => bail!(
                "listener {}: certfile and keyfile must be given together",
                listener.port
            ),
        };
        let kind = match (listener.protocol, tls) {
            (ListenerProtocol::Mqtt, None) if !plain_taken => {
                plain_taken = true;
                if args.port == DEFAULT_PORT && args.bind == DEFAULT_BIND {
                    args.port = listener.port;
                    args.bind = ip.to_string();
                    continue;
                }
                None
            }
            (ListenerProtocol::Mqtt, None) => None,
            (ListenerProtocol::Mqtt, Some(config)) => Some(ListenerKind::Tls(config)),
            (ListenerProtocol::WebSockets, None) => Some(ListenerKind::Ws),
            (ListenerProtocol::WebSockets, Some(config)) => Some(ListenerKind::Wss(config)),
        };
        rest.push(FileListener {
            addr: SocketAddr::new(ip, listener.port),
            kind,
        });
    }
    Ok(rest)
}

fn fill<T>(flag: &mut Option<T>, from_file: Option<T>) {
    if flag.is_none() {
        *flag = from_file;
    }
}

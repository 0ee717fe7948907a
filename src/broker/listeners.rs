//! The listeners beside the plain MQTT/TCP one: MQTT over TLS (`--tls-port`), over
//! WebSocket (`--ws-port`, path `/mqtt`, subprotocol `mqtt`) and over WebSocket on TLS
//! (a `protocol websockets` listener with a `certfile` in `-c FILE`). Each accepts TCP,
//! runs the TLS handshake and/or WebSocket upgrade in the connection's own task (bounded
//! in time, so a slow or silent peer holds nothing else up), then hands the byte stream to
//! the broker exactly as the TCP listener does; and MQTT over a Unix socket (`--unix
//! PATH`, mosquitto's `listener 0 PATH`), whose file it removes when it stops. Must not
//! know MQTT.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::broker::server::{self, BrokerHandle, ListenError};
use crate::net::{ws, Stream, Transport};

/// A TLS handshake or WebSocket upgrade must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a listener speaks below MQTT.
#[derive(Debug, Clone)]
pub enum ListenerKind {
    /// Plain MQTT over TCP (a second `listener` in `-c FILE`).
    Tcp,
    /// MQTT over TLS.
    Tls(Arc<rustls::ServerConfig>),
    /// MQTT over WebSocket.
    Ws,
    /// MQTT over WebSocket over TLS.
    Wss(Arc<rustls::ServerConfig>),
}

impl ListenerKind {
    /// The URL scheme printed in its `listening on` line.
    pub fn scheme(&self) -> &'static str {
        match self {
            ListenerKind::Tcp => "mqtt",
            ListenerKind::Tls(_) => "mqtts",
            ListenerKind::Ws => "ws",
            ListenerKind::Wss(_) => "wss",
        }
    }

    /// The flag to name in errors.
    fn flag(&self) -> &'static str {
        match self {
            ListenerKind::Tcp => "-c FILE listener",
            ListenerKind::Tls(_) => "--tls-port",
            ListenerKind::Ws | ListenerKind::Wss(_) => "--ws-port",
        }
    }
}

/// One extra listener to open.
#[derive(Debug, Clone)]
pub struct ListenerSpec {
    /// Address and port (0 picks a free one).
    pub addr: SocketAddr,
    /// What it speaks.
    pub kind: ListenerKind,
}

/// A bound listener: its URL for the `listening on` line and its accept task.
#[derive(Debug)]
pub struct Bound {
    /// `mqtts://ADDR:PORT`, `ws://ADDR:PORT/mqtt`, `wss://ADDR:PORT/mqtt`.
    pub url: String,
    /// The accept loop; ends when the broker stops.
    pub task: JoinHandle<()>,
}

/// Binds `spec` and starts accepting into `broker`.
pub async fn start(spec: ListenerSpec, broker: BrokerHandle) -> Result<Bound, ListenError> {
    let (listener, local) = server::bind(spec.addr, spec.kind.flag()).await?;
    let path = match spec.kind {
        ListenerKind::Tcp | ListenerKind::Tls(_) => "",
        ListenerKind::Ws | ListenerKind::Wss(_) => ws::DEFAULT_PATH,
    };
    let url = format!("{}://{local}{path}", spec.kind.scheme());
    let task = tokio::spawn(accept_loop(listener, spec.kind, broker));
    Ok(Bound { url, task })
}

async fn accept_loop(listener: TcpListener, kind: ListenerKind, broker: BrokerHandle) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    let kind = kind.clone();
                    let to = broker.clone();
                    // On the connection's event loop: its handshake too.
                    broker.spawn_tcp(tcp, move |tcp| async move {
                        let broker = to;
                        let max = broker.config().max_packet_size as usize;
                        let upgraded =
                            tokio::time::timeout(HANDSHAKE_TIMEOUT, upgrade(tcp, &kind, max)).await;
                        match upgraded {
                            Ok(Ok(stream)) => broker.spawn_connection(stream, peer),
                            Ok(Err(err)) => broker.log(
                                1,
                                format_args!("{} handshake with {peer} failed: {err}", kind.scheme()),
                            ),
                            Err(_) => broker.log(
                                1,
                                format_args!("{} handshake with {peer} timed out", kind.scheme()),
                            ),
                        }
                    });
                }
                Err(err) => {
                    broker.log(1, format_args!("accept failed: {err}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = broker.stopping() => return,
        }
    }
}

/// Binds a Unix socket at `path` (replacing a stale socket file left there, as
/// mosquitto does) and starts accepting into `broker`.
pub async fn start_unix(path: PathBuf, broker: BrokerHandle) -> Result<Bound, ListenError> {
    let bind_error = |source: std::io::Error| ListenError::Unix {
        path: path.display().to_string(),
        source,
    };
    remove_stale_socket(&path).map_err(bind_error)?;
    let listener = tokio::net::UnixListener::bind(&path).map_err(bind_error)?;
    let url = format!("unix://{}", path.display());
    let task = tokio::spawn(async move {
        unix_accept_loop(&listener, &broker).await;
        let _ = std::fs::remove_file(&path);
    });
    Ok(Bound { url, task })
}

/// Removes `path` if it is a socket file no one listens on; anything else is left alone
/// (and `bind` then says why it cannot use the path).
fn remove_stale_socket(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another broker listens on it",
                ));
            }
            std::fs::remove_file(path)
        }
        _ => Ok(()),
    }
}

async fn unix_accept_loop(listener: &tokio::net::UnixListener, broker: &BrokerHandle) {
    // A Unix peer has no IP address; the broker logs it as 0.0.0.0:0.
    let peer = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    broker.spawn_connection(Stream::from(Box::new(socket) as Box<dyn Transport>), peer);
                }
                Err(err) => {
                    broker.log(1, format_args!("accept on the unix socket failed: {err}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = broker.stopping() => return,
        }
    }
}

async fn upgrade(tcp: TcpStream, kind: &ListenerKind, max_frame: usize) -> std::io::Result<Stream> {
    let other = |ws: Box<dyn Transport>| Stream::from(ws);
    Ok(match kind {
        ListenerKind::Tcp => Stream::from(tcp),
        ListenerKind::Tls(config) => {
            Stream::from(TlsAcceptor::from(config.clone()).accept(tcp).await?)
        }
        ListenerKind::Ws => other(Box::new(ws::accept(tcp, max_frame).await?)),
        ListenerKind::Wss(config) => {
            let tls = TlsAcceptor::from(config.clone()).accept(tcp).await?;
            other(Box::new(ws::accept(tls, max_frame).await?))
        }
    })
}

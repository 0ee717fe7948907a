//! Opening the byte stream to a broker, for the client and bench: DNS, TCP (a timeout
//! per address, TCP_NODELAY, from a chosen local address with `-A` or bench's
//! `--bind-addresses`), or a Unix socket (`--unix`), or TCP through a SOCKS5 proxy
//! (`--proxy`, `net::socks`); then TLS (`net::tls`) and/or the WebSocket upgrade
//! (`net::ws`). A proxied connection is a plain `TcpStream` once the proxy has connected
//! it, so it stays on the inline TCP path; a Unix socket is boxed. Must not know MQTT.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

use super::socks::{self, Proxy};
use super::stream::{Stream, Transport};
use super::tls::{connect_tls, TlsOptions};
use super::ws;

/// How the bytes travel to the broker's address: directly (the default), from a chosen
/// local address, over a Unix socket, or through a SOCKS5 proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// Connect to this Unix socket instead of `host:port` (`--unix PATH`).
    pub unix: Option<PathBuf>,
    /// Tunnel the TCP connection through this SOCKS5 proxy (`--proxy`).
    pub proxy: Option<Proxy>,
    /// Local address (or host name) to connect from (`-A`).
    pub bind: Option<String>,
}

/// The direct route: TCP to the broker's address from any local address.
pub static DIRECT: Route = Route {
    unix: None,
    proxy: None,
    bind: None,
};

/// Where and how to connect.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Host name or address (IPv6 with or without brackets).
    pub host: &'a str,
    /// Port.
    pub port: u16,
    /// How long each address may take to accept the TCP connection.
    pub connect_timeout: Duration,
    /// TLS over the TCP connection.
    pub tls: Option<&'a TlsOptions>,
    /// The WebSocket upgrade at this path (empty: `/mqtt`); `None`: no WebSocket.
    pub websocket: Option<&'a str>,
    /// Largest WebSocket frame accepted: the largest packet accepted.
    pub max_packet_bytes: usize,
    /// Directly, over a Unix socket, or through a proxy.
    pub route: &'a Route,
}

/// Why no stream could be opened. The texts are the user's ("cannot connect to
/// localhost:1883: connection refused").
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The host as given.
        host: String,
        /// Why.
        reason: String,
    },
    /// No TCP connection, or the TLS handshake or the WebSocket upgrade failed.
    #[error("cannot connect to {address}: {reason}")]
    Connect {
        /// `host:port`.
        address: String,
        /// Why, lowercase.
        reason: String,
    },
}

impl Target<'_> {
    /// `host:port`, with brackets around an IPv6 address, for messages.
    pub fn address(&self) -> String {
        match &self.route.unix {
            Some(path) => path.display().to_string(),
            None => host_port(self.host, self.port),
        }
    }
}

/// Opens the stream `target` asks for.
pub async fn open(target: &Target<'_>) -> Result<Stream, DialError> {
    let failed = |e: io::Error| DialError::Connect {
        address: target.address(),
        reason: io_reason(&e),
    };
    let stream = match &target.route.unix {
        Some(path) => unix(path, target.connect_timeout).await?,
        None => {
            let tcp = match &target.route.proxy {
                Some(proxy) => proxied(target, proxy).await?,
                None => {
                    let bind = target.route.bind.as_deref();
                    tcp_bound(target.host, target.port, bind, target.connect_timeout).await?
                }
            };
            match target.tls {
                Some(tls) => {
                    Stream::from(connect_tls(tcp, target.host, tls).await.map_err(failed)?)
                }
                None => Stream::from(tcp),
            }
        }
    };
    let Some(path) = target.websocket else {
        return Ok(stream);
    };
    let secure = target.tls.is_some();
    let (host, port, max) = (target.host, target.port, target.max_packet_bytes);
    let ws = ws::connect_to(stream, secure, host, port, Some(path), max)
        .await
        .map_err(failed)?;
    Ok(Stream::from(Box::new(ws) as Box<dyn Transport>))
}

/// Resolves `host` and connects to the first address that answers within `timeout`.
pub async fn tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, DialError> {
    tcp_bound(host, port, None, timeout).await
}

/// As `tcp`, from the local address `bind` (an address or a host name, `-A`) when given:
/// only the broker's addresses of the same family as `bind`'s are tried.
async fn tcp_bound(
    host: &str,
    port: u16,
    bind: Option<&str>,
    timeout: Duration,
) -> Result<TcpStream, DialError> {
    let addrs = resolve(host, port).await?;
    let locals = match bind {
        Some(bind) => resolve(bind, 0).await?,
        None => Vec::new(),
    };
    let mut last = None;
    for addr in addrs {
        let local = locals.iter().find(|l| l.is_ipv4() == addr.is_ipv4());
        if bind.is_some() && local.is_none() {
            last = Some(format!(
                "-A {}: no local address of the broker's IP family",
                bind.unwrap_or("")
            ));
            continue;
        }
        let local = local.map(SocketAddr::ip);
        match tokio::time::timeout(timeout, tcp_from(addr, local)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = Some(io_reason(&e)),
            Err(_) => last = Some(format!("no answer within {} s", timeout.as_secs())),
        }
    }
    Err(DialError::Connect {
        address: host_port(host, port),
        reason: last.unwrap_or_else(|| "the host name has no address".to_string()),
    })
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, DialError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    Ok(tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| DialError::Resolve {
            host: host.to_string(),
            reason: io_reason(&e),
        })?
        .collect())
}

/// TCP to the proxy, then its CONNECT to the broker, all within the connect timeout.
async fn proxied(target: &Target<'_>, proxy: &Proxy) -> Result<TcpStream, DialError> {
    let timeout = target.connect_timeout;
    let bind = target.route.bind.as_deref();
    let tcp = tcp_bound(&proxy.host, proxy.port, bind, timeout)
        .await
        .map_err(|e| match e {
            DialError::Connect { address, reason } => DialError::Connect {
                address: format!("the proxy {address}"),
                reason,
            },
            other => other,
        })?;
    let failed = |reason: String| DialError::Connect {
        address: format!("{} through the proxy {}", target.address(), proxy.address()),
        reason,
    };
    match tokio::time::timeout(
        timeout,
        socks::handshake(tcp, proxy, target.host, target.port),
    )
    .await
    {
        Ok(Ok(tunnel)) => Ok(tunnel),
        Ok(Err(e)) => Err(failed(io_reason(&e))),
        Err(_) => Err(failed(format!("no answer within {} s", timeout.as_secs()))),
    }
}

/// A Unix socket, boxed (the inline variant is TCP's).
async fn unix(path: &std::path::Path, timeout: Duration) -> Result<Stream, DialError> {
    let failed = |reason: String| DialError::Connect {
        address: path.display().to_string(),
        reason,
    };
    match tokio::time::timeout(timeout, tokio::net::UnixStream::connect(path)).await {
        Ok(Ok(socket)) => Ok(Stream::from(Box::new(socket) as Box<dyn Transport>)),
        Ok(Err(e)) => Err(failed(io_reason(&e))),
        Err(_) => Err(failed(format!("no answer within {} s", timeout.as_secs()))),
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Connects to `addr` from `bind` (any local address when `None`), with TCP_NODELAY:
/// bench's clients, spread over `--bind-addresses`.
pub async fn tcp_from(addr: SocketAddr, bind: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }?;
    if let Some(ip) = bind {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(addr).await?;
    // Latency is what is measured: do not let Nagle hold small packets back.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// An `io::Error` as a short lowercase reason: "connection refused", not
/// "Connection refused (os error 111)".
pub fn io_reason(err: &io::Error) -> String {
    let text = match err.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset by the broker".to_string(),
        io::ErrorKind::ConnectionAborted => "connection aborted".to_string(),
        io::ErrorKind::TimedOut => "timed out".to_string(),
        io::ErrorKind::UnexpectedEof => "the broker closed the connection".to_string(),
        io::ErrorKind::BrokenPipe => "the broker closed the connection".to_string(),
        io::ErrorKind::AddrNotAvailable => "address not available".to_string(),
        _ => {
            let text = err.to_string();
            match text.find(" (os error") {
                Some(at) => text[..at].to_string(),
                None => text,
            }
        }
    };
    lowercase_first(&text)
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::TlsAcceptor;

    use super::*;
    use crate::net::tls::{self, ClientTlsFiles};

    #[test]
    fn io_reasons_are_short_and_lowercase() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(io_reason(&refused), "connection refused");
        let os = io::Error::from_raw_os_error(libc::EHOSTUNREACH);
        assert_eq!(io_reason(&os), "no route to host");
    }

    fn server(dir: &std::path::Path) -> (std::path::PathBuf, Arc<rustls::ServerConfig>) {
        let (ca, files) = tls::tests::test_pki(dir);
        (ca, tls::server_config(&files).unwrap())
    }

    /// A TLS (and WebSocket, with `ws`) server on 127.0.0.1 echoing five bytes once.
    async fn echo_server(config: Arc<rustls::ServerConfig>, ws: bool) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let Ok(tls) = TlsAcceptor::from(config).accept(tcp).await else {
                return;
            };
            let mut stream = Stream::from(tls);
            if ws {
                let ws = ws::accept(stream, 1 << 16).await.unwrap();
                stream = Stream::from(Box::new(ws) as Box<dyn Transport>);
            }
            let mut buf = [0u8; 5];
            stream.read_exact(&mut buf).await.unwrap();
            stream.write_all(&buf).await.unwrap();
            stream.flush().await.unwrap();
        });
        port
    }

    fn target(port: u16, tls: &TlsOptions, ws: bool) -> Target<'_> {
        Target {
            host: "localhost",
            port,
            connect_timeout: Duration::from_secs(5),
            tls: Some(tls),
            websocket: ws.then_some(""),
            max_packet_bytes: 1 << 16,
            route: &DIRECT,
        }
    }

    #[tokio::test]
    async fn tls_and_wss_reach_a_server_whose_ca_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, config) = server(dir.path());
        let options = TlsOptions::load(&ClientTlsFiles {
            cafile: Some(ca),
            ..Default::default()
        })
        .unwrap();
        for ws in [false, true] {
            let port = echo_server(config.clone(), ws).await;
            let mut stream = open(&target(port, &options, ws)).await.unwrap();
            stream.write_all(b"hello").await.unwrap();
            stream.flush().await.unwrap();
            let mut buf = [0u8; 5];
            stream.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hello");
        }
    }

    #[tokio::test]
    async fn an_unknown_ca_fails_with_a_hint_and_insecure_connects() {
        let dir = tempfile::tempdir().unwrap();
        let (_, config) = server(dir.path());
        let port = echo_server(config.clone(), false).await;
        // The system roots do not know our CA.
        let system = TlsOptions::load(&ClientTlsFiles::default()).unwrap();
        let err = open(&target(port, &system, false)).await.unwrap_err();
        assert!(err.to_string().contains("--cafile"), "{err}");
        let port = echo_server(config, false).await;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let insecure = TlsOptions::load(&ClientTlsFiles {
            insecure: true,
            ..Default::default()
        })
        .unwrap();
        connect_tls(tcp, "127.0.0.1", &insecure).await.unwrap();
    }
}

//! The clients' secure and WebSocket transports: TLS over an open TCP stream (`mqtts://`,
//! `--cafile`, `--cert`/`--key`, `--insecure`) and the WebSocket upgrade (`ws://`,
//! `wss://`). `client::transport` calls these after connecting TCP; both return byte
//! streams, so the MQTT connection code above does not know which transport it runs on.
//! Must not know MQTT; configs come from `net::tls`.

use std::io;
use std::sync::Arc;

use rustls::ClientConfig;

use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

pub use crate::net::tls::{ClientTlsFiles, TlsError};
use crate::net::ws::{self, WsStream};
use crate::net::Stream;

/// A client's TLS settings, loaded once from `--cafile`/`--cert`/`--key` before the first
/// connection (so a bad file is reported at once, naming its flag, whatever the broker's
/// state) and shared by every reconnect (the files are not read again).
#[derive(Clone)]
pub struct TlsOptions {
    config: Arc<ClientConfig>,
    /// No `--cafile` and no `--insecure`: a failed handshake hints at them.
    system_roots: bool,
}

impl TlsOptions {
    /// Reads the files and builds the rustls client config.
    pub fn load(files: &ClientTlsFiles) -> Result<TlsOptions, TlsError> {
        Ok(TlsOptions {
            config: crate::net::tls::client_config(files)?,
            system_roots: !files.insecure && files.cafile.is_none(),
        })
    }

    /// The same settings with TLS session resumption off, so that every connection makes
    /// a full handshake. Bench's simulated clients share one config (one `Arc`) but stand
    /// for separate devices: resuming one client's session in another would measure a
    /// cheaper handshake than theirs.
    pub fn without_resumption(&self) -> TlsOptions {
        let mut config = (*self.config).clone();
        config.resumption = rustls::client::Resumption::disabled();
        TlsOptions {
            config: Arc::new(config),
            system_roots: self.system_roots,
        }
    }
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("system_roots", &self.system_roots)
            .finish_non_exhaustive()
    }
}

/// Two options are equal when they are the same loaded config.
impl PartialEq for TlsOptions {
    fn eq(&self, other: &TlsOptions) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for TlsOptions {}

/// Runs the TLS handshake over `tcp`, checking the broker's certificate against `host`
/// (unless `--insecure`). Errors say what failed and which flag fixes it.
pub async fn connect_tls(
    tcp: TcpStream,
    host: &str,
    tls: &TlsOptions,
) -> io::Result<TlsStream<TcpStream>> {
    let name = crate::net::tls::server_name(host)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    TlsConnector::from(tls.config.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| handshake_error(&e, tls.system_roots))
}

/// The error of a failed handshake, as `io::ErrorKind::Other` so that `io_reason` keeps
/// the text instead of shortening a closed connection to "the broker closed the
/// connection", which hides that TLS was attempted.
fn handshake_error(e: &io::Error, system_roots: bool) -> io::Error {
    let closed = matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    );
    let text = if closed {
        // A plain MQTT listener reads the ClientHello as a malformed packet and hangs up.
        "the broker closed the connection during it; the broker may not speak TLS on \
         this port (use mqtt:// and drop --cafile/--cert/--key/--insecure for plain MQTT, \
         or give the port of its TLS listener)"
            .to_string()
    } else if system_roots {
        format!("{e} (a self-signed broker needs --cafile CA.pem, or --insecure for testing)")
    } else {
        e.to_string()
    };
    io::Error::other(format!("the TLS handshake failed: {text}"))
}

/// Upgrades `stream` (TCP or TLS) to MQTT over WebSocket at `path` (`/mqtt` by default),
/// offering the `mqtt` subprotocol.
pub async fn connect_ws<S: Stream>(
    stream: S,
    secure: bool,
    host: &str,
    port: u16,
    path: Option<&str>,
    max_packet_bytes: usize,
) -> io::Result<WsStream<S>> {
    let scheme = if secure { "wss" } else { "ws" };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let path = path.filter(|p| !p.is_empty()).unwrap_or(ws::DEFAULT_PATH);
    let slash = if path.starts_with('/') { "" } else { "/" };
    let url = format!("{scheme}://{host}:{port}{slash}{path}");
    ws::connect(stream, &url, max_packet_bytes)
        .await
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("the WebSocket upgrade at {url} failed: {e}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::TlsAcceptor;

    fn pki(dir: &std::path::Path) -> (std::path::PathBuf, Arc<rustls::ServerConfig>) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let files = crate::net::tls::ServerTlsFiles {
            cert: dir.join("s.pem"),
            key: dir.join("s.key"),
            cafile: None,
            require_certificate: false,
        };
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        (
            dir.join("ca.pem"),
            crate::net::tls::server_config(&files).unwrap(),
        )
    }

    async fn echo_server(config: Arc<rustls::ServerConfig>, ws: bool) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let Ok(tls) = TlsAcceptor::from(config).accept(tcp).await else {
                return;
            };
            let mut stream: Box<dyn Stream> = if ws {
                Box::new(ws::accept(tls, 1 << 16).await.unwrap())
            } else {
                Box::new(tls)
            };
            let mut buf = [0u8; 5];
            stream.read_exact(&mut buf).await.unwrap();
            stream.write_all(&buf).await.unwrap();
            stream.flush().await.unwrap();
        });
        port
    }

    #[tokio::test]
    async fn tls_and_wss_reach_a_server_whose_ca_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, config) = pki(dir.path());
        let files = TlsOptions::load(&ClientTlsFiles {
            cafile: Some(ca),
            ..Default::default()
        })
        .unwrap();
        for ws in [false, true] {
            let port = echo_server(config.clone(), ws).await;
            let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let tls = connect_tls(tcp, "localhost", &files).await.unwrap();
            let mut stream: Box<dyn Stream> = if ws {
                Box::new(
                    connect_ws(tls, true, "localhost", port, None, 1 << 16)
                        .await
                        .unwrap(),
                )
            } else {
                Box::new(tls)
            };
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
        let (_, config) = pki(dir.path());
        let port = echo_server(config.clone(), false).await;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        // The system roots do not know our CA.
        let system = TlsOptions::load(&ClientTlsFiles::default()).unwrap();
        let err = connect_tls(tcp, "localhost", &system)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("--cafile"), "{err}");
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

//! TLS for the broker's TLS listener and the clients: reading PEM certificates and keys,
//! building rustls server and client configs, the client's loaded options
//! (`TlsOptions`) and handshake (`connect_tls`, whose errors say which flag fixes them),
//! and telling a failed TLS session from a closed connection. Errors name the file and
//! the flag it came from. Must not open sockets (`net::dial` and the listener do).
//!
//! rustls with the `ring` provider: pure Rust + ring's small C/asm core, no OpenSSL and no
//! cmake (aws-lc-rs, rustls' default, needs both and takes minutes to build on 2 cores).

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{flag} {path}: {reason}")]
    File {
        /// The flag that named the file (`--cert`, `--key`, `--cafile`).
        flag: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the combination (e.g. key does not match certificate).
    #[error("{0}")]
    Config(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Read every certificate of a PEM file.
pub fn load_certs(
    flag: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError::File {
        flag,
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(pem_reason(&e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(pem_reason(&e)))?;
    if certs.is_empty() {
        return Err(bad(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file".into(),
        ));
    }
    Ok(certs)
}

/// Read the first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
pub fn load_key(flag: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        flag,
        path: path.display().to_string(),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PEM private key (-----BEGIN PRIVATE KEY-----) in the file".into()
            }
            other => pem_reason(&other),
        },
    })
}

fn pem_reason(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        // "no such file or directory", not "No such file or directory (os error 2)".
        rustls::pki_types::pem::Error::Io(io) => {
            let text = io.to_string();
            let text = text.split(" (os error").next().unwrap_or_default();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => String::new(),
            }
        }
        other => format!("not a valid PEM file: {other:?}"),
    }
}

fn root_store(flag: &'static str, cafile: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(flag, cafile)? {
        roots.add(cert).map_err(|e| TlsError::File {
            flag,
            path: cafile.display().to_string(),
            reason: format!("unusable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}

/// Files for a TLS listener (`--cert --key [--cafile [--require-certificate]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// Certificate chain, leaf first.
    pub cert: std::path::PathBuf,
    /// Private key of the leaf.
    pub key: std::path::PathBuf,
    /// CA to verify client certificates against.
    pub cafile: Option<std::path::PathBuf>,
    /// Refuse clients without a valid certificate.
    pub require_certificate: bool,
}

/// The rustls config of a TLS listener. With `cafile`, client certificates are verified
/// against it (required when `require_certificate`, else optional, as in mosquitto).
pub fn server_config(files: &ServerTlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = load_certs("--cert", &files.cert)?;
    let key = load_key("--key", &files.key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match &files.cafile {
        Some(cafile) => {
            let roots = Arc::new(root_store("--cafile", cafile)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider());
            let verifier = if files.require_certificate {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::Config(format!("--cafile: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(certs, key).map_err(|e| {
        TlsError::Config(format!(
            "--cert {} / --key {}: {e}",
            files.cert.display(),
            files.key.display()
        ))
    })?;
    Ok(Arc::new(config))
}

/// A TLS version to insist on (`--tls-version`); rustls speaks 1.2 and 1.3 only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 only.
    V1_2,
    /// TLS 1.3 only.
    V1_3,
}

/// Client TLS options (`--cafile`, `--capath`, `--tls-use-os-certs`, `--cert`, `--key`,
/// `--insecure`, `--tls-version`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTlsFiles {
    /// CA certificates to trust; with no `cafile` and no `capath`, the system's roots.
    pub cafile: Option<std::path::PathBuf>,
    /// A directory whose files hold CA certificates to trust (PEM).
    pub capath: Option<std::path::PathBuf>,
    /// Trust the system's roots too, beside `cafile`/`capath`.
    pub os_certs: bool,
    /// Only this TLS version; `None`: 1.2 or 1.3.
    pub version: Option<TlsVersion>,
    /// Client certificate for mutual TLS.
    pub cert: Option<std::path::PathBuf>,
    /// Key of `cert`.
    pub key: Option<std::path::PathBuf>,
    /// Skip verification of the broker's certificate and name.
    pub insecure: bool,
}

/// The rustls config of a client.
pub fn client_config(files: &ClientTlsFiles) -> Result<Arc<ClientConfig>, TlsError> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match files.version {
        Some(TlsVersion::V1_2) => &[&rustls::version::TLS12],
        Some(TlsVersion::V1_3) => &[&rustls::version::TLS13],
        None => rustls::DEFAULT_VERSIONS,
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = if files.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
    } else {
        builder.with_root_certificates(client_roots(files)?)
    };
    let config = match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(load_certs("--cert", cert)?, load_key("--key", key)?)
            .map_err(|e| TlsError::Config(format!("--cert / --key: {e}")))?,
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(TlsError::Config(
                "--cert and --key must be given together".into(),
            ))
        }
    };
    Ok(Arc::new(config))
}

/// The CA certificates a client trusts: `--cafile`, the files of `--capath`, and the
/// system's with `--tls-use-os-certs` or when neither file flag is given.
fn client_roots(files: &ClientTlsFiles) -> Result<RootCertStore, TlsError> {
    let mut roots = match &files.cafile {
        Some(cafile) => root_store("--cafile", cafile)?,
        None => RootCertStore::empty(),
    };
    if let Some(dir) = &files.capath {
        roots.roots.extend(capath_store(dir)?.roots);
    }
    if files.os_certs || (files.cafile.is_none() && files.capath.is_none()) {
        roots.roots.extend(system_roots()?.roots);
    }
    Ok(roots)
}

/// Every PEM certificate in the files of `dir` (OpenSSL's hashed names or any other);
/// files without one are skipped, a directory without any is an error.
fn capath_store(dir: &Path) -> Result<RootCertStore, TlsError> {
    let bad = |reason: String| TlsError::File {
        flag: "--capath",
        path: dir.display().to_string(),
        reason,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| bad(e.to_string().to_lowercase()))?;
    let mut roots = RootCertStore::empty();
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        if let Ok(certs) = load_certs("--capath", &path) {
            roots.add_parsable_certificates(certs);
        }
    }
    if roots.is_empty() {
        return Err(bad(
            "no PEM CA certificate in any file of the directory".into()
        ));
    }
    Ok(roots)
}

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
            config: client_config(files)?,
            system_roots: !files.insecure && files.cafile.is_none() && files.capath.is_none(),
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
    let name = server_name(host)
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

/// The text of a failure of the TLS session itself (an alert from the broker, a bad
/// record) inside an I/O error of a TLS stream; `None` for anything else (a closed or
/// reset connection). Under TLS 1.3 a broker checks our certificate after our side of
/// the handshake is done, so its refusal comes as an alert where the CONNACK was
/// expected: callers must not take it for a broker hanging up on an MQTT version.
pub fn session_failure(e: &io::Error) -> Option<String> {
    let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match tls {
        rustls::Error::AlertReceived(alert) => {
            let hint = match alert {
                rustls::AlertDescription::CertificateRequired
                | rustls::AlertDescription::BadCertificate
                | rustls::AlertDescription::UnknownCA => {
                    " (the broker wants a client certificate it trusts: --cert and --key)"
                }
                _ => "",
            };
            format!("the broker ended the TLS session: {tls}{hint}")
        }
        other => format!("the TLS session failed: {other}"),
    })
}

fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(TlsError::Config(
            "no system CA certificates found; give the broker's CA with --cafile".into(),
        ));
    }
    Ok(roots)
}

/// The server name to check the broker's certificate against.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    )
    .map_err(|e| TlsError::Config(format!("invalid TLS server name {host:?}: {e}")))
}

/// `--insecure`: accept any certificate, still checking handshake signatures so the
/// session keys are those of whoever holds the presented key.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A CA and a server certificate for 127.0.0.1/localhost signed by it, as PEM files
    /// (the integration tests' PKI builder, `support::pki`).
    pub(crate) fn test_pki(dir: &Path) -> (std::path::PathBuf, ServerTlsFiles) {
        let pki = support::pki::pki(dir);
        let files = ServerTlsFiles {
            cert: pki.cert,
            key: pki.key,
            cafile: None,
            require_certificate: false,
        };
        (pki.ca, files)
    }

    #[test]
    fn configs_build_from_generated_pem_files() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, mut server) = test_pki(dir.path());
        server_config(&server).unwrap();
        server.cafile = Some(ca.clone());
        server.require_certificate = true;
        server_config(&server).unwrap();
        client_config(&ClientTlsFiles {
            cafile: Some(ca),
            ..Default::default()
        })
        .unwrap();
        client_config(&ClientTlsFiles {
            insecure: true,
            ..Default::default()
        })
        .unwrap();
    }

    #[test]
    fn bad_files_are_errors_naming_flag_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut server) = test_pki(dir.path());
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello\n").unwrap();
        let good_key = server.key.clone();
        server.key = junk.clone();
        let err = server_config(&server).unwrap_err().to_string();
        assert!(err.contains("--key") && err.contains("junk.pem"), "{err}");
        server.key = good_key;
        server.cert = dir.path().join("missing.pem");
        let err = server_config(&server).unwrap_err().to_string();
        assert!(
            err.contains("--cert") && err.contains("missing.pem"),
            "{err}"
        );
        let err = client_config(&ClientTlsFiles {
            cafile: Some(junk),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("--cafile") && err.contains("no PEM certificate"),
            "{err}"
        );
    }

    #[test]
    fn tls_session_failures_are_told_from_closed_connections() {
        use rustls::AlertDescription::{CertificateRequired, DecryptError};
        let alert = |a| {
            let tls = rustls::Error::AlertReceived(a);
            io::Error::new(io::ErrorKind::InvalidData, tls)
        };
        let text = session_failure(&alert(CertificateRequired)).unwrap();
        assert!(text.contains("ended the TLS session"), "{text}");
        assert!(text.contains("--cert and --key"), "{text}");
        let text = session_failure(&alert(DecryptError)).unwrap();
        assert!(!text.contains("--cert"), "{text}");
        let bad = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert!(session_failure(&bad)
            .unwrap()
            .contains("TLS session failed"));
        for kind in [io::ErrorKind::UnexpectedEof, io::ErrorKind::ConnectionReset] {
            assert_eq!(session_failure(&io::Error::from(kind)), None);
        }
        assert_eq!(session_failure(&io::Error::other("not TLS")), None);
    }

    #[test]
    fn a_key_that_does_not_match_the_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut server) = test_pki(dir.path());
        let other = dir.path().join("other.key");
        std::fs::write(&other, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
        server.key = other;
        assert!(server_config(&server).is_err());
    }
}

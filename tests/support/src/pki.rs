//! Certificates for TLS tests, made with rcgen in a temp dir (a CA with a server and a
//! client certificate, or one self-signed server certificate), and mosquitto with a TLS
//! listener serving them. Must not start anything but mosquitto, or skip.

use std::path::{Path, PathBuf};

use crate::mosquitto::Mosquitto;
use crate::net::free_port;
use crate::process::p;

/// PEM files of a test PKI.
pub struct Pki {
    /// The CA certificate.
    pub ca: PathBuf,
    /// Server certificate for localhost and 127.0.0.1, signed by the CA.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
    /// Client certificate (CN client), signed by the CA.
    pub client_cert: PathBuf,
    /// Its key.
    pub client_key: PathBuf,
}

fn named(common_name: &str) -> rcgen::DistinguishedName {
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CommonName, common_name);
    name
}

/// A CA, a server certificate for localhost/127.0.0.1 and a client certificate. Subjects
/// differ from the issuer's: OpenSSL (mosquitto) takes a leaf whose subject equals its
/// issuer's for self-signed and refuses it.
pub fn pki(dir: &Path) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name = named("mqtk test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>, cn: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params.distinguished_name = named(cn);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_pem, server_key) = leaf(vec!["localhost".into(), "127.0.0.1".into()], "localhost");
    let (client_pem, client_key) = leaf(vec!["client".into()], "client");
    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    };
    std::fs::write(&pki.ca, ca.pem()).unwrap();
    std::fs::write(&pki.cert, server_pem).unwrap();
    std::fs::write(&pki.key, server_key).unwrap();
    std::fs::write(&pki.client_cert, client_pem).unwrap();
    std::fs::write(&pki.client_key, client_key).unwrap();
    pki
}

/// A self-signed server certificate for localhost/127.0.0.1 and its key, as
/// `(DIR/self-signed.pem, DIR/self-signed.key)`: no CA vouches for it.
pub fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    params.distinguished_name = named("mqtk self-signed test server");
    let cert = params.self_signed(&key).unwrap();
    let paths = (dir.join("self-signed.pem"), dir.join("self-signed.key"));
    std::fs::write(&paths.0, cert.pem()).unwrap();
    std::fs::write(&paths.1, key.serialize_pem()).unwrap();
    paths
}

/// mosquitto with a TLS listener on a free 127.0.0.1 port serving `cert`/`key`, besides
/// its plain one; `extra` goes into the TLS listener's section. Returns the TLS port.
pub fn mosquitto_tls(cert: &Path, key: &Path, extra: &str) -> (Mosquitto, u16) {
    let port = free_port();
    let conf = format!(
        "listener {port} 127.0.0.1\ncertfile {}\nkeyfile {}\n{extra}",
        p(cert),
        p(key)
    );
    (Mosquitto::start_with(&conf), port)
}

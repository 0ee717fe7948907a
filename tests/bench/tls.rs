//! `mqtk bench` over TLS against the real mosquitto broker's TLS listener, with
//! certificates made in the test (rcgen): a QoS 1 run with `--cafile` loses nothing,
//! a CA that did not sign the broker's certificate fails every client as `connect_tls`
//! with the reason in the summary, `--insecure` gets through to a self-signed
//! certificate, and `--cert`/`--key` through `require_certificate`. No timing is
//! asserted.

use support::bench::{assert_pairs_qos1_complete, bench_at, u64_at, PAIRS_QOS1_JSON};
use support::p;
use support::pki::{mosquitto_tls, pki, self_signed};

/// `-h 127.0.0.1 -p PORT`: a TLS flag switches TLS on, as for pub and sub.
fn host_args(port: u16) -> Vec<String> {
    support::host_args(([127, 0, 0, 1], port).into())
}

#[test]
fn a_qos1_run_over_mqtts_with_cafile_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let (_broker, tls_port) = mosquitto_tls(&pki.cert, &pki.key, "");
    let url = vec!["-L".to_string(), format!("mqtts://localhost:{tls_port}")];
    let mut args = PAIRS_QOS1_JSON.to_vec();
    args.extend(["--cafile", p(&pki.ca)]);
    let out = bench_at(&url, &args);
    out.assert_success();
    let r = out.report();
    assert_pairs_qos1_complete(&r);
    assert!(
        r["broker"]["description"]
            .as_str()
            .is_some_and(|d| d.starts_with(&format!("mqtts://localhost:{tls_port}"))),
        "{r:#}"
    );
    // The certificate names localhost and 127.0.0.1: -h 127.0.0.1 with --cafile is TLS
    // on the same port, and checks the address against the certificate.
    let out = bench_at(
        &host_args(tls_port),
        &[
            "--publishers",
            "2",
            "--subscribers",
            "2",
            "-q",
            "1",
            "--messages",
            "20",
            "--json",
            "-",
            "--cafile",
            p(&pki.ca),
        ],
    );
    out.assert_success();
    assert_eq!(u64_at(&out.report(), "/lost"), 0);
}

#[test]
fn a_wrong_ca_fails_every_client_as_connect_tls_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let other = tempfile::tempdir().unwrap();
    let other_ca = support::pki::pki(other.path()).ca;
    let (_broker, tls_port) = mosquitto_tls(&pki.cert, &pki.key, "");
    let mut args = PAIRS_QOS1_JSON.to_vec();
    args.extend(["--cafile", p(&other_ca)]);
    let out = bench_at(&host_args(tls_port), &args);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{}", out.stderr);
    let r = out.report();
    assert_eq!(u64_at(&r, "/clients/connected"), 0, "{r:#}");
    assert_eq!(u64_at(&r, "/clients/failed"), 10, "{r:#}");
    assert_eq!(u64_at(&r, "/errors/connect_tls"), 10, "{r:#}");
    assert_eq!(u64_at(&r, "/sent"), 0);
    let why = r["error_messages"]["connect_tls"]
        .as_str()
        .unwrap_or_default();
    assert!(
        why.contains("TLS handshake failed") && why.contains("invalid peer certificate"),
        "{r:#}"
    );
    assert!(
        out.stderr.contains(
            "mqtk: 10 of 10 clients failed to connect (connect_tls: the TLS handshake failed"
        ),
        "stderr:\n{}",
        out.stderr
    );
}

#[test]
fn insecure_gets_through_to_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let (_broker, tls_port) = mosquitto_tls(&cert, &key, "");
    let url = vec!["-L".to_string(), format!("mqtts://127.0.0.1:{tls_port}")];
    let mut args = PAIRS_QOS1_JSON.to_vec();
    args.extend(["--insecure"]);
    let out = bench_at(&url, &args);
    out.assert_success();
    let r = out.report();
    assert_eq!(u64_at(&r, "/clients/connected"), 10, "{r:#}");
    assert_eq!(u64_at(&r, "/received"), 250);
    assert_eq!(u64_at(&r, "/lost"), 0);
    // Without --insecure (and no --cafile) the same certificate is refused.
    let out = bench_at(&url, &PAIRS_QOS1_JSON);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{}", out.stderr);
    assert!(
        out.stderr.contains("connect_tls") || out.stderr.contains("system CA"),
        "stderr:\n{}",
        out.stderr
    );
}

#[test]
fn a_missing_cafile_is_refused_before_the_run_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    // No broker is needed: the file is read before any connection.
    let out = bench_at(&host_args(support::free_port()), &["--cafile", p(&missing)]);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("--cafile {}", missing.display()))
            && out.stderr.contains("no such file"),
        "stderr:\n{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("benchmarking"),
        "stderr:\n{}",
        out.stderr
    );
}

#[test]
fn client_certificates_get_through_require_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let extra = format!("cafile {}\nrequire_certificate true\n", p(&pki.ca));
    let (_broker, tls_port) = mosquitto_tls(&pki.cert, &pki.key, &extra);
    let url = vec!["-L".to_string(), format!("mqtts://localhost:{tls_port}")];
    let common = [
        "-q",
        "1",
        "--messages",
        "20",
        "--json",
        "-",
        "--cafile",
        p(&pki.ca),
    ];
    let mut args = common.to_vec();
    args.extend(["--cert", p(&pki.client_cert), "--key", p(&pki.client_key)]);
    let out = bench_at(&url, &args);
    out.assert_success();
    let r = out.report();
    assert_eq!(u64_at(&r, "/received"), 20, "{r:#}");
    assert_eq!(u64_at(&r, "/lost"), 0);
    // Without a client certificate mosquitto refuses it with a TLS alert, which (in TLS
    // 1.3, after our side of the handshake) comes where the CONNACK was awaited: a TLS
    // failure, not a broker refusing MQTT 5.
    let out = bench_at(&url, &common);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{}", out.stderr);
    let r = out.report();
    assert_eq!(u64_at(&r, "/clients/connected"), 0, "{r:#}");
    assert_eq!(u64_at(&r, "/errors/connect_tls"), 2, "{r:#}");
    assert_eq!(r["parameters"]["protocol_version"], "5", "{r:#}");
    assert!(
        out.stderr.contains("--cert and --key"),
        "stderr:\n{}",
        out.stderr
    );
}

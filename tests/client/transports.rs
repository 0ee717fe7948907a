//! `mqtk pub` and `mqtk sub` over TLS and WebSocket: against mosquitto's TLS listener
//! (`--cafile`, `mqtts://`, client certificates, `--insecure`), and against `mqtk serve`'s
//! WebSocket listeners (`ws://`, `wss://`; mosquitto 2.0.11 here cannot bind a WebSocket
//! listener to 127.0.0.1 only). Certificates are made in the test (rcgen).

use support::pki::{self, pki, Pki};
use support::{free_port, mqtk, ok, output, p, text, Mosquitto, Serve};

/// mosquitto with a TLS listener serving the PKI's server certificate.
fn mosquitto_tls(pki: &Pki, extra: &str) -> (Mosquitto, u16) {
    pki::mosquitto_tls(&pki.cert, &pki.key, extra)
}

#[test]
fn pub_and_sub_reach_mosquitto_over_tls_with_cafile_or_mqtts_url() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let (broker, tls) = mosquitto_tls(&pki, "");
    let port = tls.to_string();
    let publish = output(mqtk().args([
        "pub",
        "-h",
        "localhost",
        "-p",
        &port,
        "--cafile",
        p(&pki.ca),
        "-t",
        "tls/a",
        "-m",
        "one",
        "-q",
        "1",
        "-r",
    ]));
    ok(&publish);
    let url = format!("mqtts://localhost:{port}/tls/b");
    ok(&output(mqtk().args([
        "pub",
        "-L",
        &url,
        "--cafile",
        p(&pki.ca),
        "-m",
        "two",
        "-q",
        "1",
        "-r",
    ])));
    let sub = output(mqtk().args([
        "sub",
        "-h",
        "localhost",
        "-p",
        &port,
        "--cafile",
        p(&pki.ca),
        "-t",
        "tls/#",
        "-C",
        "2",
        "-W",
        "10",
        "-v",
    ]));
    let mut lines: Vec<String> = ok(&sub).lines().map(String::from).collect();
    lines.sort();
    assert_eq!(lines, ["tls/a one", "tls/b two"], "{}", broker.log());

    // The self-made CA is not in the system store: refused, with a hint.
    let untrusted = output(mqtk().args(["pub", "-L", &url, "-m", "x", "--no-reconnect"]));
    assert!(!untrusted.status.success());
    let err = text(&untrusted.stderr);
    assert!(
        err.contains("--cafile") || err.contains("certificate"),
        "{err}"
    );
    // --insecure skips the check (testing only).
    ok(&output(mqtk().args([
        "pub",
        "-L",
        &url,
        "--insecure",
        "-m",
        "three",
        "-q",
        "1",
    ])));
}

#[test]
fn client_certificates_get_through_require_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let extra = format!("cafile {}\nrequire_certificate true\n", p(&pki.ca));
    let (broker, tls) = mosquitto_tls(&pki, &extra);
    let port = tls.to_string();
    let target = ["-h", "localhost", "-p", &port, "--cafile", p(&pki.ca)];
    let identity = ["--cert", p(&pki.client_cert), "--key", p(&pki.client_key)];
    let publish = ["pub", "-t", "c", "-m", "x", "-q", "1", "-r"];
    let with = output(mqtk().args(publish).args(target).args(identity));
    assert!(
        with.status.success(),
        "{}\n{}",
        text(&with.stderr),
        broker.log()
    );
    let subscribe = ["sub", "-t", "c", "-C", "1", "-W", "10"];
    let got = output(mqtk().args(subscribe).args(target).args(identity));
    assert_eq!(ok(&got), "x\n", "{}", broker.log());
}

/// A broker that wants a client certificate refuses one missing with a TLS alert, which
/// under TLS 1.3 arrives after our side of the handshake, in place of the CONNACK. That
/// is not a broker refusing MQTT 5: no 3.1.1 retry, and the error says what to give.
#[test]
fn a_missing_client_certificate_is_a_tls_error_not_a_refusal_of_mqtt_5() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let extra = format!("cafile {}\nrequire_certificate true\n", p(&pki.ca));
    let (broker, tls) = mosquitto_tls(&pki, &extra);
    let port = tls.to_string();
    let target = ["-h", "127.0.0.1", "-p", &port, "--cafile", p(&pki.ca), "-d"];
    for cmd in [
        vec!["pub", "-t", "t", "-m", "x"],
        vec!["pub", "-t", "t", "-m", "x", "-q", "1", "--no-reconnect"],
        vec!["sub", "-t", "t", "-W", "10"],
        vec!["sub", "-t", "t", "-W", "10", "--no-reconnect"],
    ] {
        let out = output(mqtk().args(&cmd).args(target));
        let err = text(&out.stderr);
        let context = format!("{cmd:?}\nstderr: {err}\nbroker: {}", broker.log());
        assert_eq!(out.status.code(), Some(1), "{context}");
        assert!(err.contains("TLS"), "{context}");
        assert!(err.contains("--cert and --key"), "{context}");
        assert!(!err.contains("refused MQTT 5"), "{context}");
        assert!(err.contains("sending CONNECT (v5"), "{context}");
        assert!(!err.contains("CONNECT (v4"), "{context}");
    }
}

/// The `listening on SCHEME://127.0.0.1:PORT[/mqtt]` lines after the first: their ports.

#[test]
fn pub_and_sub_talk_to_serve_over_ws_and_wss() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let conf = dir.path().join("serve.conf");
    std::fs::write(
        &conf,
        format!(
            "listener 0 127.0.0.1\nprotocol websockets\n\
             listener 0 127.0.0.1\nprotocol websockets\ncertfile {}\nkeyfile {}\n",
            p(&pki.cert),
            p(&pki.key)
        ),
    )
    .unwrap();
    let mut serve = Serve::start(&["-c", p(&conf)]);
    let ws = serve.next_listener("ws").port();
    let wss = serve.next_listener("wss").port();
    let ws_url = format!("ws://127.0.0.1:{ws}/w/plain");
    let wss_url = format!("wss://localhost:{wss}/w/secure");
    ok(&output(mqtk().args([
        "pub", "-L", &ws_url, "-m", "over ws", "-q", "1", "-r",
    ])));
    ok(&output(mqtk().args([
        "pub",
        "-L",
        &wss_url,
        "--cafile",
        p(&pki.ca),
        "-m",
        "over wss",
        "-q",
        "1",
        "-r",
    ])));
    let sub_ws = output(mqtk().args([
        "sub",
        "-L",
        &format!("ws://127.0.0.1:{ws}/w/#"),
        "-C",
        "2",
        "-W",
        "10",
        "-v",
    ]));
    let mut lines: Vec<String> = ok(&sub_ws).lines().map(String::from).collect();
    lines.sort();
    assert_eq!(lines, ["w/plain over ws", "w/secure over wss"]);
    let sub_wss = output(mqtk().args([
        "sub",
        "-L",
        &format!("wss://localhost:{wss}/w/secure"),
        "--cafile",
        p(&pki.ca),
        "-C",
        "1",
        "-W",
        "10",
    ]));
    assert_eq!(ok(&sub_wss), "over wss\n");
}

/// QA: `--cafile /nonexistent` against a port where nothing listens said "connection
/// refused"; the TLS files are now read before connecting, so the bad flag is named.
#[test]
fn an_unreadable_tls_file_is_named_before_connecting_whatever_the_broker_state() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let missing = dir.path().join("missing.pem");
    let port = free_port().to_string(); // nothing listens there
    let cases: [(&str, Vec<&str>); 3] = [
        ("--cafile", vec!["--cafile", p(&missing)]),
        (
            "--cert",
            vec!["--cert", p(&missing), "--key", p(&pki.client_key)],
        ),
        (
            "--key",
            vec!["--cert", p(&pki.client_cert), "--key", p(&missing)],
        ),
    ];
    for (flag, tls_args) in cases {
        for cmd in [
            vec!["sub", "-t", "a", "-W", "5"],
            vec!["pub", "-t", "a", "-m", "x"],
        ] {
            let out = output(
                mqtk()
                    .args(&cmd)
                    .args(["-h", "127.0.0.1", "-p", &port])
                    .args(&tls_args),
            );
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{cmd:?} {tls_args:?}: {err}");
            assert!(
                err.contains(&format!("{flag} {}", p(&missing))),
                "{cmd:?} {tls_args:?}: {err}"
            );
            assert!(!err.contains("refused"), "{cmd:?} {tls_args:?}: {err}");
        }
    }
}

/// QA: `mqtts://` (or `--insecure`) against a plain MQTT listener said "the broker closed
/// the connection"; it is the TLS handshake that failed, most likely for want of TLS there.
#[test]
fn tls_against_a_plain_broker_says_the_tls_handshake_failed() {
    let broker = Mosquitto::start();
    let url = format!("mqtts://127.0.0.1:{}/a", broker.port());
    let port = broker.port().to_string();
    for cmd in [
        vec!["pub", "-L", &url, "-m", "x", "--insecure", "--no-reconnect"],
        vec![
            "sub",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "a",
            "--insecure",
            "-W",
            "5",
        ],
    ] {
        let out = output(mqtk().args(&cmd));
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{cmd:?}: {err}");
        assert!(err.contains("TLS handshake failed"), "{cmd:?}: {err}");
        assert!(err.contains("may not speak TLS"), "{cmd:?}: {err}");
    }
}

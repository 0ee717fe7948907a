//! Deliberately broken brokers: `mqtk serve` behind a proxy that rewrites what the
//! broker sends (drops the retain flag of every PUBLISH delivered; delivers every QoS 2
//! message twice), or stops answering: the cases about that behaviour fail, the others
//! still pass, and a broker that stops answering fails the cases left, in bounded time.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;

use support::Serve;

use crate::{mqtk_test, not_passed, result};

/// How the proxy changes each packet the broker sends (the whole frame in, the bytes
/// to send out).
type Rewrite = fn(Vec<u8>) -> Vec<u8>;

/// A proxy on 127.0.0.1 in front of `broker_port`, rewriting broker → client packets
/// with `rewrite`; returns its port. Its threads end when the connections do.
fn proxy(broker_port: u16, rewrite: Rewrite) -> u16 {
    proxy_until(broker_port, rewrite, usize::MAX)
}

/// `proxy`, which forwards the first `answered` connections; later ones it accepts and
/// holds open, reading and answering nothing (a broker that hangs).
fn proxy_until(broker_port: u16, rewrite: Rewrite, answered: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut held = Vec::new();
        for (n, client) in listener.incoming().enumerate() {
            let Ok(client) = client else { return };
            if n >= answered {
                held.push(client);
                continue;
            }
            let Ok(broker) = TcpStream::connect(("127.0.0.1", broker_port)) else {
                return;
            };
            let (c2, b2) = (client.try_clone().unwrap(), broker.try_clone().unwrap());
            thread::spawn(move || copy(client, broker));
            thread::spawn(move || frames(b2, c2, rewrite));
        }
    });
    port
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

/// Forwards whole MQTT frames, each through `rewrite`.
fn frames(mut from: TcpStream, mut to: TcpStream, rewrite: Rewrite) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        while let Some(len) = frame_len(&buf) {
            let frame = rewrite(buf.drain(..len).collect());
            if to.write_all(&frame).is_err() {
                return;
            }
        }
        match from.read(&mut chunk) {
            Ok(0) | Err(_) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The length of the complete frame at the start of `buf`, if it is complete.
fn frame_len(buf: &[u8]) -> Option<usize> {
    let (mut len, mut shift) = (0usize, 0);
    for (i, &b) in buf.iter().enumerate().skip(1).take(4) {
        len |= usize::from(b & 0x7F) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            let total = 1 + i + len;
            return (buf.len() >= total).then_some(total);
        }
    }
    None
}

fn drop_retain_flag(mut frame: Vec<u8>) -> Vec<u8> {
    if frame[0] >> 4 == 3 {
        frame[0] &= !1;
    }
    frame
}

/// Each QoS 2 PUBLISH is followed by a copy under another packet id: the message is
/// delivered twice.
fn deliver_qos2_twice(frame: Vec<u8>) -> Vec<u8> {
    if frame[0] >> 4 != 3 || (frame[0] >> 1) & 3 != 2 {
        return frame;
    }
    let header = frame.iter().skip(1).position(|b| b & 0x80 == 0).unwrap() + 2;
    let topic_len = usize::from(u16::from_be_bytes([frame[header], frame[header + 1]]));
    let id_at = header + 2 + topic_len;
    let mut copy = frame.clone();
    copy[id_at] ^= 0x80;
    [frame, copy].concat()
}

#[test]
fn a_broker_that_drops_the_retain_flag_fails_the_retain_flag_cases_only() {
    let serve = Serve::start(&[]);
    let port = proxy(serve.port(), drop_retain_flag);
    let dir = tempfile::tempdir().unwrap();
    let hosts = vec![
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
    ];
    let (out, report) = mqtk_test(&hosts, &["--only", "retained", "--only", "qos"], dir.path());
    assert_eq!(out.status.code(), Some(1), "a must case failed");
    for (id, version) in [
        ("retained/delivered-on-subscribe", "3.1.1"),
        ("retained/delivered-on-subscribe", "5"),
        ("retained/retain-as-published", "5"),
    ] {
        assert_eq!(result(&report, id, version), "fail", "{id} on {version}");
    }
    let others = not_passed(&report, |c| {
        !matches!(
            c["id"].as_str(),
            Some("retained/delivered-on-subscribe" | "retained/retain-as-published")
        )
    });
    assert!(
        others.is_empty(),
        "only the retain flag is broken:\n{}",
        others.join("\n")
    );
}

#[test]
fn a_broker_that_delivers_qos2_twice_fails_the_qos2_cases_only() {
    let serve = Serve::start(&[]);
    let port = proxy(serve.port(), deliver_qos2_twice);
    let dir = tempfile::tempdir().unwrap();
    let hosts = vec![
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
    ];
    let (out, report) = mqtk_test(&hosts, &["--only", "qos"], dir.path());
    assert_eq!(out.status.code(), Some(1), "a must case failed");
    let broken = ["qos/qos2-flow", "qos/qos2-dup-resend"];
    for id in broken {
        for version in ["3.1.1", "5"] {
            assert_eq!(result(&report, id, version), "fail", "{id} on {version}");
        }
    }
    let others = not_passed(&report, |c| !broken.contains(&c["id"].as_str().unwrap()));
    assert!(
        others.is_empty(),
        "only QoS 2 delivery is broken:\n{}",
        others.join("\n")
    );
}

fn unchanged(frame: Vec<u8>) -> Vec<u8> {
    frame
}

#[test]
fn a_broker_that_stops_answering_fails_the_cases_left_in_bounded_time() {
    let serve = Serve::start(&[]);
    // The probe of one version takes fewer than 20 connections; then the broker hangs.
    let port = proxy_until(serve.port(), unchanged, 20);
    let dir = tempfile::tempdir().unwrap();
    let hosts = vec![
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
    ];
    // One case at a time: which case meets the hang first is then fixed.
    let args = [
        "--jobs",
        "1",
        "-V",
        "5",
        "--only",
        "qos",
        "--only",
        "retained",
        "--timeout",
        "2",
    ];
    let started = std::time::Instant::now();
    let (out, report) = mqtk_test(&hosts, &args, dir.path());
    assert_eq!(out.status.code(), Some(1), "must cases failed");
    let cases = report["cases"].as_array().unwrap();
    let first = cases
        .iter()
        .position(|c| c["result"] != "pass")
        .expect("a case meets the hung broker");
    assert!(first + 1 < cases.len(), "cases are left after it: {report}");
    for case in &cases[first + 1..] {
        assert_eq!(case["result"], "fail", "{case}");
        let detail = case["detail"].as_str().unwrap();
        assert!(detail.starts_with("the broker stopped answering"), "{case}");
    }
    // The cases left fail at once instead of waiting out their limits.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
}

//! The version-refused rule against a local listener answering a CONNECT each way a
//! 3.1.1-only broker says no, and the TLS failures that must not pass for one.

use std::future::Future;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::net::Stream;
use crate::protocol::Properties;

const TIMEOUT: Duration = Duration::from_secs(5);

fn connect(version: ProtocolVersion) -> Connect {
    let connect = Connect {
        protocol_version: ProtocolVersion::V5,
        client_id: "t".into(),
        clean_start: true,
        keep_alive_secs: 60,
        username: None,
        password: None,
        will: None,
        properties: Properties {
            receive_maximum: Some(7),
            ..Properties::default()
        },
    };
    connect_for(&connect, version)
}

/// A broker on 127.0.0.1:0 that reads the CONNECT and then does `answer`.
async fn broker<F, Fut>(answer: F) -> TcpStream
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        // The CONNECT comes in one segment: read it all, so that a close is not a reset.
        let mut connect = [0u8; 256];
        let _ = tcp.read(&mut connect).await;
        answer(tcp).await;
    });
    TcpStream::connect(addr).await.unwrap()
}

/// Answers with these bytes and closes.
async fn replying(bytes: Vec<u8>) -> TcpStream {
    broker(move |mut tcp| async move {
        let _ = tcp.write_all(&bytes).await;
        let _ = tcp.shutdown().await;
        // Read until the client hangs up, so that our close is not a reset.
        let mut rest = [0u8; 256];
        while matches!(tcp.read(&mut rest).await, Ok(n) if n > 0) {}
    })
    .await
}

async fn try_version(tcp: TcpStream, version: ProtocolVersion) -> Result<ConnAck, HandshakeError> {
    let mut conn = Connection::new(Stream::from(tcp), version);
    handshake(&mut conn, connect(version), TIMEOUT).await
}

fn encoded(packet: Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut buf = BytesMut::new();
    packet.encode(version, &mut buf).unwrap();
    buf.to_vec()
}

fn connack(code: ReasonCode) -> Packet {
    Packet::ConnAck(ConnAck {
        session_present: false,
        reason_code: code,
        properties: Properties::default(),
    })
}

#[tokio::test]
async fn connack_0x84_refuses_mqtt_5() {
    let bytes = encoded(
        connack(ReasonCode::UnsupportedProtocolVersion),
        ProtocolVersion::V5,
    );
    let answer = try_version(replying(bytes).await, ProtocolVersion::V5).await;
    assert!(
        matches!(
            answer,
            Err(HandshakeError::VersionRefused(Refusal::ConnAck(_)))
        ),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_3_1_1_connack_with_return_code_1_refuses_mqtt_5() {
    let tcp = replying(vec![0x20, 0x02, 0x00, 0x01]).await;
    let answer = try_version(tcp, ProtocolVersion::V5).await;
    assert!(
        matches!(
            answer,
            Err(HandshakeError::VersionRefused(Refusal::V311ReturnCode))
        ),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_close_refuses_mqtt_5_but_not_3_1_1() {
    let answer = try_version(replying(Vec::new()).await, ProtocolVersion::V5).await;
    assert!(
        matches!(answer, Err(HandshakeError::VersionRefused(Refusal::Closed))),
        "{answer:?}"
    );
    let answer = try_version(replying(Vec::new()).await, ProtocolVersion::V311).await;
    assert!(matches!(answer, Err(HandshakeError::Closed)), "{answer:?}");
}

#[tokio::test]
async fn a_reset_refuses_mqtt_5() {
    let tcp = broker(|tcp| async move {
        // SO_LINGER 0: the close is an RST, as from a broker that did not read it all.
        #[allow(deprecated)]
        tcp.set_linger(Some(Duration::ZERO)).unwrap();
        drop(tcp);
    })
    .await;
    let answer = try_version(tcp, ProtocolVersion::V5).await;
    assert!(
        matches!(
            answer,
            Err(HandshakeError::VersionRefused(Refusal::Reset(_)))
        ),
        "{answer:?}"
    );
}

#[tokio::test]
async fn an_undecodable_answer_refuses_mqtt_5() {
    // A CONNACK whose remaining length is too short for MQTT 5's properties.
    let tcp = replying(vec![0x20, 0x01, 0x00]).await;
    let answer = try_version(tcp, ProtocolVersion::V5).await;
    assert!(
        matches!(
            answer,
            Err(HandshakeError::VersionRefused(Refusal::Undecodable(_)))
        ),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_success_is_the_connack_and_other_refusals_are_not_about_the_version() {
    let bytes = encoded(connack(ReasonCode::Success), ProtocolVersion::V5);
    let answer = try_version(replying(bytes).await, ProtocolVersion::V5).await;
    assert!(
        matches!(
            answer,
            Ok(ConnAck {
                reason_code: ReasonCode::Success,
                ..
            })
        ),
        "{answer:?}"
    );
    let bytes = encoded(connack(ReasonCode::NotAuthorized), ProtocolVersion::V5);
    let answer = try_version(replying(bytes).await, ProtocolVersion::V5).await;
    assert!(
        matches!(answer, Err(HandshakeError::Refused(_))),
        "{answer:?}"
    );
    let bytes = encoded(Packet::PingResp, ProtocolVersion::V5);
    let answer = try_version(replying(bytes).await, ProtocolVersion::V5).await;
    assert!(
        matches!(answer, Err(HandshakeError::Unexpected("PINGRESP"))),
        "{answer:?}"
    );
}

#[tokio::test]
async fn silence_is_a_timeout() {
    let tcp = broker(|tcp| async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(tcp);
    })
    .await;
    let mut conn = Connection::new(Stream::from(tcp), ProtocolVersion::V5);
    let connect = connect(ProtocolVersion::V5);
    let answer = handshake(&mut conn, connect, Duration::from_millis(100)).await;
    assert!(
        matches!(answer, Err(HandshakeError::TimedOut(_))),
        "{answer:?}"
    );
}

#[test]
fn a_tls_alert_instead_of_a_connack_is_a_tls_failure() {
    use rustls::AlertDescription::CertificateRequired;
    let alert = io::Error::new(
        io::ErrorKind::InvalidData,
        rustls::Error::AlertReceived(CertificateRequired),
    );
    let answer = judge(ProtocolVersion::V5, Answer::Io(alert));
    assert!(
        matches!(answer, Err(HandshakeError::Tls(ref why)) if why.contains("--cert")),
        "{answer:?}"
    );
    let bad = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
    let answer = judge(ProtocolVersion::V5, Answer::Io(bad));
    assert!(matches!(answer, Err(HandshakeError::Tls(_))), "{answer:?}");
}

#[tokio::test]
async fn a_broker_refusing_our_certificate_under_tls_1_3_is_not_refusing_mqtt_5() {
    use crate::net::tls::{self, connect_tls, ClientTlsFiles, TlsOptions};
    let dir = tempfile::tempdir().unwrap();
    let (ca, mut files) = tls::tests::test_pki(dir.path());
    files.cafile = Some(ca.clone());
    files.require_certificate = true;
    let server = tls::server_config(&files).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        // Fails on our missing certificate and sends the alert.
        let _ = tokio_rustls::TlsAcceptor::from(server).accept(tcp).await;
    });
    let options = TlsOptions::load(&ClientTlsFiles {
        cafile: Some(ca),
        ..Default::default()
    })
    .unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    // TLS 1.3: our side of the handshake completes before the broker checks us.
    let tls = connect_tls(tcp, "localhost", &options).await.unwrap();
    let mut conn = Connection::new(Stream::from(tls), ProtocolVersion::V5);
    let answer = handshake(&mut conn, connect(ProtocolVersion::V5), TIMEOUT).await;
    assert!(matches!(answer, Err(HandshakeError::Tls(_))), "{answer:?}");
}

#[test]
fn connect_for_3_1_1_drops_properties_and_will_properties() {
    let mut v5 = connect(ProtocolVersion::V5);
    v5.will = Some(crate::protocol::Will {
        topic: "w".into(),
        payload: bytes::Bytes::from_static(b"x"),
        qos: crate::protocol::QoS::AtMostOnce,
        retain: false,
        properties: Properties {
            content_type: Some("text/plain".into()),
            ..Properties::default()
        },
    });
    let v311 = connect_for(&v5, ProtocolVersion::V311);
    assert_eq!(v311.protocol_version, ProtocolVersion::V311);
    assert_eq!(v311.properties, Properties::default());
    assert_eq!(
        v311.will.as_ref().unwrap().properties,
        Properties::default()
    );
    assert_eq!(
        v311.will.as_ref().unwrap().topic,
        v5.will.as_ref().unwrap().topic
    );
    let again = connect_for(&v5, ProtocolVersion::V5);
    assert_eq!(again.properties.receive_maximum, Some(7));
}

#[test]
fn only_an_unfixed_mqtt_5_falls_back_to_3_1_1() {
    assert_eq!(
        next_version(ProtocolVersion::V5, false),
        Some(ProtocolVersion::V311)
    );
    assert_eq!(next_version(ProtocolVersion::V5, true), None);
    assert_eq!(next_version(ProtocolVersion::V311, false), None);
}

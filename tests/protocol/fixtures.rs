//! Byte-exact fixtures: packets whose bytes come from outside this codebase, decoded
//! and compared with the packet we expect, and (where the sender's property order is
//! the one we write, identifier order) encoded back to the very same bytes.
//!
//! Sources:
//! - "spec 3.1.1 §x" / "spec 5.0 §x": the non-normative examples of the OASIS MQTT
//!   3.1.1 and 5.0 specifications, completed into whole frames where the
//!   example shows only the variable header or the payload (the comment says which).
//! - "mosquitto 2.0.11": bytes captured between mosquitto_pub / mosquitto_sub 2.0.11
//!   and the mosquitto 2.0.11 broker by `scripts/capture-fixtures` (C>S: client to
//!   server, S>C: server to client; the scenario name is the script's).

use bytes::{Bytes, BytesMut};
use mqtk::protocol::{
    ConnAck, Connect, Disconnect, Packet, Properties, ProtocolVersion, PubResponse, Publish, QoS,
    ReasonCode, SubAck, Subscribe, Subscription, UnsubAck, Unsubscribe, Will,
};

use ProtocolVersion::{V311, V5};

struct Fixture {
    source: &'static str,
    version: ProtocolVersion,
    bytes: &'static [u8],
    packet: Packet,
    /// True when our encoder must produce exactly `bytes`.
    exact: bool,
}

fn fx(
    source: &'static str,
    version: ProtocolVersion,
    bytes: &'static [u8],
    packet: Packet,
) -> Fixture {
    Fixture {
        source,
        version,
        bytes,
        packet,
        exact: true,
    }
}

fn connect(version: ProtocolVersion, client_id: &str, keep_alive_secs: u16) -> Connect {
    Connect {
        protocol_version: version,
        client_id: client_id.into(),
        clean_start: true,
        keep_alive_secs,
        username: None,
        password: None,
        will: None,
        properties: Properties::default(),
    }
}

fn publish(qos: QoS, retain: bool, topic: &str, packet_id: u16, payload: &'static [u8]) -> Publish {
    Publish {
        dup: false,
        qos,
        retain,
        topic: topic.into(),
        packet_id,
        properties: Properties::default(),
        payload: Bytes::from_static(payload),
    }
}

fn connack(properties: Properties) -> Packet {
    Packet::ConnAck(ConnAck {
        session_present: false,
        reason_code: ReasonCode::Success,
        properties,
    })
}

fn suback(packet_id: u16, reason_codes: Vec<ReasonCode>) -> Packet {
    Packet::SubAck(SubAck {
        packet_id,
        reason_codes,
        properties: Properties::default(),
    })
}

fn subscribe(packet_id: u16, subs: &[(&str, QoS)], properties: Properties) -> Packet {
    let subscriptions = subs.iter().map(|&(f, q)| Subscription::new(f, q)).collect();
    Packet::Subscribe(Subscribe {
        packet_id,
        subscriptions,
        properties,
    })
}

fn unsubscribe(packet_id: u16, filters: &[&str]) -> Packet {
    let filters = filters.iter().map(|f| f.to_string()).collect();
    Packet::Unsubscribe(Unsubscribe {
        packet_id,
        filters,
        properties: Properties::default(),
    })
}

fn unsuback(packet_id: u16, reason_codes: Vec<ReasonCode>) -> Packet {
    Packet::UnsubAck(UnsubAck {
        packet_id,
        reason_codes,
        properties: Properties::default(),
    })
}

fn user_and_password(mut c: Connect) -> Connect {
    c.username = Some("user".into());
    c.password = Some(Bytes::from_static(b"pass"));
    c
}

fn will(
    topic: &str,
    payload: &'static [u8],
    qos: QoS,
    retain: bool,
    properties: Properties,
) -> Will {
    Will {
        topic: topic.into(),
        payload: Bytes::from_static(payload),
        qos,
        retain,
        properties,
    }
}

/// The properties mosquitto_pub sends with `-D publish …` in scripts/capture-fixtures.
fn mosquitto_publish_props(subscription_identifiers: Vec<u32>) -> Properties {
    Properties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(30),
        content_type: Some("text/plain".into()),
        response_topic: Some("r/t".into()),
        correlation_data: Some(Bytes::from_static(b"abc")),
        user_properties: vec![("k".into(), "v".into())],
        subscription_identifiers,
        ..Properties::default()
    }
}

fn spec_fixtures() -> Vec<Fixture> {
    let mut spec311_connect = connect(V311, "c", 10);
    spec311_connect = user_and_password(spec311_connect);
    spec311_connect.will = Some(will(
        "w",
        b"m",
        QoS::AtLeastOnce,
        false,
        Properties::default(),
    ));
    let mut spec5_connect = connect(V5, "c", 10);
    spec5_connect = user_and_password(spec5_connect);
    spec5_connect.will = Some(will(
        "w",
        b"m",
        QoS::AtLeastOnce,
        false,
        Properties::default(),
    ));
    spec5_connect.properties.session_expiry_interval = Some(10);
    let mut spec5_publish = publish(QoS::AtLeastOnce, false, "a/b", 10, b"");
    spec5_publish.properties = Properties::default();
    vec![
        fx(
            // Variable header: spec 3.1.1 §3.1.2.10 figure 3.6 (MQTT, level 4, flags 0xCE,
            // keep alive 10); the payload the flags call for is ours.
            "spec 3.1.1 §3.1.2.10 CONNECT variable header",
            V311,
            b"\x10\x1F\x00\x04MQTT\x04\xCE\x00\x0A\x00\x01c\x00\x01w\x00\x01m\x00\x04user\x00\x04pass",
            Packet::Connect(spec311_connect),
        ),
        fx(
            // Variable header: spec 5.0 §3.1.2.12 figure 3-6 (level 5, flags 0xCE, keep
            // alive 10, properties: session expiry interval 10); the payload is ours.
            "spec 5.0 §3.1.2.12 CONNECT variable header",
            V5,
            b"\x10\x26\x00\x04MQTT\x05\xCE\x00\x0A\x05\x11\x00\x00\x00\x0A\x00\x01c\x00\x00\x01w\x00\x01m\x00\x04user\x00\x04pass",
            Packet::Connect(spec5_connect),
        ),
        fx(
            // Spec 3.1.1 §3.3.2.3 figure 3.11: topic "a/b", packet identifier 10.
            "spec 3.1.1 §3.3.2.3 PUBLISH variable header",
            V311,
            b"\x32\x07\x00\x03a/b\x00\x0A",
            Packet::Publish(publish(QoS::AtLeastOnce, false, "a/b", 10, b"")),
        ),
        fx(
            // Spec 5.0 §3.3.2.3 figure 3-9: topic "a/b", packet identifier 10, no properties.
            "spec 5.0 §3.3.2.3 PUBLISH variable header",
            V5,
            b"\x32\x08\x00\x03a/b\x00\x0A\x00",
            Packet::Publish(spec5_publish),
        ),
        fx(
            // Spec 3.1.1 §3.8.2 figure 3.21 (packet identifier 10) and §3.8.3 figure 3.22
            // ("a/b" QoS 1, "c/d" QoS 2).
            "spec 3.1.1 §3.8.3 SUBSCRIBE payload",
            V311,
            b"\x82\x0E\x00\x0A\x00\x03a/b\x01\x00\x03c/d\x02",
            subscribe(10, &[("a/b", QoS::AtLeastOnce), ("c/d", QoS::ExactlyOnce)], Properties::default()),
        ),
        fx(
            // Spec 3.1.1 §3.9.3 figure 3.26: granted QoS 0, granted QoS 2, failure.
            "spec 3.1.1 §3.9.3 SUBACK payload",
            V311,
            b"\x90\x05\x00\x0A\x00\x02\x80",
            suback(10, vec![ReasonCode::Success, ReasonCode::GrantedQoS2, ReasonCode::UnspecifiedError]),
        ),
        fx(
            // Spec 3.1.1 §3.10.3 figure 3.30: "a/b", "c/d".
            "spec 3.1.1 §3.10.3 UNSUBSCRIBE payload",
            V311,
            b"\xA2\x0C\x00\x0A\x00\x03a/b\x00\x03c/d",
            unsubscribe(10, &["a/b", "c/d"]),
        ),
    ]
}

fn mosquitto_v311_fixtures() -> Vec<Fixture> {
    let mut will_connect = user_and_password(connect(V311, "fx-pub2", 30));
    will_connect.will = Some(will(
        "w/t",
        b"bye",
        QoS::AtLeastOnce,
        true,
        Properties::default(),
    ));
    vec![
        fx(
            "mosquitto 2.0.11 v311-pub-qos1-retain C>S",
            V311,
            b"\x10\x13\x00\x04MQTT\x04\x02\x00\x3c\x00\x07fx-pub1",
            Packet::Connect(connect(V311, "fx-pub1", 60)),
        ),
        fx(
            "mosquitto 2.0.11 v311-pub-qos1-retain C>S",
            V311,
            b"\x33\x0c\x00\x03a/b\x00\x01hello",
            Packet::Publish(publish(QoS::AtLeastOnce, true, "a/b", 1, b"hello")),
        ),
        fx("mosquitto 2.0.11 v311-pub-qos1-retain C>S", V311, b"\xe0\x00", Packet::Disconnect(Disconnect::normal())),
        fx("mosquitto 2.0.11 v311-pub-qos1-retain S>C", V311, b"\x20\x02\x00\x00", connack(Properties::default())),
        fx("mosquitto 2.0.11 v311-pub-qos1-retain S>C", V311, b"\x40\x02\x00\x01", Packet::PubAck(PubResponse::new(1))),
        fx(
            "mosquitto 2.0.11 v311-pub-qos2-will-auth C>S",
            V311,
            b"\x10\x29\x00\x04MQTT\x04\xee\x00\x1e\x00\x07fx-pub2\x00\x03w/t\x00\x03bye\x00\x04user\x00\x04pass",
            Packet::Connect(will_connect),
        ),
        fx(
            "mosquitto 2.0.11 v311-pub-qos2-will-auth C>S",
            V311,
            b"\x34\x08\x00\x03a/c\x00\x01x",
            Packet::Publish(publish(QoS::ExactlyOnce, false, "a/c", 1, b"x")),
        ),
        fx("mosquitto 2.0.11 v311-pub-qos2-will-auth C>S", V311, b"\x62\x02\x00\x01", Packet::PubRel(PubResponse::new(1))),
        fx("mosquitto 2.0.11 v311-pub-qos2-will-auth S>C", V311, b"\x50\x02\x00\x01", Packet::PubRec(PubResponse::new(1))),
        fx("mosquitto 2.0.11 v311-pub-qos2-will-auth S>C", V311, b"\x70\x02\x00\x01", Packet::PubComp(PubResponse::new(1))),
        fx(
            "mosquitto 2.0.11 v311-sub-retained C>S",
            V311,
            b"\x82\x0e\x00\x01\x00\x03a/+\x01\x00\x03b/#\x01",
            subscribe(1, &[("a/+", QoS::AtLeastOnce), ("b/#", QoS::AtLeastOnce)], Properties::default()),
        ),
        fx(
            "mosquitto 2.0.11 v311-sub-retained S>C",
            V311,
            b"\x90\x04\x00\x01\x01\x01",
            suback(1, vec![ReasonCode::GrantedQoS1, ReasonCode::GrantedQoS1]),
        ),
        fx(
            "mosquitto 2.0.11 v311-sub-retained S>C",
            V311,
            b"\x33\x0c\x00\x03a/b\x00\x01hello",
            Packet::Publish(publish(QoS::AtLeastOnce, true, "a/b", 1, b"hello")),
        ),
        fx(
            "mosquitto 2.0.11 v311-unsub-ping C>S",
            V311,
            b"\x82\x06\x00\x01\x00\x01z\x00",
            subscribe(1, &[("z", QoS::AtMostOnce)], Properties::default()),
        ),
        fx("mosquitto 2.0.11 v311-unsub-ping C>S", V311, b"\xa2\x05\x00\x02\x00\x01z", unsubscribe(2, &["z"])),
        fx("mosquitto 2.0.11 v311-unsub-ping C>S", V311, b"\xc0\x00", Packet::PingReq),
        fx("mosquitto 2.0.11 v311-unsub-ping S>C", V311, b"\x90\x03\x00\x01\x00", suback(1, vec![ReasonCode::Success])),
        fx("mosquitto 2.0.11 v311-unsub-ping S>C", V311, b"\xb0\x02\x00\x02", unsuback(2, vec![])),
        fx("mosquitto 2.0.11 v311-unsub-ping S>C", V311, b"\xd0\x00", Packet::PingResp),
    ]
}

fn mosquitto_v5_fixtures() -> Vec<Fixture> {
    let mut props_connect = connect(V5, "fx-pub5", 60);
    props_connect.properties = Properties {
        user_properties: vec![("ck".into(), "cv".into())],
        receive_maximum: Some(10),
        session_expiry_interval: Some(60),
        ..Properties::default()
    };
    let mut will_connect = user_and_password(connect(V5, "fx-pub6", 60));
    will_connect.properties.receive_maximum = Some(20);
    let will_props = Properties {
        will_delay_interval: Some(10),
        ..Properties::default()
    };
    will_connect.will = Some(will("w/t", b"bye", QoS::ExactlyOnce, false, will_props));
    let mut sub_connect = connect(V5, "fx-sub5", 60);
    sub_connect.properties.receive_maximum = Some(1);
    let mut published = publish(QoS::AtLeastOnce, true, "a/d", 1, b"hi5");
    published.properties = mosquitto_publish_props(vec![]);
    let mut forwarded = published.clone();
    forwarded.properties = mosquitto_publish_props(vec![7]);
    let mosquitto_connack = Properties {
        topic_alias_maximum: Some(10),
        receive_maximum: Some(20),
        ..Properties::default()
    };
    let sub_id = Properties {
        subscription_identifiers: vec![7],
        ..Properties::default()
    };
    vec![
        Fixture {
            // mosquitto writes user property, receive maximum, session expiry in that order.
            exact: false,
            ..fx(
                "mosquitto 2.0.11 v5-pub-qos1-props C>S",
                V5,
                b"\x10\x25\x00\x04MQTT\x05\x02\x00\x3c\x11\x26\x00\x02ck\x00\x02cv\x21\x00\x0a\x11\x00\x00\x00\x3c\x00\x07fx-pub5",
                Packet::Connect(props_connect),
            )
        },
        fx(
            "mosquitto 2.0.11 v5-pub-qos1-props C>S",
            V5,
            b"\x33\x32\x00\x03a/d\x00\x01\x27\x01\x01\x02\x00\x00\x00\x1e\x03\x00\x0atext/plain\x08\x00\x03r/t\x09\x00\x03abc\x26\x00\x01k\x00\x01vhi5",
            Packet::Publish(published),
        ),
        Fixture {
            // mosquitto writes topic alias maximum before receive maximum.
            exact: false,
            ..fx(
                "mosquitto 2.0.11 v5-pub-qos1-props S>C",
                V5,
                b"\x20\x09\x00\x00\x06\x22\x00\x0a\x21\x00\x14",
                connack(mosquitto_connack),
            )
        },
        fx(
            "mosquitto 2.0.11 v5-pub-qos1-props S>C",
            V5,
            b"\x40\x03\x00\x01\x10",
            Packet::PubAck(PubResponse { reason_code: ReasonCode::NoMatchingSubscribers, ..PubResponse::new(1) }),
        ),
        fx(
            "mosquitto 2.0.11 v5-pub-qos2-will-auth C>S",
            V5,
            b"\x10\x33\x00\x04MQTT\x05\xd6\x00\x3c\x03\x21\x00\x14\x00\x07fx-pub6\x05\x18\x00\x00\x00\x0a\x00\x03w/t\x00\x03bye\x00\x04user\x00\x04pass",
            Packet::Connect(will_connect),
        ),
        fx(
            "mosquitto 2.0.11 v5-pub-qos2-will-auth C>S",
            V5,
            b"\x34\x09\x00\x03a/e\x00\x01\x00x",
            Packet::Publish(publish(QoS::ExactlyOnce, false, "a/e", 1, b"x")),
        ),
        fx("mosquitto 2.0.11 v5-pub-qos2-will-auth C>S", V5, b"\x62\x02\x00\x01", Packet::PubRel(PubResponse::new(1))),
        fx("mosquitto 2.0.11 v5-pub-qos2-will-auth S>C", V5, b"\x50\x02\x00\x01", Packet::PubRec(PubResponse::new(1))),
        fx("mosquitto 2.0.11 v5-pub-qos2-will-auth S>C", V5, b"\x70\x02\x00\x01", Packet::PubComp(PubResponse::new(1))),
        fx(
            "mosquitto 2.0.11 v5-sub-retained C>S",
            V5,
            b"\x10\x17\x00\x04MQTT\x05\x02\x00\x3c\x03\x21\x00\x01\x00\x07fx-sub5",
            Packet::Connect(sub_connect),
        ),
        fx(
            "mosquitto 2.0.11 v5-sub-retained C>S",
            V5,
            b"\x82\x11\x00\x01\x02\x0b\x07\x00\x03a/d\x02\x00\x03c/#\x02",
            subscribe(1, &[("a/d", QoS::ExactlyOnce), ("c/#", QoS::ExactlyOnce)], sub_id),
        ),
        fx(
            "mosquitto 2.0.11 v5-sub-retained S>C",
            V5,
            b"\x90\x05\x00\x01\x00\x02\x02",
            suback(1, vec![ReasonCode::GrantedQoS2, ReasonCode::GrantedQoS2]),
        ),
        Fixture {
            // mosquitto forwards the message expiry interval last.
            exact: false,
            ..fx(
                "mosquitto 2.0.11 v5-sub-retained S>C",
                V5,
                b"\x33\x34\x00\x03a/d\x00\x01\x29\x0b\x07\x01\x01\x03\x00\x0atext/plain\x08\x00\x03r/t\x09\x00\x03abc\x26\x00\x01k\x00\x01v\x02\x00\x00\x00\x1ehi5",
                Packet::Publish(forwarded),
            )
        },
        fx(
            "mosquitto 2.0.11 v5-unsub-ping C>S",
            V5,
            b"\x82\x07\x00\x01\x00\x00\x01z\x00",
            subscribe(1, &[("z", QoS::AtMostOnce)], Properties::default()),
        ),
        fx("mosquitto 2.0.11 v5-unsub-ping C>S", V5, b"\xa2\x06\x00\x02\x00\x00\x01z", unsubscribe(2, &["z"])),
        fx(
            "mosquitto 2.0.11 v5-unsub-ping C>S",
            V5,
            b"\xe0\x01\x04",
            Packet::Disconnect(Disconnect::with_reason(ReasonCode::DisconnectWithWill)),
        ),
        fx("mosquitto 2.0.11 v5-unsub-ping S>C", V5, b"\x90\x04\x00\x01\x00\x00", suback(1, vec![ReasonCode::Success])),
        fx(
            "mosquitto 2.0.11 v5-unsub-ping S>C",
            V5,
            b"\xb0\x04\x00\x02\x00\x00",
            unsuback(2, vec![ReasonCode::Success]),
        ),
    ]
}

fn check(fixtures: Vec<Fixture>) {
    let mut failures = Vec::new();
    for f in fixtures {
        let mut buf = BytesMut::from(f.bytes);
        match Packet::decode(&mut buf, f.version, u32::MAX) {
            Ok(Some(decoded)) if decoded == f.packet && buf.is_empty() => {}
            other => failures.push(format!(
                "{} {:02X?}:\n  expected {:?}\n  got      {other:?} ({} bytes left)",
                f.source,
                f.bytes,
                f.packet,
                buf.len()
            )),
        }
        let mut encoded = BytesMut::new();
        f.packet
            .encode(f.version, &mut encoded)
            .expect("fixture packets encode");
        if f.exact && encoded[..] != *f.bytes {
            failures.push(format!(
                "{}: encoding differs\n  expected {:02X?}\n  got      {:02X?}",
                f.source,
                f.bytes,
                &encoded[..]
            ));
        }
        if !f.exact {
            assert_eq!(
                encoded.len(),
                f.bytes.len(),
                "{}: same fields, same length",
                f.source
            );
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn examples_of_the_specifications_decode_and_encode_byte_for_byte() {
    check(spec_fixtures());
}

#[test]
fn mqtt_311_packets_of_mosquitto_clients_and_broker_decode_and_encode_byte_for_byte() {
    check(mosquitto_v311_fixtures());
}

#[test]
fn mqtt_5_packets_of_mosquitto_clients_and_broker_decode_and_encode_byte_for_byte() {
    check(mosquitto_v5_fixtures());
}

//! Tests of the recording format: what is written reads back to the same message.

use std::time::Duration;

use super::*;
use crate::protocol::QoS;

fn publish() -> Publish {
    let mut properties = Properties {
        content_type: Some("application/octet-stream".into()),
        response_topic: Some("reply/to".into()),
        correlation_data: Some(Bytes::from_static(&[0xff, 0x00, 0x10])),
        message_expiry_interval: Some(60),
        payload_format_indicator: Some(0),
        subscription_identifiers: vec![7],
        topic_alias: Some(3),
        ..Properties::default()
    };
    properties.user_properties = vec![("k".into(), "1".into()), ("k".into(), "2".into())];
    Publish {
        dup: false,
        qos: QoS::ExactlyOnce,
        retain: true,
        topic: "a/b".into(),
        packet_id: 9,
        properties,
        payload: Bytes::from_static(&[0, 159, 146, 150, b'\n']),
    }
}

#[test]
fn a_written_record_reads_back_to_the_same_message() {
    let p = publish();
    let at = UNIX_EPOCH + Duration::new(1_795_609_510, 193_373_686);
    let line = Record::of(&p, at, None, None).to_line();
    let r = Record::parse(&line).unwrap();
    assert_eq!(r.topic.as_deref(), Some("a/b"));
    assert_eq!(r.payload_encoding.as_deref(), Some("base64"));
    assert_eq!(r.payload_bytes().unwrap(), p.payload);
    assert_eq!(r.qos().unwrap(), Some(QoS::ExactlyOnce));
    assert_eq!(r.retain, Some(true));
    assert_eq!(r.received_unix_ns, Some(1_795_609_510_193_373_686));
    let mut properties = Properties::default();
    r.apply_properties(&mut properties).unwrap();
    let expected = Properties {
        subscription_identifiers: vec![],
        topic_alias: None,
        ..p.properties.clone()
    };
    assert_eq!(properties, expected);
}

#[test]
fn the_line_keeps_the_field_order_sub_json_always_printed() {
    let mut p = publish();
    p.payload = Bytes::from_static(b"hi");
    p.properties = Properties::default();
    let line = Record::of(&p, UNIX_EPOCH, None, None).to_line();
    assert_eq!(
        line,
        "{\"topic\":\"a/b\",\"payload\":\"hi\",\"payload_encoding\":\"text\",\
         \"payload_bytes\":2,\"qos\":2,\"retain\":true,\"dup\":false,\"packet_id\":9,\
         \"received\":\"1970-01-01T00:00:00.000000Z\",\"received_unix_ns\":0}"
    );
}

#[test]
fn a_short_hand_written_line_leaves_the_rest_to_the_flags() {
    let r = Record::parse(r#"{"payload":"hi"}"#).unwrap();
    assert_eq!(r.topic, None);
    assert_eq!(r.qos().unwrap(), None);
    assert_eq!(r.retain, None);
    assert_eq!(r.payload_bytes().unwrap(), Bytes::from_static(b"hi"));
    let mut properties = Properties {
        content_type: Some("flag".into()),
        ..Properties::default()
    };
    r.apply_properties(&mut properties).unwrap();
    assert_eq!(properties.content_type.as_deref(), Some("flag"));
    assert_eq!(Record::parse("{}").unwrap().payload_bytes().unwrap(), "");
}

#[test]
fn bad_lines_say_what_is_wrong() {
    let err = |line: &str| -> String {
        match Record::parse(line) {
            Err(e) => e,
            Ok(r) => r
                .payload_bytes()
                .and_then(|_| r.qos().map(|_| ()))
                .and_then(|()| r.apply_properties(&mut Properties::default()))
                .err()
                .unwrap_or_else(|| panic!("{line} was accepted")),
        }
    };
    assert!(
        err("topic a").starts_with("not a JSON object"),
        "{}",
        err("topic a")
    );
    assert!(
        err(r#"{"qos":"1"}"#).contains("invalid type"),
        "{}",
        err(r#"{"qos":"1"}"#)
    );
    assert_eq!(err(r#"{"qos":3}"#), "qos: 3 is not 0, 1 or 2");
    assert!(
        err(r#"{"payload":"@@","payload_encoding":"base64"}"#).starts_with("payload: not base64")
    );
    assert!(err(r#"{"payload":"x","payload_encoding":"hex"}"#).contains("neither"));
    assert!(err(r#"{"payload":"abc","payload_bytes":2}"#).contains("payload_bytes says 2"));
    assert!(err(r#"{"properties":{"user_property":[]}}"#).contains("unknown field"));
    assert!(
        err(r#"{"properties":{"response_topic":"a/+"}}"#).starts_with("properties.response_topic")
    );
}

#[test]
fn a_decoded_field_is_what_encode_reads() {
    let r = Record::parse(r#"{"decoded_as":"cbor","decoded":{"t":1}}"#).unwrap();
    assert_eq!(r.decoded_input().as_deref(), Some(r#"{"t":1}"#));
    let r = Record::parse(r#"{"decoded_as":"hex","decoded":"dead"}"#).unwrap();
    assert_eq!(r.decoded_input().as_deref(), Some("dead"));
    assert_eq!(Record::parse("{}").unwrap().decoded_input(), None);
}

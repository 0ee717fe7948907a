//! Tests of the sub output formats against what mosquitto_sub 2.0 prints.

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::protocol::{Properties, QoS};

fn msg(topic: &str, payload: &[u8]) -> Publish {
    Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: topic.into(),
        packet_id: 1,
        properties: Properties::default(),
        payload: Bytes::copy_from_slice(payload),
    }
}

fn at() -> SystemTime {
    UNIX_EPOCH + Duration::new(1_795_609_510, 193_373_686)
}

fn template(t: &str, p: &Publish) -> String {
    let format = MessageFormat::Template(Template::parse(t).unwrap());
    String::from_utf8(
        render(
            &format,
            &Received {
                publish: p,
                at: at(),
                decoded: None,
                decode_error: None,
            },
            true,
        )
        .unwrap(),
    )
    .unwrap()
}

#[test]
fn every_message_parameter_renders_like_mosquitto_sub() {
    let mut p = msg("x/a", b"hello world");
    p.retain = true;
    p.properties.content_type = Some("text/plain".into());
    p.properties.user_properties = vec![("k".into(), "v".into()), ("k2".into(), "v2".into())];
    p.properties.response_topic = Some("rt".into());
    p.properties.correlation_data = Some(Bytes::from_static(b"cd"));
    p.properties.message_expiry_interval = Some(60);
    p.properties.payload_format_indicator = Some(1);
    p.properties.subscription_identifiers = vec![4];
    assert_eq!(
        template("[%t|%p|%q|%r|%m|%l|%x|%X|%A|%C|%E|%F|%P|%R|%S|%D]\\t%%", &p),
        "[x/a|hello world|1|1|1|11|68656c6c6f20776f726c64|68656C6C6F20776F726C64||text/plain|60|1|k:v k2:v2|rt|4|cd]\t%"
    );
    assert_eq!(template("%U", &p), "1795609510.193373686");
    assert_eq!(template("@N", &p), "193373686");
    assert_eq!(template("@@", &p), "@");
    let iso = template("%I", &p);
    assert_eq!(iso.len(), "2026-11-25T12:25:10+0000".len(), "{iso}");
    assert_eq!(&iso[10..11], "T");
}

#[test]
fn widths_and_precisions_pad_and_cut_like_printf() {
    let p = msg("y/a", b"hi");
    assert_eq!(
        template("%5t|%05l|%.2t|%3.3t|%10p|%-6t|", &p),
        "  y/a|00002|y/|y/a|        hi|y/a   |"
    );
}

#[test]
fn escapes_become_their_bytes() {
    let p = msg("t", b"");
    assert_eq!(
        template("\\e\\a\\0\\n\\r\\t\\v\\\\", &p),
        "\x1b\x07\0\n\r\t\x0b\\"
    );
}

#[test]
fn bad_templates_are_rejected_naming_the_sequence() {
    for (t, want) in [
        ("%z", "invalid format specifier '%z'"),
        ("a%", "incomplete format specifier"),
        ("a\\", "incomplete escape"),
        ("@", "incomplete time specifier"),
        ("\\q", "invalid escape '\\q'"),
        ("@1", "invalid time specifier '@1'"),
    ] {
        let err = Template::parse(t).unwrap_err();
        assert!(err.contains(want), "{t}: {err}");
    }
}

#[test]
fn percent_j_matches_mosquitto_field_for_field() {
    let mut p = msg("x/a", b"hello \"world\"");
    p.qos = QoS::ExactlyOnce;
    p.properties.content_type = Some("text/plain".into());
    p.properties.user_properties = vec![("k".into(), "v".into())];
    let line = template("%j", &p);
    let tst_end = line.find("\",\"topic\"").unwrap();
    assert!(
        line.starts_with("{\"tst\":\"") && line[..tst_end].contains(".193373Z"),
        "{line}"
    );
    assert_eq!(
        &line[tst_end..],
        "\",\"topic\":\"x/a\",\"qos\":2,\"retain\":0,\"payloadlen\":13,\"mid\":1,\
         \"properties\":{\"content-type\":\"text/plain\",\"user-properties\":{\"k\":\"v\"}},\
         \"payload\":\"hello \\\"world\\\"\"}"
    );
}

#[test]
fn percent_capital_j_embeds_json_payloads_and_refuses_others() {
    let p = msg("x/b", b"{\"a\":1}");
    assert!(template("%J", &p).ends_with(",\"payload\":{\"a\":1}}"));
    let bad = msg("x/c", b"not json");
    let format = MessageFormat::Template(Template::parse("%J").unwrap());
    let err = render(
        &format,
        &Received {
            publish: &bad,
            at: at(),
            decoded: None,
            decode_error: None,
        },
        false,
    )
    .unwrap_err();
    assert_eq!(err, "message payload is not valid JSON on topic x/c");
}

#[test]
fn payload_verbose_and_newlines() {
    let p = msg("a/b", b"x y");
    let r = Received {
        publish: &p,
        at: at(),
        decoded: None,
        decode_error: None,
    };
    assert_eq!(
        render(&MessageFormat::Payload, &r, false).unwrap(),
        b"x y\n"
    );
    assert_eq!(render(&MessageFormat::Payload, &r, true).unwrap(), b"x y");
    assert_eq!(
        render(&MessageFormat::Verbose, &r, false).unwrap(),
        b"a/b x y\n"
    );
}

#[test]
fn json_lines_carry_text_or_base64_and_every_property() {
    let mut p = msg("a/b", &[0, 1, 255]);
    p.properties.user_properties = vec![("k".into(), "1".into()), ("k".into(), "2".into())];
    p.properties.correlation_data = Some(Bytes::from_static(&[0xff]));
    p.properties.message_expiry_interval = Some(9);
    let r = Received {
        publish: &p,
        at: at(),
        decoded: None,
        decode_error: None,
    };
    let line = render(&MessageFormat::Json, &r, true).unwrap();
    assert_eq!(line.last(), Some(&b'\n'));
    let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(v["topic"], "a/b");
    assert_eq!(v["payload"], "AAH/");
    assert_eq!(v["payload_encoding"], "base64");
    assert_eq!(v["payload_bytes"], 3);
    assert_eq!(v["qos"], 1);
    assert_eq!(v["retain"], false);
    assert_eq!(v["packet_id"], 1);
    assert_eq!(v["received"], "2026-11-25T12:25:10.193373Z");
    assert_eq!(v["received_unix_ns"], 1_795_609_510_193_373_686u64);
    assert_eq!(
        v["properties"]["user_properties"],
        serde_json::json!([["k", "1"], ["k", "2"]])
    );
    assert_eq!(v["properties"]["correlation_data"], "/w==");
    assert_eq!(v["properties"]["correlation_data_encoding"], "base64");
    assert_eq!(v["properties"]["message_expiry_interval"], 9);

    let text = msg("t", "héllo".as_bytes());
    let line = render(
        &MessageFormat::Json,
        &Received {
            publish: &text,
            at: at(),
            decoded: None,
            decode_error: None,
        },
        false,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(
        (v["payload"].as_str(), v["payload_encoding"].as_str()),
        (Some("héllo"), Some("text"))
    );
    assert!(v.get("properties").is_none());
}

#[test]
fn utc_dates_are_right_across_leap_years() {
    assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
    assert_eq!(
        rfc3339_utc(UNIX_EPOCH + Duration::from_secs(951_782_400)),
        "2000-02-29T00:00:00.000000Z"
    );
}

#[test]
fn a_decoded_payload_is_printed_in_place_and_beside_the_raw_one_in_json() {
    let p = msg("s/1", b"\xa1\x61t\x18\x2a");
    let decoded = crate::payload::Codec::Cbor.decode(&p.payload).unwrap();
    let r = Received {
        publish: &p,
        at: at(),
        decoded: Some(&decoded),
        decode_error: None,
    };
    assert_eq!(
        render(&MessageFormat::Payload, &r, false).unwrap(),
        b"{\"t\":42}\n"
    );
    assert_eq!(
        render(&MessageFormat::Verbose, &r, true).unwrap(),
        b"s/1 {\"t\":42}"
    );
    let format = MessageFormat::Template(Template::parse("%p|%x|%l").unwrap());
    assert_eq!(
        render(&format, &r, true).unwrap(),
        b"{\"t\":42}|a16174182a|5"
    );
    let line = render(&MessageFormat::Json, &r, false).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(v["payload"], "oWF0GCo=");
    assert_eq!(v["payload_encoding"], "base64");
    assert_eq!(v["decoded_as"], "cbor");
    assert_eq!(v["decoded"], serde_json::json!({"t": 42}));
    assert!(v.get("decode_error").is_none());
}

#[test]
fn a_payload_that_did_not_decode_is_printed_raw_and_json_says_why() {
    let p = msg("s/1", b"oops");
    let r = Received {
        publish: &p,
        at: at(),
        decoded: None,
        decode_error: Some("not CBOR: 3 bytes after the end of the data item"),
    };
    assert_eq!(
        render(&MessageFormat::Verbose, &r, false).unwrap(),
        b"s/1 oops\n"
    );
    let line = render(&MessageFormat::Json, &r, false).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(v["payload"], "oops");
    assert!(v.get("decoded").is_none());
    assert_eq!(
        v["decode_error"],
        "not CBOR: 3 bytes after the end of the data item"
    );
}

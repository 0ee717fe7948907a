//! Unit tests of the Sparkplug B codec: topics, the JSON view both ways, errors with
//! field paths, seq gaps, and no panic on any bytes.

use proptest::prelude::*;
use serde_json::json;

use super::*;

#[test]
fn the_built_in_schema_compiles() {
    assert_eq!(payload_type().unwrap().full_name(), PAYLOAD);
}

#[test]
fn topics_give_their_namespace_parts() {
    let ns = Namespace::parse("spBv1.0/plant/DDATA/edge1/pump").unwrap();
    assert_eq!(
        (ns.group, ns.message_type, ns.edge_node, ns.device),
        (Some("plant"), "DDATA", "edge1", Some("pump"))
    );
    let ns = Namespace::parse("spBv1.0/plant/NBIRTH/edge1").unwrap();
    assert_eq!(ns.device, None);
    assert_eq!(
        Namespace::parse("spBv1.0/STATE/scada")
            .unwrap()
            .message_type,
        "STATE"
    );
    for not in [
        "spBv1.0/plant/NDATA/e/d",
        "spBv1.0/plant/DDATA/e",
        "spBv1.0/p/XDATA/e",
        "a/b/c/d",
    ] {
        assert_eq!(Namespace::parse(not), None, "{not}");
    }
}

#[test]
fn what_encode_reads_decode_shows_with_signed_values_and_names() {
    let input = json!({"timestamp": 1700000000123u64, "seq": 7, "metrics": [
        {"name": "t", "alias": 3, "datatype": "Double", "value": 21.5},
        {"name": "n", "datatype": "Int8", "value": -2},
        {"name": "big", "datatype": "Int64", "value": -5},
        {"name": "u", "datatype": "UInt64", "value": 18446744073709551615u64},
        {"name": "on", "datatype": "Boolean", "value": true},
        {"name": "s", "datatype": "String", "value": "x"},
        {"name": "gone", "datatype": "Float", "value": null},
        {"alias": 3, "timestamp": 5}
    ]});
    let bytes = encode(input.to_string().as_bytes()).unwrap();
    let view = decode(Some("spBv1.0/g/NDATA/e"), &bytes).unwrap();
    let metrics = &view["metrics"];
    assert_eq!(
        metrics[0],
        json!({"name": "t", "alias": 3, "datatype": "Double", "value": 21.5})
    );
    assert_eq!(metrics[1]["value"], -2);
    assert_eq!(metrics[2]["value"], -5);
    assert_eq!(metrics[3]["value"], json!(18446744073709551615u64));
    assert_eq!(metrics[4]["value"], true);
    assert_eq!(
        metrics[6],
        json!({"name": "gone", "datatype": "Float", "is_null": true, "value": null})
    );
    assert_eq!(metrics[7], json!({"alias": 3, "timestamp": 5}));
    assert_eq!(
        (view["seq"].clone(), view["timestamp"].clone()),
        (json!(7), json!(1700000000123u64))
    );
    assert_eq!(
        view["topic"],
        json!({"group": "g", "message_type": "NDATA", "edge_node": "e"})
    );
    // What decode shows, encode reads back to the same bytes.
    assert_eq!(encode(view.to_string().as_bytes()).unwrap(), bytes);
}

#[test]
fn encode_errors_name_the_field_path() {
    let err = |text: &str| encode(text.as_bytes()).unwrap_err().to_string();
    let e = err(r#"{"metrics":[{"name":"t","datatype":"Dubble","value":1}]}"#);
    assert!(
        e.contains(r#"metrics[0].datatype: unknown datatype "Dubble""#),
        "{e}"
    );
    let e = err(r#"{"metrics":[{},{"datatype":"Int8","value":300}]}"#);
    assert!(
        e.contains("metrics[1].value: Int8 holds an integer from -128 to 127, not 300"),
        "{e}"
    );
    let e = err(r#"{"metrics":[{"value":1}]}"#);
    assert!(
        e.contains("metrics[0].value: give the metric's datatype"),
        "{e}"
    );
    assert!(err("[1]").contains("give a JSON object"));
    assert!(err(r#"{"sq":1}"#).starts_with("not a Sparkplug B payload in JSON: "));
}

#[test]
fn state_payloads_are_json_or_text() {
    let view = decode(
        Some("spBv1.0/STATE/scada"),
        br#"{"online":true,"timestamp":1}"#,
    )
    .unwrap();
    assert_eq!(view["state"]["online"], true);
    assert_eq!(
        view["topic"],
        json!({"message_type": "STATE", "host_application": "scada"})
    );
    assert_eq!(
        decode(Some("spBv1.0/STATE/h"), b"OFFLINE").unwrap()["state"],
        "OFFLINE"
    );
}

#[test]
fn seq_gaps_are_counted_per_edge_node_with_the_wrap_and_birth_restarts() {
    let view = |topic: &str, seq: u64| {
        let bytes = encode(json!({"seq": seq}).to_string().as_bytes()).unwrap();
        decode(Some(topic), &bytes).unwrap()
    };
    let mut gaps = SeqGaps::default();
    assert_eq!(gaps.observe(&view("spBv1.0/g/NDATA/a", 254)), None);
    assert_eq!(gaps.observe(&view("spBv1.0/g/DDATA/a/d", 255)), None);
    assert_eq!(gaps.observe(&view("spBv1.0/g/NDATA/a", 0)), None);
    assert_eq!(gaps.observe(&view("spBv1.0/g/NDATA/b", 9)), None);
    let gap = gaps.observe(&view("spBv1.0/g/NDATA/a", 3)).unwrap();
    assert!(
        gap.contains("edge node g/a: expected 1, got 3 in NDATA (2 messages missed"),
        "{gap}"
    );
    assert_eq!(gaps.observe(&view("spBv1.0/g/NBIRTH/a", 0)), None);
    assert_eq!(gaps.observe(&view("spBv1.0/g/NCMD/a", 50)), None);
    assert_eq!(gaps.observe(&view("spBv1.0/g/NDATA/a", 1)), None);
}

proptest! {
    #[test]
    fn no_bytes_make_the_decoder_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(Some("spBv1.0/g/DDATA/e/d"), &bytes);
        let _ = decode(Some("spBv1.0/STATE/h"), &bytes);
        let _ = decode(None, &bytes);
    }

    #[test]
    fn no_json_text_makes_the_encoder_panic(text in "\\PC{0,200}") {
        let _ = encode(text.as_bytes());
    }
}

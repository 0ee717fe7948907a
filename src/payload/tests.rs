//! Unit tests of the codecs as a whole: names, auto's choices, what is printed, and
//! the property that no byte string makes any decoder panic.

use proptest::prelude::*;
use serde_json::json;

use super::*;

const ALL: [Codec; 7] = [
    Codec::Hex,
    Codec::Base64,
    Codec::Json,
    Codec::Auto,
    Codec::Cbor,
    Codec::Msgpack,
    Codec::Sparkplug,
];

#[test]
fn every_codec_parses_its_own_name() {
    for codec in ALL {
        assert_eq!(codec.to_string().parse::<Codec>(), Ok(codec));
    }
    let err = "yaml".parse::<Codec>().unwrap_err();
    assert!(
        err.contains("unknown codec 'yaml'") && err.contains("msgpack"),
        "{err}"
    );
}

#[test]
fn auto_picks_json_then_text_then_base64() {
    let auto = |bytes: &[u8]| Codec::Auto.decode(bytes).unwrap();
    assert_eq!(auto(b"{\"a\": 1}").form, "json");
    assert_eq!(auto(b"{\"a\": 1}").value, json!({"a": 1}));
    assert_eq!(auto(b"hello").form, "text");
    let binary = auto(&[0xff, 0x00]);
    assert_eq!((binary.form, binary.value), ("base64", json!("/wA=")));
}

#[test]
fn text_forms_print_as_text_and_structured_ones_as_compact_json() {
    assert_eq!(Codec::Hex.decode(b"\x01\xab").unwrap().printed(), "01ab");
    assert_eq!(
        Codec::Auto.decode(b"hi there").unwrap().printed(),
        "hi there"
    );
    assert_eq!(
        Codec::Json.decode(b"{ \"a\" : [1, 2] }").unwrap().printed(),
        "{\"a\":[1,2]}"
    );
    assert_eq!(Codec::Json.decode(b"\"s\"").unwrap().printed(), "\"s\"");
}

#[test]
fn what_decode_prints_encode_reads_back() {
    let payloads: [&[u8]; 3] = [b"\x00\x01\xfe\xff", b"", b"plain"];
    for codec in [Codec::Hex, Codec::Base64] {
        for payload in payloads {
            let printed = codec.decode(payload).unwrap().printed();
            assert_eq!(
                codec.encode(printed.as_bytes()).unwrap(),
                payload,
                "{codec}"
            );
        }
    }
    let value = json!({"n": -3, "big": 18446744073709551615u64, "s": "x", "l": [true, null]});
    for codec in [Codec::Cbor, Codec::Msgpack] {
        let bytes = codec.encode(value.to_string().as_bytes()).unwrap();
        let decoded = codec.decode(&bytes).unwrap();
        assert_eq!(decoded.value, value, "{codec}");
        assert_eq!(codec.encode(decoded.printed().as_bytes()).unwrap(), bytes);
    }
}

#[test]
fn bad_input_to_encode_says_what_is_wrong() {
    let err = Codec::Cbor.encode(b"{\"a\":").unwrap_err().to_string();
    assert!(err.starts_with("not JSON: EOF while parsing"), "{err}");
    assert!(Codec::Base64
        .encode(b"@@")
        .unwrap_err()
        .to_string()
        .starts_with("not base64"));
    assert_eq!(Codec::Auto.encode(b"x"), Err(EncodeError::Auto));
    assert!(Codec::Json.encode(b"{nope}").is_err());
}

#[test]
fn huge_declared_lengths_fail_without_allocating_them() {
    // An array of 2^32 - 1 items, a byte string of 2^64 - 1 bytes: both end at once.
    assert!(Codec::Msgpack.decode(b"\xdd\xff\xff\xff\xff").is_err());
    assert!(Codec::Cbor
        .decode(b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff")
        .is_err());
    assert!(Codec::Cbor
        .decode(b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff")
        .is_err());
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    assert!(Codec::Cbor.decode(&[0x81; 100_000]).is_err());
    assert!(Codec::Msgpack.decode(&[0x91; 100_000]).is_err());
    assert!(Codec::Json.decode(&[b'['; 100_000]).is_err());
}

/// A schema with every kind of field that can go wrong: nested and recursive
/// messages, packed repeats, maps, enums, 64-bit integers, bytes, oneofs.
const TEST_PROTO: &str = r#"syntax = "proto3";
package t;
enum E { E0 = 0; E1 = 1; }
message M {
  int64 a = 1; uint64 b = 2; sint32 c = 3; fixed64 d = 4; double e = 5; float f = 6;
  string s = 7; bytes y = 8; E en = 9; repeated int32 packed = 10; M child = 11;
  map<string, M> kids = 12; oneof o { string o1 = 13; int32 o2 = 14; } bool ok = 15;
}
"#;

fn test_message() -> Codec {
    let protos = Protos::from_source("t.proto", TEST_PROTO).unwrap();
    Codec::Protobuf(protos.message("t.M").unwrap())
}

fn every_codec() -> Vec<Codec> {
    let mut codecs = ALL.to_vec();
    codecs.push(test_message());
    codecs
}

#[test]
fn protobuf_follows_the_json_mapping_and_round_trips() {
    let codec = test_message();
    let input = br#"{"a":"-1","b":"18446744073709551615","en":"E1","y":"AAE=","packed":[1,2],"kids":{"k":{"ok":true}},"o2":3}"#;
    let bytes = codec.encode(input).unwrap();
    let decoded = codec.decode(&bytes).unwrap();
    assert_eq!(decoded.form, "protobuf");
    let expected: Value = serde_json::from_slice(input).unwrap();
    assert_eq!(decoded.value, expected);
    assert_eq!(codec.encode(decoded.printed().as_bytes()).unwrap(), bytes);
    // The lowerCamelCase names of the mapping are accepted too.
    let parsed = Codec::Protobuf(
        Protos::from_source(
            "t.proto",
            "syntax = \"proto3\"; message N { int32 some_field = 1; }",
        )
        .unwrap()
        .message("N")
        .unwrap(),
    );
    assert_eq!(parsed.encode(br#"{"someField":5}"#).unwrap(), [0x08, 0x05]);
}

#[test]
fn protobuf_errors_name_the_type() {
    let codec = test_message();
    let err = codec.decode(&[0xff]).unwrap_err().to_string();
    assert!(err.starts_with("not a protobuf t.M: "), "{err}");
    let err = codec.encode(br#"{"a":true}"#).unwrap_err().to_string();
    assert!(err.starts_with("not a protobuf t.M in JSON: "), "{err}");
    let protos = Protos::from_source("t.proto", TEST_PROTO).unwrap();
    assert!(protos
        .message("t.X")
        .unwrap_err()
        .contains("they define: t.M"));
    assert!(Protos::from_source("x.proto", "message {")
        .unwrap_err()
        .starts_with("x.proto:1:"));
    assert!("protobuf"
        .parse::<Codec>()
        .unwrap_err()
        .contains("--message-type"));
}

#[test]
fn deeply_nested_protobuf_is_an_error_not_a_stack_overflow() {
    // Field 11 (child), length-delimited, nested 10,000 times.
    let mut bytes = Vec::new();
    for _ in 0..10_000 {
        let mut outer = vec![0x5a];
        let mut len = bytes.len();
        while len >= 0x80 {
            outer.push((len as u8) | 0x80);
            len >>= 7;
        }
        outer.push(len as u8);
        outer.extend(bytes);
        bytes = outer;
    }
    assert!(test_message().decode(&bytes).is_err());
}

proptest! {
    #[test]
    fn no_byte_string_makes_a_decoder_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for codec in every_codec() {
            if let Ok(decoded) = codec.decode(&bytes) {
                let _ = decoded.printed();
            }
        }
    }

    #[test]
    fn cbor_and_msgpack_shaped_bytes_never_panic(
        head in prop::sample::select(vec![0x5bu8, 0x7b, 0x9b, 0xbb, 0xdb, 0xdd, 0xdf, 0xc7, 0xc9, 0xd9, 0xc6, 0x9f, 0xbf, 0xc2]),
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = vec![head];
        bytes.extend(tail);
        for codec in every_codec() {
            let _ = codec.decode(&bytes);
        }
    }
}

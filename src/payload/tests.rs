//! Unit tests of the codecs as a whole: names, auto's choices, what is printed, and
//! the property that no byte string makes any decoder panic.

use proptest::prelude::*;
use serde_json::json;

use super::*;

const ALL: [Codec; 6] = [
    Codec::Hex,
    Codec::Base64,
    Codec::Json,
    Codec::Auto,
    Codec::Cbor,
    Codec::Msgpack,
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

proptest! {
    #[test]
    fn no_byte_string_makes_a_decoder_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for codec in ALL {
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
        for codec in ALL {
            let _ = codec.decode(&bytes);
        }
    }
}

//! CBOR (RFC 8949) to and from JSON values, over `ciborium`. Must not know about MQTT
//! or print anything.
//!
//! The JSON view (RFC 8949 §6.1, "Converting from CBOR to JSON", made reversible where
//! it can be): integers stay numbers when they fit in 64 bits and become decimal
//! strings when they do not, as do bignums (tags 2 and 3) up to 128 bits; byte strings
//! become base64 text; other tags are dropped and their content kept; map keys that are not text become their compact JSON text;
//! NaN and the infinities become the strings "NaN", "Infinity", "-Infinity" (as in
//! protobuf's JSON mapping). Encoding writes CBOR's preferred serialization (§4.1:
//! shortest lengths and integers, the shortest float that keeps the value).

use ciborium::value::Value as Cbor;
use serde_json::{Map, Value};

use super::error::{DecodeError, EncodeError};
use super::spelling::{base64_text, float_to_json};

/// Nesting depth beyond which a payload is refused rather than recursed into.
const MAX_DEPTH: usize = 128;

/// Decodes exactly one CBOR data item filling the whole payload.
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut rest = bytes;
    let item: Cbor = ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_DEPTH)
        .map_err(|e| DecodeError::Cbor(describe(&e)))?;
    if !rest.is_empty() {
        return Err(DecodeError::Cbor(format!(
            "{} bytes after the end of the data item",
            rest.len()
        )));
    }
    Ok(to_json(item))
}

fn describe<E: std::fmt::Debug>(e: &ciborium::de::Error<E>) -> String {
    match e {
        ciborium::de::Error::Io(_) => "the payload ends inside a data item".into(),
        ciborium::de::Error::Syntax(at) => format!("malformed data item at byte {}", at + 1),
        ciborium::de::Error::Semantic(Some(at), what) => {
            format!("{what} at byte {}", at + 1)
        }
        ciborium::de::Error::Semantic(None, what) => what.clone(),
        ciborium::de::Error::RecursionLimitExceeded => {
            format!("nested deeper than {MAX_DEPTH} levels")
        }
    }
}

fn to_json(item: Cbor) -> Value {
    match item {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Integer(i) => {
            let i = i128::from(i);
            if let Ok(v) = i64::try_from(i) {
                Value::from(v)
            } else if let Ok(v) = u64::try_from(i) {
                Value::from(v)
            } else {
                Value::String(i.to_string())
            }
        }
        Cbor::Float(f) => float_to_json(f),
        Cbor::Text(s) => Value::String(s),
        Cbor::Bytes(b) => Value::String(base64_text(&b)),
        Cbor::Tag(tag @ (2 | 3), inner) => match *inner {
            Cbor::Bytes(b) => bignum(tag == 3, &b),
            other => to_json(other),
        },
        Cbor::Tag(_, inner) => to_json(*inner),
        Cbor::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Cbor::Map(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let key = match to_json(key) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                map.insert(key, to_json(value));
            }
            Value::Object(map)
        }
        // ciborium's Value is non-exhaustive; 0.2 has no other variant.
        _ => Value::Null,
    }
}

/// A bignum (RFC 8949 §3.4.3: tag 2 unsigned, tag 3 negative, `-1 - n`) as decimal
/// text when it fits in 128 bits, else its bytes as base64.
fn bignum(negative: bool, bytes: &[u8]) -> Value {
    let digits = bytes.iter().skip_while(|&&b| b == 0).count();
    if digits > 16 {
        return Value::String(base64_text(bytes));
    }
    let n = bytes.iter().fold(0u128, |n, &b| n << 8 | u128::from(b));
    Value::String(match (negative, n.checked_add(1)) {
        (false, _) => n.to_string(),
        (true, Some(magnitude)) => format!("-{magnitude}"),
        // -1 - (2^128 - 1) = -2^128, one beyond u128.
        (true, None) => "-340282366920938463463374607431768211456".into(),
    })
}

/// Encodes a JSON value as one CBOR data item.
pub fn encode(value: &Value) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).map_err(|e| EncodeError::Cbor(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc_8949_appendix_a_examples_decode() {
        // RFC 8949 Appendix A: 1000000 = 0x1a000f4240, [1, [2, 3]], {"a": 1, "b": [2, 3]}.
        assert_eq!(
            decode(&[0x1a, 0x00, 0x0f, 0x42, 0x40]).unwrap(),
            json!(1000000)
        );
        assert_eq!(
            decode(&[0x82, 0x01, 0x82, 0x02, 0x03]).unwrap(),
            json!([1, [2, 3]])
        );
        let map = [0xa2, 0x61, 0x61, 0x01, 0x61, 0x62, 0x82, 0x02, 0x03];
        assert_eq!(decode(&map).unwrap(), json!({"a": 1, "b": [2, 3]}));
        // A double NaN (0xfb7ff8000000000000) has no JSON number: it becomes a string.
        assert_eq!(
            decode(&[0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]).unwrap(),
            json!("NaN")
        );
        // -18446744073709551616 = 0x3bffffffffffffffff does not fit in i64.
        let big = [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(decode(&big).unwrap(), json!("-18446744073709551616"));
        assert_eq!(decode(&map).map(|v| encode(&v).unwrap()).unwrap(), map);
    }

    #[test]
    fn bignums_become_decimal_text() {
        // RFC 8949 Appendix A: 18446744073709551616 = 0xc249010000000000000000 and
        // -18446744073709551617 = 0xc349010000000000000000.
        let two_64 = [0xc2, 0x49, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(decode(&two_64).unwrap(), json!("18446744073709551616"));
        let minus = [0xc3, 0x49, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(decode(&minus).unwrap(), json!("-18446744073709551617"));
        // 2^120 in 17 bytes (a leading zero), which ciborium leaves to us as a tag.
        let mut padded = vec![0xc2, 0x51, 0x00, 0x01];
        padded.extend([0; 15]);
        assert_eq!(
            decode(&padded).unwrap(),
            json!("1329227995784915872903807060280344576")
        );
        // -2^128 is below i128: ciborium refuses it, so it is printed raw.
        let mut min = vec![0xc3, 0x50];
        min.extend([0xff; 16]);
        assert!(decode(&min).unwrap_err().to_string().contains("too large"));
    }

    #[test]
    fn non_text_keys_and_bytes_get_a_json_form() {
        // {1: h'0102'}
        assert_eq!(
            decode(&[0xa1, 0x01, 0x42, 0x01, 0x02]).unwrap(),
            json!({"1": "AQI="})
        );
    }

    #[test]
    fn trailing_and_truncated_payloads_are_errors() {
        assert!(decode(&[0x01, 0x02])
            .unwrap_err()
            .to_string()
            .contains("after the end"));
        assert!(decode(&[0x82, 0x01]).is_err());
        assert!(decode(b"").is_err());
    }
}

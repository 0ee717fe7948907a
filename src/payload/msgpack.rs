//! MessagePack to and from JSON values, over `rmpv`. Must not know about MQTT or
//! print anything.
//!
//! The JSON view: integers and floats stay numbers (NaN and the infinities become the
//! strings "NaN", "Infinity", "-Infinity"); bin becomes base64 text; an extension
//! becomes `{"ext_type": N, "data": BASE64}`; map keys that are not strings become
//! their compact JSON text. Encoding writes the smallest form of each integer, string
//! and container (as the msgpack spec's reference implementations do), and floats as
//! float 64 unless they came from JSON as integers.

use rmpv::Value as Pack;
use serde_json::{Map, Value};

use super::error::{DecodeError, EncodeError};
use super::spelling::{base64_text, float_to_json};

/// Nesting depth beyond which a payload is refused rather than recursed into.
const MAX_DEPTH: usize = 128;

/// Decodes exactly one MessagePack object filling the whole payload.
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut rest = bytes;
    let item = rmpv::decode::read_value_with_max_depth(&mut rest, MAX_DEPTH)
        .map_err(|e| DecodeError::Msgpack(describe(&e)))?;
    if !rest.is_empty() {
        return Err(DecodeError::Msgpack(format!(
            "{} bytes after the end of the object",
            rest.len()
        )));
    }
    Ok(to_json(item))
}

fn describe(e: &rmpv::decode::Error) -> String {
    match e {
        rmpv::decode::Error::InvalidMarkerRead(_) | rmpv::decode::Error::InvalidDataRead(_) => {
            "the payload ends inside an object".into()
        }
        rmpv::decode::Error::DepthLimitExceeded => {
            format!("nested deeper than {MAX_DEPTH} levels")
        }
    }
}

fn to_json(item: Pack) -> Value {
    match item {
        Pack::Nil => Value::Null,
        Pack::Boolean(b) => Value::Bool(b),
        Pack::Integer(i) => match (i.as_i64(), i.as_u64()) {
            (Some(v), _) => Value::from(v),
            (None, Some(v)) => Value::from(v),
            (None, None) => Value::Null,
        },
        Pack::F32(f) => float_to_json(f64::from(f)),
        Pack::F64(f) => float_to_json(f),
        Pack::String(s) => match s.as_str() {
            Some(text) => Value::String(text.to_string()),
            // A str that is not UTF-8 (the spec asks for UTF-8; senders break it): its
            // bytes, as for bin.
            None => Value::String(base64_text(s.as_bytes())),
        },
        Pack::Binary(b) => Value::String(base64_text(&b)),
        Pack::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Pack::Map(entries) => {
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
        Pack::Ext(ext_type, data) => {
            let mut map = Map::new();
            map.insert("ext_type".into(), Value::from(ext_type));
            map.insert("data".into(), Value::String(base64_text(&data)));
            Value::Object(map)
        }
    }
}

fn from_json(value: &Value) -> Pack {
    match value {
        Value::Null => Pack::Nil,
        Value::Bool(b) => Pack::Boolean(*b),
        Value::Number(n) => {
            if let Some(v) = n.as_u64() {
                Pack::from(v)
            } else if let Some(v) = n.as_i64() {
                Pack::from(v)
            } else {
                Pack::F64(n.as_f64().unwrap_or_default())
            }
        }
        Value::String(s) => Pack::from(s.as_str()),
        Value::Array(items) => Pack::Array(items.iter().map(from_json).collect()),
        Value::Object(map) => Pack::Map(
            map.iter()
                .map(|(k, v)| (Pack::from(k.as_str()), from_json(v)))
                .collect(),
        ),
    }
}

/// Encodes a JSON value as one MessagePack object.
pub fn encode(value: &Value) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &from_json(value))
        .map_err(|e| EncodeError::Msgpack(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_examples_decode_and_encode_back() {
        // {"compact": true, "schema": 0}, the example of msgpack.org's front page.
        let bytes = b"\x82\xa7compact\xc3\xa6schema\x00";
        assert_eq!(
            decode(bytes).unwrap(),
            json!({"compact": true, "schema": 0})
        );
        assert_eq!(encode(&decode(bytes).unwrap()).unwrap(), bytes);
        // -1 as a negative fixint, 300 as uint 16, 1.5 as float 64.
        assert_eq!(
            encode(&json!([-1, 300, 1.5])).unwrap(),
            b"\x93\xff\xcd\x01\x2c\xcb\x3f\xf8\0\0\0\0\0\0"
        );
    }

    #[test]
    fn ext_bin_and_odd_keys_get_a_json_form() {
        // {1: bin8 [1, 2], "t": fixext1 type 5 data [7]}
        let bytes = b"\x82\x01\xc4\x02\x01\x02\xa1t\xd4\x05\x07";
        assert_eq!(
            decode(bytes).unwrap(),
            json!({"1": "AQI=", "t": {"ext_type": 5, "data": "Bw=="}})
        );
    }

    #[test]
    fn trailing_and_truncated_payloads_are_errors() {
        // "hi" would otherwise read as the positive fixint 0x68 and ignore the "i".
        assert!(decode(b"hi")
            .unwrap_err()
            .to_string()
            .contains("after the end"));
        assert!(decode(b"\x92\x01").is_err());
        assert!(decode(b"").is_err());
    }
}

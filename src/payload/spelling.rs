//! How the JSON view spells what JSON has no type for: bytes as base64, NaN and the
//! infinities as strings. Shared by the codec files; must not know any one format.

use base64::Engine;
use serde_json::Value;

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64_text(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A float as JSON: a number, or "NaN", "Infinity", "-Infinity", which JSON numbers
/// cannot hold (the strings of protobuf's JSON mapping).
pub fn float_to_json(f: f64) -> Value {
    match serde_json::Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".into()),
        None if f > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

//! Payload codecs: how `sub --decode` shows a payload as JSON and how `pub --encode`
//! turns text or JSON into payload bytes. One file per codec (`hex`, `cbor`,
//! `msgpack`, `protobuf`, `sparkplug`; base64 and JSON are a few lines here), the `Codec` enum over them, and
//! `rules`, which picks the codec of a topic; `error` and `spelling` (how JSON spells
//! what it has no type for) are what the codec files share. Sans-IO: bytes and
//! `serde_json::Value` in and out; must not print, read files or know about
//! connections.

pub mod cbor;
mod error;
pub mod hex;
pub mod msgpack;
pub mod protobuf;
pub mod rules;
pub mod sparkplug;
mod spelling;

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use serde_json::Value;

pub use error::{DecodeError, EncodeError};
pub use protobuf::Protos;
pub use spelling::base64_text;

/// A payload codec, by its command-line name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Codec {
    /// The payload as hex digits (`--encode hex` reads them).
    Hex,
    /// The payload as standard base64 (RFC 4648 §4).
    Base64,
    /// A JSON text (RFC 8259).
    Json,
    /// JSON when it parses, text when it is UTF-8, base64 otherwise (decode only).
    Auto,
    /// CBOR (RFC 8949).
    Cbor,
    /// MessagePack.
    Msgpack,
    /// Protobuf, one message type of the `--proto` files.
    Protobuf(prost_reflect::MessageDescriptor),
    /// Sparkplug B (the built-in schema), with the topic's namespace parts.
    Sparkplug,
}

/// What codec names need beyond themselves: the compiled `--proto` files and the
/// `--message-type` type that a plain `protobuf` means.
#[derive(Debug, Clone, Default)]
pub struct Schemas {
    /// The compiled `--proto` files, if any.
    pub protos: Option<Protos>,
    /// `--message-type`: the type of `protobuf` without `:TYPE`.
    pub message: Option<String>,
}

/// The names `--decode` and `--encode` take, for help and error messages.
pub const CODEC_NAMES: &str = "hex, base64, json, auto, cbor, msgpack, protobuf[:TYPE], sparkplug";

impl FromStr for Codec {
    type Err = String;

    fn from_str(name: &str) -> Result<Codec, String> {
        Codec::parse(name, &Schemas::default())
    }
}

impl Codec {
    /// The codec called `name`; `protobuf` and `protobuf:pkg.Type` take their message
    /// type from `schemas`.
    pub fn parse(name: &str, schemas: &Schemas) -> Result<Codec, String> {
        if let Some(rest) = name.strip_prefix("protobuf") {
            let message = match rest.strip_prefix(':') {
                Some(message) if !message.is_empty() => message,
                Some(_) => return Err("protobuf: give the message type after the colon, e.g. protobuf:pkg.Type".into()),
                None if rest.is_empty() => schemas.message.as_deref().ok_or(
                    "protobuf needs the message type: give --message-type pkg.Type, or protobuf:pkg.Type",
                )?,
                None => return Err(format!("unknown codec '{name}' (use one of {CODEC_NAMES})")),
            };
            let protos = schemas
                .protos
                .as_ref()
                .ok_or("protobuf needs the schema: give --proto FILE.proto")?;
            return Ok(Codec::Protobuf(protos.message(message)?));
        }
        Ok(match name {
            "hex" => Codec::Hex,
            "base64" => Codec::Base64,
            "json" => Codec::Json,
            "auto" => Codec::Auto,
            "cbor" => Codec::Cbor,
            "msgpack" | "messagepack" => Codec::Msgpack,
            "sparkplug" | "spb" => {
                sparkplug::payload_type()?;
                Codec::Sparkplug
            }
            _ => return Err(format!("unknown codec '{name}' (use one of {CODEC_NAMES})")),
        })
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Codec::Hex => "hex",
            Codec::Base64 => "base64",
            Codec::Json => "json",
            Codec::Auto => "auto",
            Codec::Cbor => "cbor",
            Codec::Msgpack => "msgpack",
            Codec::Sparkplug => "sparkplug",
            Codec::Protobuf(message) => return write!(f, "protobuf:{}", message.full_name()),
        })
    }
}

/// What a payload turned out to be, in the JSON view of the codec that read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The form that was read: `hex`, `base64`, `json`, `text`, `cbor`, `msgpack`,
    /// `protobuf` or `sparkplug`
    /// (`auto` says here which of json, text and base64 it chose).
    pub form: &'static str,
    /// The payload as a JSON value.
    pub value: Value,
}

impl Decoded {
    /// How `sub -v`/`-F %p` print it: the text itself for the text forms (hex, base64,
    /// text), so `--encode` of the same name reads it back; compact JSON otherwise.
    pub fn printed(&self) -> String {
        printed(&self.value, self.form)
    }
}

/// A decoded `value` of `form` as `sub -v` prints it and `--encode` reads it: the text
/// itself for the text forms (hex, base64, text), compact JSON otherwise.
pub fn printed(value: &Value, form: &str) -> String {
    match (value, form) {
        (Value::String(text), "hex" | "base64" | "text") => text.clone(),
        (value, _) => value.to_string(),
    }
}

impl Codec {
    /// The payload in this codec's JSON view. Never panics, whatever the bytes.
    pub fn decode(&self, payload: &[u8]) -> Result<Decoded, DecodeError> {
        let (form, value) = match self {
            Codec::Hex => ("hex", Value::String(hex::encode(payload, false))),
            Codec::Base64 => ("base64", Value::String(base64_text(payload))),
            Codec::Json => ("json", parse_json(payload).map_err(DecodeError::Json)?),
            Codec::Auto => auto(payload),
            Codec::Cbor => ("cbor", cbor::decode(payload)?),
            Codec::Msgpack => ("msgpack", msgpack::decode(payload)?),
            Codec::Protobuf(message) => ("protobuf", protobuf::decode(message, payload)?),
            Codec::Sparkplug => ("sparkplug", sparkplug::decode(None, payload)?),
        };
        Ok(Decoded { form, value })
    }

    /// As `decode`, for a payload that came on `topic`: Sparkplug B adds the topic's
    /// namespace parts (and reads STATE payloads as JSON or text).
    pub fn decode_on(&self, topic: &str, payload: &[u8]) -> Result<Decoded, DecodeError> {
        match self {
            Codec::Sparkplug => Ok(Decoded {
                form: "sparkplug",
                value: sparkplug::decode(Some(topic), payload)?,
            }),
            _ => self.decode(payload),
        }
    }

    /// The payload that `input` stands for: hex or base64 text, or a JSON text for
    /// json (checked, then sent as it is), cbor, msgpack, protobuf and sparkplug.
    pub fn encode(&self, input: &[u8]) -> Result<Vec<u8>, EncodeError> {
        match self {
            Codec::Hex => hex::decode(input),
            Codec::Base64 => base64::engine::general_purpose::STANDARD
                .decode(input.trim_ascii())
                .map_err(|e| EncodeError::Base64(e.to_string())),
            Codec::Json => {
                parse_json(input).map_err(EncodeError::Json)?;
                Ok(input.to_vec())
            }
            Codec::Auto => Err(EncodeError::Auto),
            Codec::Cbor => cbor::encode(&parse_json(input).map_err(EncodeError::Json)?),
            Codec::Msgpack => msgpack::encode(&parse_json(input).map_err(EncodeError::Json)?),
            Codec::Protobuf(message) => protobuf::encode(message, input),
            Codec::Sparkplug => sparkplug::encode(input),
        }
    }
}

/// `auto`: JSON, else UTF-8 text, else base64. CBOR and MessagePack are never guessed:
/// almost any byte string is the start of a valid item of either.
fn auto(payload: &[u8]) -> (&'static str, Value) {
    if let Ok(value) = parse_json(payload) {
        return ("json", value);
    }
    match std::str::from_utf8(payload) {
        Ok(text) => ("text", Value::String(text.to_string())),
        Err(_) => ("base64", Value::String(base64_text(payload))),
    }
}

fn parse_json(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;

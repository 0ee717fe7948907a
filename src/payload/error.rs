//! The errors of the payload codecs: why a payload did not decode, why an input did
//! not encode. Messages read after "is" ("payload on 'a/b' is not CBOR: …").

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not a JSON text.
    #[error("not JSON: {0}")]
    Json(String),
    /// Not one CBOR data item.
    #[error("not CBOR: {0}")]
    Cbor(String),
    /// Not one MessagePack object.
    #[error("not MessagePack: {0}")]
    Msgpack(String),
    /// Not a message of this protobuf type.
    #[error("not a protobuf {0}: {1}")]
    Protobuf(String, String),
    /// Not a Sparkplug B payload.
    #[error("not a Sparkplug B payload: {0}")]
    Sparkplug(String),
}

/// Why an input could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Not hex digits.
    #[error("not hex: {0}")]
    Hex(String),
    /// Not base64.
    #[error("not base64: {0}")]
    Base64(String),
    /// The input of a structured codec is not JSON.
    #[error("not JSON: {0}")]
    Json(String),
    /// `auto` only decodes: it has no one form to write.
    #[error("auto only decodes (for --encode, name the form: hex, base64, json, cbor, msgpack, protobuf, sparkplug)")]
    Auto,
    /// The CBOR writer failed.
    #[error("cannot write CBOR: {0}")]
    Cbor(String),
    /// The MessagePack writer failed.
    #[error("cannot write MessagePack: {0}")]
    Msgpack(String),
    /// The JSON is not a message of this protobuf type (its JSON mapping).
    #[error("not a protobuf {0} in JSON: {1}")]
    Protobuf(String, String),
    /// The JSON is not a Sparkplug B payload's JSON view; the text names the field path.
    #[error("not a Sparkplug B payload in JSON: {0}")]
    Sparkplug(String),
}

//! The recording format: the line `mqtk sub --json` prints for a message, which `mqtk
//! pub --jsonl` reads back. `Record` is that line, serde both ways, so the writer
//! (`output::message`, for sub and rr) and the reader (`cli::publish`) cannot drift: a
//! field added here is printed and read. This file owns the field names and the payload
//! and correlation data encodings (`text`/`base64`); it must not print, read stdin or
//! pick codecs (it hands `--encode` the `decoded` field as the codec reads it).
//!
//! Every field is optional when reading, so a hand-written line can say only what it
//! needs (`{"topic":"a","payload":"hi"}`); what is missing comes from the flags.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::protocol::{Properties, Publish};

/// One message of a recording: a `sub --json` line. Field names are stable.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Record<'a> {
    /// The topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<Cow<'a, str>>,
    /// The payload: text, or base64 when `payload_encoding` says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Cow<'a, str>>,
    /// `text` (the default when reading) or `base64`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_encoding: Option<Cow<'a, str>>,
    /// The payload's length in bytes (written for readers; checked when reading).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_bytes: Option<usize>,
    /// With `sub --decode`: the form the payload was read as (`cbor`, `hex`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded_as: Option<Cow<'a, str>>,
    /// With `sub --decode`: the payload as a JSON value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded: Option<Cow<'a, Value>>,
    /// With `sub --decode`, when the payload did not decode: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decode_error: Option<Cow<'a, str>>,
    /// QoS 0, 1 or 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos: Option<u8>,
    /// The RETAIN flag as it arrived (set on retained messages sent at subscribe time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retain: Option<bool>,
    /// The DUP flag as it arrived (never sent on: a replay is a new message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dup: Option<bool>,
    /// The packet identifier it arrived with (QoS 1 and 2; not sent on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet_id: Option<u16>,
    /// When it arrived, RFC 3339 in UTC with microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<Cow<'a, str>>,
    /// When it arrived, nanoseconds since the Unix epoch: what `--replay` paces by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_unix_ns: Option<u128>,
    /// MQTT 5 properties.
    #[serde(default, skip_serializing_if = "RecordProperties::is_empty")]
    pub properties: RecordProperties<'a>,
}

/// The MQTT 5 PUBLISH properties of a record.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordProperties<'a> {
    /// Payload Format Indicator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_format_indicator: Option<u8>,
    /// Message Expiry Interval, seconds (what was left of it on arrival).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_expiry_interval: Option<u32>,
    /// Content Type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<Cow<'a, str>>,
    /// Response Topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_topic: Option<Cow<'a, str>>,
    /// Correlation Data: text, or base64 when `correlation_data_encoding` says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_data: Option<Cow<'a, str>>,
    /// `text` (the default when reading) or `base64`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_data_encoding: Option<Cow<'a, str>>,
    /// Subscription Identifiers (the subscriber's own: never sent on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscription_identifiers: Vec<u32>,
    /// Topic Alias of the connection it came on (never sent on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_alias: Option<u16>,
    /// User Properties, in order, as `[key, value]` pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_properties: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl RecordProperties<'_> {
    fn is_empty(&self) -> bool {
        self.payload_format_indicator.is_none()
            && self.message_expiry_interval.is_none()
            && self.content_type.is_none()
            && self.response_topic.is_none()
            && self.correlation_data.is_none()
            && self.subscription_identifiers.is_empty()
            && self.topic_alias.is_none()
            && self.user_properties.is_empty()
    }
}

/// The encodings' names in `payload_encoding` and `correlation_data_encoding`.
const TEXT: &str = "text";
const BASE64: &str = "base64";

/// Text when the bytes are UTF-8, else base64; with the encoding's name.
/// Text when the bytes are UTF-8, else base64, with the encoding's name (`text`,
/// `base64`); also the payloads of `serve --trace`.
pub fn text_or_base64(bytes: &[u8]) -> (Cow<'_, str>, &'static str) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Cow::Borrowed(text), TEXT),
        Err(_) => (
            Cow::Owned(base64::engine::general_purpose::STANDARD.encode(bytes)),
            BASE64,
        ),
    }
}

/// The bytes of `text` in `encoding` (`None`: text); `field` names it in errors.
fn bytes_of(text: &str, encoding: Option<&str>, field: &str) -> Result<Bytes, String> {
    match encoding.unwrap_or(TEXT) {
        TEXT => Ok(Bytes::copy_from_slice(text.as_bytes())),
        BASE64 => base64::engine::general_purpose::STANDARD
            .decode(text.trim_ascii())
            .map(Bytes::from)
            .map_err(|e| format!("{field}: not base64 ({e})")),
        other => Err(format!(
            "{field}_encoding: '{other}' is neither \"text\" nor \"base64\""
        )),
    }
}

impl<'a> Record<'a> {
    /// The record of `publish`, received `at`, with what `--decode` made of it.
    pub fn of(
        publish: &'a Publish,
        at: SystemTime,
        decoded: Option<(&'static str, &'a Value)>,
        decode_error: Option<&'a str>,
    ) -> Record<'a> {
        let props = &publish.properties;
        let (payload, payload_encoding) = text_or_base64(&publish.payload);
        let (correlation_data, correlation_data_encoding) = match &props.correlation_data {
            Some(data) => {
                let (text, encoding) = text_or_base64(data);
                (Some(text), Some(Cow::Borrowed(encoding)))
            }
            None => (None, None),
        };
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        Record {
            topic: Some(Cow::Borrowed(&publish.topic)),
            payload: Some(payload),
            payload_encoding: Some(Cow::Borrowed(payload_encoding)),
            payload_bytes: Some(publish.payload.len()),
            decoded_as: decoded.map(|(form, _)| Cow::Borrowed(form)),
            decoded: decoded.map(|(_, value)| Cow::Borrowed(value)),
            decode_error: decode_error.map(Cow::Borrowed),
            qos: Some(publish.qos as u8),
            retain: Some(publish.retain),
            dup: Some(publish.dup),
            packet_id: (publish.packet_id != 0).then_some(publish.packet_id),
            received: Some(Cow::Owned(rfc3339_utc(at))),
            received_unix_ns: Some(since.as_nanos()),
            properties: RecordProperties {
                payload_format_indicator: props.payload_format_indicator,
                message_expiry_interval: props.message_expiry_interval,
                content_type: props.content_type.as_deref().map(Cow::Borrowed),
                response_topic: props.response_topic.as_deref().map(Cow::Borrowed),
                correlation_data,
                correlation_data_encoding,
                subscription_identifiers: props.subscription_identifiers.clone(),
                topic_alias: props.topic_alias,
                user_properties: props
                    .user_properties
                    .iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
                    .collect(),
            },
        }
    }

    /// The JSON line, without its newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a record has string keys and finite numbers only")
    }

    /// Reads one line; the error says what is wrong (serde's message, with the column).
    pub fn parse(line: &'a str) -> Result<Record<'a>, String> {
        serde_json::from_str(line).map_err(|e| {
            let what = e.to_string();
            if e.is_syntax() || e.is_eof() {
                format!("not a JSON object ({what})")
            } else {
                what
            }
        })
    }

    /// The raw payload bytes (`payload`, decoded from base64 when it says so; empty
    /// when missing), checked against `payload_bytes` when that is given.
    pub fn payload_bytes(&self) -> Result<Bytes, String> {
        let bytes = match &self.payload {
            Some(text) => bytes_of(text, self.payload_encoding.as_deref(), "payload")?,
            None => Bytes::new(),
        };
        match self.payload_bytes {
            Some(n) if n != bytes.len() && self.payload.is_some() => Err(format!(
                "payload_bytes says {n} but the payload has {} bytes",
                bytes.len()
            )),
            _ => Ok(bytes),
        }
    }

    /// What `--encode` reads when the line carries a `decoded` value: the text itself
    /// for the text forms (hex, base64, text), the JSON text of the value otherwise,
    /// as `sub --decode -v` prints it.
    pub fn decoded_input(&self) -> Option<String> {
        let value = self.decoded.as_deref()?;
        let form = self.decoded_as.as_deref().unwrap_or("json");
        Some(crate::payload::printed(value, form))
    }

    /// The QoS, checked (`None` when missing).
    pub fn qos(&self) -> Result<Option<crate::protocol::QoS>, String> {
        use crate::protocol::QoS;
        Ok(match self.qos {
            None => None,
            Some(0) => Some(QoS::AtMostOnce),
            Some(1) => Some(QoS::AtLeastOnce),
            Some(2) => Some(QoS::ExactlyOnce),
            Some(n) => return Err(format!("qos: {n} is not 0, 1 or 2")),
        })
    }

    /// Applies the record's properties over `base` (the flags' ones): each property
    /// the record has replaces the flag's; its user properties, when it has any,
    /// replace the flags' list. Subscription identifiers and the topic alias belong to
    /// the connection the message came on and are not sent (MQTT 5 §3.3.4: a client
    /// must not send a Subscription Identifier).
    pub fn apply_properties(&self, base: &mut Properties) -> Result<(), String> {
        let p = &self.properties;
        if let Some(v) = p.payload_format_indicator {
            base.payload_format_indicator = Some(v);
        }
        if let Some(v) = p.message_expiry_interval {
            base.message_expiry_interval = Some(v);
        }
        if let Some(v) = &p.content_type {
            base.content_type = Some(v.to_string());
        }
        if let Some(v) = &p.response_topic {
            crate::protocol::topic::validate_topic_name(v)
                .map_err(|e| format!("properties.response_topic: {e}"))?;
            base.response_topic = Some(v.as_ref().into());
        }
        if let Some(text) = &p.correlation_data {
            let encoding = p.correlation_data_encoding.as_deref();
            base.correlation_data = Some(bytes_of(text, encoding, "properties.correlation_data")?);
        }
        if !p.user_properties.is_empty() {
            base.user_properties = p
                .user_properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        Ok(())
    }
}

/// RFC 3339 in UTC with microseconds: `2026-11-25T12:25:10.193861Z`.
pub fn rfc3339_utc(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;

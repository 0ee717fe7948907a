//! How `mqtk sub` prints a message: the payload alone, `-v` (`topic payload`), `-F`
//! templates with mosquitto_sub's full set of `%` parameters (widths and precisions
//! included, 2.1's `%f`/`%d` floats through `ieee754`), `@` strftime sequences and `\` escapes, and `--json`. Rendering only:
//! returns bytes; must not write them (that is `output.rs`) or decide what to skip.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde::Serialize;

use super::{ieee754, pretty};
use crate::payload::{self, Decoded};
use crate::protocol::Publish;

/// The output format chosen on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageFormat {
    /// The payload as it is.
    Payload,
    /// `-v`: topic, space, payload.
    Verbose,
    /// `-F TEMPLATE`.
    Template(Template),
    /// `--json`: one object a line.
    Json,
    /// `--json --pretty`: one indented object per message.
    JsonPretty,
}

/// A parsed `-F` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
    /// `--pretty`: `%j` and `%J` indented.
    pretty_json: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    Param {
        spec: u8,
        align_left: bool,
        zero: bool,
        width: usize,
        max: Option<usize>,
    },
    /// `@X`: strftime's `%X`.
    Time(u8),
    /// `@N`: nanoseconds of the current second.
    Nanos,
}

/// A message, the moment it arrived, and what `--decode` made of its payload.
pub struct Received<'a> {
    /// The message.
    pub publish: &'a Publish,
    /// When it was read from the connection.
    pub at: SystemTime,
    /// The decoded payload, when a `--decode` rule covers the topic and it decoded:
    /// printed in place of the payload (-v, -F %p, the payload alone) and in
    /// `--json`'s `decoded`.
    pub decoded: Option<&'a Decoded>,
    /// Why the payload did not decode, when a rule covers the topic and it did not
    /// (the raw payload is printed then; `--json` says why in `decode_error`).
    pub decode_error: Option<&'a str>,
}

impl Received<'_> {
    /// The payload as printed by -v, -F %p and the plain format: decoded when it was.
    fn shown_payload(&self) -> std::borrow::Cow<'_, [u8]> {
        match self.decoded {
            Some(decoded) => decoded.printed().into_bytes().into(),
            None => self.publish.payload.as_ref().into(),
        }
    }
}

impl Template {
    /// Parses a mosquitto_sub `-F` template; errors name the bad sequence.
    pub fn parse(template: &str) -> Result<Template, String> {
        let bytes = template.as_bytes();
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            i += 1;
            match c {
                b'%' => {
                    let start = i;
                    let (mut align_left, mut zero) = (false, false);
                    while let Some(&flag @ (b'-' | b'0')) = bytes.get(i) {
                        if flag == b'-' {
                            align_left = true;
                        } else {
                            zero = true;
                        }
                        i += 1;
                    }
                    let width = digits(bytes, &mut i).unwrap_or(0);
                    let max = if bytes.get(i) == Some(&b'.') {
                        i += 1;
                        Some(digits(bytes, &mut i).unwrap_or(0))
                    } else {
                        None
                    };
                    let Some(&spec) = bytes.get(i) else {
                        return Err(
                            "incomplete format specifier at the end of the -F template".into()
                        );
                    };
                    i += 1;
                    if spec == b'%' && i == start + 1 {
                        literal.push(b'%');
                        continue;
                    }
                    if !b"ACdDEFfIjJlmPpqRrStUxX".contains(&spec) {
                        return Err(format!(
                            "invalid format specifier '%{}' in the -F template",
                            char_at(template, i - 1)
                        ));
                    }
                    flush(&mut pieces, &mut literal);
                    pieces.push(Piece::Param {
                        spec,
                        align_left,
                        zero: zero && !align_left,
                        width,
                        max,
                    });
                }
                b'@' => {
                    let Some(&spec) = bytes.get(i) else {
                        return Err(
                            "incomplete time specifier '@' at the end of the -F template".into(),
                        );
                    };
                    i += 1;
                    match spec {
                        b'@' => literal.push(b'@'),
                        b'N' => {
                            flush(&mut pieces, &mut literal);
                            pieces.push(Piece::Nanos);
                        }
                        _ if spec.is_ascii_alphabetic() || spec == b'+' => {
                            flush(&mut pieces, &mut literal);
                            pieces.push(Piece::Time(spec));
                        }
                        _ => {
                            return Err(format!(
                                "invalid time specifier '@{}' in the -F template",
                                char_at(template, i - 1)
                            ))
                        }
                    }
                }
                b'\\' => {
                    let Some(&esc) = bytes.get(i) else {
                        return Err("incomplete escape '\\' at the end of the -F template".into());
                    };
                    i += 1;
                    literal.push(match esc {
                        b'\\' => b'\\',
                        b'0' => 0,
                        b'a' => 0x07,
                        b'e' => 0x1B,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'v' => 0x0B,
                        _ => {
                            return Err(format!(
                                "invalid escape '\\{}' in the -F template (use \\\\ \\0 \\a \\e \\n \\r \\t \\v)",
                                char_at(template, i - 1)
                            ))
                        }
                    });
                }
                _ => literal.push(c),
            }
        }
        flush(&mut pieces, &mut literal);
        Ok(Template {
            pieces,
            pretty_json: false,
        })
    }

    /// The same template, printing `%j` and `%J` indented when `pretty` (`--pretty`).
    pub fn with_pretty_json(self, pretty: bool) -> Template {
        Template {
            pretty_json: pretty,
            ..self
        }
    }

    /// Appends the message as the template says; `Err` only for `%J` with a payload
    /// that is not JSON, and `%f`/`%d` with one that is not a float of their size.
    fn render(&self, msg: &Received<'_>, out: &mut Vec<u8>) -> Result<(), String> {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(bytes) => out.extend_from_slice(bytes),
                Piece::Time(spec) => out.extend_from_slice(strftime(msg.at, *spec).as_bytes()),
                Piece::Nanos => out.extend_from_slice(format!("{:09}", nanos(msg.at)).as_bytes()),
                Piece::Param {
                    spec,
                    align_left,
                    zero,
                    width,
                    max,
                } => {
                    let value = match spec {
                        b'f' | b'd' => {
                            ieee754::format(&msg.publish.payload, *spec, *max)?.into_bytes()
                        }
                        b'j' | b'J' if self.pretty_json => {
                            let json = mosquitto_json(msg, *spec == b'J')?;
                            pretty::indent_json(&json).into_bytes()
                        }
                        _ => param(*spec, msg)?,
                    };
                    let mut value = match max {
                        Some(max) if b"CIRt".contains(spec) && value.len() > *max => {
                            value[..*max].to_vec()
                        }
                        _ => value,
                    };
                    if value.len() < *width {
                        let pad = width - value.len();
                        let numeric = b"AdEFflmSxX".contains(spec);
                        if *align_left {
                            value.extend(std::iter::repeat_n(b' ', pad));
                        } else {
                            let fill = if *zero && numeric { b'0' } else { b' ' };
                            // printf's "%08.2f" of -1.5 is "-0001.50": the sign first.
                            let sign = usize::from(fill == b'0' && value.first() == Some(&b'-'));
                            let mut padded = value[..sign].to_vec();
                            padded.extend(std::iter::repeat_n(fill, pad));
                            padded.extend_from_slice(&value[sign..]);
                            value = padded;
                        }
                    }
                    out.extend_from_slice(&value);
                }
            }
        }
        Ok(())
    }
}

fn flush(pieces: &mut Vec<Piece>, literal: &mut Vec<u8>) {
    if !literal.is_empty() {
        pieces.push(Piece::Literal(std::mem::take(literal)));
    }
}

fn digits(bytes: &[u8], i: &mut usize) -> Option<usize> {
    let start = *i;
    while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
        *i += 1;
    }
    std::str::from_utf8(&bytes[start..*i]).ok()?.parse().ok()
}

fn char_at(text: &str, byte: usize) -> char {
    text.get(byte..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or('?')
}

/// One `%` parameter's bytes.
fn param(spec: u8, msg: &Received<'_>) -> Result<Vec<u8>, String> {
    let p = msg.publish;
    let props = &p.properties;
    let opt = |v: Option<String>| v.unwrap_or_default().into_bytes();
    Ok(match spec {
        b't' => p.topic.as_bytes().to_vec(),
        b'p' => msg.shown_payload().into_owned(),
        b'q' => (p.qos as u8).to_string().into_bytes(),
        b'r' => u8::from(p.retain).to_string().into_bytes(),
        b'm' => p.packet_id.to_string().into_bytes(),
        b'l' => p.payload.len().to_string().into_bytes(),
        b'x' => payload::hex::encode(&p.payload, false).into_bytes(),
        b'X' => payload::hex::encode(&p.payload, true).into_bytes(),
        b'I' => strftime_pattern(msg.at, "%Y-%m-%dT%H:%M:%S%z").into_bytes(),
        b'U' => {
            let since = msg.at.duration_since(UNIX_EPOCH).unwrap_or_default();
            format!("{}.{:09}", since.as_secs(), since.subsec_nanos()).into_bytes()
        }
        b'j' => mosquitto_json(msg, false)?.into_bytes(),
        b'J' => mosquitto_json(msg, true)?.into_bytes(),
        b'A' => opt(props.topic_alias.map(|v| v.to_string())),
        b'C' => opt(props.content_type.clone()),
        b'D' => props
            .correlation_data
            .clone()
            .map(|d| d.to_vec())
            .unwrap_or_default(),
        b'E' => opt(props.message_expiry_interval.map(|v| v.to_string())),
        b'F' => opt(props.payload_format_indicator.map(|v| v.to_string())),
        b'P' => {
            let pairs: Vec<String> = props
                .user_properties
                .iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect();
            pairs.join(" ").into_bytes()
        }
        b'R' => opt(props.response_topic.as_ref().map(|t| t.to_string())),
        b'S' => {
            let ids: Vec<String> = props
                .subscription_identifiers
                .iter()
                .map(u32::to_string)
                .collect();
            ids.join(" ").into_bytes()
        }
        _ => Vec::new(),
    })
}

/// `%j` / `%J`: mosquitto_sub's JSON, field for field (its `tst` shape included).
fn mosquitto_json(msg: &Received<'_>, raw_payload: bool) -> Result<String, String> {
    let p = msg.publish;
    let mut out = String::from("{");
    let tst = format!(
        "{}.{:06}Z{}",
        strftime_pattern(msg.at, "%Y-%m-%dT%H:%M:%S"),
        nanos(msg.at) / 1000,
        strftime_pattern(msg.at, "%z")
    );
    out.push_str(&format!("\"tst\":{}", json_str(&tst)));
    out.push_str(&format!(",\"topic\":{}", json_str(&p.topic)));
    out.push_str(&format!(
        ",\"qos\":{},\"retain\":{}",
        p.qos as u8,
        u8::from(p.retain)
    ));
    out.push_str(&format!(",\"payloadlen\":{}", p.payload.len()));
    if p.packet_id != 0 {
        out.push_str(&format!(",\"mid\":{}", p.packet_id));
    }
    let props = &p.properties;
    let mut fields: Vec<String> = Vec::new();
    if let Some(v) = &props.content_type {
        fields.push(format!("\"content-type\":{}", json_str(v)));
    }
    if !props.user_properties.is_empty() {
        let pairs: Vec<String> = props
            .user_properties
            .iter()
            .map(|(k, v)| format!("{}:{}", json_str(k), json_str(v)))
            .collect();
        fields.push(format!("\"user-properties\":{{{}}}", pairs.join(",")));
    }
    if let Some(v) = &props.response_topic {
        fields.push(format!("\"response-topic\":{}", json_str(v)));
    }
    if let Some(v) = &props.correlation_data {
        fields.push(format!(
            "\"correlation-data\":{}",
            json_str(&String::from_utf8_lossy(v))
        ));
    }
    if let Some(v) = props.payload_format_indicator {
        fields.push(format!("\"payload-format-indicator\":{v}"));
    }
    if let Some(v) = props.message_expiry_interval {
        fields.push(format!("\"message-expiry-interval\":{v}"));
    }
    if let Some(v) = props.topic_alias {
        fields.push(format!("\"topic-alias\":{v}"));
    }
    for id in &props.subscription_identifiers {
        fields.push(format!("\"subscription-identifier\":{id}"));
    }
    if !fields.is_empty() {
        out.push_str(&format!(",\"properties\":{{{}}}", fields.join(",")));
    }
    if raw_payload {
        let text = std::str::from_utf8(&p.payload).ok();
        match text.filter(|t| serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok()) {
            Some(text) => out.push_str(&format!(",\"payload\":{text}")),
            None => {
                return Err(format!(
                    "message payload is not valid JSON on topic {}",
                    p.topic
                ))
            }
        }
    } else {
        out.push_str(&format!(
            ",\"payload\":{}",
            json_str(&String::from_utf8_lossy(&p.payload))
        ));
    }
    out.push('}');
    Ok(out)
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// `--json`: our own line format. Field names are stable; the payload is text when it
/// is UTF-8 and base64 otherwise, `payload_encoding` says which.
#[derive(Serialize)]
struct JsonMessage<'a> {
    topic: &'a str,
    payload: String,
    payload_encoding: &'static str,
    payload_bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    decoded_as: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decoded: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decode_error: Option<&'a str>,
    qos: u8,
    retain: bool,
    dup: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    packet_id: Option<u16>,
    received: String,
    received_unix_ns: u128,
    #[serde(skip_serializing_if = "JsonProperties::is_empty")]
    properties: JsonProperties<'a>,
}

#[derive(Serialize, Default)]
struct JsonProperties<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_format_indicator: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_expiry_interval: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_topic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_data_encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscription_identifiers: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    topic_alias: Option<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    user_properties: Vec<(&'a str, &'a str)>,
}

impl JsonProperties<'_> {
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

/// Text when the bytes are UTF-8, else base64; with the encoding's name.
fn text_or_base64(bytes: &[u8]) -> (String, &'static str) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), "text"),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(bytes),
            "base64",
        ),
    }
}

fn json_line(msg: &Received<'_>) -> String {
    let p = msg.publish;
    let props = &p.properties;
    let (payload, payload_encoding) = text_or_base64(&p.payload);
    let (correlation_data, correlation_data_encoding) = match &props.correlation_data {
        Some(data) => {
            let (text, encoding) = text_or_base64(data);
            (Some(text), Some(encoding))
        }
        None => (None, None),
    };
    let since = msg.at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let line = JsonMessage {
        topic: &p.topic,
        payload,
        payload_encoding,
        payload_bytes: p.payload.len(),
        decoded_as: msg.decoded.map(|d| d.form),
        decoded: msg.decoded.map(|d| &d.value),
        decode_error: msg.decode_error,
        qos: p.qos as u8,
        retain: p.retain,
        dup: p.dup,
        packet_id: (p.packet_id != 0).then_some(p.packet_id),
        received: rfc3339_utc(msg.at),
        received_unix_ns: since.as_nanos(),
        properties: JsonProperties {
            payload_format_indicator: props.payload_format_indicator,
            message_expiry_interval: props.message_expiry_interval,
            content_type: props.content_type.as_deref(),
            response_topic: props.response_topic.as_deref(),
            correlation_data,
            correlation_data_encoding,
            subscription_identifiers: props.subscription_identifiers.clone(),
            topic_alias: props.topic_alias,
            user_properties: props
                .user_properties
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        },
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// The bytes to print for one message, newline included unless `no_newline` (and
/// always for `--json`, one object a line). `Err` (only for `%J` with a payload that
/// is not JSON) is a message for stderr; nothing is printed for that message.
pub fn render(
    format: &MessageFormat,
    msg: &Received<'_>,
    no_newline: bool,
) -> Result<Vec<u8>, String> {
    let p = msg.publish;
    let mut out = Vec::with_capacity(p.payload.len() + 64);
    match format {
        MessageFormat::Payload => out.extend_from_slice(&msg.shown_payload()),
        MessageFormat::Verbose => {
            out.extend_from_slice(p.topic.as_bytes());
            out.push(b' ');
            out.extend_from_slice(&msg.shown_payload());
        }
        MessageFormat::Template(template) => template.render(msg, &mut out)?,
        MessageFormat::Json | MessageFormat::JsonPretty => {
            let line = json_line(msg);
            match format {
                MessageFormat::JsonPretty => out.extend(pretty::indent_json(&line).into_bytes()),
                _ => out.extend_from_slice(line.as_bytes()),
            }
            out.push(b'\n');
            return Ok(out);
        }
    }
    if !no_newline {
        out.push(b'\n');
    }
    Ok(out)
}

fn nanos(at: SystemTime) -> u32 {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos()
}

/// `strftime` of one conversion character (`@X` of -F), in local time.
fn strftime(at: SystemTime, spec: u8) -> String {
    strftime_pattern(at, &format!("%{}", char::from(spec)))
}

/// `strftime(3)` in local time, as mosquitto_sub does.
fn strftime_pattern(at: SystemTime, pattern: &str) -> String {
    let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as libc::time_t;
    let Ok(pattern) = std::ffi::CString::new(pattern) else {
        return String::new();
    };
    let mut buf = [0u8; 256];
    // SAFETY: `tm` is plain data filled by localtime_r; `buf` is large enough and
    // strftime writes at most its length (returning 0 when it does not fit).
    let written = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return String::new();
        }
        libc::strftime(buf.as_mut_ptr().cast(), buf.len(), pattern.as_ptr(), &tm)
    };
    String::from_utf8_lossy(&buf[..written]).into_owned()
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
#[path = "message_tests.rs"]
mod tests;

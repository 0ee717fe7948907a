//! How `mqtk sub` prints a message: the payload alone, `-v` (`topic payload`), `-F`
//! templates with mosquitto_sub's full set of `%` parameters (widths and precisions
//! included, 2.1's `%f`/`%d` floats through `ieee754`), `@` strftime sequences and `\` escapes, and `--json`. Rendering only:
//! returns bytes; must not write them (that is `output.rs`) or decide what to skip.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{ieee754, pretty};
use crate::payload::{self, Decoded};
use crate::protocol::Publish;
pub use crate::record::rfc3339_utc;
use crate::record::Record;

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

impl<'a> Received<'a> {
    /// `publish` read at `at`, with what `DecodeRules::decode` made of its payload.
    pub fn new(
        publish: &'a Publish,
        at: SystemTime,
        decoding: Option<&'a Result<Decoded, String>>,
    ) -> Received<'a> {
        Received {
            publish,
            at,
            decoded: decoding.and_then(|d| d.as_ref().ok()),
            decode_error: decoding.and_then(|d| d.as_ref().err()).map(String::as_str),
        }
    }

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

/// `--json`: the recording format, one `record::Record` a line (what `pub --jsonl`
/// reads back).
fn json_line(msg: &Received<'_>) -> String {
    let decoded = msg.decoded.map(|d| (d.form, &d.value));
    Record::of(msg.publish, msg.at, decoded, msg.decode_error).to_line()
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

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;

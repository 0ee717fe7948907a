//! Sparkplug B payloads (Sparkplug 3.0 §6.4) and topics (§4.1): the built-in schema
//! (`sparkplug_b.proto`, compiled once by the protobuf machinery), the JSON view that
//! `sub --decode sparkplug` prints (metrics with datatypes by name and the value of
//! the datatype's oneof field; the topic's namespace parts), the JSON that `pub
//! --encode sparkplug` reads, and the `seq` gap check. Sans-IO: must not print.

use std::collections::HashMap;
use std::sync::OnceLock;

use prost_reflect::MessageDescriptor;
use serde_json::{json, Map, Value};

use super::error::{DecodeError, EncodeError};
use super::protobuf::{self, Protos};

const SCHEMA: &str = include_str!("sparkplug_b.proto");
const PAYLOAD: &str = "org.eclipse.tahu.protobuf.Payload";

/// Metric datatypes by number (§6.4.16); the index is the number.
const DATATYPES: [&str; 35] = [
    "Unknown",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "Float",
    "Double",
    "Boolean",
    "String",
    "DateTime",
    "Text",
    "UUID",
    "DataSet",
    "Bytes",
    "File",
    "Template",
    "PropertySet",
    "PropertySetList",
    "Int8Array",
    "Int16Array",
    "Int32Array",
    "Int64Array",
    "UInt8Array",
    "UInt16Array",
    "UInt32Array",
    "UInt64Array",
    "FloatArray",
    "DoubleArray",
    "BooleanArray",
    "StringArray",
    "DateTimeArray",
];

/// The Payload message type of the built-in schema, compiled on first use.
pub fn payload_type() -> Result<MessageDescriptor, String> {
    static TYPE: OnceLock<Result<MessageDescriptor, String>> = OnceLock::new();
    TYPE.get_or_init(|| {
        Protos::from_source("sparkplug_b.proto", SCHEMA)
            .and_then(|protos| protos.message(PAYLOAD))
            .map_err(|e| format!("the built-in Sparkplug B schema does not compile: {e}"))
    })
    .clone()
}

/// Where a message sits in the Sparkplug namespace (§4.1.1):
/// `spBv1.0/GROUP/TYPE/EDGE_NODE[/DEVICE]`, or `spBv1.0/STATE/HOST` (§4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace<'a> {
    /// The group id (none for STATE).
    pub group: Option<&'a str>,
    /// NBIRTH, NDATA, NDEATH, DBIRTH, DDATA, DDEATH, NCMD, DCMD or STATE.
    pub message_type: &'a str,
    /// The edge node id, or STATE's host application id.
    pub edge_node: &'a str,
    /// The device id of the D* types.
    pub device: Option<&'a str>,
}

const TYPES: [&str; 9] = [
    "NBIRTH", "NDATA", "NDEATH", "DBIRTH", "DDATA", "DDEATH", "NCMD", "DCMD", "STATE",
];

impl<'a> Namespace<'a> {
    /// The parts of `topic`, or `None` when it is not a Sparkplug B topic.
    pub fn parse(topic: &'a str) -> Option<Namespace<'a>> {
        let parts: Vec<&str> = topic.split('/').collect();
        match parts.as_slice() {
            ["spBv1.0", "STATE", host] => Some(Namespace {
                group: None,
                message_type: "STATE",
                edge_node: host,
                device: None,
            }),
            ["spBv1.0", group, kind, edge, rest @ ..]
                if TYPES[..8].contains(kind)
                    && rest.len() == usize::from(kind.starts_with('D')) =>
            {
                Some(Namespace {
                    group: Some(group),
                    message_type: kind,
                    edge_node: edge,
                    device: rest.first().copied(),
                })
            }
            _ => None,
        }
    }

    fn to_json(&self) -> Value {
        let mut parts = Map::new();
        if let Some(group) = self.group {
            parts.insert("group".into(), json!(group));
        }
        parts.insert("message_type".into(), json!(self.message_type));
        let key = if self.message_type == "STATE" {
            "host_application"
        } else {
            "edge_node"
        };
        parts.insert(key.into(), json!(self.edge_node));
        if let Some(device) = self.device {
            parts.insert("device".into(), json!(device));
        }
        Value::Object(parts)
    }
}

/// The JSON view of a payload on `topic` (`None`: topic unknown or not Sparkplug):
/// the payload's fields and, for a Sparkplug topic, its parts under `"topic"`. STATE
/// payloads are not protobuf (§4.1.3: JSON in 3.0, "ONLINE"/"OFFLINE" before) and are
/// shown under `"state"`.
pub fn decode(topic: Option<&str>, bytes: &[u8]) -> Result<Value, DecodeError> {
    let namespace = topic.and_then(Namespace::parse);
    let mut view = match &namespace {
        Some(ns) if ns.message_type == "STATE" => {
            let state = serde_json::from_slice(bytes).or_else(|_| {
                std::str::from_utf8(bytes)
                    .map(|text| json!(text))
                    .map_err(|_| sparkplug_error("a STATE payload is neither JSON nor text"))
            })?;
            json!({ "state": state })
        }
        _ => payload_json(bytes)?,
    };
    if let (Some(ns), Value::Object(fields)) = (&namespace, &mut view) {
        fields.insert("topic".into(), ns.to_json());
    }
    Ok(view)
}

fn sparkplug_error(message: impl Into<String>) -> DecodeError {
    DecodeError::Sparkplug(message.into())
}

fn payload_json(bytes: &[u8]) -> Result<Value, DecodeError> {
    let message = payload_type().map_err(sparkplug_error)?;
    let mut value = protobuf::decode(&message, bytes).map_err(|e| match e {
        DecodeError::Protobuf(_, why) => sparkplug_error(why),
        other => other,
    })?;
    if let Value::Object(fields) = &mut value {
        integers_to_numbers(fields, &["timestamp", "seq"]);
        if let Some(Value::Array(metrics)) = fields.get_mut("metrics") {
            metrics.iter_mut().for_each(metric_json);
        }
    }
    Ok(value)
}

/// The JSON mapping writes 64-bit integers as strings; Sparkplug's are timestamps,
/// aliases and counters, which a JSON number holds exactly (serde_json keeps u64).
fn integers_to_numbers(fields: &mut Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if let Some(n) = fields
            .get(*key)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<u64>().ok())
        {
            fields.insert((*key).into(), json!(n));
        }
    }
}

const VALUE_FIELDS: [&str; 10] = [
    "int_value",
    "long_value",
    "float_value",
    "double_value",
    "boolean_value",
    "string_value",
    "bytes_value",
    "dataset_value",
    "template_value",
    "extension_value",
];

/// One metric as shown: `datatype` by name, the oneof field as `value` (signed
/// datatypes read back from their two's complement, §6.4.16), null when `is_null`.
fn metric_json(metric: &mut Value) {
    let Value::Object(fields) = metric else {
        return;
    };
    integers_to_numbers(fields, &["alias", "timestamp"]);
    let datatype = fields.get("datatype").and_then(Value::as_u64);
    if let Some(name) = datatype.and_then(|n| DATATYPES.get(n as usize)) {
        fields.insert("datatype".into(), json!(name));
    }
    let held = VALUE_FIELDS
        .iter()
        .find_map(|key| fields.remove(*key).map(|v| (*key, v)));
    let had_value = held.is_some();
    let value = match held {
        Some(("int_value", Value::Number(n))) => {
            let raw = n.as_u64().unwrap_or_default() as u32;
            match datatype {
                Some(1) => json!(raw as i8),
                Some(2) => json!(raw as i16),
                Some(3) => json!(raw as i32),
                _ => json!(raw),
            }
        }
        Some(("long_value", Value::String(s))) => match s.parse::<u64>() {
            Ok(raw) if datatype == Some(4) => json!(raw as i64),
            Ok(raw) => json!(raw),
            Err(_) => Value::String(s),
        },
        Some(("template_value", mut template)) => {
            if let Some(Value::Array(metrics)) = template.get_mut("metrics") {
                metrics.iter_mut().for_each(metric_json);
            }
            template
        }
        Some((_, value)) => value,
        None => Value::Null,
    };
    if had_value || fields.get("is_null") == Some(&Value::Bool(true)) {
        fields.insert("value".into(), value);
    }
}

/// Reads the JSON view (what `decode` prints; `"topic"` and `"state"` are ignored) as
/// a Payload. Errors name the field path: `metrics[0].datatype: unknown datatype …`.
pub fn encode(json: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let fail = |message: String| EncodeError::Sparkplug(message);
    let mut view: Value =
        serde_json::from_slice(json).map_err(|e| EncodeError::Json(e.to_string()))?;
    let Value::Object(fields) = &mut view else {
        return Err(fail("give a JSON object, e.g. {\"metrics\":[…]}".into()));
    };
    fields.remove("topic");
    fields.remove("state");
    if let Some(metrics) = fields.get_mut("metrics") {
        metrics_to_mapping(metrics, "metrics").map_err(fail)?;
    }
    let message = payload_type().map_err(fail)?;
    let text = serde_json::to_vec(&view).map_err(|e| fail(e.to_string()))?;
    protobuf::encode(&message, &text).map_err(|e| match e {
        EncodeError::Protobuf(_, why) => fail(why),
        other => other,
    })
}

fn metrics_to_mapping(metrics: &mut Value, path: &str) -> Result<(), String> {
    let Value::Array(metrics) = metrics else {
        return Err(format!("{path}: give an array of metrics"));
    };
    for (i, metric) in metrics.iter_mut().enumerate() {
        metric_to_mapping(metric, &format!("{path}[{i}]"))?;
    }
    Ok(())
}

fn datatype_number(datatype: &Value, path: &str) -> Result<u32, String> {
    match datatype {
        Value::String(name) => DATATYPES
            .iter()
            .position(|known| known.eq_ignore_ascii_case(name))
            .map(|n| n as u32)
            .ok_or_else(|| {
                format!(
                    "{path}.datatype: unknown datatype \"{name}\" (use one of {})",
                    DATATYPES[1..].join(", ")
                )
            }),
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{path}.datatype: {n} is not a datatype number")),
        other => Err(format!(
            "{path}.datatype: give a name such as \"Double\", not {other}"
        )),
    }
}

/// One metric of the JSON view as protobuf's JSON mapping: `datatype` as its number,
/// `value` in the oneof field the datatype stores it in (§6.4.16).
fn metric_to_mapping(metric: &mut Value, path: &str) -> Result<(), String> {
    let Value::Object(fields) = metric else {
        return Err(format!(
            "{path}: give an object with name, datatype and value"
        ));
    };
    let datatype = match fields.get("datatype") {
        Some(datatype) => Some(datatype_number(datatype, path)?),
        None => None,
    };
    if let Some(n) = datatype {
        fields.insert("datatype".into(), json!(n));
    }
    let Some(value) = fields.remove("value") else {
        return Ok(());
    };
    if value.is_null() {
        fields.insert("is_null".into(), json!(true));
        return Ok(());
    }
    let Some(n) = datatype else {
        return Err(format!("{path}.value: give the metric's datatype (e.g. \"datatype\":\"Double\") to say how to store it"));
    };
    let (key, stored) = stored_value(n, value, path)?;
    fields.insert(key.into(), stored);
    Ok(())
}

/// The oneof field that datatype `n` keeps a metric's value in, and the value as
/// protobuf's JSON mapping writes that field (§6.4.16: signed integers as their two's
/// complement in the unsigned field).
fn stored_value(n: u32, value: Value, path: &str) -> Result<(&'static str, Value), String> {
    let name = DATATYPES.get(n as usize).copied().unwrap_or("Unknown");
    let shown = value.to_string();
    let bad = |what: &str| format!("{path}.value: {name} holds {what}, not {shown}");
    let (key, stored) = match n {
        1..=3 | 5..=7 => {
            let (min, max) = match n {
                1 => (i8::MIN as i64, i8::MAX as i64),
                2 => (i16::MIN as i64, i16::MAX as i64),
                3 => (i32::MIN as i64, i32::MAX as i64),
                5 => (0, u8::MAX as i64),
                6 => (0, u16::MAX as i64),
                _ => (0, u32::MAX as i64),
            };
            let v = value
                .as_i64()
                .filter(|v| (min..=max).contains(v))
                .ok_or_else(|| bad(&format!("an integer from {min} to {max}")))?;
            ("int_value", json!(v as u32))
        }
        4 => {
            let v = value.as_i64().ok_or_else(|| bad("a 64-bit integer"))?;
            ("long_value", json!((v as u64).to_string()))
        }
        8 | 13 => {
            let v = value
                .as_u64()
                .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| bad("an unsigned 64-bit integer"))?;
            ("long_value", json!(v.to_string()))
        }
        9 | 10 => {
            if !(value.is_number()
                || matches!(value.as_str(), Some("NaN" | "Infinity" | "-Infinity")))
            {
                return Err(bad("a number"));
            }
            (
                if n == 9 {
                    "float_value"
                } else {
                    "double_value"
                },
                value,
            )
        }
        11 => (
            value
                .is_boolean()
                .then_some("boolean_value")
                .ok_or_else(|| bad("true or false"))?,
            value,
        ),
        12 | 14 | 15 => (
            value
                .is_string()
                .then_some("string_value")
                .ok_or_else(|| bad("a string"))?,
            value,
        ),
        17 | 18 | 22..=34 => (
            value
                .is_string()
                .then_some("bytes_value")
                .ok_or_else(|| bad("base64 text"))?,
            value,
        ),
        16 => (
            value
                .is_object()
                .then_some("dataset_value")
                .ok_or_else(|| bad("a DataSet object"))?,
            value,
        ),
        19 => {
            let mut template = value;
            let Value::Object(parts) = &mut template else {
                return Err(bad("a Template object"));
            };
            if let Some(metrics) = parts.get_mut("metrics") {
                metrics_to_mapping(metrics, &format!("{path}.value.metrics"))?;
            }
            ("template_value", template)
        }
        _ => {
            return Err(format!(
                "{path}.value: a {name} metric holds no value mqtk can write; leave value out"
            ))
        }
    };
    Ok((key, stored))
}

/// Gaps in the `seq` numbers of each edge node (§6.4.1: every message an edge node
/// publishes but NDEATH carries the previous one's seq + 1, 0 after 255; NBIRTH
/// starts over). Seen by one process: a gap is a message this subscriber missed.
#[derive(Debug, Default)]
pub struct SeqGaps {
    last: HashMap<String, u64>,
}

impl SeqGaps {
    /// Notes one decoded payload (the JSON view of `decode`); says what was missed.
    pub fn observe(&mut self, view: &Value) -> Option<String> {
        let topic = view.get("topic")?;
        let kind = topic.get("message_type")?.as_str()?;
        if !["NBIRTH", "NDATA", "DBIRTH", "DDATA", "DDEATH"].contains(&kind) {
            return None;
        }
        let node = format!(
            "{}/{}",
            topic.get("group")?.as_str()?,
            topic.get("edge_node")?.as_str()?
        );
        let seq = view.get("seq")?.as_u64()?;
        let previous = self.last.insert(node.clone(), seq);
        let expected = (previous? + 1) % 256;
        (kind != "NBIRTH" && seq != expected).then(|| {
            let missed = (seq + 256 - expected) % 256;
            format!(
                "Sparkplug seq gap from edge node {node}: expected {expected}, got {seq} in {kind} \
                 ({missed} message{} missed, or out of order)",
                if missed == 1 { "" } else { "s" }
            )
        })
    }
}

#[cfg(test)]
#[path = "sparkplug_tests.rs"]
mod tests;

//! `serve --trace FILE|-`: one JSON line per packet, in either direction, for every
//! client or those matching `--trace-client GLOB`: the time (RFC 3339 and unix ns), the
//! client identifier, the direction and the decoded packet, its payload as text or
//! base64 with its length, cut at `--trace-payload BYTES`. Connection tasks format the
//! line and `try_send` it into a bounded channel; one writer thread writes the lines.
//! Must never block a connection task: when the writer falls behind, lines are dropped
//! and counted (`$SYS/broker/trace/dropped`).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::broker::fault::Dir;
use crate::glob::glob;
use crate::output::message::rfc3339_utc;
use crate::protocol::{Packet, Properties, ReasonCode};
use crate::record::text_or_base64;

/// Lines waiting for the writer, at most; beyond, lines are dropped.
const QUEUE: usize = 16 * 1024;

/// Where the lines go.
#[derive(Debug)]
pub enum TraceSink {
    /// `--trace -`: stdout, after the `listening on` lines.
    Stdout,
    /// `--trace FILE`.
    File(std::fs::File),
}

/// The trace of a running broker.
#[derive(Debug)]
pub struct Trace {
    tx: SyncSender<String>,
    clients: Option<String>,
    payload_max: usize,
    lines: AtomicU64,
    dropped: AtomicU64,
    /// `--trace -`: dropped once the `listening on` lines are out (`open_stdout`); the
    /// writer waits for that, so the trace never comes before them on stdout.
    gate: Mutex<Option<mpsc::Sender<()>>>,
}

impl Trace {
    /// Starts the writer thread. `clients`: `--trace-client GLOB`; `payload_max`: bytes
    /// of payload kept per line.
    pub fn start(
        sink: TraceSink,
        clients: Option<String>,
        payload_max: usize,
    ) -> std::io::Result<Arc<Trace>> {
        let (tx, rx) = mpsc::sync_channel::<String>(QUEUE);
        let (gate, gate_rx) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("mqtk-trace".into())
            .spawn(move || {
                if matches!(sink, TraceSink::Stdout) {
                    // Err once `open_stdout` dropped the sender: that is the signal.
                    let _ = gate_rx.recv();
                }
                write_lines(sink, rx)
            })?;
        Ok(Arc::new(Trace {
            tx,
            clients,
            payload_max,
            lines: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            gate: Mutex::new(Some(gate)),
        }))
    }

    /// Lets `--trace -` write to stdout: call once the `listening on` lines are out.
    pub fn open_stdout(&self) {
        self.gate.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// True when packets of `client_id` are traced.
    pub fn wants(&self, client_id: &str) -> bool {
        self.clients
            .as_ref()
            .is_none_or(|g| glob(g.as_bytes(), client_id.as_bytes()))
    }

    /// Queues the line of one packet; `fault`: the rule that fired on it, if any.
    pub fn record(&self, client_id: &str, dir: Dir, packet: &Packet, fault: Option<&str>) {
        let line = line(
            client_id,
            dir,
            packet,
            fault,
            self.payload_max,
            SystemTime::now(),
        );
        match self.tx.try_send(line) {
            Ok(()) => self.lines.fetch_add(1, Ordering::Relaxed),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed)
            }
        };
    }

    /// Lines queued for writing, and lines dropped because the writer was behind.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.lines.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }
}

/// The writer thread: writes the lines as they come, flushing whenever the queue is
/// empty, until every sender is gone or the sink fails (the broker goes on; later
/// lines are counted as dropped).
fn write_lines(sink: TraceSink, rx: mpsc::Receiver<String>) {
    let mut file = match sink {
        TraceSink::File(f) => Some(std::io::BufWriter::new(f)),
        TraceSink::Stdout => None,
    };
    let write = |file: &mut Option<std::io::BufWriter<std::fs::File>>, mut line: String| {
        line.push('\n');
        match file.as_mut() {
            Some(f) => f.write_all(line.as_bytes()),
            None => crate::output::stdout_bytes(line.as_bytes()),
        }
    };
    while let Ok(line) = rx.recv() {
        if write(&mut file, line).is_err() {
            return;
        }
        while let Ok(line) = rx.try_recv() {
            if write(&mut file, line).is_err() {
                return;
            }
        }
        if let Some(f) = file.as_mut() {
            if f.flush().is_err() {
                return;
            }
        }
    }
}

/// The JSON line of one packet.
pub fn line(
    client_id: &str,
    dir: Dir,
    packet: &Packet,
    fault: Option<&str>,
    payload_max: usize,
    at: SystemTime,
) -> String {
    let mut obj = Map::new();
    obj.insert("time".into(), rfc3339_utc(at).into());
    let ns = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    obj.insert("unix_ns".into(), json!(ns as u64));
    obj.insert("client_id".into(), client_id.into());
    obj.insert("dir".into(), dir.name().into());
    obj.insert("type".into(), packet.name().into());
    fields(&mut obj, packet, payload_max);
    if let Some(rule) = fault {
        obj.insert("fault".into(), rule.into());
    }
    Value::Object(obj).to_string()
}

fn fields(obj: &mut Map<String, Value>, packet: &Packet, payload_max: usize) {
    let mut put = |k: &str, v: Value| {
        obj.insert(k.into(), v);
    };
    let props = match packet {
        Packet::Connect(c) => {
            put("protocol_version", c.protocol_version.level().into());
            put("connect_client_id", c.client_id.as_str().into());
            put("clean_start", c.clean_start.into());
            put("keep_alive", c.keep_alive_secs.into());
            if let Some(user) = &c.username {
                put("username", user.as_str().into());
            }
            put("password", c.password.is_some().into());
            if let Some(w) = &c.will {
                put(
                    "will",
                    json!({"topic": &*w.topic, "qos": w.qos as u8, "retain": w.retain,
                           "payload_bytes": w.payload.len()}),
                );
            }
            Some(&c.properties)
        }
        Packet::ConnAck(a) => {
            put("session_present", a.session_present.into());
            reason(&mut put, a.reason_code);
            Some(&a.properties)
        }
        Packet::Publish(p) => {
            if p.packet_id != 0 {
                put("packet_id", p.packet_id.into());
            }
            put("topic", (&*p.topic).into());
            put("qos", (p.qos as u8).into());
            put("dup", p.dup.into());
            put("retain", p.retain.into());
            let cut = p.payload.len() > payload_max;
            let shown = &p.payload[..p.payload.len().min(payload_max)];
            let (text, encoding) = text_or_base64(shown);
            put("payload", text.into());
            put("payload_encoding", encoding.into());
            put("payload_bytes", p.payload.len().into());
            if cut {
                put("payload_cut", true.into());
            }
            Some(&p.properties)
        }
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            put("packet_id", r.packet_id.into());
            reason(&mut put, r.reason_code);
            Some(&r.properties)
        }
        Packet::Subscribe(s) => {
            put("packet_id", s.packet_id.into());
            let subs: Vec<Value> = s
                .subscriptions
                .iter()
                .map(|f| {
                    json!({"filter": f.filter, "qos": f.qos as u8, "no_local": f.no_local,
                       "retain_as_published": f.retain_as_published,
                       "retain_handling": f.retain_handling as u8})
                })
                .collect();
            put("subscriptions", subs.into());
            Some(&s.properties)
        }
        Packet::SubAck(a) => {
            put("packet_id", a.packet_id.into());
            put("reason_codes", codes(&a.reason_codes));
            Some(&a.properties)
        }
        Packet::Unsubscribe(u) => {
            put("packet_id", u.packet_id.into());
            put("filters", u.filters.clone().into());
            Some(&u.properties)
        }
        Packet::UnsubAck(a) => {
            put("packet_id", a.packet_id.into());
            put("reason_codes", codes(&a.reason_codes));
            Some(&a.properties)
        }
        Packet::PingReq | Packet::PingResp => None,
        Packet::Disconnect(d) => {
            reason(&mut put, d.reason_code);
            Some(&d.properties)
        }
        Packet::Auth(a) => {
            reason(&mut put, a.reason_code);
            Some(&a.properties)
        }
    };
    if let Some(props) = props.map(properties).filter(|p| !p.is_empty()) {
        obj.insert("properties".into(), Value::Object(props));
    }
}

fn reason(put: &mut impl FnMut(&str, Value), code: ReasonCode) {
    put("reason_code", (code as u8).into());
    put("reason", code.description().into());
}

fn codes(codes: &[ReasonCode]) -> Value {
    codes.iter().map(|c| *c as u8).collect::<Vec<_>>().into()
}

/// The properties that are set, by their specification names in snake case.
fn properties(p: &Properties) -> Map<String, Value> {
    let mut m = Map::new();
    let mut opt = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    };
    let bytes = |b: &Option<bytes::Bytes>| b.as_ref().map(|b| text_or_base64(b).0.into());
    opt(
        "payload_format_indicator",
        p.payload_format_indicator.map(Into::into),
    );
    opt(
        "message_expiry_interval",
        p.message_expiry_interval.map(Into::into),
    );
    opt("content_type", p.content_type.clone().map(Into::into));
    opt(
        "response_topic",
        p.response_topic.as_deref().map(Into::into),
    );
    opt("correlation_data", bytes(&p.correlation_data));
    opt(
        "session_expiry_interval",
        p.session_expiry_interval.map(Into::into),
    );
    opt(
        "assigned_client_identifier",
        p.assigned_client_identifier.clone().map(Into::into),
    );
    opt("server_keep_alive", p.server_keep_alive.map(Into::into));
    opt(
        "authentication_method",
        p.authentication_method.clone().map(Into::into),
    );
    opt(
        "request_problem_information",
        p.request_problem_information.map(Into::into),
    );
    opt("will_delay_interval", p.will_delay_interval.map(Into::into));
    opt(
        "request_response_information",
        p.request_response_information.map(Into::into),
    );
    opt(
        "response_information",
        p.response_information.clone().map(Into::into),
    );
    opt(
        "server_reference",
        p.server_reference.clone().map(Into::into),
    );
    opt("reason_string", p.reason_string.clone().map(Into::into));
    opt("receive_maximum", p.receive_maximum.map(Into::into));
    opt("topic_alias_maximum", p.topic_alias_maximum.map(Into::into));
    opt("topic_alias", p.topic_alias.map(Into::into));
    opt("maximum_qos", p.maximum_qos.map(Into::into));
    opt("retain_available", p.retain_available.map(Into::into));
    opt("maximum_packet_size", p.maximum_packet_size.map(Into::into));
    opt(
        "wildcard_subscription_available",
        p.wildcard_subscription_available.map(Into::into),
    );
    opt(
        "subscription_identifier_available",
        p.subscription_identifier_available.map(Into::into),
    );
    opt(
        "shared_subscription_available",
        p.shared_subscription_available.map(Into::into),
    );
    if !p.subscription_identifiers.is_empty() {
        m.insert(
            "subscription_identifiers".into(),
            p.subscription_identifiers.clone().into(),
        );
    }
    if !p.user_properties.is_empty() {
        let pairs: Vec<Value> = p
            .user_properties
            .iter()
            .map(|(k, v)| json!([k, v]))
            .collect();
        m.insert("user_properties".into(), pairs.into());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Publish, QoS};

    #[test]
    fn a_publish_line_has_the_decoded_packet_and_a_cut_payload() {
        let packet = Packet::Publish(Publish {
            dup: true,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "a/b".into(),
            packet_id: 7,
            properties: Properties {
                content_type: Some("text/plain".into()),
                ..Properties::default()
            },
            payload: bytes::Bytes::from_static(b"hello world"),
        });
        let at = UNIX_EPOCH + std::time::Duration::from_nanos(1_700_000_000_123_456_789);
        let text = line("c1", Dir::Out, &packet, Some("rule 1"), 5, at);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["time"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(v["unix_ns"], 1_700_000_000_123_456_789u64);
        assert_eq!(v["client_id"], "c1");
        assert_eq!(v["dir"], "out");
        assert_eq!(v["type"], "PUBLISH");
        assert_eq!(v["packet_id"], 7);
        assert_eq!(v["qos"], 1);
        assert_eq!(v["dup"], true);
        assert_eq!(v["payload"], "hello");
        assert_eq!(v["payload_bytes"], 11);
        assert_eq!(v["payload_cut"], true);
        assert_eq!(v["properties"]["content_type"], "text/plain");
        assert_eq!(v["fault"], "rule 1");
    }

    #[test]
    fn binary_payloads_are_base64_and_acks_carry_their_reason() {
        let packet = Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: true,
            topic: "t".into(),
            packet_id: 0,
            properties: Properties::default(),
            payload: bytes::Bytes::from_static(&[0xff, 0x00]),
        });
        let v: Value =
            serde_json::from_str(&line("c", Dir::In, &packet, None, 100, SystemTime::now()))
                .unwrap();
        assert_eq!(v["payload"], "/wA=");
        assert_eq!(v["payload_encoding"], "base64");
        assert!(v.get("packet_id").is_none() && v.get("properties").is_none());
        let ack = Packet::PubAck(crate::protocol::PubResponse {
            packet_id: 3,
            reason_code: ReasonCode::NoMatchingSubscribers,
            properties: Properties::default(),
        });
        let v: Value =
            serde_json::from_str(&line("c", Dir::Out, &ack, None, 0, SystemTime::now())).unwrap();
        assert_eq!(v["reason_code"], 0x10);
        assert_eq!(v["reason"], "no matching subscribers");
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (tx, _rx) = mpsc::sync_channel(1);
        let trace = Trace {
            tx,
            clients: Some("dev-*".into()),
            payload_max: 10,
            lines: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            gate: Mutex::new(None),
        };
        assert!(trace.wants("dev-1") && !trace.wants("ops"));
        for _ in 0..3 {
            trace.record("dev-1", Dir::In, &Packet::PingReq, None);
        }
        assert_eq!(trace.counts(), (1, 2));
    }
}

//! The `protocol::session` state machine driven by an arbitrary sequence of peer
//! packets, application publishes, clock steps and reconnects, on either end and
//! version. Must never panic, and after every step:
//! - our QoS 1/2 messages in flight never exceed the peer's receive maximum (once the
//!   window has shrunk below what was in flight at a reconnect, no new one is sent
//!   until it is back under);
//! - no packet id is in use twice: a new PUBLISH or an `allocate_packet_id` never gets
//!   an id that is still in flight or reserved.
#![no_main]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mqtk::protocol::session::{Event, Role, Session, SessionConfig};
use mqtk::protocol::{
    Packet, Properties, ProtocolVersion, PubResponse, Publish, QoS, ReasonCode, SubAck, UnsubAck,
};

#[derive(Debug, Arbitrary)]
struct Input {
    v5: bool,
    server: bool,
    config: Terms,
    ops: Vec<Op>,
}

#[derive(Debug, Arbitrary, Clone, Copy)]
struct Terms {
    send_maximum: u8,
    receive_maximum: u8,
    max_queued: Option<u8>,
    keep_alive_secs: u8,
    queue_qos0_offline: bool,
    topic_alias_maximum: u8,
    persist: bool,
}

/// Which packet id an answer from the peer names.
#[derive(Debug, Arbitrary, Clone, Copy)]
enum Id {
    /// One we have in flight or reserved (the index picks which).
    Known(u8),
    /// Any.
    Raw(u16),
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// The application publishes.
    Publish { qos: u8, payload_len: u8 },
    /// The peer answers: 0..=3 PUBACK/PUBREC/PUBREL/PUBCOMP, 4 SUBACK, 5 UNSUBACK.
    Answer { kind: u8, id: Id, reason: u8 },
    /// The peer publishes.
    Incoming { qos: u8, id: Id, dup: bool, alias: Option<u8>, topic: bool },
    PingReq,
    PingResp,
    Allocate,
    Release(Id),
    /// The clock moves on (milliseconds, scaled); timers run if due.
    Advance(u16),
    Disconnected,
    Resume(Terms),
    Restart(Terms),
    Shrink,
}

/// What the fuzzer knows about the ids in use.
#[derive(Default)]
struct Model {
    /// Ids of our QoS 1/2 PUBLISH packets sent and not finished.
    publishing: BTreeSet<u16>,
    /// Ids from `allocate_packet_id` not yet answered or released.
    reserved: BTreeSet<u16>,
    /// The in-flight bound in force (see the module comment).
    bound: usize,
}

fn config(v5: bool, server: bool, t: Terms) -> SessionConfig {
    let version = if v5 { ProtocolVersion::V5 } else { ProtocolVersion::V311 };
    let role = if server { Role::Server } else { Role::Client };
    SessionConfig {
        send_maximum: u16::from(t.send_maximum).max(1),
        receive_maximum: u16::from(t.receive_maximum).max(1),
        keep_alive: (t.keep_alive_secs > 0)
            .then(|| Duration::from_secs(t.keep_alive_secs.into())),
        max_queued: t.max_queued.map(usize::from),
        queue_qos0_offline: t.queue_qos0_offline,
        topic_alias_maximum: t.topic_alias_maximum.into(),
        persist: t.persist,
        ..SessionConfig::new(version, role)
    }
}

fn qos(n: u8) -> QoS {
    QoS::from_u8(n % 3).expect("0, 1 or 2")
}

impl Model {
    fn id(&self, id: Id) -> u16 {
        match id {
            Id::Raw(raw) => raw,
            Id::Known(i) => {
                let all: Vec<u16> = self.publishing.iter().chain(&self.reserved).copied().collect();
                if all.is_empty() {
                    1
                } else {
                    all[usize::from(i) % all.len()]
                }
            }
        }
    }

    fn take_new_id(&mut self, id: u16, what: &str) {
        assert_ne!(id, 0, "{what} got packet id 0");
        assert!(
            !self.publishing.contains(&id) && !self.reserved.contains(&id),
            "{what} got packet id {id}, which is still in use"
        );
    }

    /// Drains events, then packets to send, as the owners of a session do.
    fn drain(&mut self, session: &mut Session, now: Instant) {
        while let Some(event) = session.poll_event() {
            if let Event::Delivered { packet_id, .. } = event {
                self.publishing.remove(&packet_id);
            }
        }
        while let Some(packet) = session.poll_transmit(now) {
            if let Packet::Publish(p) = packet {
                if p.qos != QoS::AtMostOnce && !p.dup {
                    self.take_new_id(p.packet_id, "a new PUBLISH");
                    self.publishing.insert(p.packet_id);
                }
            }
        }
        // Events a transmit may have queued (none today, but the order is the rule).
        while session.poll_event().is_some() {}
        let window = usize::from(session.config().send_maximum);
        let inflight = session.inflight_len();
        if inflight <= window {
            self.bound = window;
        }
        assert!(
            inflight <= self.bound,
            "{inflight} in flight, receive maximum {window} (bound {})",
            self.bound
        );
    }
}

fn answer(kind: u8, packet_id: u16, reason: u8) -> Packet {
    let reason_code = ReasonCode::from_u8(reason).unwrap_or(ReasonCode::Success);
    let response = PubResponse {
        packet_id,
        reason_code,
        properties: Properties::default(),
    };
    match kind % 6 {
        0 => Packet::PubAck(response),
        1 => Packet::PubRec(response),
        2 => Packet::PubRel(response),
        3 => Packet::PubComp(response),
        4 => Packet::SubAck(SubAck {
            packet_id,
            reason_codes: vec![reason_code],
            properties: Properties::default(),
        }),
        _ => Packet::UnsubAck(UnsubAck {
            packet_id,
            reason_codes: vec![reason_code],
            properties: Properties::default(),
        }),
    }
}

fn incoming(model: &Model, q: u8, id: Id, dup: bool, alias: Option<u8>, topic: bool) -> Packet {
    let qos = qos(q);
    let mut properties = Properties::default();
    properties.topic_alias = alias.map(u16::from);
    Packet::Publish(Publish {
        dup,
        qos,
        retain: false,
        topic: if topic { "a/b".into() } else { "".into() },
        packet_id: if qos == QoS::AtMostOnce { 0 } else { model.id(id) },
        properties,
        payload: Bytes::from_static(b"x"),
    })
}

fn run(input: Input) {
    let start = Instant::now();
    let mut now = start;
    let mut session = Session::new(config(input.v5, input.server, input.config), now);
    let mut model = Model {
        bound: usize::from(session.config().send_maximum),
        ..Model::default()
    };
    for op in input.ops {
        match op {
            Op::Publish { qos: q, payload_len } => {
                let publish = Publish {
                    dup: false,
                    qos: qos(q),
                    retain: false,
                    topic: "t".into(),
                    packet_id: 0,
                    properties: Properties::default(),
                    payload: Bytes::from(vec![0; usize::from(payload_len)]),
                };
                session.publish(publish, now);
            }
            Op::Answer { kind, id, reason } => {
                let packet_id = model.id(id);
                let packet = answer(kind, packet_id, reason);
                if matches!(packet, Packet::SubAck(_) | Packet::UnsubAck(_)) {
                    model.reserved.remove(&packet_id);
                }
                let _ = session.handle_packet(packet, now);
            }
            Op::Incoming { qos, id, dup, alias, topic } => {
                let packet = incoming(&model, qos, id, dup, alias, topic);
                let _ = session.handle_packet(packet, now);
            }
            Op::PingReq => {
                let _ = session.handle_packet(Packet::PingReq, now);
            }
            Op::PingResp => {
                let _ = session.handle_packet(Packet::PingResp, now);
            }
            Op::Allocate => {
                if let Some(id) = session.allocate_packet_id() {
                    model.take_new_id(id, "allocate_packet_id");
                    model.reserved.insert(id);
                }
            }
            Op::Release(id) => {
                let id = model.id(id);
                if model.reserved.remove(&id) {
                    session.release_packet_id(id);
                }
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms) * 10);
                if session.poll_timeout().is_some_and(|at| at <= now) {
                    session.handle_timeout(now);
                }
            }
            Op::Disconnected => session.disconnected(),
            Op::Resume(terms) => {
                let cfg = config(input.v5, input.server, terms);
                model.bound = usize::from(cfg.send_maximum).max(session.inflight_len());
                session.resume(cfg, now);
            }
            Op::Restart(terms) => {
                let cfg = config(input.v5, input.server, terms);
                // Every flow ends or goes back to the queue: its id is free.
                model.publishing.clear();
                model.bound = usize::from(cfg.send_maximum);
                session.restart(cfg, now);
            }
            Op::Shrink => session.shrink_buffers(),
        }
        model.drain(&mut session, now);
    }
}

fuzz_target!(|input: Input| run(input));

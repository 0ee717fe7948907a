//! Unit tests of `Session` with a fake clock (an `Instant` base plus offsets), and the
//! helpers they share. `flows`: every QoS flow in both directions, window and queue
//! limits, receive maximum. `lifecycle`: resume/restart and duplicates across them,
//! packet ids, topic aliases, keep alive for both roles, the store changes.

mod flows;
mod lifecycle;

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::protocol::properties::Properties;

pub(super) struct Clock(Instant);

impl Clock {
    pub(super) fn at(&self, millis: u64) -> Instant {
        self.0 + Duration::from_millis(millis)
    }
}

pub(super) fn clock() -> Clock {
    Clock(Instant::now())
}

pub(super) fn config(version: ProtocolVersion, role: Role) -> SessionConfig {
    SessionConfig::new(version, role)
}

pub(super) fn client(clock: &Clock) -> Session {
    Session::new(config(ProtocolVersion::V5, Role::Client), clock.at(0))
}

pub(super) fn msg(topic: &str, qos: QoS, payload: &str) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        packet_id: 0,
        properties: Properties::default(),
        payload: Bytes::copy_from_slice(payload.as_bytes()),
    }
}

pub(super) fn incoming(qos: QoS, packet_id: u16, payload: &str) -> Packet {
    Packet::Publish(Publish {
        packet_id,
        ..msg("in/t", qos, payload)
    })
}

pub(super) fn transmits(session: &mut Session, now: Instant) -> Vec<Packet> {
    std::iter::from_fn(|| session.poll_transmit(now)).collect()
}

pub(super) fn events(session: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

pub(super) fn messages(session: &mut Session) -> Vec<Publish> {
    events(session)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(p) => Some(p),
            _ => None,
        })
        .collect()
}

pub(super) fn published(packets: &[Packet]) -> Vec<(u16, bool, String)> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some((
                p.packet_id,
                p.dup,
                String::from_utf8_lossy(&p.payload).into_owned(),
            )),
            _ => None,
        })
        .collect()
}

pub(super) fn ack(id: u16) -> PubResponse {
    PubResponse::new(id)
}

pub(super) fn delivered(seq: u64, packet_id: u16, qos: QoS) -> Event {
    Event::Delivered {
        seq,
        packet_id,
        qos,
        reason_code: ReasonCode::Success,
    }
}

//! The QoS and keep-alive state machine of one end of an MQTT connection, shared by the
//! client, the broker's connection tasks and bench: packet ids, outgoing QoS 1/2 in
//! flight within the peer's receive maximum (with a bounded queue behind it), the
//! PUBACK / PUBREC / PUBREL / PUBCOMP flows in both directions, incoming QoS 2
//! deduplication, the receive maximum on incoming messages, incoming topic aliases,
//! resend on reconnect, and keep-alive deadlines.
//!
//! Plain state, quinn-proto style: `publish`, `send`, `handle_packet(…, now)` and
//! `handle_timeout(now)` take input; `poll_transmit`, `poll_event` and `poll_timeout`
//! give output. Drain `poll_event` before `poll_transmit`: acknowledgements are only
//! sent after the caller has seen (and, with a store, persisted) what they acknowledge.
//! Must not do I/O, read a clock, or encode bytes. CONNECT/CONNACK are the caller's:
//! a session starts once the connection is accepted, with the parameters `connack.rs`
//! derives from the CONNACK on the client side.

mod config;
mod connack;
mod incoming;
mod keep_alive;
mod state;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::Instant;

use bytestring::ByteString;

pub use config::{Role, SessionConfig};
pub use connack::{client_session, ClientTerms};
pub use state::{PersistedOutgoing, PersistedState, StoreChange};

use super::error::ProtocolError;
use super::packet::{Packet, ProtocolVersion, PubResponse, Publish, QoS};
use super::reason::ReasonCode;
use crate::small_map::SmallMap;
use keep_alive::{Action, KeepAlive};

/// What the session reports to its owner.
// Events move once through a queue; boxing the large variants would cost an allocation
// per message for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An incoming application message to deliver. A QoS 2 message is reported once,
    /// on its first PUBLISH; a QoS 1 message again when the peer resends it.
    Message(Publish),
    /// Our QoS 1/2 PUBLISH is finished: PUBACK or PUBCOMP arrived, or a PUBREC with a
    /// failure reason code. `reason_code.is_success()` tells which.
    Delivered {
        /// The number `publish` returned for the message.
        seq: u64,
        /// The packet identifier it was sent with.
        packet_id: u16,
        /// Its QoS.
        qos: QoS,
        /// The peer's reason code (`Success` on MQTT 3.1.1).
        reason_code: ReasonCode,
    },
    /// The queue was full (`max_queued`) or the message was QoS 0 while offline: the
    /// message was not and will not be sent.
    Dropped(Publish),
    /// The keep alive expired: close the connection.
    PeerTimedOut,
    /// A packet the session does not own (CONNACK, SUBACK, SUBSCRIBE, DISCONNECT, …).
    Other(Packet),
    /// A durable change, when `SessionConfig::persist` is on: write it before sending
    /// what `poll_transmit` gives next.
    Store(StoreChange),
}

/// Where an outgoing QoS 1/2 message is in its flow: the packet it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    /// PUBACK: QoS 1, PUBLISH sent.
    Ack,
    /// PUBREC: QoS 2, PUBLISH sent.
    Rec,
    /// PUBCOMP: QoS 2, PUBREC received and PUBREL sent.
    Comp,
}

#[derive(Debug, Clone)]
struct Outgoing {
    seq: u64,
    publish: Publish,
    stage: Awaiting,
}

/// Packet ids and topic aliases: empty on most connections, so boxed on first use (8
/// bytes inline instead of 72: memory per idle connection).
#[derive(Debug, Default)]
struct Ids {
    /// Packet ids handed out by `allocate_packet_id` (SUBSCRIBE, UNSUBSCRIBE).
    reserved: SmallMap<u16, ()>,
    /// The peer's QoS 2 packet ids we delivered and that await PUBREL.
    incoming_qos2: SmallMap<u16, ()>,
    /// Incoming topic aliases of this network connection.
    aliases: SmallMap<u16, ByteString>,
}

impl Ids {
    fn is_empty(&self) -> bool {
        self.reserved.is_empty() && self.incoming_qos2.is_empty() && self.aliases.is_empty()
    }
}

/// What the session has for its owner: packets to write and events to handle. Empty
/// while the connection is quiet, so boxed on first use and given back by
/// `shrink_buffers` (8 bytes inline instead of 64: memory per idle connection).
#[derive(Debug, Default)]
struct Queues {
    transmit: VecDeque<Packet>,
    events: VecDeque<Event>,
}

/// One end of an MQTT session. See the module documentation.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    online: bool,
    next_seq: u64,
    next_packet_id: u16,
    /// Our QoS 1/2 messages in flight, by packet id.
    inflight: SmallMap<u16, Outgoing>,
    /// Messages waiting for a send-window slot (or for the connection), in order.
    queue: VecDeque<(u64, Publish)>,
    /// PUBACKs queued but not yet handed to `poll_transmit`'s caller: they still count
    /// against our receive maximum.
    unsent_pubacks: u32,
    /// Packet ids and aliases most connections never use (`Ids`), made on first use.
    ids: Option<Box<Ids>>,
    /// The transmit and event queues, made on first use and given back when quiet.
    queues: Option<Box<Queues>>,
    keep_alive: KeepAlive,
}

impl Session {
    /// A session on a connection that was just accepted (after CONNACK).
    pub fn new(config: SessionConfig, now: Instant) -> Session {
        let keep_alive = KeepAlive::new(now);
        Session {
            config,
            online: true,
            next_seq: 1,
            next_packet_id: 1,
            inflight: SmallMap::new(),
            queue: VecDeque::new(),
            unsent_pubacks: 0,
            ids: None,
            queues: None,
            keep_alive,
        }
    }

    /// An offline session rebuilt from a store; call `resume` (or `restart` when the
    /// peer has no session) once connected. Messages without a packet id are queued,
    /// the others are in flight and resent by `resume`.
    pub fn restore(config: SessionConfig, state: PersistedState, now: Instant) -> Session {
        let mut session = Session::new(config, now);
        session.online = false;
        for (seq, out) in state.outgoing {
            session.next_seq = session.next_seq.max(seq + 1);
            let id = out.publish.packet_id;
            let stage = match (out.publish.qos, out.released) {
                (QoS::AtMostOnce, _) => continue,
                (QoS::AtLeastOnce, _) => Awaiting::Ack,
                (QoS::ExactlyOnce, false) => Awaiting::Rec,
                (QoS::ExactlyOnce, true) => Awaiting::Comp,
            };
            if id == 0 || session.inflight.contains_key(&id) {
                session.queue.push_back((
                    seq,
                    Publish {
                        packet_id: 0,
                        ..out.publish
                    },
                ));
            } else {
                session.inflight.insert(
                    id,
                    Outgoing {
                        seq,
                        publish: out.publish,
                        stage,
                    },
                );
            }
        }
        if !state.incoming_qos2.is_empty() {
            session
                .ids()
                .incoming_qos2
                .extend(state.incoming_qos2.into_iter().map(|id| (id, ())));
        }
        session
    }

    /// The configuration of the current connection.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Queues an application message; returns the number that `Event::Delivered` (or
    /// `Event::Dropped`) will refer to. QoS 1/2 get a packet id when a window slot frees.
    pub fn publish(&mut self, mut msg: Publish, _now: Instant) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        msg.packet_id = 0;
        msg.dup = false;
        if msg.qos == QoS::AtMostOnce {
            if self.online && self.queue.is_empty() {
                self.queues().transmit.push_back(Packet::Publish(msg));
            } else if (self.online || self.config.queue_qos0_offline) && self.queue_has_room() {
                self.queue.push_back((seq, msg));
            } else {
                self.queues().events.push_back(Event::Dropped(msg));
            }
            return seq;
        }
        if !self.queue.is_empty() || !self.window_open() {
            if !self.queue_has_room() {
                self.queues().events.push_back(Event::Dropped(msg));
                return seq;
            }
            self.store(|| StoreChange::OutgoingQueued {
                seq,
                publish: msg.clone(),
            });
            self.queue.push_back((seq, msg));
            return seq;
        }
        self.store(|| StoreChange::OutgoingQueued {
            seq,
            publish: msg.clone(),
        });
        match self.next_free_id() {
            Some(packet_id) => self.send_new(seq, msg, packet_id),
            None => self.queue.push_back((seq, msg)),
        }
        seq
    }

    /// Queues a packet the session does not track (SUBSCRIBE, UNSUBSCRIBE, DISCONNECT,
    /// AUTH, a broker's SUBACK, …) for `poll_transmit`, in order with everything else.
    pub fn send(&mut self, packet: Packet) {
        self.queues().transmit.push_back(packet);
    }

    /// A packet id for SUBSCRIBE/UNSUBSCRIBE that collides with nothing in flight; it is
    /// freed when the matching SUBACK/UNSUBACK arrives (or by `release_packet_id`).
    /// `None` when all 65,535 are in use.
    pub fn allocate_packet_id(&mut self) -> Option<u16> {
        let id = self.next_free_id()?;
        self.ids().reserved.insert(id, ());
        Some(id)
    }

    /// Frees an id from `allocate_packet_id` whose answer will never come.
    pub fn release_packet_id(&mut self, packet_id: u16) {
        self.release_reserved(packet_id);
    }

    /// Takes one packet from the peer. An `Err` is a protocol violation: send DISCONNECT
    /// with `err.reason_code()` (MQTT 5) and close.
    pub fn handle_packet(&mut self, packet: Packet, now: Instant) -> Result<(), ProtocolError> {
        self.keep_alive.on_received(now);
        match packet {
            Packet::Publish(publish) => self.on_publish(publish)?,
            Packet::PubAck(ack) => self.on_puback(ack),
            Packet::PubRec(rec) => self.on_pubrec(rec),
            Packet::PubRel(rel) => self.on_pubrel(rel),
            Packet::PubComp(comp) => self.on_pubcomp(comp),
            Packet::PingReq => match self.config.role {
                Role::Server => self.queues().transmit.push_back(Packet::PingResp),
                Role::Client => return Err(ProtocolError::Protocol("PINGREQ sent by a server")),
            },
            Packet::PingResp => match self.config.role {
                Role::Client => self.keep_alive.on_ping_response(),
                Role::Server => return Err(ProtocolError::Protocol("PINGRESP sent by a client")),
            },
            Packet::SubAck(ref ack) => {
                self.release_reserved(ack.packet_id);
                self.queues().events.push_back(Event::Other(packet));
            }
            Packet::UnsubAck(ref ack) => {
                self.release_reserved(ack.packet_id);
                self.queues().events.push_back(Event::Other(packet));
            }
            other => self.queues().events.push_back(Event::Other(other)),
        }
        Ok(())
    }

    /// Runs the keep-alive timer; call when `poll_timeout`'s instant has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.online {
            return;
        }
        let (role, interval) = (self.config.role, self.config.keep_alive);
        match self.keep_alive.on_timeout(role, interval, now) {
            Action::None => {}
            Action::SendPing => self.queues().transmit.push_back(Packet::PingReq),
            Action::PeerGone => self.queues().events.push_back(Event::PeerTimedOut),
        }
    }

    /// The next packet to write. Write it (after the events before it were handled).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Packet> {
        let packet = self.queues.as_mut()?.transmit.pop_front()?;
        if matches!(packet, Packet::PubAck(_)) {
            self.unsent_pubacks = self.unsent_pubacks.saturating_sub(1);
        }
        self.keep_alive.on_sent(now);
        Some(packet)
    }

    /// The next event for the owner.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.queues.as_mut()?.events.pop_front()
    }

    /// When `handle_timeout` must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.online {
            return None;
        }
        self.keep_alive
            .deadline(self.config.role, self.config.keep_alive)
    }

    /// True while a network connection serves the session (from `new` or `resume`
    /// until `disconnected`).
    pub fn is_online(&self) -> bool {
        self.online
    }

    /// The network connection is gone. Packets not yet written are discarded (the
    /// flows are resumed by `resume`); new messages queue up (QoS 0: see
    /// `queue_qos0_offline`); timers stop.
    pub fn disconnected(&mut self) {
        self.online = false;
        if let Some(q) = &mut self.queues {
            q.transmit.clear();
        }
        self.unsent_pubacks = 0;
        if let Some(ids) = &mut self.ids {
            ids.aliases.clear();
        }
    }

    /// A new network connection for a session the peer kept (CONNACK session present,
    /// or a broker resuming a client's session): every unacknowledged PUBLISH is resent
    /// with DUP set and every PUBREL again, with their original packet ids, in their
    /// original order (MQTT 3.1.1 §4.4, MQTT 5.0 §4.4); then the queue moves on.
    pub fn resume(&mut self, config: SessionConfig, now: Instant) {
        self.reconnect(config, now);
        let mut flows: Vec<&Outgoing> = self.inflight.values().collect();
        flows.sort_by_key(|out| out.seq);
        let resend: Vec<Packet> = flows
            .into_iter()
            .map(|out| match out.stage {
                Awaiting::Ack | Awaiting::Rec => Packet::Publish(Publish {
                    dup: true,
                    ..out.publish.clone()
                }),
                Awaiting::Comp => Packet::PubRel(PubResponse::new(out.publish.packet_id)),
            })
            .collect();
        self.queues().transmit.extend(resend);
        self.fill_window();
    }

    /// A new network connection where the peer has no session (CONNACK session present
    /// 0): incoming QoS 2 state is forgotten; QoS 2 messages the peer already took
    /// (PUBREC) are finished; the other unacknowledged messages are sent again as new
    /// messages, in order, before the queue.
    pub fn restart(&mut self, config: SessionConfig, now: Instant) {
        self.reconnect(config, now);
        let released: Vec<u16> = match &mut self.ids {
            Some(ids) => ids.incoming_qos2.drain().map(|(id, ())| id).collect(),
            None => Vec::new(),
        };
        for packet_id in released {
            self.store(|| StoreChange::IncomingReleased { packet_id });
        }
        let mut flows: Vec<Outgoing> = self.inflight.drain().map(|(_, out)| out).collect();
        flows.sort_by_key(|out| std::cmp::Reverse(out.seq));
        for out in flows {
            if out.stage == Awaiting::Comp {
                self.finish(out, ReasonCode::Success);
            } else {
                self.queue.push_front((
                    out.seq,
                    Publish {
                        packet_id: 0,
                        dup: false,
                        ..out.publish
                    },
                ));
            }
        }
        self.fill_window();
    }

    /// Our QoS 1/2 messages sent and not yet finished.
    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    /// Messages waiting for a send-window slot or the connection.
    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// True when nothing is in flight, queued or waiting to be written: every message
    /// given to `publish` is finished.
    pub fn is_idle(&self) -> bool {
        self.inflight.is_empty()
            && self.queue.is_empty()
            && self.queues.as_ref().is_none_or(|q| q.transmit.is_empty())
    }

    /// Gives back the memory of the transmit and event queues while they are empty (a
    /// `Packet` is ~860 bytes, so each keeps ~3.4 KB once used): the broker calls this
    /// for quiet connections, to keep the memory per idle connection small.
    pub fn shrink_buffers(&mut self) {
        if self.ids.as_ref().is_some_and(|ids| ids.is_empty()) {
            self.ids = None;
        }
        if let Some(q) = &mut self.queues {
            match (q.transmit.is_empty(), q.events.is_empty()) {
                (true, true) => self.queues = None,
                (transmit, events) => {
                    if transmit {
                        q.transmit.shrink_to_fit();
                    }
                    if events {
                        q.events.shrink_to_fit();
                    }
                }
            }
        }
    }

    fn reconnect(&mut self, config: SessionConfig, now: Instant) {
        self.keep_alive = KeepAlive::new(now);
        self.config = config;
        self.online = true;
        if let Some(q) = &mut self.queues {
            q.transmit.clear();
        }
        self.unsent_pubacks = 0;
        if let Some(ids) = &mut self.ids {
            ids.aliases.clear();
        }
    }

    fn on_puback(&mut self, ack: PubResponse) {
        match self.inflight.get(&ack.packet_id) {
            Some(out) if out.stage == Awaiting::Ack => {
                let out = self
                    .inflight
                    .remove(&ack.packet_id)
                    .expect("looked up just above");
                self.finish(out, ack.reason_code);
                self.fill_window();
            }
            // An ack for nothing we sent (a late duplicate): nothing to do.
            _ => {}
        }
    }

    fn on_pubrec(&mut self, rec: PubResponse) {
        let id = rec.packet_id;
        let Some(out) = self.inflight.get_mut(&id) else {
            // MQTT 5.0 §4.3.3: answer an unknown id with PUBREL 0x92 so the peer can finish.
            let rel = self.response(id, ReasonCode::PacketIdentifierNotFound);
            self.queues().transmit.push_back(Packet::PubRel(rel));
            return;
        };
        match out.stage {
            Awaiting::Rec if rec.reason_code.is_success() => {
                out.stage = Awaiting::Comp;
                let seq = out.seq;
                self.store(|| StoreChange::OutgoingReleased { seq });
                self.queues()
                    .transmit
                    .push_back(Packet::PubRel(PubResponse::new(id)));
            }
            Awaiting::Rec => {
                // A PUBREC with a failure code ends the flow (MQTT 5.0 §4.3.3).
                let out = self.inflight.remove(&id).expect("looked up just above");
                self.finish(out, rec.reason_code);
                self.fill_window();
            }
            Awaiting::Comp => self
                .queues()
                .transmit
                .push_back(Packet::PubRel(PubResponse::new(id))),
            Awaiting::Ack => {}
        }
    }

    fn on_pubcomp(&mut self, comp: PubResponse) {
        match self.inflight.get(&comp.packet_id) {
            Some(out) if out.stage == Awaiting::Comp => {
                let out = self
                    .inflight
                    .remove(&comp.packet_id)
                    .expect("looked up just above");
                // The PUBREC accepted the message. PUBCOMP's one failure, 0x92, answers a
                // PUBREL resent after a reconnect whose first PUBCOMP was lost: "not an
                // error during recovery" (MQTT 5.0 §3.7.2.1). The message was delivered.
                self.finish(out, ReasonCode::Success);
                self.fill_window();
            }
            _ => {}
        }
    }

    /// A response carrying `code` on MQTT 5; on 3.1.1 there are no reason codes.
    pub(super) fn response(&self, packet_id: u16, code: ReasonCode) -> PubResponse {
        let mut response = PubResponse::new(packet_id);
        if self.config.version == ProtocolVersion::V5 {
            response.reason_code = code;
        }
        response
    }

    fn finish(&mut self, out: Outgoing, reason_code: ReasonCode) {
        let seq = out.seq;
        self.store(|| StoreChange::OutgoingDone { seq });
        self.queues().events.push_back(Event::Delivered {
            seq,
            packet_id: out.publish.packet_id,
            qos: out.publish.qos,
            reason_code,
        });
    }

    fn window_open(&self) -> bool {
        self.online && self.inflight.len() < usize::from(self.config.send_maximum.max(1))
    }

    fn queue_has_room(&self) -> bool {
        self.config
            .max_queued
            .is_none_or(|max| self.queue.len() < max)
    }

    /// Sends `msg` with a free packet id and puts it in flight.
    fn send_new(&mut self, seq: u64, mut msg: Publish, packet_id: u16) {
        msg.packet_id = packet_id;
        self.store(|| StoreChange::OutgoingSent { seq, packet_id });
        let stage = if msg.qos == QoS::AtLeastOnce {
            Awaiting::Ack
        } else {
            Awaiting::Rec
        };
        self.queues()
            .transmit
            .push_back(Packet::Publish(msg.clone()));
        self.inflight.insert(
            packet_id,
            Outgoing {
                seq,
                publish: msg,
                stage,
            },
        );
    }

    /// Moves queued messages out while the window has room.
    fn fill_window(&mut self) {
        while self.online {
            let Some((seq, msg)) = self.queue.pop_front() else {
                break;
            };
            if msg.qos == QoS::AtMostOnce {
                self.queues().transmit.push_back(Packet::Publish(msg));
                continue;
            }
            let packet_id = if self.window_open() {
                self.next_free_id()
            } else {
                None
            };
            match packet_id {
                Some(packet_id) => self.send_new(seq, msg, packet_id),
                None => {
                    self.queue.push_front((seq, msg));
                    break;
                }
            }
        }
    }

    fn next_free_id(&mut self) -> Option<u16> {
        let reserved = self.ids.as_ref().map_or(0, |ids| ids.reserved.len());
        if self.inflight.len() + reserved >= usize::from(u16::MAX) {
            return None;
        }
        loop {
            let id = self.next_packet_id;
            self.next_packet_id = if id == u16::MAX { 1 } else { id + 1 };
            let is_reserved = self
                .ids
                .as_ref()
                .is_some_and(|ids| ids.reserved.contains_key(&id));
            if !self.inflight.contains_key(&id) && !is_reserved {
                return Some(id);
            }
        }
    }

    /// The transmit and event queues, made on first use.
    fn queues(&mut self) -> &mut Queues {
        self.queues.get_or_insert_with(Box::default)
    }

    /// The packet-id and alias state, made on first use.
    fn ids(&mut self) -> &mut Ids {
        self.ids.get_or_insert_with(Box::default)
    }

    fn release_reserved(&mut self, packet_id: u16) {
        if let Some(ids) = &mut self.ids {
            ids.reserved.remove(&packet_id);
        }
    }

    /// Removes an incoming QoS 2 packet id; true when it was there.
    pub(super) fn release_incoming(&mut self, packet_id: u16) -> bool {
        self.ids
            .as_mut()
            .is_some_and(|ids| ids.incoming_qos2.remove(&packet_id).is_some())
    }

    /// How many incoming QoS 2 packet ids await PUBREL.
    pub(super) fn incoming_qos2_len(&self) -> usize {
        self.ids.as_ref().map_or(0, |ids| ids.incoming_qos2.len())
    }

    pub(super) fn store(&mut self, change: impl FnOnce() -> StoreChange) {
        if self.config.persist {
            self.queues().events.push_back(Event::Store(change()));
        }
    }
}

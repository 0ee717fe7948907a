//! Incoming PUBLISH and PUBREL: delivery, acknowledgements, QoS 2 deduplication
//! (MQTT 5.0 §4.3.3), the receive maximum (§4.9) and topic aliases (§3.3.2.3.4).
//! Part of `Session`; must not touch the outgoing flows.

use super::{Event, Session, StoreChange};
use crate::protocol::error::ProtocolError;
use crate::protocol::packet::{Packet, ProtocolVersion, PubResponse, Publish, QoS};
use crate::protocol::reason::ReasonCode;

impl Session {
    pub(super) fn on_publish(&mut self, mut publish: Publish) -> Result<(), ProtocolError> {
        self.resolve_topic_alias(&mut publish)?;
        let packet_id = publish.packet_id;
        match publish.qos {
            QoS::AtMostOnce => self.queues().events.push_back(Event::Message(publish)),
            QoS::AtLeastOnce => {
                self.check_receive_maximum()?;
                self.queues().events.push_back(Event::Message(publish));
                self.queues()
                    .transmit
                    .push_back(Packet::PubAck(PubResponse::new(packet_id)));
                self.unsent_pubacks = self.unsent_pubacks.saturating_add(1);
            }
            QoS::ExactlyOnce => {
                // Already delivered, PUBREL pending: the peer resends because our PUBREC
                // was lost. Acknowledge again, deliver nothing (MQTT 5.0 §4.3.3).
                let pending = self
                    .ids
                    .as_ref()
                    .is_some_and(|ids| ids.incoming_qos2.contains_key(&packet_id));
                if !pending {
                    self.check_receive_maximum()?;
                    self.ids().incoming_qos2.insert(packet_id, ());
                    // Delivered, then recorded: a broker stores the two together (its
                    // `Persistence::begin_group`), so a crash keeps both or neither.
                    self.queues().events.push_back(Event::Message(publish));
                    self.store(|| StoreChange::IncomingReceived { packet_id });
                }
                self.queues()
                    .transmit
                    .push_back(Packet::PubRec(PubResponse::new(packet_id)));
            }
        }
        Ok(())
    }

    /// Refuses the incoming QoS 1/2 message `packet_id` just reported as
    /// `Event::Message`: its PUBACK or PUBREC, not sent yet, carries `reason` instead of
    /// success (MQTT 5.0 §3.4.2.1, §3.5.2.1), e.g. 0x87 when the broker's ACL denies the
    /// topic. A refused QoS 2 message ends its flow (§4.3.3): no PUBREL is awaited.
    /// MQTT 3.1.1 has no reason codes, so there the acknowledgement stays a success.
    pub fn refuse_incoming(&mut self, packet_id: u16, reason: ReasonCode) {
        self.ack_incoming_with(packet_id, reason);
    }

    /// Like `refuse_incoming`, for any reason code a PUBACK or PUBREC may carry: one
    /// below 0x80 (0x10 No matching subscribers) accepts the message, so a QoS 2 flow
    /// goes on to PUBREL/PUBCOMP; 0x80 and above refuse it.
    pub fn ack_incoming_with(&mut self, packet_id: u16, reason: ReasonCode) {
        if self.config.version != ProtocolVersion::V5 {
            return;
        }
        let Some(queues) = self.queues.as_mut() else {
            return;
        };
        for packet in queues.transmit.iter_mut().rev() {
            match packet {
                Packet::PubAck(ack) if ack.packet_id == packet_id => {
                    ack.reason_code = reason;
                    return;
                }
                Packet::PubRec(rec) if rec.packet_id == packet_id => {
                    rec.reason_code = reason;
                    if !reason.is_success() && self.release_incoming(packet_id) {
                        self.store(|| StoreChange::IncomingReleased { packet_id });
                    }
                    return;
                }
                _ => {}
            }
        }
    }

    pub(super) fn resolve_topic_alias(
        &mut self,
        publish: &mut Publish,
    ) -> Result<(), ProtocolError> {
        let Some(alias) = publish.properties.topic_alias.take() else {
            if publish.topic.is_empty() {
                return Err(ProtocolError::TopicNameInvalid(
                    "empty topic name without a topic alias",
                ));
            }
            return Ok(());
        };
        if self.config.version != ProtocolVersion::V5
            || alias == 0
            || alias > self.config.topic_alias_maximum
        {
            return Err(ProtocolError::TopicAliasInvalid(
                "topic alias is 0 or above the maximum",
            ));
        }
        if publish.topic.is_empty() {
            match self.ids.as_ref().and_then(|ids| ids.aliases.get(&alias)) {
                Some(topic) => publish.topic = topic.clone(),
                None => {
                    return Err(ProtocolError::Protocol(
                        "topic alias used before it was set",
                    ))
                }
            }
        } else {
            self.ids().aliases.insert(alias, publish.topic.clone());
        }
        Ok(())
    }

    /// MQTT 5.0 §4.9: the peer may have at most our receive maximum QoS 1/2 PUBLISH
    /// packets unacknowledged (a QoS 2 one until we send PUBCOMP).
    pub(super) fn check_receive_maximum(&self) -> Result<(), ProtocolError> {
        let unacknowledged = self.incoming_qos2_len() + self.unsent_pubacks as usize;
        if self.config.version == ProtocolVersion::V5
            && unacknowledged >= usize::from(self.config.receive_maximum)
        {
            return Err(ProtocolError::ReceiveMaximumExceeded);
        }
        Ok(())
    }

    pub(super) fn on_pubrel(&mut self, rel: PubResponse) {
        let id = rel.packet_id;
        if self.release_incoming(id) {
            self.store(|| StoreChange::IncomingReleased { packet_id: id });
            self.queues()
                .transmit
                .push_back(Packet::PubComp(PubResponse::new(id)));
        } else {
            let comp = self.response(id, ReasonCode::PacketIdentifierNotFound);
            self.queues().transmit.push_back(Packet::PubComp(comp));
        }
    }
}

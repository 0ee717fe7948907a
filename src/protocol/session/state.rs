//! What a client-side session store keeps of a `Session`: the changes the session
//! reports (`StoreChange`, emitted as `Event::Store` when `SessionConfig::persist` is
//! on) and the state rebuilt from them (`PersistedState`, given to `Session::restore`).
//! Must not know how or where the changes are written.

use std::collections::{BTreeMap, BTreeSet};

use crate::protocol::packet::Publish;

/// One change of the durable part of a session, in the order it happened. A store
/// that applies them in order (and writes them before the packets that follow are
/// sent) can rebuild the session after the process dies.
#[allow(clippy::large_enum_variant)] // moved once, from the session to the store
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChange {
    /// An outgoing QoS 1/2 message was accepted; `publish.packet_id` is still 0.
    OutgoingQueued {
        /// Order of acceptance; keys the message in the changes that follow.
        seq: u64,
        /// The message.
        publish: Publish,
    },
    /// The message got its packet identifier and is about to be sent.
    OutgoingSent {
        /// The message.
        seq: u64,
        /// Its packet identifier.
        packet_id: u16,
    },
    /// PUBREC arrived for this QoS 2 message; PUBREL follows (never resend the PUBLISH).
    OutgoingReleased {
        /// The message.
        seq: u64,
    },
    /// The message is done: acknowledged, refused by the peer, or dropped.
    OutgoingDone {
        /// The message.
        seq: u64,
    },
    /// An incoming QoS 2 PUBLISH was delivered; its identifier awaits PUBREL.
    IncomingReceived {
        /// The peer's packet identifier.
        packet_id: u16,
    },
    /// PUBREL arrived: the identifier is free again.
    IncomingReleased {
        /// The peer's packet identifier.
        packet_id: u16,
    },
}

/// An outgoing message as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistedOutgoing {
    /// Order of acceptance.
    pub seq: u64,
    /// The message; `packet_id` is 0 while it waits for a send-window slot.
    pub publish: Publish,
    /// QoS 2: PUBREC was received, only PUBREL/PUBCOMP remain.
    pub released: bool,
}

/// The durable state of a session: what `Session::restore` starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersistedState {
    /// Unfinished outgoing QoS 1/2 messages, by `seq`.
    pub outgoing: BTreeMap<u64, PersistedOutgoing>,
    /// Incoming QoS 2 packet identifiers awaiting PUBREL.
    pub incoming_qos2: BTreeSet<u16>,
}

impl PersistedState {
    /// Applies one change. Changes about unknown messages are ignored, so replaying a
    /// log that was compacted in the middle of a flow is harmless.
    pub fn apply(&mut self, change: &StoreChange) {
        match change {
            StoreChange::OutgoingQueued { seq, publish } => {
                let publish = Publish {
                    packet_id: 0,
                    dup: false,
                    ..publish.clone()
                };
                self.outgoing.insert(
                    *seq,
                    PersistedOutgoing {
                        seq: *seq,
                        publish,
                        released: false,
                    },
                );
            }
            StoreChange::OutgoingSent { seq, packet_id } => {
                if let Some(out) = self.outgoing.get_mut(seq) {
                    out.publish.packet_id = *packet_id;
                }
            }
            StoreChange::OutgoingReleased { seq } => {
                if let Some(out) = self.outgoing.get_mut(seq) {
                    out.released = true;
                }
            }
            StoreChange::OutgoingDone { seq } => {
                self.outgoing.remove(seq);
            }
            StoreChange::IncomingReceived { packet_id } => {
                self.incoming_qos2.insert(*packet_id);
            }
            StoreChange::IncomingReleased { packet_id } => {
                self.incoming_qos2.remove(packet_id);
            }
        }
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.outgoing.is_empty() && self.incoming_qos2.is_empty()
    }
}

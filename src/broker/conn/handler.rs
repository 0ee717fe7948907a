//! What a connection does with each packet once the session state machine has taken
//! it: a short dispatch (`drive`) calling `on_message`, `on_subscribe`,
//! `on_unsubscribe`, `on_disconnect`, and `deliver` for messages going out.
//! Must not do I/O: it fills the session's transmit queue and returns why to close.

use std::sync::Arc;
use std::time::Instant;

use crate::broker::conn::connection::{Conn, End};
use crate::broker::conn::fixture::CONTROL_PREFIX;
use crate::broker::limits;
use crate::broker::route::message::{Delivery, Message, SubOptions};
use crate::protocol::session::Event;
use crate::protocol::{
    topic, Packet, ProtocolVersion, Publish, QoS, ReasonCode, RetainHandling, SubAck, Subscribe,
    Subscription, UnsubAck, Unsubscribe,
};
use smol_str::SmolStr;

impl Conn {
    /// Handles the session's events, then encodes what it wants sent. Events come
    /// first: acknowledgements go out only after the message was routed.
    pub(super) fn drive(&mut self, now: Instant) -> Result<(), End> {
        while let Some(event) = self.kept.session.poll_event() {
            self.on_event(event, now)?;
        }
        while let Some(packet) = self.kept.session.poll_transmit(now) {
            self.encode(packet);
        }
        if self.tap.is_some() {
            // An outgoing fault may have ended the connection (`fixture.rs`).
            if let Some(end) = self.tap_end() {
                return Err(end);
            }
        }
        Ok(())
    }

    fn on_event(&mut self, event: Event, now: Instant) -> Result<(), End> {
        match event {
            Event::Message(publish) if publish.qos == QoS::ExactlyOnce => {
                self.on_qos2_message(publish, now)?
            }
            Event::Message(publish) => self.on_message(publish, now)?,
            Event::Delivered { seq, .. } => {
                if let Some(inflight) = &mut self.kept.shared_inflight {
                    inflight.remove(&seq);
                }
            }
            Event::Dropped(publish) => self.on_dropped(&publish),
            Event::PeerTimedOut => return Err(End::KeepAlive),
            Event::Other(packet) => self.on_other(packet, now)?,
            Event::Store(change) => self.on_store(change),
        }
        Ok(())
    }

    fn on_other(&mut self, packet: Packet, now: Instant) -> Result<(), End> {
        match packet {
            Packet::Subscribe(subscribe) => self.on_subscribe(subscribe, now),
            Packet::Unsubscribe(unsubscribe) => {
                self.on_unsubscribe(unsubscribe);
                Ok(())
            }
            Packet::Disconnect(disconnect) => self.on_disconnect(disconnect),
            // MQTT 5.0 §4.12: we offer no authentication method, so any AUTH is for a
            // method we do not know.
            Packet::Auth(_) => Err(End::Error(
                ReasonCode::BadAuthenticationMethod,
                "no authentication method is supported".into(),
            )),
            other => Err(End::Error(
                ReasonCode::ProtocolError,
                format!("a client must not send {}", other.name()),
            )),
        }
    }

    /// A QoS 2 message routed, and the session's next event, the record of its packet id
    /// (`StoreChange::IncomingReceived`), stored in one group (`Persistence::begin_group`):
    /// a crash keeps the subscribers' copies and the record together or neither, so the
    /// publisher's resend after a restart is routed once (and not zero times).
    fn on_qos2_message(&mut self, publish: Publish, now: Instant) -> Result<(), End> {
        let persistence = self.shared.config.persistence.clone();
        persistence.begin_group();
        let routed = self.on_message(publish, now);
        let next = self.kept.session.poll_event();
        let rest = match next {
            Some(Event::Store(change)) => {
                self.on_store(change);
                None
            }
            other => other,
        };
        persistence.end_group();
        routed?;
        match rest {
            Some(event) => self.on_event(event, now),
            None => Ok(()),
        }
    }

    /// An incoming application message (after topic alias resolution and, for QoS 2,
    /// only once per packet id).
    fn on_message(&mut self, publish: Publish, now: Instant) -> Result<(), End> {
        topic::validate_topic_name(&publish.topic)?;
        if publish.topic.starts_with(CONTROL_PREFIX) {
            // Not a message: a command to the broker, never routed (`fixture.rs`).
            self.on_control(publish, now);
            return Ok(());
        }
        let id = &self.identity.client_id;
        if publish.topic.starts_with("$SYS") {
            // MQTT 5.0 §4.7.2: clients should not be able to publish into $SYS.
            self.shared.log(
                1,
                format_args!("Client {id} published to {}: ignored", &*publish.topic),
            );
            if publish.qos != QoS::AtMostOnce {
                // As mosquitto 2: MQTT 5 PUBACK/PUBREC 0x87 (3.1.1: a plain ack).
                self.kept
                    .session
                    .refuse_incoming(publish.packet_id, ReasonCode::NotAuthorized);
            }
            return Ok(());
        }
        if let Err(code) = limits::check_topic(&self.shared.config, id, &publish.topic) {
            if publish.qos != QoS::AtMostOnce {
                self.kept.session.refuse_incoming(publish.packet_id, code);
            }
            return Ok(());
        }
        if !self
            .shared
            .config
            .auth
            .can_publish(&self.identity, &publish.topic)
        {
            self.shared.log(
                1,
                format_args!("Denied PUBLISH from {id} to {}", &*publish.topic),
            );
            if publish.qos != QoS::AtMostOnce {
                // MQTT 5: PUBACK/PUBREC 0x87 tells the client (3.1.1: dropped silently).
                self.kept
                    .session
                    .refuse_incoming(publish.packet_id, ReasonCode::NotAuthorized);
            }
            return Ok(());
        }
        self.shared.log(
            2,
            format_args!(
                "Received PUBLISH from {id} (d{}, q{}, r{}, m{}, '{}', ... ({} bytes))",
                u8::from(publish.dup),
                publish.qos as u8,
                u8::from(publish.retain),
                publish.packet_id,
                &*publish.topic,
                publish.payload.len()
            ),
        );
        let (qos, packet_id) = (publish.qos, publish.packet_id);
        let msg = Message::from_publish(publish, self.kept.session_id, now);
        // A live subscriber's full queue: `run_loop` waits for room before reading on.
        let (blocked, matched) = self.shared.publish_or_block(msg, now);
        if !blocked.is_empty() {
            self.extra().blocked.extend(blocked);
        }
        if !matched && qos != QoS::AtMostOnce {
            // MQTT 5.0 §3.4.2.1, §3.5.2.1: "the message is accepted but there are no
            // subscribers" (mosquitto 2 says so in its PUBACK; 3.1.1: plain ack).
            self.kept
                .session
                .ack_incoming_with(packet_id, ReasonCode::NoMatchingSubscribers);
        }
        Ok(())
    }

    fn on_dropped(&mut self, publish: &Publish) {
        if publish.qos != QoS::AtMostOnce {
            // Outgoing messages come through the mailbox, so it exists.
            let dropped = self.kept.mailbox().map_or(1, |m| m.count_drop());
            self.shared
                .router
                .stats
                .dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.shared.log(
                1,
                format_args!(
                    "Outgoing messages are being dropped for client {} ({dropped} so far).",
                    self.identity.client_id
                ),
            );
        }
    }

    fn on_subscribe(&mut self, subscribe: Subscribe, now: Instant) -> Result<(), End> {
        let subscription_id = subscribe
            .properties
            .subscription_identifiers
            .first()
            .copied();
        let mut reason_codes = Vec::with_capacity(subscribe.subscriptions.len());
        let mut retained = Vec::new();
        for sub in &subscribe.subscriptions {
            if sub.no_local && topic::parse_shared(&sub.filter).is_some() {
                // MQTT 5.0 §3.8.3.1 [MQTT-3.8.3-4].
                return Err(End::Error(
                    ReasonCode::ProtocolError,
                    "no local on a shared subscription".into(),
                ));
            }
            let code = self.add_subscription(sub, subscription_id, now, &mut retained);
            self.shared.log(
                1,
                format_args!(
                    "{} {} {} ({code})",
                    self.identity.client_id, sub.qos as u8, sub.filter
                ),
            );
            reason_codes.push(code);
        }
        let mut ack = SubAck {
            packet_id: subscribe.packet_id,
            reason_codes,
            properties: Default::default(),
        };
        if self.version == ProtocolVersion::V311 {
            // MQTT 3.1.1 §3.9.3: 0x80 is the only failure code.
            for code in &mut ack.reason_codes {
                if !code.is_success() {
                    *code = ReasonCode::UnspecifiedError;
                }
            }
        }
        self.save_session(true);
        self.kept.session.send(Packet::SubAck(ack));
        for (msg, options) in retained {
            let qos = msg.qos.min(options.qos);
            let ids = options.subscription_id.into_iter().collect();
            let delivery = Delivery::new(msg, qos, true, ids, None);
            self.deliver(delivery, now);
        }
        Ok(())
    }

    /// One filter of a SUBSCRIBE: checked, authorized, added (its retained messages go
    /// to `retained`); the reason code for SUBACK.
    fn add_subscription(
        &mut self,
        sub: &Subscription,
        subscription_id: Option<u32>,
        now: Instant,
        retained: &mut Vec<(Arc<Message>, SubOptions)>,
    ) -> ReasonCode {
        if topic::validate_topic_filter(&sub.filter).is_err() {
            return ReasonCode::TopicFilterInvalid;
        }
        if let Err(code) = limits::check_subscription(
            &self.shared.config,
            &self.identity.client_id,
            &sub.filter,
            self.kept.subscriptions.len(),
            self.kept.subscriptions.contains_key(sub.filter.as_str()),
        ) {
            return code;
        }
        let auth = &self.shared.config.auth;
        if !auth.can_subscribe(&self.identity, &sub.filter) {
            return ReasonCode::NotAuthorized;
        }
        let (share, filter) = topic::split_shared(&sub.filter);
        if share.is_none()
            && filter.starts_with("$SYS")
            && sub.retain_handling != RetainHandling::DoNotSend
        {
            // Fresh values for the retained messages it is about to get (before it
            // subscribes: it gets them once, retained).
            self.shared.publish_sys(now);
        }
        let options = SubOptions {
            qos: sub.qos,
            no_local: sub.no_local,
            retain_as_published: sub.retain_as_published,
            subscription_id,
        };
        let (_, messages) = self.shared.router.subscribe_with_retained(
            filter,
            share,
            self.kept
                .mailbox_made(&self.identity.client_id, &self.shared.config),
            options,
            now,
            // Shared subscriptions get no retained messages (MQTT 5.0 §4.8.2).
            |existed| {
                share.is_none()
                    && match sub.retain_handling {
                        RetainHandling::SendOnSubscribe => true,
                        RetainHandling::SendIfNew => !existed,
                        RetainHandling::DoNotSend => false,
                    }
            },
        );
        self.kept
            .subscriptions
            .insert(SmolStr::new(&sub.filter), options);
        retained.extend(messages.into_iter().map(|msg| (msg, options)));
        granted(sub.qos)
    }

    fn on_unsubscribe(&mut self, unsubscribe: Unsubscribe) {
        let session_id = self.kept.session_id;
        let reason_codes = unsubscribe
            .filters
            .iter()
            .map(|f| {
                if topic::validate_topic_filter(f).is_err() {
                    // MQTT 5.0 §3.11.3 (the codec refuses it on 3.1.1).
                    return ReasonCode::TopicFilterInvalid;
                }
                let (share, filter) = topic::split_shared(f);
                let existed = self.kept.subscriptions.remove(f.as_str()).is_some();
                let removed = self.shared.router.unsubscribe(filter, share, session_id);
                self.shared.log(
                    1,
                    format_args!("{} unsubscribed from {f}", self.identity.client_id),
                );
                if existed || removed {
                    ReasonCode::Success
                } else {
                    ReasonCode::NoSubscriptionExisted
                }
            })
            .collect();
        let ack = UnsubAck {
            packet_id: unsubscribe.packet_id,
            reason_codes,
            properties: Default::default(),
        };
        self.save_session(true);
        self.kept.session.send(Packet::UnsubAck(ack));
    }

    fn on_disconnect(&mut self, disconnect: crate::protocol::Disconnect) -> Result<(), End> {
        if let Some(expiry) = disconnect.properties.session_expiry_interval {
            if self.session_expiry == 0 && expiry != 0 {
                // MQTT 5.0 §3.14.2.2.2 [MQTT-3.14.2-2].
                return Err(End::Error(
                    ReasonCode::ProtocolError,
                    "session expiry set in DISCONNECT after 0 in CONNECT".into(),
                ));
            }
            self.session_expiry = expiry;
        }
        Err(End::Disconnect {
            will: disconnect.reason_code == ReasonCode::DisconnectWithWill,
        })
    }

    /// Hands one message to the session for sending, unless it expired or is larger
    /// than the client accepts (then it is dropped for this client only, MQTT 5.0
    /// §3.1.2.11.4).
    pub(super) fn deliver(&mut self, delivery: Delivery, now: Instant) {
        if delivery.msg.is_expired(now)
            || !self
                .shared
                .config
                .auth
                .can_receive(&self.identity, &delivery.msg.topic)
        {
            self.drop_stored(&delivery);
            return;
        }
        let publish = delivery.to_publish(now);
        if self.client_max_packet != u32::MAX && self.too_big(&publish) {
            self.shared.log(
                1,
                format_args!(
                    "Dropped a message on {} for {}: larger than its maximum packet size",
                    &*publish.topic, self.identity.client_id
                ),
            );
            self.drop_stored(&delivery);
            return;
        }
        let qos = publish.qos;
        let seq = self.kept.session.publish(publish, now);
        if delivery.qid() != 0 {
            if qos == QoS::AtMostOnce {
                self.drop_stored(&delivery);
            } else {
                self.extra().pending_qids.insert(seq, delivery.qid());
            }
        }
        if delivery.group().is_some() && qos != QoS::AtMostOnce {
            self.kept
                .shared_inflight
                .get_or_insert_with(Box::default)
                .insert(seq, delivery);
        }
    }

    fn too_big(&self, publish: &Publish) -> bool {
        let mut probe = publish.clone();
        if probe.qos != QoS::AtMostOnce {
            probe.packet_id = 1;
        }
        let mut buf = bytes::BytesMut::new();
        match Packet::Publish(probe).encode(self.version, &mut buf) {
            Ok(()) => buf.len() > self.client_max_packet as usize,
            Err(_) => true,
        }
    }
}

fn granted(qos: QoS) -> ReasonCode {
    match qos {
        QoS::AtMostOnce => ReasonCode::Success,
        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
    }
}

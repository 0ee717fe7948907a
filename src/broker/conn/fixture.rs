//! The test-fixture features on a connection: each packet in either direction is
//! traced (`--trace`) and checked against the fault rules (`broker::fault`), and what
//! fired is applied here: a packet dropped, held (`delay`), doubled (`duplicate`), the
//! connection stalled, throttled, closed, or ended as by a takeover; a CONNECT refused
//! before the session starts (`connect_fault`); and `$CONTROL/mqtk/faults`, the rules
//! changed at run time. Only reached when `Conn::tap` is set (or for a `$CONTROL`
//! publish). Must not hold a lock across `.await`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Buf;
use tokio::io::AsyncWriteExt;

use crate::broker::conn::connection::{Conn, End};
use crate::broker::conn::tap::{FaultEnd, Tap};
use crate::broker::fault::{self, Action, Ctx, Dir, Source};
use crate::broker::route::message::Message;
use crate::broker::shared::{LogFields, Shared};
use crate::protocol::{Connect, Packet, Properties, Publish, QoS, ReasonCode};

/// The topic that changes the fault rules at run time (`--allow-control`).
pub(crate) const CONTROL_TOPIC: &str = "$CONTROL/mqtk/faults";
/// Publishes under this prefix are commands to this broker, never routed. Other
/// `$CONTROL/...` topics (mosquitto's dynamic security) stay ordinary topics.
pub(crate) const CONTROL_PREFIX: &str = "$CONTROL/mqtk/";

/// What a rule did to a CONNECT.
pub(super) enum ConnectFault {
    /// Nothing (or a delay, already waited).
    Pass,
    /// Refuse with this CONNACK code.
    Refuse(ReasonCode),
    /// Close without an answer.
    Close,
}

/// Checks a CONNECT against the fault rules (before its session starts).
pub(super) async fn connect_fault(
    shared: &Shared,
    connect: &Connect,
    peer: SocketAddr,
) -> ConnectFault {
    let Some(faults) = &shared.config.faults else {
        return ConnectFault::Pass;
    };
    // The rules see a CONNECT as a packet; it is rebuilt only when rules are on.
    let packet = Packet::Connect(connect.clone());
    let ctx = Ctx {
        client_id: &connect.client_id,
        username: connect.username.as_deref(),
        dir: Dir::In,
        packet: &packet,
    };
    let Some(rule) = faults.check(&ctx, Instant::now()) else {
        return ConnectFault::Pass;
    };
    log_fired(
        shared,
        &connect.client_id,
        Some(peer),
        &rule,
        &packet,
        Dir::In,
    );
    match rule.spec.action {
        Action::ConnAck(code) => ConnectFault::Refuse(code),
        Action::Close | Action::Drop => ConnectFault::Close,
        Action::Delay(d) => {
            tokio::time::sleep(d).await;
            ConnectFault::Pass
        }
        // The rule parser allows nothing else on CONNECT.
        _ => ConnectFault::Pass,
    }
}

fn log_fired(
    shared: &Shared,
    client_id: &str,
    address: Option<SocketAddr>,
    rule: &fault::Rule,
    packet: &Packet,
    dir: Dir,
) {
    let what = crate::output::packet_summary(packet);
    shared.log_with(
        1,
        LogFields {
            event: "fault",
            client_id: Some(client_id),
            address,
            reason: Some(format!("rule #{}: {}", rule.id, rule.spec.text)),
        },
        format_args!(
            "Fault rule #{} ({}) fired on {} {} of client {client_id}.",
            rule.id,
            rule.spec.text,
            if dir == Dir::In {
                "incoming"
            } else {
                "outgoing"
            },
            what
        ),
    );
}

impl Conn {
    /// Sets up the tap of a new connection and traces its CONNECT.
    pub(super) fn attach_tap(&mut self, connect: &Connect) {
        self.tap = Tap::for_client(&self.shared.config, &self.identity.client_id);
        if self.tap.as_ref().is_some_and(|t| t.trace.is_some()) {
            self.trace(Dir::In, &Packet::Connect(connect.clone()), None);
        }
    }

    fn trace(&self, dir: Dir, packet: &Packet, rule: Option<&fault::Rule>) {
        let Some(trace) = self.tap.as_ref().and_then(|t| t.trace.as_ref()) else {
            return;
        };
        let fault = rule.map(|r| format!("#{} {}", r.id, r.spec.text));
        trace.record(&self.identity.client_id, dir, packet, fault.as_deref());
    }

    fn check_fault(&self, dir: Dir, packet: &Packet) -> Option<Arc<fault::Rule>> {
        let faults = self.tap.as_ref()?.faults.as_ref()?;
        let ctx = Ctx {
            client_id: &self.identity.client_id,
            username: self.identity.username.as_deref(),
            dir,
            packet,
        };
        let rule = faults.check(&ctx, Instant::now())?;
        log_fired(
            &self.shared,
            &self.identity.client_id,
            Some(self.peer),
            &rule,
            packet,
            dir,
        );
        Some(rule)
    }

    fn tap_mut(&mut self) -> &mut Tap {
        self.tap.get_or_insert_with(Box::default)
    }

    /// An incoming packet through the tap: traced, checked; the packet to handle, or
    /// `None` when a fault took it (dropped, held), or the end a fault chose.
    pub(super) fn tap_in(&mut self, packet: Packet, now: Instant) -> Result<Option<Packet>, End> {
        let rule = self.check_fault(Dir::In, &packet);
        self.trace(Dir::In, &packet, rule.as_deref());
        let Some(rule) = rule else {
            return Ok(Some(packet));
        };
        match rule.spec.action {
            Action::Drop => Ok(None),
            Action::Delay(d) => {
                self.tap_mut().hold_until(now + d).held = Some(packet);
                Ok(None)
            }
            Action::Stall(d) => {
                self.tap_mut().hold_until(now + d);
                Ok(Some(packet))
            }
            Action::Throttle(rate) => {
                self.tap_mut().throttle = Some(rate);
                Ok(Some(packet))
            }
            Action::Close | Action::Disconnect(_) | Action::TakeOver => {
                Err(fault_end(&rule).into())
            }
            // Outgoing or CONNECT only (the rule parser sees to it).
            Action::ConnAck(_) | Action::Duplicate => Ok(Some(packet)),
        }
    }

    /// An outgoing packet through the tap: checked, encoded (into the hold while one is
    /// on), traced as it goes on the wire.
    pub(super) fn encode_tapped(&mut self, packet: Packet) {
        let rule = self.check_fault(Dir::Out, &packet);
        let action = rule.as_ref().map(|r| r.spec.action);
        match action {
            Some(Action::Drop) => return self.trace(Dir::Out, &packet, rule.as_deref()),
            Some(Action::Close | Action::Disconnect(_) | Action::TakeOver) => {
                let end = fault_end(rule.as_deref().expect("an action comes from a rule"));
                self.tap_mut().end = Some(end);
                return self.trace(Dir::Out, &packet, rule.as_deref());
            }
            Some(Action::Delay(d)) => {
                self.tap_mut().hold_until(Instant::now() + d);
            }
            Some(Action::Throttle(rate)) => self.tap_mut().throttle = Some(rate),
            _ => {}
        }
        let again = match (&packet, action) {
            (Packet::Publish(p), Some(Action::Duplicate)) => {
                let mut p = p.clone();
                p.dup = p.qos != QoS::AtMostOnce;
                Some(Packet::Publish(p))
            }
            _ => None,
        };
        self.encode_into_hold(packet, rule.as_deref());
        if let Some(again) = again {
            self.encode_into_hold(again, rule.as_deref());
        }
        if let Some(Action::Stall(d)) = action {
            // Sent now; silence after it.
            self.tap_mut().hold_until(Instant::now() + d);
        }
    }

    fn encode_into_hold(&mut self, packet: Packet, rule: Option<&fault::Rule>) {
        let held = self.tap.as_mut().and_then(|t| t.hold.as_mut());
        let wire = match held {
            Some(hold) => {
                std::mem::swap(&mut self.io.wbuf, &mut hold.out);
                let wire = self.encode_wire(packet);
                let hold = self.tap.as_mut().and_then(|t| t.hold.as_mut());
                let hold = hold.expect("encoding does not end the hold");
                std::mem::swap(&mut self.io.wbuf, &mut hold.out);
                wire
            }
            None => self.encode_wire(packet),
        };
        self.trace(Dir::Out, &wire, rule);
    }

    /// True while a fault stops the connection from decoding (a hold or an end).
    pub(super) fn tap_stops(&self) -> bool {
        self.tap.as_ref().is_some_and(|t| t.stops())
    }

    /// The end an outgoing fault chose, taken.
    pub(super) fn tap_end(&mut self) -> Option<End> {
        self.tap.as_mut()?.end.take().map(End::from)
    }

    /// The throttle in force, if a `throttle` fault fired on this connection.
    pub(super) fn throttle(&self) -> Option<u32> {
        self.tap.as_ref()?.throttle
    }

    /// Serves a hold: writes what went before it, waits (a takeover or shutdown ends
    /// the wait), then sends what was encoded meanwhile and handles the held packet
    /// and what was read behind it.
    pub(super) async fn serve_hold(&mut self) -> Result<(), End> {
        if let Some(end) = self.tap_end() {
            return Err(end);
        }
        let Some(hold) = self.tap.as_mut().and_then(|t| t.hold.take()) else {
            return Ok(());
        };
        if !self.io.wbuf.is_empty() {
            self.write_out().await?;
        }
        tokio::select! {
            biased;
            wake = self.signal.wait(false) => return Err(End::from(wake)),
            _ = tokio::time::sleep_until(hold.until.into()) => {}
        }
        self.io.wbuf.extend_from_slice(&hold.out);
        let now = Instant::now();
        if let Some(packet) = hold.held {
            self.kept.session.handle_packet(packet, now)?;
            self.drive(now)?;
        }
        if self.tap_stops() {
            return Ok(());
        }
        self.decode_all(now)
    }

    /// `throttle`: writes the buffer at `rate` bytes per second, in tenths of a second;
    /// a takeover or shutdown meanwhile ends the connection.
    pub(super) async fn write_throttled(&mut self, rate: u32) -> Result<(), End> {
        let chunk = (rate as usize / 10).max(1);
        let Conn { io, signal, .. } = self;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        while !io.wbuf.is_empty() {
            tokio::select! {
                biased;
                wake = signal.wait(false) => return Err(End::from(wake)),
                _ = tick.tick() => {}
            }
            let n = chunk.min(io.wbuf.len());
            let write = io.stream.write_all(&io.wbuf[..n]);
            tokio::select! {
                biased;
                wake = signal.wait(false) => return Err(End::from(wake)),
                written = write => written.map_err(|e| End::Network(e.to_string()))?,
            }
            io.wbuf.advance(n);
            self.shared
                .router
                .stats
                .bytes_sent
                .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
        Pin::new(&mut io.stream)
            .flush()
            .await
            .map_err(|e| End::Network(e.to_string()))
    }

    /// A PUBLISH under `$CONTROL/mqtk/`; `$CONTROL/mqtk/faults` takes `add RULE`, `remove RULE|#N|all` or `list`,
    /// allowed with `--allow-control` to clients the ACL lets publish there. The
    /// answer goes to the MQTT 5 response topic, if any, and into the PUBACK/PUBREC
    /// reason code (0x83 for a bad command, 0x87 when not allowed).
    pub(super) fn on_control(&mut self, publish: Publish, now: Instant) {
        let id = self.identity.client_id.clone();
        let allowed = self
            .shared
            .config
            .faults
            .as_ref()
            .filter(|f| f.allow_control);
        let permitted = self
            .shared
            .config
            .auth
            .can_publish(&self.identity, &publish.topic);
        let (code, answer) = match (allowed, permitted, &*publish.topic) {
            (Some(faults), true, CONTROL_TOPIC) => control(faults, &publish.payload, now),
            (None, _, _) => (
                ReasonCode::NotAuthorized,
                "refused: start mqtk serve with --allow-control".to_string(),
            ),
            (Some(_), false, _) => (
                ReasonCode::NotAuthorized,
                format!("refused: the ACL does not let {id} publish to {CONTROL_TOPIC}"),
            ),
            (Some(_), true, _) => (
                ReasonCode::TopicNameInvalid,
                format!("unknown control topic; use {CONTROL_TOPIC}"),
            ),
        };
        self.shared.log_with(
            1,
            LogFields {
                event: "control",
                client_id: Some(&id),
                address: Some(self.peer),
                reason: Some(answer.clone()),
            },
            format_args!("Control from {id} on {}: {answer}", &*publish.topic),
        );
        if publish.qos != QoS::AtMostOnce {
            if code.is_success() {
                self.kept.session.ack_incoming_with(publish.packet_id, code);
            } else {
                self.kept.session.refuse_incoming(publish.packet_id, code);
            }
        }
        if let Some(topic) = publish.properties.response_topic.clone() {
            let properties = Properties {
                correlation_data: publish.properties.correlation_data.clone(),
                ..Properties::default()
            };
            let reply = Message {
                topic,
                payload: answer.into_bytes().into(),
                qos: QoS::AtMostOnce,
                retain: false,
                properties,
                publisher: 0,
                received_at: now,
            };
            self.shared.publish(reply, now);
        }
    }
}

/// Runs one control command; the reason code and the answer.
fn control(faults: &fault::Faults, payload: &[u8], now: Instant) -> (ReasonCode, String) {
    let text = String::from_utf8_lossy(payload);
    let text = text.trim();
    let (verb, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    match verb {
        "add" => match fault::rule::parse(rest) {
            Ok(spec) => {
                let ids = faults.add(vec![spec], Source::Control, now);
                (ReasonCode::Success, format!("added rule #{}", ids[0]))
            }
            Err(e) => (ReasonCode::ImplementationSpecificError, e.to_string()),
        },
        "remove" => match faults.remove(rest) {
            0 => (
                ReasonCode::ImplementationSpecificError,
                format!("no rule `{}` to remove", rest.trim()),
            ),
            n => (ReasonCode::Success, format!("removed {n} rule(s)")),
        },
        "list" => {
            let lines: Vec<String> = faults
                .rules()
                .iter()
                .map(|r| format!("#{} {} (fired {})", r.id, r.spec.text, r.fired()))
                .collect();
            (ReasonCode::Success, lines.join("\n"))
        }
        _ => (
            ReasonCode::ImplementationSpecificError,
            format!("unknown command `{verb}`; use add RULE, remove RULE|#N|all, or list"),
        ),
    }
}

fn fault_end(rule: &fault::Rule) -> FaultEnd {
    let why = format!("fault rule #{} ({})", rule.id, rule.spec.text);
    match rule.spec.action {
        Action::Disconnect(code) => FaultEnd {
            reason: Some(code),
            takeover: false,
            why,
        },
        Action::TakeOver => FaultEnd {
            reason: Some(ReasonCode::SessionTakenOver),
            takeover: true,
            why,
        },
        _ => FaultEnd {
            reason: None,
            takeover: false,
            why,
        },
    }
}

//! The task behind a `Client`: owns the connection, the `Session` and the store; turns
//! commands into session input, session output into packets and `ClientEvent`s, and
//! reconnects with backoff when the connection drops (resuming the session, or
//! resubscribing when the broker kept none). The one place that reads the clock for
//! the session. Must not print.

use std::time::Instant;

use tokio::sync::mpsc;

use super::config::{observe, ConnectConfig, PacketDirection};
use super::error::ClientError;
use super::event::{ClientEvent, Command};
use super::handshake::{self, Established};
use super::store::Store;
use crate::net::{Connection, IoEvent};
use crate::protocol::session::{client_session, ClientTerms, Event, Session, SessionConfig};
use crate::protocol::{
    ConnAck, Disconnect, Packet, Properties, ProtocolVersion, Publish, QoS, Subscribe,
    Subscription, Unsubscribe,
};

/// Bytes queued for writing before they are flushed even though more packets wait.
const FLUSH_AT: usize = 256 * 1024;
/// Commands taken in one go before packets are written.
const COMMAND_BATCH: usize = 256;

pub(super) struct Driver {
    config: ConnectConfig,
    client_id: String,
    session: Session,
    store: Option<Store>,
    version: ProtocolVersion,
    /// The broker's maximum packet size (MQTT 5 CONNACK), if it set one.
    broker_max_packet: Option<u32>,
    /// The broker's Maximum QoS (MQTT 5 CONNACK), if below 2.
    broker_max_qos: Option<QoS>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<ClientEvent>,
    /// Every SUBSCRIBE asked for, to send again when the broker kept no session.
    subscriptions: Vec<(Vec<Subscription>, Properties)>,
    /// `Disconnect` asked for (or every handle dropped): finish what is in flight, then
    /// say goodbye.
    closing: bool,
    /// Events raised outside `process_events`, sent at its start.
    raised: Vec<ClientEvent>,
}

enum Step {
    Continue,
    Done,
}

impl Driver {
    /// Sets up the session of a first connection (restored from `store` when there is
    /// one) and returns the driver to spawn.
    pub(super) fn new(
        config: ConnectConfig,
        established: &Established,
        store: Option<Store>,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<ClientEvent>,
    ) -> Driver {
        let state = store
            .as_ref()
            .map(|s| s.state().clone())
            .unwrap_or_default();
        let session_config = session_config(
            &config,
            established.version,
            &established.connack,
            store.is_some(),
        );
        let now = Instant::now();
        let mut session = Session::restore(session_config.clone(), state, now);
        if established.connack.session_present {
            session.resume(session_config, now);
        } else {
            session.restart(session_config, now);
        }
        let mut driver = Driver {
            client_id: established.client_id.clone(),
            config,
            session,
            store,
            version: established.version,
            broker_max_packet: None,
            broker_max_qos: None,
            commands,
            events,
            subscriptions: Vec::new(),
            closing: false,
            raised: Vec::new(),
        };
        driver.start_session(established);
        driver
    }

    /// Runs until `Disconnect` (or every handle dropped) and everything in flight is
    /// finished, or until the connection is lost for good. The last event is `Closed`.
    pub(super) async fn run(mut self, established: Established) {
        let mut connection = Some(established.conn);
        let result = loop {
            let mut conn = match connection.take() {
                Some(c) => c,
                None => match self.reconnect().await {
                    Ok(c) => c,
                    Err(err) => break Err(err),
                },
            };
            match self.serve(&mut conn).await {
                Ok(()) => break Ok(()),
                Err(err) => {
                    self.session.disconnected();
                    let retry_in = self.config.reconnect.as_ref().map(|r| r.initial_delay);
                    let fatal = matches!(
                        err,
                        ClientError::Store { .. } | ClientError::TakenOver { .. }
                    );
                    if retry_in.is_none() || fatal {
                        break Err(err);
                    }
                    self.emit(ClientEvent::ConnectionLost {
                        error: err,
                        retry_in,
                    })
                    .await;
                }
            }
        };
        let _ = self.events.send(ClientEvent::Closed(result)).await;
    }

    /// One connection's loop: events out, packets out, then wait for the socket, a
    /// command or the keep-alive timer.
    async fn serve(&mut self, conn: &mut Connection) -> Result<(), ClientError> {
        loop {
            self.process_events().await?;
            if let Some(store) = &mut self.store {
                // Durable before the packets that depend on it leave (acks, PUBLISH).
                store.commit()?;
            }
            self.write_transmits(conn).await?;
            if self.closing && self.session.is_idle() {
                let disconnect = Packet::Disconnect(Disconnect {
                    reason_code: crate::protocol::ReasonCode::Success,
                    properties: self.v5_only(self.config.disconnect_properties.clone()),
                });
                self.write(conn, &disconnect)?;
                let _ = conn.shutdown().await;
                return Ok(());
            }
            let timeout = self
                .session
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            let take_commands = !self.closing && self.session.queued_len() < self.config.max_queued;
            tokio::select! {
                biased;
                io = conn.io(false) => {
                    self.check_read(io)?;
                    while let Some(packet) = self.decode(conn)? {
                        observe(&self.config.observer, &self.client_id, PacketDirection::Received, &packet);
                        self.handle_packet(packet, conn).await?;
                    }
                }
                command = self.commands.recv(), if take_commands => {
                    if let Step::Done = self.handle_command(command) {
                        continue;
                    }
                    for _ in 0..COMMAND_BATCH {
                        if self.closing || self.session.queued_len() >= self.config.max_queued {
                            break;
                        }
                        match self.commands.try_recv() {
                            Ok(command) => { self.handle_command(Some(command)); }
                            Err(mpsc::error::TryRecvError::Empty) => break,
                            Err(mpsc::error::TryRecvError::Disconnected) => { self.handle_command(None); }
                        }
                    }
                }
                _ = sleep_until(timeout), if timeout.is_some() => {
                    self.session.handle_timeout(Instant::now());
                }
            }
        }
    }

    /// A read that brought nothing: the broker closed the connection, or it broke.
    fn check_read(&self, io: IoEvent) -> Result<(), ClientError> {
        let address = self.config.address();
        match io {
            IoEvent::Read(Ok(0)) => Err(ClientError::ConnectionLost {
                address,
                reason: "the broker closed the connection".into(),
            }),
            IoEvent::Read(Err(e)) | IoEvent::Wrote(Err(e)) => Err(ClientError::io(&address, &e)),
            IoEvent::Read(Ok(_)) | IoEvent::Wrote(Ok(())) => Ok(()),
        }
    }

    /// The next packet already read, if it is complete.
    fn decode(&self, conn: &mut Connection) -> Result<Option<Packet>, ClientError> {
        conn.decode().map_err(|source| ClientError::Protocol {
            address: self.config.address(),
            source,
        })
    }

    async fn flush(&self, conn: &mut Connection) -> Result<(), ClientError> {
        if !conn.wants_write() {
            return Ok(());
        }
        conn.flush()
            .await
            .map_err(|e| ClientError::io(&self.config.address(), &e))
    }

    async fn handle_packet(
        &mut self,
        packet: Packet,
        conn: &mut Connection,
    ) -> Result<(), ClientError> {
        if let Err(source) = self.session.handle_packet(packet, Instant::now()) {
            if self.version == ProtocolVersion::V5 {
                let disconnect = Packet::Disconnect(Disconnect::with_reason(source.reason_code()));
                if self.write(conn, &disconnect).is_ok() {
                    let _ = conn.flush().await;
                }
            }
            return Err(ClientError::Protocol {
                address: self.config.address(),
                source,
            });
        }
        Ok(())
    }

    fn handle_command(&mut self, command: Option<Command>) -> Step {
        let now = Instant::now();
        match command {
            Some(Command::Publish(mut publish)) => {
                // MQTT 5.0 §3.2.2.3.4: never above the broker's Maximum QoS.
                if let Some(max) = self.broker_max_qos {
                    publish.qos = publish.qos.min(max);
                }
                if let Some(reason) = self.too_large(&publish) {
                    self.raised.push(ClientEvent::Dropped { publish, reason });
                    return Step::Continue;
                }
                self.session.publish(publish, now);
            }
            Some(Command::Subscribe {
                subscriptions,
                properties,
            }) => {
                self.send_subscribe(subscriptions.clone(), properties.clone());
                self.subscriptions.push((subscriptions, properties));
            }
            Some(Command::Unsubscribe {
                filters,
                properties,
            }) => {
                self.subscriptions
                    .iter_mut()
                    .for_each(|(subs, _)| subs.retain(|s| !filters.contains(&s.filter)));
                self.subscriptions.retain(|(subs, _)| !subs.is_empty());
                if let Some(packet_id) = self.session.allocate_packet_id() {
                    let properties = self.v5_only(properties);
                    self.session.send(Packet::Unsubscribe(Unsubscribe {
                        packet_id,
                        filters,
                        properties,
                    }));
                }
            }
            Some(Command::Disconnect) | None => {
                self.closing = true;
                return Step::Done;
            }
        }
        Step::Continue
    }

    fn send_subscribe(&mut self, subscriptions: Vec<Subscription>, properties: Properties) {
        if let Some(packet_id) = self.session.allocate_packet_id() {
            let properties = self.v5_only(properties);
            self.session.send(Packet::Subscribe(Subscribe {
                packet_id,
                subscriptions,
                properties,
            }));
        }
    }

    /// A PUBLISH over the broker's maximum packet size would get us disconnected
    /// (MQTT 5.0 §3.1.2.11.4): refuse it here with the numbers. Without a broker limit
    /// MQTT's own still holds (remaining length < 256 MiB, 3.1.1 §2.2.3): a bigger one
    /// cannot be encoded, and failing at every reconnect would retry it forever.
    fn too_large(&self, publish: &Publish) -> Option<String> {
        let max = match self.broker_max_packet {
            Some(max) => max,
            // Far below the limit: skip the probe encoding on the hot path.
            None if publish.payload.len() < 1 << 20 => return None,
            None => u32::MAX,
        };
        let mut buf = bytes::BytesMut::new();
        let mut probe = publish.clone();
        probe.packet_id = 1;
        if let Err(e) = Packet::Publish(probe).encode(self.version, &mut buf) {
            return Some(e.to_string());
        }
        (buf.len() as u64 > u64::from(max)).then(|| {
            format!(
                "the message is {} bytes, the broker accepts at most {max}",
                buf.len()
            )
        })
    }

    async fn process_events(&mut self) -> Result<(), ClientError> {
        for event in std::mem::take(&mut self.raised) {
            self.emit(event).await;
        }
        while let Some(event) = self.session.poll_event() {
            let out = match event {
                Event::Store(change) => {
                    if let Some(store) = &mut self.store {
                        store.record(&change);
                    }
                    continue;
                }
                Event::Message(publish) => ClientEvent::Message(publish),
                Event::Delivered {
                    seq,
                    packet_id: _,
                    qos,
                    reason_code,
                } => ClientEvent::Delivered {
                    seq,
                    qos,
                    reason_code,
                },
                Event::Dropped(publish) => ClientEvent::Dropped {
                    publish,
                    reason: "the queue for the connection is full".into(),
                },
                Event::PeerTimedOut => {
                    return Err(ClientError::ConnectionLost {
                        address: self.config.address(),
                        reason: "the broker did not answer PINGREQ within the keep alive".into(),
                    })
                }
                Event::Other(Packet::SubAck(ack)) => ClientEvent::SubAck(ack),
                Event::Other(Packet::UnsubAck(ack)) => ClientEvent::UnsubAck(ack),
                Event::Other(Packet::Disconnect(d))
                    if d.reason_code == crate::protocol::ReasonCode::SessionTakenOver =>
                {
                    return Err(ClientError::TakenOver {
                        address: self.config.address(),
                        client_id: self.client_id.clone(),
                    })
                }
                Event::Other(Packet::Disconnect(d)) => {
                    let mut reason = format!("the broker sent DISCONNECT: {}", d.reason_code);
                    if let Some(text) = &d.properties.reason_string {
                        reason.push_str(&format!(" ({text})"));
                    }
                    return Err(ClientError::ConnectionLost {
                        address: self.config.address(),
                        reason,
                    });
                }
                Event::Other(other) => {
                    return Err(ClientError::Protocol {
                        address: self.config.address(),
                        source: crate::protocol::ProtocolError::Protocol(unexpected(&other)),
                    })
                }
            };
            self.emit(out).await;
        }
        Ok(())
    }

    async fn write_transmits(&mut self, conn: &mut Connection) -> Result<(), ClientError> {
        let now = Instant::now();
        while let Some(packet) = self.session.poll_transmit(now) {
            self.write(conn, &packet)?;
            if conn.queued_bytes() >= FLUSH_AT {
                self.flush(conn).await?;
            }
        }
        self.flush(conn).await
    }

    /// Encodes `packet` for writing. A packet that cannot be encoded (a field too long)
    /// is an error naming the rule; nothing of it is written.
    fn write(&self, conn: &mut Connection, packet: &Packet) -> Result<(), ClientError> {
        observe(
            &self.config.observer,
            &self.client_id,
            PacketDirection::Sent,
            packet,
        );
        conn.queue(packet).map_err(|source| ClientError::Protocol {
            address: self.config.address(),
            source,
        })
    }

    /// Connects again, with exponential backoff, until it works.
    async fn reconnect(&mut self) -> Result<Connection, ClientError> {
        let policy = self.config.reconnect.clone().unwrap_or_default();
        let mut delay = policy.initial_delay;
        loop {
            tokio::time::sleep(delay).await;
            match handshake::establish(&self.config, self.config.clean_start).await {
                Ok(established) => {
                    let config = session_config(
                        &self.config,
                        established.version,
                        &established.connack,
                        self.store.is_some(),
                    );
                    self.version = established.version;
                    if established.connack.session_present {
                        self.session.resume(config, Instant::now());
                    } else {
                        self.session.restart(config, Instant::now());
                    }
                    self.start_session(&established);
                    self.emit(connected(&established, true)).await;
                    return Ok(established.conn);
                }
                Err(error) => {
                    delay = (delay * 2).min(policy.max_delay);
                    self.emit(ClientEvent::ReconnectFailed {
                        error,
                        retry_in: delay,
                    })
                    .await;
                }
            }
        }
    }

    /// What every new connection needs: the broker's limits, and the subscriptions again
    /// when the broker kept no session.
    fn start_session(&mut self, established: &Established) {
        self.broker_max_packet = established.connack.properties.maximum_packet_size;
        self.broker_max_qos = established
            .connack
            .properties
            .maximum_qos
            .and_then(QoS::from_u8);
        if !established.connack.session_present {
            for (subscriptions, properties) in self.subscriptions.clone() {
                self.send_subscribe(subscriptions, properties);
            }
        }
    }

    fn v5_only(&self, properties: Properties) -> Properties {
        if self.version == ProtocolVersion::V5 {
            properties
        } else {
            Properties::default()
        }
    }

    async fn emit(&self, event: ClientEvent) {
        // The owner may have stopped listening (it is exiting): nothing to do then.
        let _ = self.events.send(event).await;
    }
}

/// The `Connected` event of a fresh connection.
pub(super) fn connected(established: &Established, reconnected: bool) -> ClientEvent {
    ClientEvent::Connected {
        version: established.version,
        session_present: established.connack.session_present,
        fell_back: established.fell_back,
        reconnected,
        client_id: established.client_id.clone(),
    }
}

/// The session parameters of a connection from our config and the broker's CONNACK.
fn session_config(
    config: &ConnectConfig,
    version: ProtocolVersion,
    connack: &ConnAck,
    persist: bool,
) -> SessionConfig {
    let terms = ClientTerms {
        // MQTT 3.1.1 has no receive maximum; stay within what brokers queue by default
        // for one client rather than flood one with 65,535 messages in flight.
        v311_window: 1000,
        max_inflight: None,
        keep_alive: config.keep_alive,
        receive_maximum: config.properties.receive_maximum,
        topic_alias_maximum: config.properties.topic_alias_maximum,
    };
    let mut session = client_session(version, connack, &terms);
    session.queue_qos0_offline = true;
    session.persist = persist;
    session
}

fn unexpected(packet: &Packet) -> &'static str {
    match packet {
        Packet::ConnAck(_) => "a second CONNACK",
        Packet::Auth(_) => "AUTH (enhanced authentication is not supported)",
        _ => "a packet only a client may send",
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

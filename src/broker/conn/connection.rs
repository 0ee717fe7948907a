//! One task per network connection (mini-redis's handler): after CONNECT it owns the
//! session, reads and decodes packets, feeds them to the shared QoS/keep-alive state
//! machine (`protocol::session`), pulls deliveries from the session's mailbox while the
//! client's receive window has room, encodes and writes, and on the way out sends the
//! MQTT 5 DISCONNECT, publishes or schedules the will and hands the session back to the
//! store. Runs over `net::Connection` with adaptive reads (no read buffer held while
//! quiet), whatever the transport below. Must not hold a lock across `.await`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use bytestring::ByteString;
use tokio::io::{AsyncReadExt, AsyncWrite};

use crate::broker::conn::linger::linger;
use crate::broker::conn::signal::{Signal, TakeOverReply, Wake};
use crate::broker::conn::tap::{FaultEnd, Tap};
use crate::broker::hooks::ClientIdentity;
use crate::broker::persist::kept_session::KeptSession;
use crate::broker::route::flow::{self, Blocked};
use crate::broker::shared::{LogFields, Shared};
use crate::broker::will::PendingWill;
use crate::net::connection::MAX_READ;
use crate::net::Connection;
use crate::protocol::{Disconnect, Packet, ProtocolError, ProtocolVersion, ReasonCode};
use crate::small_map::SmallMap;

/// Why a connection ends.
#[derive(Debug)]
pub(super) enum End {
    /// DISCONNECT from the client; `will` for MQTT 5 reason 0x04.
    Disconnect { will: bool },
    /// The socket closed or failed without DISCONNECT.
    Network(String),
    /// The client broke the protocol: DISCONNECT with this reason (MQTT 5), close.
    Error(ReasonCode, String),
    /// Silent for 1.5 times its keep alive.
    KeepAlive,
    /// Another connection took the client identifier over.
    TakenOver(TakeOverReply),
    /// The broker is stopping.
    Shutdown,
    /// A fault rule ended it (`--fault`): with an MQTT 5 DISCONNECT reason, or silently.
    Fault(FaultEnd),
}

impl From<FaultEnd> for End {
    fn from(fault: FaultEnd) -> End {
        End::Fault(fault)
    }
}

impl From<Wake> for End {
    fn from(wake: Wake) -> End {
        match wake {
            Wake::TakeOver(reply) => End::TakenOver(reply),
            Wake::Shutdown => End::Shutdown,
            // Not asked for outside the idle wait.
            Wake::Timer => End::KeepAlive,
        }
    }
}

impl From<ProtocolError> for End {
    fn from(err: ProtocolError) -> End {
        End::Error(err.reason_code(), err.to_string())
    }
}

/// A connected client: everything its task owns.
pub(super) struct Conn {
    pub io: Connection,
    pub shared: Arc<Shared>,
    pub conn_id: u64,
    pub peer: SocketAddr,
    pub identity: ClientIdentity,
    pub version: ProtocolVersion,
    pub kept: KeptSession,
    pub will: Option<Box<PendingWill>>,
    /// Seconds the session outlives the connection; `u32::MAX`: forever.
    pub session_expiry: u32,
    /// The client's Maximum Packet Size (MQTT 5.0 §3.1.2.11.4).
    pub client_max_packet: u32,
    /// The client's Topic Alias Maximum: aliases we may use towards it.
    pub client_alias_max: u16,
    /// The client's receive maximum (capped by `--max-inflight`).
    pub send_maximum: u16,
    /// Outgoing topic aliases and stored-queue ids, made on first use.
    pub extra: Option<Box<ConnExtra>>,
    /// Takeover, shutdown and keep-alive wake-ups (shared with the session store).
    pub signal: Arc<Signal>,
    /// Fault injection and tracing (`fixture.rs`), when on for this client; `None`
    /// costs one check per packet.
    pub tap: Option<Box<Tap>>,
}

/// What most connections never use, boxed on first use (memory per idle connection).
#[derive(Debug, Default)]
pub(super) struct ConnExtra {
    /// Topic → alias we assigned on this connection.
    pub out_aliases: SmallMap<ByteString, u16>,
    /// Stored session: queue id of each message handed to the session, by its `seq`,
    /// until the session's `OutgoingQueued` store event takes it over.
    pub pending_qids: SmallMap<u64, u64>,
    /// Deliveries of the last message received that wait for room in a live
    /// subscriber's queue (`flow`); nothing more is read until they are settled.
    pub blocked: Vec<Blocked>,
}

/// Deliveries pulled from the mailbox per wake-up, so reads are not starved.
const PULL_BATCH: usize = 64;

impl Conn {
    /// Serves the client until the connection ends, then cleans up.
    pub async fn run(mut self: Box<Self>) {
        let end = self.run_loop().await;
        // Boxed: the goodbye's state is not kept inline for the connection's lifetime.
        Box::pin(self.finish(end)).await;
    }

    async fn run_loop(&mut self) -> End {
        // Packets that came in the same read as CONNECT (a client need not wait for
        // CONNACK, MQTT 5.0 §3.1.4).
        if let Err(end) = self.decode_all(Instant::now()) {
            return end;
        }
        loop {
            if let Err(end) = self.drive(Instant::now()) {
                return end;
            }
            if self.is_blocked() {
                // Flow control: settle the message before reading on (its PUBACK/PUBREC
                // stays in the write buffer until then).
                // Boxed: flow control is rare, and its state would otherwise make every
                // connection's future bigger (memory per idle connection).
                if let Err(end) = Box::pin(self.wait_blocked()).await {
                    return end;
                }
                if let Err(end) = self.decode_all(Instant::now()) {
                    return end;
                }
                continue;
            }
            if self.tap_stops() {
                // A fault holds the connection (delay, stall) or ends it. Boxed: rare.
                if let Err(end) = Box::pin(self.serve_hold()).await {
                    return end;
                }
                continue;
            }
            if !self.io.wbuf.is_empty() {
                if let Err(end) = self.write_out().await {
                    return end;
                }
            }
            let can_pull = self.can_pull();
            if let (true, Some(mailbox)) = (can_pull, self.kept.mailbox()) {
                // Ready to take deliveries: publishers may wait for room (`flow`).
                mailbox.note_waiting();
            }
            // The keep-alive sweep wakes us when the session's timer is due.
            self.signal.set_deadline(self.kept.session.poll_timeout());
            if self.io.is_quiet() {
                self.kept.session.shrink_buffers();
            }
            if self.shared.config.ordered {
                // A socket whose last read did not end in WouldBlock is read again
                // without an event: after a CONNACK or a delivery this task would read
                // what came after another socket's packets, and apply it first. Tokio's
                // yield runs the tasks the event loop has woken first.
                tokio::task::yield_now().await;
            }
            tokio::select! {
                biased;
                wake = self.signal.wait(true) => match wake {
                    Wake::TakeOver(reply) => return End::TakenOver(reply),
                    Wake::Shutdown => return End::Shutdown,
                    Wake::Timer => self.kept.session.handle_timeout(Instant::now()),
                },
                read = std::future::poll_fn(|cx| self.io.poll_read(cx)) => match read {
                    Ok(0) => return End::Network("connection closed by the client".into()),
                    Ok(n) => {
                        self.shared.router.stats.bytes_received.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                        if let Err(end) = self.decode_all(Instant::now()) {
                            return end;
                        }
                    }
                    Err(e) => return End::Network(e.to_string()),
                },
                // Pending for ever while the session has no mailbox (no subscription).
                delivery = self.kept.recv(), if can_pull => {
                    let now = Instant::now();
                    if let Some(d) = delivery {
                        self.deliver(d, now);
                    }
                    for _ in 1..PULL_BATCH {
                        if !self.can_pull() {
                            break;
                        }
                        match self.kept.try_recv() {
                            Ok(d) => self.deliver(d, now),
                            Err(_) => break,
                        }
                    }
                    if let Some(mailbox) = self.kept.mailbox() {
                        mailbox.note_drained(now);
                    }
                },
            }
            if let (true, Some(mailbox)) = (can_pull, self.kept.mailbox()) {
                // Not waiting any more: from now the drain window runs (a client that
                // stops reading blocks this task in `write_out`, and goes stale).
                mailbox.note_woken(Instant::now());
            }
        }
    }

    /// Waits (bounded, `flow::MAX_WAIT`) until the blocked deliveries are queued or
    /// given up on; a takeover or shutdown meanwhile ends the connection.
    async fn wait_blocked(&mut self) -> Result<(), End> {
        let Conn {
            shared,
            extra,
            signal,
            kept,
            ..
        } = self;
        let blocked = &mut extra.get_or_insert_with(Box::default).blocked;
        tokio::select! {
            biased;
            wake = signal.wait(false) => Err(End::from(wake)),
            gave_up = flow::deliver_blocked(kept.mailbox().map(|m| &**m), blocked) => {
                shared.give_up(gave_up);
                Ok(())
            }
        }
    }

    /// Topic aliases and stored-queue ids, made on first use.
    pub fn extra(&mut self) -> &mut ConnExtra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// True while deliveries wait for room in a subscriber's queue (`flow`).
    pub fn is_blocked(&self) -> bool {
        self.extra.as_ref().is_some_and(|e| !e.blocked.is_empty())
    }

    /// The deliveries still waiting for room, taken out.
    fn take_blocked(&mut self) -> Vec<Blocked> {
        self.extra
            .as_mut()
            .map(|e| std::mem::take(&mut e.blocked))
            .unwrap_or_default()
    }

    /// True when a new outgoing message would be sent at once: nothing waits in the
    /// session's queue and the client's receive window has room (MQTT 5.0 §4.9).
    fn can_pull(&self) -> bool {
        self.kept.session.queued_len() == 0
            && self.kept.session.inflight_len() < usize::from(self.send_maximum)
    }

    pub(super) fn decode_all(&mut self, now: Instant) -> Result<(), End> {
        loop {
            match Packet::decode(
                &mut self.io.rbuf,
                self.version,
                self.shared.config.max_packet_size,
            ) {
                Ok(Some(packet)) => {
                    if let Packet::Connect(_) = packet {
                        return Err(End::Error(
                            ReasonCode::ProtocolError,
                            "second CONNECT".into(),
                        ));
                    }
                    let packet = match self.tap {
                        None => packet,
                        Some(_) => match self.tap_in(packet, now)? {
                            Some(packet) => packet,
                            None if self.tap_stops() => return Ok(()),
                            None => continue,
                        },
                    };
                    self.kept.session.handle_packet(packet, now)?;
                    // Handle what this packet caused before decoding the next one, so
                    // a DISCONNECT stops the loop with the right state.
                    self.drive(now)?;
                    if self.is_blocked() || self.tap_stops() {
                        // Flow control: the rest waits until this message is settled;
                        // so it does behind a fault's hold.
                        return Ok(());
                    }
                }
                Ok(None) => return Ok(()),
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// Encodes one packet into the write buffer, applying outgoing topic aliases; through
    /// the fault rules and the trace when they are on for this client.
    pub fn encode(&mut self, packet: Packet) {
        match self.tap {
            None => {
                self.encode_wire(packet);
            }
            Some(_) => self.encode_tapped(packet),
        }
    }

    /// `encode` without the tap; gives back the packet as it went on the wire.
    pub(super) fn encode_wire(&mut self, packet: Packet) -> Packet {
        let packet = match packet {
            Packet::Publish(mut publish) => {
                self.apply_topic_alias(&mut publish);
                self.shared
                    .router
                    .stats
                    .publish_sent
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Packet::Publish(publish)
            }
            other => other,
        };
        if let Err(err) = packet.encode(self.version, &mut self.io.wbuf) {
            self.shared.log(
                1,
                format_args!(
                    "cannot encode a packet for {}: {err}",
                    self.identity.client_id
                ),
            );
        }
        packet
    }

    /// MQTT 5.0 §3.3.2.3.4: the first message on a topic carries topic and alias, the
    /// next ones only the alias, while the client's Topic Alias Maximum allows.
    fn apply_topic_alias(&mut self, publish: &mut crate::protocol::Publish) {
        if self.client_alias_max == 0 || self.version != ProtocolVersion::V5 {
            return;
        }
        let max = usize::from(self.client_alias_max);
        let aliases = &mut self.extra().out_aliases;
        if let Some(&alias) = aliases.get(&publish.topic) {
            publish.properties.topic_alias = Some(alias);
            publish.topic = ByteString::new();
        } else if aliases.len() < max {
            let alias = aliases.len() as u16 + 1;
            aliases.insert(publish.topic.clone(), alias);
            publish.properties.topic_alias = Some(alias);
        }
    }

    /// Writes the buffer; a takeover or shutdown arriving meanwhile (a client that
    /// stopped reading) ends the connection instead of waiting.
    pub(super) async fn write_out(&mut self) -> Result<(), End> {
        if let Some(rate) = self.throttle() {
            // Boxed: only a `throttle` fault comes here.
            return Box::pin(self.write_throttled(rate)).await;
        }
        let len = self.io.wbuf.len();
        // By hand rather than `select!` over `write_all`: the future is then only a
        // reference (memory per idle connection).
        let Conn { io, signal, .. } = self;
        let result = std::future::poll_fn(|cx| {
            // A write that can complete does (a CONNACK before a takeover).
            while !io.wbuf.is_empty() {
                match Pin::new(&mut io.stream).poll_write(cx, &io.wbuf) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(End::Network(
                            "the connection took no more bytes".into(),
                        )))
                    }
                    Poll::Ready(Ok(n)) => io.wbuf.advance(n),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(End::Network(e.to_string()))),
                    Poll::Pending => return signal.poll_wake(cx, false).map(|w| Err(End::from(w))),
                }
            }
            match Pin::new(&mut io.stream).poll_flush(cx) {
                Poll::Ready(r) => Poll::Ready(r.map_err(|e| End::Network(e.to_string()))),
                Poll::Pending => signal.poll_wake(cx, false).map(|w| Err(End::from(w))),
            }
        })
        .await;
        if self.io.is_quiet() {
            // Give the memory back on quiet connections (memory per idle connection).
            self.io.wbuf = BytesMut::new();
        } else {
            self.io.wbuf.clear();
        }
        self.shared
            .router
            .stats
            .bytes_sent
            .fetch_add(len as u64, std::sync::atomic::Ordering::Relaxed);
        result
    }

    async fn finish(mut self: Box<Self>, end: End) {
        let now = Instant::now();
        let client_id = self.identity.client_id.clone();
        let blocked = self.take_blocked();
        self.shared.give_up(blocked);
        let (end, early_taker) = self.read_before_takeover(end).await;
        let told = self.say_goodbye(&end).await;
        self.log_end(&end);
        self.handle_will(&end, now);
        self.kept.session.disconnected();
        self.kept.set_online(false);
        let keep = self.session_expiry > 0;
        let expires_at = (self.session_expiry != u32::MAX)
            .then(|| now + Duration::from_secs(self.session_expiry.into()));
        let mut taker = match end {
            End::TakenOver(reply) => Some(reply),
            _ => early_taker,
        };
        if keep {
            self.save_session(false);
        }
        let kept = self.kept;
        let handover = {
            let mut store = self.shared.sessions();
            if keep {
                match store.disconnect(&client_id, self.conn_id, Some(kept), expires_at) {
                    Ok(()) => None,
                    Err(kept) => kept,
                }
            } else {
                // Not kept: the session dies with this connection, taken over or not.
                let _ = store.disconnect(&client_id, self.conn_id, None, None);
                drop(store);
                self.shared.end_session(&client_id, kept, now);
                None
            }
        };
        // From here no takeover can come (the store no longer names this connection);
        // one that came meanwhile is taken here.
        let late = self.signal.close();
        if let Some(handover) = handover {
            if taker.is_none() {
                taker = late;
            }
            match taker {
                Some(reply) => {
                    if let Err(Some(kept)) = reply.send(Some(handover)) {
                        self.shared.end_session(&client_id, kept, now);
                    }
                }
                None => self.shared.end_session(&client_id, handover, now),
            }
        }
        // Last, once the session is handed on: a client reconnecting waits for nothing.
        if told {
            linger(&mut self.io, &self.shared.lingering).await;
        }
    }

    /// A takeover can overtake what the client sent on this connection before it
    /// connected again: a DISCONNECT lowering the session expiry to 0 (MQTT 5.0
    /// §3.14.2.2.2), messages, may already wait in this socket while the new CONNECT
    /// is handled (the reactor woke this task for both, and the takeover is polled
    /// first). They came first, so what is readable now is read, without waiting, and
    /// handled before the session is handed over; if it ends the connection (DISCONNECT,
    /// a protocol error), that is the end, and the new owner still gets its answer.
    /// Messages that would wait for a full subscriber queue are given up on at once.
    async fn read_before_takeover(&mut self, end: End) -> (End, Option<TakeOverReply>) {
        use std::future::Future as _;
        let End::TakenOver(reply) = end else {
            return (end, None);
        };
        // Bounded: a client cannot keep the new connection waiting by sending more.
        for _ in 0..16 {
            let result = self.decode_all(Instant::now());
            let blocked = self.take_blocked();
            self.shared.give_up(blocked);
            if let Err(end) = result {
                return (end, Some(reply));
            }
            if self.io.rbuf.len() >= MAX_READ {
                break;
            }
            self.io.reserve_read();
            let read = self.io.stream.read_buf(&mut self.io.rbuf);
            let mut read = std::pin::pin!(read);
            // One poll: ready bytes are taken, an empty socket is not waited for.
            let polled = tokio::task::unconstrained(std::future::poll_fn(|cx| {
                std::task::Poll::Ready(read.as_mut().poll(cx))
            }))
            .await;
            match polled {
                std::task::Poll::Ready(Ok(n)) if n > 0 => {}
                _ => break,
            }
        }
        (End::TakenOver(reply), None)
    }

    /// MQTT 5: tell the client why we close (§3.14); 3.1.1 has no server DISCONNECT.
    /// True when a DISCONNECT was sent (then the close is graceful, `linger`).
    async fn say_goodbye(&mut self, end: &End) -> bool {
        let reason = match end {
            End::Error(code, _) => Some(*code),
            End::KeepAlive => Some(ReasonCode::KeepAliveTimeout),
            End::TakenOver(_) => Some(ReasonCode::SessionTakenOver),
            End::Shutdown => Some(ReasonCode::ServerShuttingDown),
            End::Fault(fault) => fault.reason,
            End::Disconnect { .. } | End::Network(_) => None,
        };
        if let End::Fault(FaultEnd { reason: None, .. }) = end {
            // A silent close: what was not sent yet is lost, as on a broken link.
            self.io.wbuf.clear();
        }
        let told = matches!((reason, self.version), (Some(_), ProtocolVersion::V5));
        if let (Some(code), true) = (reason, told) {
            let mut disconnect = Disconnect::with_reason(code);
            if let End::Error(_, why) = end {
                disconnect.properties.reason_string = Some(why.clone());
            }
            self.encode(Packet::Disconnect(disconnect));
        }
        self.io.write_final().await;
        told
    }

    fn log_end(&self, end: &End) {
        let id = &self.identity.client_id;
        let (level, event, reason) = match end {
            End::Disconnect { .. } => (1, "disconnected", None),
            End::Network(why) => (1, "closed", Some(why.clone())),
            End::Error(code, why) => (1, "disconnected", Some(format!("{why} ({code})"))),
            End::KeepAlive => (1, "timed-out", None),
            End::TakenOver(_) => (1, "taken-over", None),
            End::Shutdown => (2, "disconnected", Some("server shutting down".into())),
            End::Fault(fault) => (1, "disconnected", Some(fault.why.clone())),
        };
        let fields = LogFields {
            event,
            client_id: Some(id),
            address: Some(self.peer),
            reason: reason.clone(),
        };
        let why = reason.unwrap_or_default();
        let peer = self.peer;
        let line = match end {
            End::Disconnect { .. } => format!("Client {id} disconnected."),
            End::Network(_) => format!("Client {id} ({peer}) closed its connection: {why}."),
            End::KeepAlive => format!("Client {id} has exceeded timeout, disconnecting."),
            End::TakenOver(_) => format!("Client {id} already connected, closing old connection."),
            End::Error(..) | End::Shutdown | End::Fault(_) => {
                format!("Client {id} disconnected: {why}.")
            }
        };
        self.shared.log_with(level, fields, format_args!("{line}"));
    }

    /// Publishes the will unless the client disconnected normally (MQTT 5.0 §3.1.2.5);
    /// a will delay postpones it, bounded by the session expiry (§3.1.3.2.2).
    fn handle_will(&mut self, end: &End, now: Instant) {
        let Some(will) = self.will.take() else { return };
        let publish = match end {
            End::Disconnect { will } => *will,
            End::Shutdown => false,
            End::TakenOver(_) => will.delay.is_zero(),
            End::Fault(fault) if fault.takeover => will.delay.is_zero(),
            End::Fault(_) => true,
            End::Network(_) | End::Error(..) | End::KeepAlive => true,
        };
        if !publish {
            return;
        }
        let expiry = Duration::from_secs(self.session_expiry.into());
        let delay = will.delay.min(expiry);
        if delay.is_zero() {
            self.shared.publish(will.message, now);
        } else {
            self.shared.wills().schedule(
                self.identity.client_id.clone(),
                now + delay,
                will.message,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::config::BrokerConfig;
    use crate::broker::shared::Shared;
    use crate::net::Transport;

    /// Every connection keeps its task's future for its whole life: the memory per
    /// idle connection (scripts/serve-memory) starts here. Everything rare (CONNECT,
    /// flow control, the goodbye) is boxed; the idle wait holds only references.
    #[tokio::test]
    async fn a_connection_future_stays_small() {
        let (stream, _peer) = tokio::io::duplex(64);
        let shared = Arc::new(Shared::new(BrokerConfig::default()));
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let (done, _done_rx) = tokio::sync::mpsc::channel(1);
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        let future = crate::broker::conn::accept::serve_connection(
            Box::<dyn Transport>::from(Box::new(stream)).into(),
            peer,
            shared,
            shutdown,
            done,
        );
        let size = std::mem::size_of_val(&future);
        assert!(size <= 152, "the connection future is {size} bytes");
    }
}

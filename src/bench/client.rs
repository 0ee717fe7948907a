//! One simulated client as a tokio task: connect, subscribe or publish through the shared
//! `protocol::session::Session` (QoS 1/2 flows, keep alive), and report counters and
//! samples to the collector in batches on its own tick — never a lock per message.
//! What a publisher produces, and when, is in `client/produce.rs`; a churning client's
//! reconnects in `client/churn.rs`; a flapping subscriber's unsubscribes and
//! subscribes in `client/flap.rs`.
//! Must not aggregate statistics (the collector does) or draw progress.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use bytestring::ByteString;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};
use tokio::time::{sleep_until, Sleep};

use crate::protocol::session::{Event, Session};
use crate::protocol::{Packet, Properties, Publish, Subscribe, Subscription};

use super::collect::{Sample, Update};
use super::config::BenchConfig;
use super::conn::{self, Conn, IoEvent};
use super::header::Header;
use super::pacer;
use super::plan::Plan;

mod churn;
mod connect;
mod flap;
mod produce;
mod publisher;

pub use connect::connect_packet;
use connect::session;
use publisher::Publisher;

/// What the run is doing; every client watches it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Clients are connecting and subscribing.
    Connecting,
    /// Publishers publish from `start_ns` (ns since the epoch).
    Publishing {
        /// Start of publishing.
        start_ns: u64,
        /// Every publisher is done and the run waits for the last deliveries: clients
        /// hand over their figures as they come, not on their tick, so that the run
        /// sees the last one arrive and ends then.
        draining: bool,
    },
    /// Everyone flushes its last figures, disconnects and ends.
    Finishing,
}

/// What a client tells the run, besides figures.
#[derive(Debug)]
pub enum Msg {
    /// Figures for the collector.
    Update(Update),
    /// The client is connected (and subscribed), or gave up trying: sent once.
    Ready,
    /// A publisher has sent everything and every QoS 1/2 flow is finished, or it lost
    /// its connection: sent once per publisher.
    Done {
        /// When it produced its last message, ns since the epoch.
        last_sent_ns: Option<u64>,
    },
}

/// Which client this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Publisher with this index.
    Publisher(u32),
    /// Subscriber with this index.
    Subscriber(u32),
    /// Connection-only client with this index.
    ConnectOnly(u32),
}

/// What every client shares, read-only.
pub struct Ctx {
    /// The run's configuration.
    pub config: BenchConfig,
    /// Topics and receivers.
    pub plan: Plan,
    /// The broker.
    pub addr: SocketAddr,
    /// Time zero of the run; timestamps are ns since it.
    pub epoch: Instant,
    /// MQTT 5 properties put on every PUBLISH.
    pub publish_properties: Properties,
    /// Added to a send time in the payload header, taken from a received one: with
    /// `--cross-shard` the epoch's wall time (Unix ns), so shards in other processes
    /// compare wall clocks; 0 otherwise (one process, one epoch).
    pub header_clock_ns: u64,
}

impl Ctx {
    fn now_ns(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_nanos() as u64
    }
}

/// How often a client hands its figures to the collector (sooner with a full batch).
/// Each hand-over is a wake-up: with 10,000 subscribers at a few messages a second,
/// a shorter period costs more CPU than the deliveries themselves.
const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// "Never" for the timer: a fixed instant, so an idle client's timer is not moved.
const FAR: Duration = Duration::from_secs(7 * 86_400);
/// Samples kept before an early hand-over.
const MAX_BATCH: usize = 1024;
/// Encoded bytes waiting to be written before a publisher stops producing.
const WRITE_HIGH_WATER: usize = 64 * 1024;
/// Messages a publisher produces before letting reads and writes run.
const PUBLISH_BURST: usize = 256;

/// Runs one client to the end of the run. `permit` bounds concurrent handshakes and is
/// released once connected.
pub async fn run(
    role: Role,
    bind: Option<IpAddr>,
    ctx: Arc<Ctx>,
    tx: mpsc::UnboundedSender<Msg>,
    phase: watch::Receiver<Phase>,
    permit: OwnedSemaphorePermit,
) {
    // Two phases, two futures: the connect's state and the event loop's do not add up
    // in the task (memory per client). The connect's (a CONNECT packet, the dial and
    // the handshake's timeout: about 2.5 KB) is boxed and freed once connected, so that
    // the task is only as large as the event loop's.
    // `let else`, not `if let`: the scrutinee's temporary would be a second `Driver`
    // kept in the task for the whole run.
    let Some(mut driver) = Box::pin(start(role, bind, ctx, tx, phase, permit)).await else {
        return;
    };
    driver.drive().await;
}

/// Connects and sets up the client's driver; `None` when it did not connect (reported).
async fn start(
    role: Role,
    bind: Option<IpAddr>,
    ctx: Arc<Ctx>,
    tx: mpsc::UnboundedSender<Msg>,
    mut phase: watch::Receiver<Phase>,
    permit: OwnedSemaphorePermit,
) -> Option<Driver> {
    let config = &ctx.config;
    let connect = connect_packet(config, config.version, client_id(config, role));
    let started = Instant::now();
    let opened = conn::open(
        ctx.addr,
        bind,
        config.tls.as_ref(),
        connect,
        config.connect_timeout,
    )
    .await;
    drop(permit);
    let (conn, connack) = match opened {
        Ok((conn, connack)) => (idle_reads(conn, role), connack),
        Err(failure) => {
            let _ = tx.send(Msg::Update(Update::ConnectFailed {
                kind: failure.kind(),
                detail: failure.detail().map(str::to_string),
            }));
            let _ = tx.send(Msg::Ready);
            if matches!(role, Role::Publisher(_)) {
                let _ = tx.send(Msg::Done { last_sent_ns: None });
            }
            return None;
        }
    };
    let now = Instant::now();
    let connect_us = now.duration_since(started).as_micros() as u64;
    let _ = tx.send(Msg::Update(Update::Connected {
        connect_us,
        at_ns: ctx.now_ns(now),
    }));
    let (session, window) = session(config, &connack, now);
    drop(connack);
    let current_phase = *phase.borrow_and_update();
    let mut driver = Driver {
        ctx: ctx.clone(),
        conn,
        session,
        role,
        tx,
        phase: current_phase,
        phase_wait: wait_phase(phase),
        window,
        publisher: None,
        unreported_flow: 0,
        done_sent: false,
        samples: Vec::new(),
        payload_len: 0,
        subscribe_deadline: None,
        churn_at: None,
        flap: Flap::Subscribed,
        next_flush: now + FLUSH_EVERY,
        timer: Box::pin(sleep_until((ctx.epoch + FAR).into())),
        timer_at: ctx.epoch + FAR,
    };
    match role {
        Role::Subscriber(i) => {
            let plan = &ctx.plan.subscribers[i as usize];
            let packet_id = driver.session.allocate_packet_id()?;
            driver.session.send(Packet::Subscribe(Subscribe {
                packet_id,
                subscriptions: vec![Subscription::new(plan.filter.clone(), config.qos)],
                properties: Properties::default(),
            }));
            driver.subscribe_deadline = Some(now + config.connect_timeout);
        }
        Role::Publisher(i) => {
            let topic = ByteString::from(ctx.plan.publisher_topics[i as usize].as_str());
            driver.publisher = Some(Box::new(Publisher::new(topic)));
            let _ = driver.tx.send(Msg::Ready);
        }
        Role::ConnectOnly(_) => {
            let _ = driver.tx.send(Msg::Ready);
        }
    }
    Some(driver)
}

/// A connection-only client waits most of its life: its connection reads adaptively,
/// holding no read buffer while quiet (4 KiB a client otherwise), and drops the write
/// buffer its CONNECT was encoded in (once written). Publishers and subscribers keep
/// growing reads, for few wake-ups under a stream of messages.
fn idle_reads(conn: Conn, role: Role) -> Conn {
    match role {
        Role::ConnectOnly(_) => {
            let mut conn = conn.with_adaptive_reads();
            if conn.wbuf.is_empty() {
                conn.wbuf = BytesMut::new();
            }
            conn
        }
        Role::Publisher(_) | Role::Subscriber(_) => conn,
    }
}

/// The client identifier of `role`: the run's prefix, the role's letter and its index.
fn client_id(config: &BenchConfig, role: Role) -> String {
    let (tag, index) = match role {
        Role::Publisher(i) => ("p", i),
        Role::Subscriber(i) => ("s", i),
        Role::ConnectOnly(i) => ("c", i),
    };
    format!("{}{tag}{index}", config.id_prefix)
}

type PhaseWait = Pin<Box<dyn Future<Output = Option<watch::Receiver<Phase>>> + Send>>;

/// Waits for the next change of the run's phase.
fn wait_phase(mut phase: watch::Receiver<Phase>) -> PhaseWait {
    Box::pin(async move { phase.changed().await.ok().map(|()| phase) })
}

struct Driver {
    ctx: Arc<Ctx>,
    conn: Conn,
    session: Session,
    role: Role,
    tx: mpsc::UnboundedSender<Msg>,
    /// The run's phase, as last seen.
    phase: Phase,
    /// Resolves with the receiver when the phase changes (`None`: the run is gone). Kept
    /// across turns of the loop, so that waiting for a change is registered once.
    phase_wait: PhaseWait,
    /// QoS 1/2 messages in flight at most.
    window: usize,
    /// A publisher's state; boxed, so that the other clients do not carry it.
    publisher: Option<Box<Publisher>>,
    /// QoS flow packets received since the last hand-over (any role).
    unreported_flow: u64,
    done_sent: bool,
    // Subscriber state.
    samples: Vec<Sample>,
    payload_len: usize,
    subscribe_deadline: Option<Instant>,
    /// `--churn-rate`: when this client disconnects and connects again next;
    /// `--flap-interval`: when this subscriber's next flap step is due.
    churn_at: Option<Instant>,
    /// `--flap-interval`: where this subscriber is in its flap.
    flap: Flap,
    next_flush: Instant,
    timer: std::pin::Pin<Box<Sleep>>,
    timer_at: Instant,
}

/// Where a flapping subscriber is in its flap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flap {
    /// Subscribed; flaps next at the slot.
    Subscribed,
    /// UNSUBSCRIBE sent at this time, waiting for UNSUBACK.
    Unsubscribing(Instant),
    /// Away since the UNSUBACK, which took this long; subscribes again at the slot.
    Away { unsuback_us: u64 },
    /// SUBSCRIBE sent at this time, waiting for SUBACK.
    Subscribing { since: Instant, unsuback_us: u64 },
}

/// Why the event loop ended.
enum End {
    /// The run is over: disconnect politely.
    Finished,
    /// The broker closed the connection or it broke.
    Dropped,
    /// A churning client's turn to disconnect and connect again.
    Churn,
}

impl Driver {
    /// Runs the client to its end. By reference: an `async fn` taking `self` by value
    /// keeps two copies of it in its future (rust-lang/rust#62958), in every client task.
    async fn drive(&mut self) {
        loop {
            let end = self.event_loop().await;
            self.flush_figures();
            match end {
                End::Finished => {
                    self.disconnect().await;
                    break;
                }
                End::Churn => {
                    self.disconnect().await;
                    let _ = self.tx.send(Msg::Update(Update::Disconnected));
                    // Boxed: a connect's state would otherwise grow every client task.
                    if !Box::pin(self.reconnect()).await {
                        break;
                    }
                }
                End::Dropped => {
                    let _ = self.tx.send(Msg::Update(Update::Dropped));
                    // A churning client comes back at its next slot.
                    if self.next_churn(self.phase).is_none() || !Box::pin(self.reconnect()).await {
                        break;
                    }
                }
            }
        }
        if self.subscribe_deadline.is_some() {
            // Never subscribed: the run must not wait for this one.
            let _ = self.tx.send(Msg::Ready);
        }
        self.send_done();
    }

    /// Sends DISCONNECT (normal) and waits a little for it to be written.
    async fn disconnect(&mut self) {
        // The packet (a `Packet` is as large as its largest variant, the CONNECT) is
        // gone before the wait, so that it is not kept in every client task.
        let queued = {
            let disconnect = Packet::Disconnect(crate::protocol::Disconnect::normal());
            self.conn.queue(&disconnect).is_ok()
        };
        if queued {
            let _ = tokio::time::timeout(Duration::from_secs(2), self.conn.flush()).await;
        }
    }

    fn send_done(&mut self) {
        if matches!(self.role, Role::Publisher(_)) && !self.done_sent {
            self.done_sent = true;
            // Its counts first, on the same channel: the run's drain target is what the
            // publishers reported sending when the last one is done.
            self.flush_figures();
            let last_sent_ns = self.publisher.as_ref().and_then(|p| p.last_sent_ns);
            let _ = self.tx.send(Msg::Done { last_sent_ns });
        }
    }

    async fn event_loop(&mut self) -> End {
        loop {
            let now = Instant::now();
            let phase = self.phase;
            if phase == Phase::Finishing {
                return End::Finished;
            }
            let churn = self.next_churn(phase);
            if churn.is_some_and(|at| now >= at) {
                return End::Churn;
            }
            let flap = self.next_flap(phase);
            if flap.is_some_and(|at| now >= at) {
                self.flap_step(now);
            }
            let flap = self.next_flap(phase);
            if let Phase::Publishing { start_ns, .. } = phase {
                if let Role::Publisher(index) = self.role {
                    self.produce(index, start_ns, now);
                }
            }
            if let Err(end) = self.handle_events(now) {
                return end;
            }
            while let Some(packet) = self.session.poll_transmit(now) {
                if self.conn.queue(&packet).is_err() {
                    self.count_error("encode");
                }
            }
            // Write what was queued now, without another turn of the loop; the select
            // below waits only when the socket is full.
            if self.conn.try_flush().is_err() {
                return End::Dropped;
            }
            if self.publishing_done() && self.session.is_idle() {
                self.send_done();
            }
            let unreported = self.has_unreported();
            let draining = matches!(phase, Phase::Publishing { draining: true, .. });
            if unreported && (draining || now >= self.next_flush || self.samples.len() >= MAX_BATCH)
            {
                self.flush_figures();
                self.next_flush = now + FLUSH_EVERY;
            }
            if let Some(deadline) = self.subscribe_deadline {
                if now >= deadline {
                    self.count_error("subscribe_timed_out");
                    return End::Dropped;
                }
            }
            // Idle clients sleep until something happens: with 10,000 of them a
            // periodic wake-up each would cost a core.
            let flush = self.has_unreported().then_some(self.next_flush);
            let mut deadline = self.ctx.epoch + FAR;
            for d in [
                flush,
                self.session.poll_timeout(),
                self.subscribe_deadline,
                churn,
                flap,
            ]
            .into_iter()
            .flatten()
            {
                deadline = deadline.min(d);
            }
            let due = self.next_due(phase);
            // One timer per client, moved only when the deadline moves: registering a
            // fresh one on every turn of the loop shows up in the profile. The next
            // message's send time waits on the thread's pacer instead, which wakes every
            // publisher due at once.
            if self.timer_at != deadline {
                self.timer.as_mut().reset(deadline.into());
                self.timer_at = deadline;
            }
            // A message due now (as fast as possible) goes round again after one
            // yield, so the other clients on this thread and the branches below get
            // their turn; a message due later waits for the pacer.
            let wait_due = async {
                match due {
                    Some(due) if due <= now => tokio::task::yield_now().await,
                    Some(due) => pacer::until(due).await,
                    None => std::future::pending().await,
                }
            };
            let want_write = self.conn.wants_write();
            tokio::select! {
                io = self.conn.io(want_write) => match io {
                    IoEvent::Read(Ok(0) | Err(_)) | IoEvent::Wrote(Err(_)) => return End::Dropped,
                    IoEvent::Read(Ok(_)) => {
                        if let Err(end) = self.decode_all() {
                            return end;
                        }
                    }
                    IoEvent::Wrote(Ok(())) => {}
                },
                _ = wait_due => {}
                _ = &mut self.timer => {
                    // A fired timer stays ready: make the next turn set it again.
                    self.timer_at = self.ctx.epoch;
                    self.session.handle_timeout(Instant::now());
                }
                changed = &mut self.phase_wait => match changed {
                    Some(mut phase) => {
                        self.phase = *phase.borrow_and_update();
                        self.phase_wait = wait_phase(phase);
                    }
                    None => return End::Finished,
                }
            }
        }
    }

    fn decode_all(&mut self) -> Result<(), End> {
        let now = Instant::now();
        loop {
            match self.conn.decode() {
                Ok(Some(packet)) => {
                    self.unreported_flow += u64::from(is_flow_packet(&packet));
                    if self.session.handle_packet(packet, now).is_err() {
                        self.count_error("protocol");
                        return Err(End::Dropped);
                    }
                }
                Ok(None) => return Ok(()),
                Err(_) => {
                    self.count_error("protocol");
                    return Err(End::Dropped);
                }
            }
            // Take events as they come so receive times stay per read.
            self.handle_events(now)?;
        }
    }

    fn handle_events(&mut self, now: Instant) -> Result<(), End> {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Message(publish) => self.on_message(&publish, now),
                Event::Delivered {
                    seq, reason_code, ..
                } => {
                    if let Some(publisher) = self.publisher.as_mut() {
                        publisher.delivered(seq, now);
                    }
                    if !reason_code.is_success() {
                        self.count_error("publish_rejected");
                    }
                }
                Event::Dropped(_) => self.count_error("publish_dropped"),
                Event::PeerTimedOut => {
                    self.count_error("keep_alive_timeout");
                    return Err(End::Dropped);
                }
                Event::Other(Packet::SubAck(ack)) => {
                    if ack.reason_codes.iter().any(|c| !c.is_success()) {
                        self.count_error("subscribe_refused");
                    }
                    if !self.on_flap_suback(now) {
                        self.subscribe_deadline = None;
                        let _ = self.tx.send(Msg::Ready);
                    }
                }
                Event::Other(Packet::UnsubAck(ack)) => {
                    let refused = ack.reason_codes.iter().any(|c| !c.is_success());
                    self.on_unsuback(now, refused);
                }
                Event::Other(Packet::Disconnect(_)) => {
                    self.count_error("disconnected_by_broker");
                    return Err(End::Dropped);
                }
                Event::Other(_) | Event::Store(_) => {}
            }
        }
        Ok(())
    }

    fn on_message(&mut self, publish: &Publish, now: Instant) {
        let Role::Subscriber(_) = self.role else {
            self.count_error("unexpected_message");
            return;
        };
        match Header::decode(&publish.payload) {
            Ok(h) => {
                self.payload_len = publish.payload.len();
                self.samples.push(Sample {
                    publisher: h.publisher,
                    sequence: h.sequence,
                    sent_at_ns: h.sent_at_ns.saturating_sub(self.ctx.header_clock_ns),
                    received_at_ns: self.ctx.now_ns(now),
                });
            }
            Err(_) => self.count_error("foreign_payload"),
        }
    }

    fn count_error(&self, kind: &'static str) {
        let _ = self.tx.send(Msg::Update(Update::Error { kind }));
    }

    fn has_unreported(&self) -> bool {
        self.publisher.as_ref().is_some_and(|p| p.has_unreported())
            || self.unreported_flow > 0
            || !self.samples.is_empty()
    }

    /// Hands counters and samples gathered since the last call to the collector.
    fn flush_figures(&mut self) {
        if self.unreported_flow > 0 {
            let packets = std::mem::take(&mut self.unreported_flow);
            let _ = self.tx.send(Msg::Update(Update::Flow { packets }));
        }
        if let (Role::Publisher(index), Some(publisher)) = (self.role, &mut self.publisher) {
            if publisher.unreported_sent > 0 {
                let count = std::mem::take(&mut publisher.unreported_sent);
                let _ = self.tx.send(Msg::Update(Update::Published {
                    publisher: index,
                    count,
                }));
            }
            if !publisher.round_trips.is_empty() {
                let round_trips_us = std::mem::take(&mut publisher.round_trips);
                let _ = self.tx.send(Msg::Update(Update::Acked { round_trips_us }));
            }
        }
        if let (Role::Subscriber(i), false) = (self.role, self.samples.is_empty()) {
            let receiver = self.ctx.plan.subscribers[i as usize].receiver;
            let samples = std::mem::take(&mut self.samples);
            let payload_len = self.payload_len;
            let _ = self.tx.send(Msg::Update(Update::Samples {
                receiver,
                samples,
                payload_len,
            }));
        }
    }
}

/// True for the packets of a QoS flow: the broker working for us, even when no message
/// is delivered (see `quiet`).
fn is_flow_packet(packet: &Packet) -> bool {
    matches!(
        packet,
        Packet::Publish(_)
            | Packet::PubAck(_)
            | Packet::PubRec(_)
            | Packet::PubRel(_)
            | Packet::PubComp(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::PubResponse;

    #[test]
    fn flow_packets_are_the_qos_flows_only() {
        let id = PubResponse::new(7);
        for p in [
            Packet::PubAck(id.clone()),
            Packet::PubRec(id.clone()),
            Packet::PubRel(id.clone()),
            Packet::PubComp(id.clone()),
        ] {
            assert!(is_flow_packet(&p), "{p:?}");
        }
        assert!(!is_flow_packet(&Packet::PingResp));
        assert!(!is_flow_packet(&Packet::PingReq));
    }
}

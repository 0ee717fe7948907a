//! The state every connection task shares: the router, the session store, delayed
//! wills, hooks. Also "end a session": remove
//! its subscriptions, give unacknowledged shared messages to other members, publish
//! a will still waiting. And the `-v` log lines, as text or (`--log-format json`) as JSON
//! objects. Must not do I/O beyond `output`'s log lines.

use crate::broker::clock::timestamp;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::broker::config::BrokerConfig;
use crate::broker::conn::linger::Lingering;
use crate::broker::conn::signal::Signal;
use crate::broker::limits::{ConnectRate, PerIp};
use crate::broker::persist::kept_session::KeptSession;
use crate::broker::persist::session_store::SessionStore;
use crate::broker::route::flow::Blocked;
use crate::broker::route::message::{Delivery, Message};
use crate::broker::route::router::{Routed, Router};
use crate::broker::sys::{FixtureGauges, Gauges, SysState};
use crate::broker::will::DelayedWills;
use crate::protocol::{topic, Properties, QoS};

/// The state shared by the listener and every connection task.
#[derive(Debug)]
pub struct Shared {
    /// The settings.
    pub config: BrokerConfig,
    /// Subscriptions, retained messages, counters.
    pub router: Router,
    /// Client identifier → connection or kept session.
    pub sessions: Mutex<SessionStore<KeptSession, Arc<Signal>>>,
    /// Wills waiting for their delay.
    pub wills: Mutex<DelayedWills>,
    /// When the broker started.
    pub started: Instant,
    /// The `$SYS` values published last.
    pub sys: SysState,
    next_id: AtomicU64,
    /// Connections reading on after they were closed with a reason (`conn::linger`).
    pub lingering: Lingering,
    /// Connections per IP address (`--max-connections-per-ip`).
    pub per_ip: PerIp,
    /// CONNECTs per address, for `--max-connect-rate`.
    pub connect_rate: ConnectRate,
}

impl Shared {
    /// Fresh state.
    pub fn new(config: BrokerConfig) -> Shared {
        Shared {
            router: Router::with_retained_limits(config.max_retained, config.max_retained_bytes),
            config,
            sessions: Mutex::new(SessionStore::new()),
            wills: Mutex::new(DelayedWills::new()),
            started: Instant::now(),
            sys: SysState::default(),
            next_id: AtomicU64::new(1),
            lingering: Lingering::default(),
            per_ip: PerIp::default(),
            connect_rate: ConnectRate::default(),
        }
    }

    /// A number never handed out before (connection and session ids).
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The session store (never held across `.await`).
    pub fn sessions(&self) -> MutexGuard<'_, SessionStore<KeptSession, Arc<Signal>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The delayed wills (never held across `.await`).
    pub fn wills(&self) -> MutexGuard<'_, DelayedWills> {
        self.wills.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Routes a message (and tells persistence about retained changes); a full queue
    /// drops it for that session. For wills and other messages without a publisher to
    /// slow down.
    pub fn publish(&self, msg: Message, now: Instant) {
        let (blocked, _) = self.publish_or_block(msg, now);
        self.give_up(blocked);
    }

    /// Routes a message like `publish`, but gives back the QoS 1/2 deliveries that
    /// found a live session's queue full, for the publisher to wait on (`flow`), and
    /// whether any subscription matched (`Routed::matched`).
    pub fn publish_or_block(&self, msg: Message, now: Instant) -> (Vec<Blocked>, bool) {
        let msg = Arc::new(msg);
        self.router
            .stats
            .publish_received
            .fetch_add(1, Ordering::Relaxed);
        let mut routed = self.router.publish(msg.clone(), now);
        // After the retained store took it or refused it (`--max-retained`).
        if msg.retain && !routed.retained_refused {
            let stored = (!msg.payload.is_empty()).then_some(&msg);
            self.config.persistence.retained_changed(&msg.topic, stored);
        }
        self.log_dropped(&routed);
        if self.config.verbosity >= 2 {
            let fields = LogFields {
                event: "publish",
                ..LogFields::default()
            };
            self.log_with(
                2,
                fields,
                format_args!(
                    "publish to {} ({} bytes, q{}, r{}): {} receivers, {} dropped, {} waiting",
                    &*msg.topic,
                    msg.payload.len(),
                    msg.qos as u8,
                    u8::from(msg.retain),
                    routed.delivered,
                    routed.dropped,
                    routed.blocked.len()
                ),
            );
        }
        (std::mem::take(&mut routed.blocked), routed.matched)
    }

    /// Publishes the `$SYS/broker/...` values that changed since the last time: retained
    /// QoS 0 messages, straight to the router (they are not client messages to count).
    /// Called every `sys_interval` and before a `$SYS` subscription takes the retained
    /// values, so that a subscriber never starts from a stale snapshot (the one of the
    /// broker's first instant, with no client connected yet, in its first interval).
    pub fn publish_sys(&self, now: Instant) {
        let gauges = || {
            let (clients_connected, clients_disconnected) = self.sessions().counts();
            let (subscriptions, retained) = self.router.counts();
            Gauges {
                uptime: now.saturating_duration_since(self.started),
                clients_connected,
                clients_disconnected,
                subscriptions,
                retained,
                fixture: self.fixture_gauges(),
            }
        };
        self.sys
            .refresh(&self.router.stats, gauges, |topic, value| {
                let msg = Message {
                    topic: topic.into(),
                    payload: value.to_owned().into(),
                    qos: QoS::AtMostOnce,
                    retain: true,
                    properties: Properties::default(),
                    publisher: 0,
                    received_at: now,
                };
                let routed = self.router.publish(Arc::new(msg), now);
                self.give_up(routed.blocked);
            });
    }

    /// Drops what is still blocked (unless its queue has room by now), counted and
    /// logged like any full queue (`flow::give_up`).
    pub fn give_up(&self, blocked: Vec<Blocked>) {
        if blocked.is_empty() {
            return;
        }
        let mut routed = Routed::default();
        self.router.drop_blocked(blocked, &mut routed);
        self.log_dropped(&routed);
    }

    /// Logs the sessions a message was dropped for.
    pub fn log_dropped(&self, routed: &Routed) {
        for client_id in &routed.dropped_for {
            self.log(
                1,
                format_args!("Outgoing messages are being dropped for client {client_id}."),
            );
        }
    }

    /// Ends a session for good: its subscriptions go, its unacknowledged and queued
    /// shared-subscription messages go to other members, and a will still waiting for
    /// its delay is published now (MQTT 5.0 §3.1.3.2.2).
    pub fn end_session(&self, client_id: &str, mut kept: KeptSession, now: Instant) {
        let session_id = kept.session_id;
        kept.set_online(false);
        if kept.is_stored() {
            kept.set_stored(None);
            self.config.persistence.session_removed(client_id);
        }
        for filter in kept.subscriptions.keys() {
            let (share, inner) = topic::split_shared(filter);
            self.router.unsubscribe(inner, share, session_id);
        }
        kept.close();
        let mut orphans: Vec<Delivery> = match kept.shared_inflight.take() {
            Some(mut inflight) => inflight.drain().map(|(_, d)| d).collect(),
            None => Vec::new(),
        };
        while let Ok(d) = kept.try_recv() {
            if d.group().is_some() {
                orphans.push(d);
            }
        }
        for d in orphans {
            self.router.requeue_shared(d, session_id, now);
        }
        let will = self.wills().take(client_id);
        if let Some(will) = will {
            self.publish(will, now);
        }
    }

    /// The fault and trace counters for `$SYS`, when those are on.
    fn fixture_gauges(&self) -> Option<FixtureGauges> {
        let (faults, trace) = (&self.config.faults, &self.config.trace);
        if faults.is_none() && trace.is_none() {
            return None;
        }
        Some(FixtureGauges {
            faults: faults.as_ref().map(|f| (f.fired(), f.active())),
            trace: trace.as_ref().map(|t| t.counts()),
        })
    }

    /// Logs a line at `-v` (level 1) or `-vv` (level 2).
    pub fn log(&self, level: u8, line: std::fmt::Arguments<'_>) {
        self.log_with(level, LogFields::default(), line);
    }

    /// Logs a line with its fields: as text, `SECONDS: LINE` (mosquitto's form), or
    /// with `--log-format json` one JSON object with the fields and the line.
    pub fn log_with(&self, level: u8, fields: LogFields<'_>, line: std::fmt::Arguments<'_>) {
        if self.config.verbosity < level {
            return;
        }
        if !self.config.log_json {
            crate::output::log_line(format_args!("{}: {}", timestamp(), line));
            return;
        }
        let now = std::time::SystemTime::now();
        let mut obj = serde_json::Map::new();
        obj.insert(
            "time".into(),
            crate::output::message::rfc3339_utc(now).into(),
        );
        let ns = now
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        obj.insert("unix_ns".into(), (ns.as_nanos() as u64).into());
        obj.insert(
            "level".into(),
            if level >= 2 { "debug" } else { "info" }.into(),
        );
        obj.insert("event".into(), fields.event.into());
        if let Some(id) = fields.client_id {
            obj.insert("client_id".into(), id.into());
        }
        if let Some(addr) = fields.address {
            obj.insert("address".into(), addr.to_string().into());
        }
        if let Some(reason) = fields.reason {
            obj.insert("reason".into(), reason.into());
        }
        obj.insert("message".into(), line.to_string().into());
        crate::output::log_line(serde_json::Value::Object(obj));
    }
}

/// The fields of a log line beyond its text (`--log-format json`).
#[derive(Debug, Clone)]
pub struct LogFields<'a> {
    /// What happened: `connected`, `disconnected`, `refused`, `fault`, ...; `log` for
    /// lines without a name of their own.
    pub event: &'static str,
    /// The client concerned.
    pub client_id: Option<&'a str>,
    /// Its address.
    pub address: Option<SocketAddr>,
    /// Why (a reason code, an error, the rule that fired).
    pub reason: Option<String>,
}

impl Default for LogFields<'_> {
    fn default() -> Self {
        LogFields {
            event: "log",
            client_id: None,
            address: None,
            reason: None,
        }
    }
}

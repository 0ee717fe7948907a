//! `Peer`, the test client of the cases: one `net::Connection` after `net::handshake`,
//! with waits that never hang (every read has a deadline), the QoS flows of the sender
//! and receiver spelled out packet by packet (a case must see each step), and raw bytes
//! written through the same stream. Must not decide what is correct (the cases do),
//! retry or reconnect.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt as _;

use super::verdict::{Check, Verdict};
use crate::net::{self, Connection};
use crate::protocol::{
    ConnAck, Packet, Properties, ProtocolVersion, PubResponse, Publish, QoS, ReasonCode, SubAck,
    Subscribe, Subscription,
};

/// What came next on a connection.
// Short-lived, one at a time: boxing the packet would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Next {
    /// A packet.
    Packet(Packet),
    /// The broker closed the connection (or reset it).
    Closed,
    /// Nothing within the wait.
    Silent,
    /// Bytes that do not decode: the broker sent a malformed packet.
    Broken(String),
}

/// A connected test client.
pub struct Peer {
    /// The framed connection (cases that write raw bytes use `conn.wbuf`/`send_raw`).
    pub conn: Connection,
    /// The client identifier used (or assigned by the broker).
    pub client_id: String,
    /// The broker's CONNACK.
    pub connack: ConnAck,
    /// Packets read while waiting for another one, handed out by `next` first.
    pending: VecDeque<Packet>,
    next_packet_id: u16,
}

impl Peer {
    /// A peer over `conn`, which has completed the handshake with `connack`.
    pub fn new(conn: Connection, client_id: String, connack: ConnAck) -> Peer {
        Peer {
            conn,
            client_id,
            connack,
            pending: VecDeque::new(),
            next_packet_id: 1,
        }
    }

    /// The version spoken.
    pub fn version(&self) -> ProtocolVersion {
        self.conn.version()
    }

    /// A packet id not used by this peer yet (1, 2, …; never 0).
    pub fn packet_id(&mut self) -> u16 {
        let id = self.next_packet_id;
        self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
        id
    }

    /// Encodes and writes `packet`.
    pub async fn send(&mut self, packet: &Packet) -> Check {
        self.conn
            .queue(packet)
            .map_err(|e| Verdict::Error(format!("cannot encode {}: {e}", packet.name())))?;
        self.flush().await
    }

    /// Writes `bytes` as they are, after anything queued.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Check {
        self.conn.wbuf.extend_from_slice(bytes);
        self.flush().await
    }

    async fn flush(&mut self) -> Check {
        match tokio::time::timeout(Duration::from_secs(5), self.conn.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Verdict::Fail(format!(
                "the broker closed the connection: {}",
                net::dial::io_reason(&e)
            ))),
            Err(_) => Err(Verdict::Fail(
                "the broker did not read what was sent for 5 s".into(),
            )),
        }
    }

    /// The next packet within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Next {
        if let Some(packet) = self.pending.pop_front() {
            return Next::Packet(packet);
        }
        match tokio::time::timeout(wait, self.conn.read_packet()).await {
            Err(_) => Next::Silent,
            Ok(Ok(Some(packet))) => Next::Packet(packet),
            Ok(Ok(None)) => Next::Closed,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                Next::Broken(e.to_string())
            }
            Ok(Err(_)) => Next::Closed,
        }
    }

    /// Waits for the first packet `pick` accepts, keeping the others for `next`.
    pub async fn expect<T>(
        &mut self,
        wait: Duration,
        what: &str,
        mut pick: impl FnMut(&Packet) -> Option<T>,
    ) -> Result<T, Verdict> {
        if let Some(at) = self.pending.iter().position(|p| pick(p).is_some()) {
            let packet = self
                .pending
                .remove(at)
                .expect("the position was just found");
            return Ok(pick(&packet).expect("it was just picked"));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let packet = match tokio::time::timeout(left, self.conn.read_packet()).await {
                Err(_) => return Err(Verdict::Fail(format!("no {what} within {wait:?}"))),
                Ok(Ok(Some(packet))) => packet,
                Ok(Ok(None)) => {
                    return Err(Verdict::Fail(format!(
                        "the broker closed the connection instead of sending {what}"
                    )))
                }
                Ok(Err(e)) => {
                    return Err(Verdict::Fail(format!(
                        "the connection failed while waiting for {what}: {e}"
                    )))
                }
            };
            if let Some(found) = pick(&packet) {
                return Ok(found);
            }
            if let Packet::Disconnect(d) = &packet {
                return Err(Verdict::Fail(format!(
                    "the broker sent DISCONNECT {} instead of {what}",
                    d.reason_code
                )));
            }
            self.pending.push_back(packet);
        }
    }

    /// The next PUBLISH within `wait`.
    pub async fn expect_publish(&mut self, wait: Duration) -> Result<Publish, Verdict> {
        self.expect(wait, "PUBLISH", |p| match p {
            Packet::Publish(p) => Some(p.clone()),
            _ => None,
        })
        .await
    }

    /// Every PUBLISH that arrives within `wait` (acknowledged as it comes).
    pub async fn collect(&mut self, wait: Duration) -> Result<Vec<Publish>, Verdict> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Packet(Packet::Publish(p)) => {
                    self.ack(&p).await?;
                    got.push(p);
                }
                Next::Packet(_) => {}
                Next::Silent => return Ok(got),
                Next::Closed => {
                    return Err(Verdict::Fail(
                        "the broker closed the connection of a subscriber".into(),
                    ))
                }
                Next::Broken(e) => return Err(Verdict::Fail(format!("malformed packet: {e}"))),
            }
        }
    }

    /// The PUBLISHes that arrive until `n` came (or `wait` passed), and any more within
    /// `extra` after the `n`th: a case sees duplicates without always waiting `wait`.
    pub async fn collect_n(
        &mut self,
        n: usize,
        wait: Duration,
        extra: Duration,
    ) -> Result<Vec<Publish>, Verdict> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut got = Vec::new();
        while got.len() < n {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let more = self.collect_one(left).await?;
            match more {
                Some(p) => got.push(p),
                None => return Ok(got),
            }
        }
        got.extend(self.collect(extra).await?);
        Ok(got)
    }

    async fn collect_one(&mut self, wait: Duration) -> Result<Option<Publish>, Verdict> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Packet(Packet::Publish(p)) => {
                    self.ack(&p).await?;
                    return Ok(Some(p));
                }
                Next::Packet(_) => {}
                Next::Silent => return Ok(None),
                Next::Closed => {
                    return Err(Verdict::Fail(
                        "the broker closed the connection of a subscriber".into(),
                    ))
                }
                Next::Broken(e) => return Err(Verdict::Fail(format!("malformed packet: {e}"))),
            }
        }
    }

    /// Fails when a PUBLISH arrives within `wait`.
    pub async fn expect_no_publish(&mut self, wait: Duration, why: &str) -> Check {
        let got = self.collect(wait).await?;
        match got.first() {
            None => Ok(()),
            Some(p) => Err(Verdict::Fail(format!(
                "{why}, but got PUBLISH {} {:?} (qos {}, retain {})",
                p.topic,
                Bytes::clone(&p.payload),
                p.qos as u8,
                p.retain
            ))),
        }
    }

    /// Waits at most `wait` for the broker to close the connection; returns the
    /// DISCONNECT it sent first (MQTT 5), if any.
    pub async fn expect_closed(&mut self, wait: Duration) -> Result<Option<ReasonCode>, Verdict> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut reason = None;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Closed | Next::Broken(_) => return Ok(reason),
                Next::Packet(Packet::Disconnect(d)) => reason = Some(d.reason_code),
                Next::Packet(_) => {}
                Next::Silent => {
                    return Err(Verdict::Fail(format!(
                        "the connection was still open after {wait:?}"
                    )))
                }
            }
        }
    }

    /// SUBSCRIBE with `subscriptions` and `properties`; the SUBACK.
    pub async fn subscribe_with(
        &mut self,
        subscriptions: Vec<Subscription>,
        properties: Properties,
        wait: Duration,
    ) -> Result<SubAck, Verdict> {
        let packet_id = self.packet_id();
        self.send(&Packet::Subscribe(Subscribe {
            packet_id,
            subscriptions,
            properties,
        }))
        .await?;
        self.expect(wait, "SUBACK", |p| match p {
            Packet::SubAck(s) if s.packet_id == packet_id => Some(s.clone()),
            _ => None,
        })
        .await
    }

    /// Subscribes to `filter` at `qos`; fails unless the broker grants it (any QoS).
    pub async fn subscribe(&mut self, filter: &str, qos: QoS, wait: Duration) -> Check {
        let ack = self
            .subscribe_with(
                vec![Subscription::new(filter, qos)],
                Properties::default(),
                wait,
            )
            .await?;
        match ack.reason_codes.first() {
            Some(code) if code.is_success() => Ok(()),
            other => Err(Verdict::Error(format!(
                "SUBSCRIBE {filter} was refused: {other:?}"
            ))),
        }
    }

    /// Publishes `publish` (a packet id is given when QoS > 0 and it has none) and runs
    /// the sender's flow to its end; the PUBACK or PUBREC.
    pub async fn publish(
        &mut self,
        mut publish: Publish,
        wait: Duration,
    ) -> Result<Option<PubResponse>, Verdict> {
        if publish.qos != QoS::AtMostOnce && publish.packet_id == 0 {
            publish.packet_id = self.packet_id();
        }
        let id = publish.packet_id;
        let qos = publish.qos;
        self.send(&Packet::Publish(publish)).await?;
        match qos {
            QoS::AtMostOnce => Ok(None),
            QoS::AtLeastOnce => self.expect_ack(id, "PUBACK", wait).await.map(Some),
            QoS::ExactlyOnce => {
                let rec = self.expect_ack(id, "PUBREC", wait).await?;
                if rec.reason_code.is_success() {
                    self.send(&Packet::PubRel(PubResponse::new(id))).await?;
                    self.expect_ack(id, "PUBCOMP", wait).await?;
                }
                Ok(Some(rec))
            }
        }
    }

    /// Waits for the PUBACK/PUBREC/PUBREL/PUBCOMP (`name`) of packet `id`.
    pub async fn expect_ack(
        &mut self,
        id: u16,
        name: &'static str,
        wait: Duration,
    ) -> Result<PubResponse, Verdict> {
        self.expect(wait, &format!("{name} {id}"), |p| match p {
            Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r)
                if r.packet_id == id && p.name() == name =>
            {
                Some(r.clone())
            }
            _ => None,
        })
        .await
    }

    /// The receiver's side of `publish`'s flow: PUBACK, or PUBREC, PUBREL, PUBCOMP.
    pub async fn ack(&mut self, publish: &Publish) -> Check {
        let id = publish.packet_id;
        match publish.qos {
            QoS::AtMostOnce => Ok(()),
            QoS::AtLeastOnce => self.send(&Packet::PubAck(PubResponse::new(id))).await,
            QoS::ExactlyOnce => {
                self.send(&Packet::PubRec(PubResponse::new(id))).await?;
                self.expect_ack(id, "PUBREL", Duration::from_secs(5))
                    .await?;
                self.send(&Packet::PubComp(PubResponse::new(id))).await
            }
        }
    }

    /// A normal DISCONNECT, then close.
    pub async fn disconnect(mut self) {
        let disconnect = Packet::Disconnect(crate::protocol::Disconnect::normal());
        if self.conn.queue(&disconnect).is_ok() {
            self.conn.write_final().await;
        }
    }

    /// Closes the TCP connection without DISCONNECT: an abnormal close for the broker.
    pub async fn drop_connection(mut self) {
        self.conn.wbuf.clear();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.conn.stream.shutdown()).await;
    }
}

/// A PUBLISH of `payload` to `topic` at `qos`, not retained, no properties.
pub fn message(topic: &str, qos: QoS, payload: &'static [u8]) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        packet_id: 0,
        properties: Properties::default(),
        payload: Bytes::from_static(payload),
    }
}

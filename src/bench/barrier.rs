//! The start barrier of a sharded run: one extra connection per shard that subscribes to
//! the run's `…/ready/+` flags, sets its own retained `…/ready/I` flag once its clients
//! are connected and subscribed, and lets the shard publish when all N flags are seen
//! (or at `--start-at`). The flag's payload is the parameter hash, so a shard started
//! with other parameters stops the run. Flags are retained so that a shard which
//! subscribes late still sees the others (MQTT 5.0 §3.3.1.3); each shard clears its own
//! at the end.
//! Must not measure; it only tells the run's driver when to start.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::client;
use super::config::BenchConfig;
use super::conn::{self, Conn};
use super::shard::{self, Shard, StartRule};
use crate::protocol::{Disconnect, Packet, Properties, Publish, QoS, Subscribe, Subscription};

/// The barrier task's ends, held by the driver: `ready` is sent once this shard's
/// clients are ready, `go` answers when to publish (or why not), `done` ends it
/// (clearing the flag).
pub struct BarrierHandle {
    pub ready: Option<oneshot::Sender<()>>,
    pub go: oneshot::Receiver<Result<(), String>>,
    pub done: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl BarrierHandle {
    /// Ends the barrier: its flag is cleared before this returns (or after 2 s, when the
    /// broker does not take it: the next run has a new run id anyway).
    pub async fn finish(mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

/// Starts the barrier task for `shard` of a run with `hash` as its parameter hash.
pub fn start(
    config: BenchConfig,
    addr: SocketAddr,
    shard: Shard,
    hash: String,
    rule: StartRule,
) -> BarrierHandle {
    let (ready_tx, ready_rx) = oneshot::channel();
    let (go_tx, go_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        // The flag connection lives until the end, so the flag is cleared even when
        // the barrier gave up.
        let mut flags: Option<Conn> = None;
        let result = match rule {
            StartRule::Flags { timeout } => match connect(&config, addr, &shard).await {
                Ok(conn) => {
                    let conn = flags.insert(conn);
                    let _ = ready_rx.await;
                    wait_for_flags(conn, &shard, &hash, timeout).await
                }
                Err(why) => Err(why),
            },
            StartRule::At { unix_secs } => {
                let _ = ready_rx.await;
                match wait_until(unix_secs) {
                    Ok(()) => {
                        tokio::time::sleep(until(unix_secs)).await;
                        Ok(())
                    }
                    Err(why) => Err(why),
                }
            }
        };
        let _ = go_tx.send(result);
        let _ = done_rx.await;
        if let Some(mut conn) = flags {
            clear_flag(&mut conn, &shard).await;
        }
    });
    BarrierHandle {
        ready: Some(ready_tx),
        go: go_rx,
        done: Some(done_tx),
        task,
    }
}

/// Connects the barrier client and subscribes to every shard's flag. No keep alive:
/// it sits idle for the whole run.
async fn connect(config: &BenchConfig, addr: SocketAddr, shard: &Shard) -> Result<Conn, String> {
    let id = format!("{}barrier", config.id_prefix);
    let mut connect = client::connect_packet(config, config.version, id);
    connect.keep_alive_secs = 0;
    let (mut conn, _) = conn::open(
        addr,
        None,
        config.tls.as_ref(),
        connect,
        config.connect_timeout,
    )
    .await
    .map_err(|e| format!("the start barrier cannot connect to {addr}: {}", e.kind()))?;
    let subscribe = Subscribe {
        packet_id: 1,
        subscriptions: vec![Subscription::new(
            shard::ready_filter(&shard.run_id),
            QoS::AtMostOnce,
        )],
        properties: Properties::default(),
    };
    send(&mut conn, Packet::Subscribe(subscribe)).await?;
    Ok(conn)
}

async fn send(conn: &mut Conn, packet: Packet) -> Result<(), String> {
    conn.queue(&packet)
        .map_err(|e| format!("the start barrier cannot encode a packet: {e}"))?;
    conn.flush()
        .await
        .map_err(|e| format!("the start barrier lost its connection: {e}"))
}

/// Sets this shard's flag, then reads flags until all `count` are seen, each carrying
/// this run's parameter hash.
async fn wait_for_flags(
    conn: &mut Conn,
    shard: &Shard,
    hash: &str,
    timeout: Duration,
) -> Result<(), String> {
    let flag = Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: true,
        topic: shard::ready_topic(&shard.run_id, shard.index).into(),
        packet_id: 2,
        properties: Properties::default(),
        payload: Bytes::from(hash.to_string()),
    };
    send(conn, Packet::Publish(flag)).await?;
    let mut seen = BTreeSet::new();
    let read = async {
        while seen.len() < shard.count as usize {
            let packet = conn
                .read_packet()
                .await
                .map_err(|e| format!("the start barrier lost its connection: {e}"))?
                .ok_or("the broker closed the start barrier's connection")?;
            if let Packet::Publish(p) = packet {
                if p.payload.is_empty() {
                    continue; // a flag being cleared
                }
                let index = p
                    .topic
                    .rsplit('/')
                    .next()
                    .and_then(|i| i.parse::<u32>().ok());
                let Some(index) = index.filter(|i| *i < shard.count) else {
                    continue;
                };
                if p.payload != hash.as_bytes() {
                    return Err(format!(
                        "shard {index} of run {} runs other parameters (hash {}, this shard's {hash}): start every shard with the same flags, or give this run another --run-id",
                        shard.run_id,
                        String::from_utf8_lossy(&p.payload)
                    ));
                }
                seen.insert(index);
            }
        }
        Ok(())
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(result) => result,
        Err(_) => {
            let missing: Vec<String> = (0..shard.count)
                .filter(|i| !seen.contains(i))
                .map(|i| i.to_string())
                .collect();
            Err(format!(
                "start barrier: shard(s) {} of run {} not ready after {} s; start all {} shards with the same --run-id, or raise --barrier-timeout",
                missing.join(", "),
                shard.run_id,
                timeout.as_secs(),
                shard.count
            ))
        }
    }
}

/// Refuses a `--start-at` already well past: the shards would not start together.
fn wait_until(unix_secs: f64) -> Result<(), String> {
    let now = now_unix_secs();
    if unix_secs + 1.0 < now {
        return Err(format!(
            "--start-at {unix_secs}: that was {:.0} s ago when this shard was ready; give a time in the future",
            now - unix_secs
        ));
    }
    Ok(())
}

fn now_unix_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn until(unix_secs: f64) -> Duration {
    Duration::from_secs_f64((unix_secs - now_unix_secs()).max(0.0))
}

/// Removes this shard's retained flag (an empty retained message, MQTT 5.0 §3.3.1.3)
/// and disconnects.
async fn clear_flag(conn: &mut Conn, shard: &Shard) {
    let clear = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: true,
        topic: shard::ready_topic(&shard.run_id, shard.index).into(),
        packet_id: 0,
        properties: Properties::default(),
        payload: Bytes::new(),
    };
    let _ = send(conn, Packet::Publish(clear)).await;
    let _ = send(conn, Packet::Disconnect(Disconnect::normal())).await;
}

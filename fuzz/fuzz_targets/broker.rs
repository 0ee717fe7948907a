//! A whole broker (`mqtk::broker::start`) with up to four clients, each an in-memory
//! stream (`tokio::io::duplex`, through `net::Stream`'s boxed transport) fed the
//! packets and raw bytes the fuzzer chooses, interleaved, so that routing, retained
//! messages, wills, shared subscriptions and kept sessions are reached, then every
//! malformed-input path. Must never panic or hang. The runtime's clock is paused: the
//! broker's timers (CONNECT timeout, keep alive, flow-control waits, will delays) fire
//! as soon as every task is idle.
#![no_main]

use std::net::SocketAddr;
use std::time::Duration;

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use mqtk::broker::{BrokerConfig, RunningBroker, Transport};
use mqtk::protocol::{
    Connect, Disconnect, Packet, Properties, ProtocolVersion, PubResponse, Publish, QoS,
    ReasonCode, Subscribe, Subscription, Unsubscribe, Will,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, WriteHalf};

const CLIENTS: usize = 4;
const TOPICS: [&str; 6] = ["a", "a/b", "a/b/c", "$SYS/x", "b/c", ""];
const FILTERS: [&str; 8] = ["a/#", "a/+", "#", "+/b/+", "$share/g/a/#", "a/b", "$SYS/#", "b/c"];

#[derive(Debug, Arbitrary)]
struct Input {
    max_queued: u8,
    max_inflight: u8,
    steps: Vec<Step>,
}

#[derive(Debug, Arbitrary)]
struct Step {
    client: u8,
    action: Action,
}

#[derive(Debug, Arbitrary)]
enum Action {
    Connect {
        v5: bool,
        id: u8,
        clean: bool,
        keep_alive: u8,
        expiry: Option<u8>,
        will: Option<(u8, bool, u8, Option<u8>)>,
        receive_maximum: Option<u8>,
        alias_max: Option<u8>,
    },
    Subscribe { filter: u8, qos: u8, no_local: bool, rap: bool, handling: u8, id: u16 },
    Unsubscribe { filter: u8, id: u16 },
    Publish { topic: u8, qos: u8, retain: bool, id: u16, alias: Option<u8>, payload: u8 },
    Ack { kind: u8, id: u16 },
    Ping,
    Disconnect { reason: u8 },
    Raw(Vec<u8>),
    /// Let the broker run until idle.
    Settle,
    /// Move the clock (seconds).
    Sleep(u8),
    Close,
}

struct Client {
    writer: WriteHalf<DuplexStream>,
    version: ProtocolVersion,
}

fn pick<T: Copy>(list: &[T], n: u8) -> T {
    list[usize::from(n) % list.len()]
}

fn qos(n: u8) -> QoS {
    QoS::from_u8(n % 3).expect("0, 1 or 2")
}

fn connect(action: &Action) -> Option<Connect> {
    let Action::Connect { v5, id, clean, keep_alive, expiry, will, receive_maximum, alias_max } =
        action
    else {
        return None;
    };
    let mut properties = Properties::default();
    properties.session_expiry_interval = expiry.map(|e| u32::from(e) * 10);
    properties.receive_maximum = receive_maximum.map(|r| u16::from(r).max(1));
    properties.topic_alias_maximum = alias_max.map(u16::from);
    let will = will.map(|(topic, retain, q, delay)| {
        let mut properties = Properties::default();
        properties.will_delay_interval = delay.map(u32::from);
        Will {
            topic: pick(&TOPICS, topic).into(),
            payload: Bytes::from_static(b"will"),
            qos: qos(q),
            retain,
            properties,
        }
    });
    Some(Connect {
        protocol_version: if *v5 { ProtocolVersion::V5 } else { ProtocolVersion::V311 },
        client_id: if id % 5 == 0 { String::new() } else { format!("c{}", id % 5) },
        clean_start: *clean,
        keep_alive_secs: (*keep_alive).into(),
        username: None,
        password: None,
        will,
        properties: if *v5 { properties } else { Properties::default() },
    })
}

/// The bytes an action writes (a CONNECT also sets the client's version).
fn bytes_of(action: &Action, version: &mut ProtocolVersion) -> Option<BytesMut> {
    let packet = match action {
        Action::Connect { .. } => {
            let c = connect(action)?;
            *version = c.protocol_version;
            Packet::Connect(c)
        }
        Action::Subscribe { filter, qos: q, no_local, rap, handling, id } => {
            let mut s = Subscription::new(pick(&FILTERS, *filter), qos(*q));
            s.no_local = *no_local;
            s.retain_as_published = *rap;
            s.retain_handling = match handling % 3 {
                0 => mqtk::protocol::RetainHandling::SendOnSubscribe,
                1 => mqtk::protocol::RetainHandling::SendIfNew,
                _ => mqtk::protocol::RetainHandling::DoNotSend,
            };
            Packet::Subscribe(Subscribe {
                packet_id: (*id).max(1),
                subscriptions: vec![s],
                properties: Properties::default(),
            })
        }
        Action::Unsubscribe { filter, id } => Packet::Unsubscribe(Unsubscribe {
            packet_id: (*id).max(1),
            filters: vec![pick(&FILTERS, *filter).to_string()],
            properties: Properties::default(),
        }),
        Action::Publish { topic, qos: q, retain, id, alias, payload } => {
            let qos = qos(*q);
            let mut properties = Properties::default();
            properties.topic_alias = alias.map(|a| u16::from(a % 4));
            Packet::Publish(Publish {
                dup: false,
                qos,
                retain: *retain,
                topic: pick(&TOPICS, *topic).into(),
                packet_id: if qos == QoS::AtMostOnce { 0 } else { (*id).max(1) },
                properties,
                payload: Bytes::from(vec![b'p'; usize::from(*payload) * 4]),
            })
        }
        Action::Ack { kind, id } => {
            let r = PubResponse::new(*id);
            match kind % 4 {
                0 => Packet::PubAck(r),
                1 => Packet::PubRec(r),
                2 => Packet::PubRel(r),
                _ => Packet::PubComp(r),
            }
        }
        Action::Ping => Packet::PingReq,
        Action::Disconnect { reason } => Packet::Disconnect(Disconnect::with_reason(
            ReasonCode::from_u8(*reason).unwrap_or(ReasonCode::Success),
        )),
        Action::Raw(raw) => return Some(BytesMut::from(&raw[..])),
        Action::Settle | Action::Sleep(_) | Action::Close => return None,
    };
    let mut buf = BytesMut::new();
    packet.encode(*version, &mut buf).ok()?;
    Some(buf)
}

async fn open_client(broker: &RunningBroker, index: usize) -> Client {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let peer = SocketAddr::from(([127, 0, 0, 1], 40000 + index as u16));
    broker
        .handle()
        .spawn_connection(Box::new(theirs) as Box<dyn Transport>, peer);
    let (mut reader, writer) = tokio::io::split(ours);
    // Whatever the broker sends is read and dropped, so it never waits on us.
    tokio::spawn(async move {
        let mut sink = vec![0u8; 16 * 1024];
        while matches!(reader.read(&mut sink).await, Ok(n) if n > 0) {}
    });
    Client {
        writer,
        version: ProtocolVersion::V5,
    }
}

async fn run(input: Input) {
    let config = BrokerConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        max_queued: usize::from(input.max_queued % 16) + 1,
        max_inflight: u16::from(input.max_inflight % 8) + 1,
        ..BrokerConfig::default()
    };
    let Ok(broker) = mqtk::broker::start(config).await else {
        return;
    };
    let mut clients: Vec<Option<Client>> = (0..CLIENTS).map(|_| None).collect();
    for step in input.steps.iter().take(64) {
        let index = usize::from(step.client) % CLIENTS;
        match &step.action {
            Action::Settle => tokio::time::sleep(Duration::from_millis(1)).await,
            Action::Sleep(secs) => tokio::time::sleep(Duration::from_secs((*secs).into())).await,
            Action::Close => {
                if let Some(mut client) = clients[index].take() {
                    let _ = client.writer.shutdown().await;
                }
            }
            action => {
                if clients[index].is_none() {
                    clients[index] = Some(open_client(&broker, index).await);
                }
                let client = clients[index].as_mut().expect("opened just above");
                if let Some(bytes) = bytes_of(action, &mut client.version) {
                    // Bounded: a broker that stopped reading for good is a hang to report
                    // as one (the clock is paused, so this costs no real time).
                    let write = client.writer.write_all(&bytes);
                    match tokio::time::timeout(Duration::from_secs(60), write).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => clients[index] = None,
                        Err(_) => panic!("the broker stopped reading from client {index}"),
                    }
                }
            }
        }
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    drop(clients);
    broker.shutdown().await;
}

fuzz_target!(|input: Input| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(run(input));
});

//! From a new network connection to a running `Conn`: wait (bounded) for CONNECT,
//! check it, take over an existing connection of the same client identifier, resume or
//! start the session, and answer CONNACK with what the server supports (MQTT 5.0
//! §3.2.2.3). Must not keep the session store locked across `.await`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot, watch};

use crate::broker::conn::connection::Conn;
use crate::broker::conn::fixture::{connect_fault, ConnectFault};
use crate::broker::conn::linger::linger;
use crate::broker::conn::signal::Signal;
use crate::broker::hooks::ClientIdentity;
use crate::broker::limits::{self, Limit};
use crate::broker::persist::kept_session::KeptSession;
use crate::broker::persist::session_store::Previous;
use crate::broker::shared::{LogFields, Shared};
use crate::broker::will::PendingWill;
use crate::net::{Connection, Stream};
use crate::protocol::session::{Role, Session, SessionConfig};
use crate::protocol::{
    topic, ConnAck, Connect, Packet, ProtocolError, ProtocolVersion, ReasonCode,
};

/// How long a new connection waits for the old one to hand its session over.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one network connection from its first byte to its end; `done` is dropped
/// at the end (shutdown waits for every such handle).
///
/// The CONNECT phase is boxed and takes the arguments, so that neither its state nor
/// the arguments stay inline in the long-lived connection future (an `async fn` keeps
/// its arguments for its whole life): memory per idle connection.
pub fn serve_connection(
    stream: Stream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) -> impl std::future::Future<Output = ()> + Send {
    // --max-connections-per-ip counts from the first byte: a slow-loris still in its
    // CONNECT phase holds a place too. Over the limit, the socket is closed at once.
    let (slot, refused) = match shared.config.max_connections_per_ip {
        Some(max) => match shared.per_ip.enter(peer.ip(), max) {
            // Boxed: 8 bytes in the connection's future (memory per idle connection).
            Some(slot) => (Some(Box::new(slot)), false),
            None => {
                limits::hit(Limit::ConnectionsPerIp, || {
                    format!(
                        "{max} connections from {} are open; closing a new one",
                        peer.ip()
                    )
                });
                (None, true)
            }
        },
        None => (None, false),
    };
    let handshake = (!refused).then(|| Box::pin(handshake(stream, peer, shared, shutdown)));
    async move {
        if let Some(handshake) = handshake {
            if let Some(conn) = handshake.await {
                conn.run().await;
            }
        }
        drop(slot);
        drop(done);
    }
}

async fn handshake(
    stream: Stream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> Option<Box<Conn>> {
    let mut io = Connection::new(stream, ProtocolVersion::V5).with_adaptive_reads();
    let connect = tokio::select! {
        c = tokio::time::timeout(shared.config.connect_timeout, read_connect(&mut io, &shared)) => c,
        _ = wait_shutdown(shutdown.clone()) => return None,
    };
    let connect = match connect {
        Ok(Ok(connect)) => connect,
        Ok(Err(why)) => {
            shared.log(1, format_args!("Bad CONNECT from {peer}: {why}; closing."));
            let told = !io.wbuf.is_empty();
            io.write_final().await;
            if told {
                // The CONNACK 0x01 of an unsupported protocol level.
                linger(&mut io, &shared.lingering).await;
            }
            return None;
        }
        Err(_) => {
            shared.log(
                1,
                format_args!("Client {peer} sent no CONNECT in time; closing."),
            );
            return None;
        }
    };
    accept(io, connect, peer, shared, shutdown).await
}

async fn wait_shutdown(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Reads until the first packet; it must be a CONNECT (MQTT 5.0 §3.1).
async fn read_connect(io: &mut Connection, shared: &Shared) -> Result<Connect, String> {
    loop {
        match Packet::decode(
            &mut io.rbuf,
            ProtocolVersion::V5,
            shared.config.max_packet_size,
        ) {
            Ok(Some(Packet::Connect(connect))) => return Ok(connect),
            Ok(Some(_)) => return Err("the first packet is not CONNECT".into()),
            Ok(None) => {}
            Err(ProtocolError::UnsupportedProtocolVersion(level)) => {
                // MQTT 3.1.1 §3.1.2.2: CONNACK 0x01 (unacceptable protocol level), in
                // the 3.1.1 layout a client of any version can read.
                io.wbuf.extend_from_slice(&[0x20, 0x02, 0x00, 0x01]);
                return Err(format!("unsupported protocol level {level}"));
            }
            Err(err) => return Err(err.to_string()),
        }
        match io.stream.read_buf(&mut io.rbuf).await {
            Ok(0) => return Err("connection closed before CONNECT".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Refuses a CONNECT with `code` (CONNACK, then close).
async fn refuse(
    mut io: Connection,
    version: ProtocolVersion,
    code: ReasonCode,
    shared: &Shared,
    peer: SocketAddr,
) {
    let fields = LogFields {
        event: "refused",
        address: Some(peer),
        reason: Some(code.to_string()),
        ..LogFields::default()
    };
    shared.log_with(
        1,
        fields,
        format_args!("Refused connection from {peer}: {code}."),
    );
    let ack = ConnAck {
        session_present: false,
        reason_code: code,
        properties: Default::default(),
    };
    if Packet::ConnAck(ack).encode(version, &mut io.wbuf).is_ok() {
        io.write_final().await;
        linger(&mut io, &shared.lingering).await;
    }
}

/// From a valid CONNECT to a running connection, in its phases: checks, client
/// identifier, takeover, the session (resumed or new) with what the server grants, the
/// CONNACK, the `Conn`.
async fn accept(
    io: Connection,
    connect: Connect,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> Option<Box<Conn>> {
    let version = connect.protocol_version;
    let now = Instant::now();
    if let Err(code) = check_connect(&connect, &shared, peer) {
        refuse(io, version, code, &shared, peer).await;
        return None;
    }
    match connect_fault(&shared, &connect, peer).await {
        ConnectFault::Pass => {}
        ConnectFault::Refuse(code) => {
            refuse(io, version, code, &shared, peer).await;
            return None;
        }
        ConnectFault::Close => return None,
    }
    let conn_id = shared.next_id();
    let assigned = connect.client_id.is_empty();
    let client_id: Arc<str> = if assigned {
        format!("mqtk-{conn_id:016x}").into()
    } else {
        connect.client_id.as_str().into()
    };
    if !will_allowed(&connect, &client_id, &shared) {
        refuse(io, version, ReasonCode::NotAuthorized, &shared, peer).await;
        return None;
    }
    let signal = Arc::new(Signal::default());
    let previous = take_over(&shared, &client_id, conn_id, signal.clone(), now).await;
    // Registered: from now a shutdown reaches this connection through `signal`; one
    // that started before is seen here (the store's lock orders the two).
    if *shutdown.borrow() {
        signal.shut_down();
    }
    let (mut kept, resumed) = resume_or_start(&shared, &connect, &client_id, previous, now);
    let granted = Granted::new(&connect, &shared);
    start_session(
        &shared, &mut kept, version, &client_id, &granted, resumed, now,
    );
    let ack = connack(&connect, &shared, &granted, resumed, &client_id, assigned);
    log_connected(&shared, &connect, peer, &client_id, granted.keep_alive);
    let props = &connect.properties;
    let will = connect
        .will
        .as_ref()
        .map(|w| Box::new(PendingWill::from_will(w, kept.session_id, now)));
    let mut conn = Box::new(Conn {
        io,
        shared: shared.clone(),
        conn_id,
        peer,
        identity: ClientIdentity {
            client_id,
            username: connect.username.clone(),
        },
        version,
        kept,
        will,
        session_expiry: granted.session_expiry,
        client_max_packet: props.maximum_packet_size.unwrap_or(u32::MAX),
        client_alias_max: if version == ProtocolVersion::V5 {
            props.topic_alias_maximum.unwrap_or(0)
        } else {
            0
        },
        send_maximum: granted.send_maximum,
        extra: None,
        signal,
        tap: None,
    });
    conn.attach_tap(&connect);
    // CONNACK goes before anything the resumed session resends.
    conn.encode(Packet::ConnAck(ack));
    conn.save_session(true);
    Some(conn)
}

/// The checks a CONNECT must pass before it gets a client identifier, in mosquitto's
/// order after `--max-connect-rate`; the error is the CONNACK reason to refuse it with.
fn check_connect(connect: &Connect, shared: &Shared, peer: SocketAddr) -> Result<(), ReasonCode> {
    // Before the password check, whose hashing is what a CONNECT flood costs most.
    limits::check_connect_rate(&shared.config, &shared.connect_rate, peer.ip())?;
    let v5 = connect.protocol_version == ProtocolVersion::V5;
    if v5 && connect.properties.authentication_method.is_some() {
        // MQTT 5.0 §4.12: no enhanced authentication method is supported.
        return Err(ReasonCode::BadAuthenticationMethod);
    }
    if connect.client_id.is_empty() && !v5 && !connect.clean_start {
        // MQTT 3.1.1 §3.1.3.1 [MQTT-3.1.3-8].
        return Err(ReasonCode::ClientIdentifierNotValid);
    }
    if let Some(will) = &connect.will {
        if topic::validate_topic_name(&will.topic).is_err() {
            return Err(ReasonCode::TopicNameInvalid);
        }
        let max = shared.config.max_topic_levels;
        if limits::topic_levels(&will.topic) > max {
            limits::hit(Limit::TopicLevels, || {
                format!("a will topic has more than {max} levels; refusing its CONNECT")
            });
            return Err(ReasonCode::TopicNameInvalid);
        }
    }
    shared.config.auth.connect(connect)?;
    if let Some(max) = shared.config.max_connections {
        if shared.sessions().counts().0 >= max {
            return Err(ReasonCode::ServerUnavailable);
        }
    }
    Ok(())
}

/// As mosquitto 2.0: a will the client could not publish itself is refused at CONNECT,
/// or the ACL could be bypassed by disconnecting.
fn will_allowed(connect: &Connect, client_id: &Arc<str>, shared: &Shared) -> bool {
    let Some(will) = &connect.will else {
        return true;
    };
    let identity = ClientIdentity {
        client_id: client_id.clone(),
        username: connect.username.clone(),
    };
    if shared.config.auth.can_publish(&identity, &will.topic) {
        return true;
    }
    shared.log(
        1,
        format_args!("Denied will topic {} of {client_id}.", &*will.topic),
    );
    false
}

/// What the server grants a CONNECT: keep alive, send window, storage, expiry.
struct Granted {
    keep_alive: u16,
    /// MQTT 5 Server Keep Alive, when `keep_alive` is not what the client asked for.
    server_keep_alive: Option<u16>,
    send_maximum: u16,
    /// `--data-dir`: a session that outlives its connection is stored.
    stored: bool,
    session_expiry: u32,
}

impl Granted {
    fn new(connect: &Connect, shared: &Shared) -> Granted {
        let v5 = connect.protocol_version == ProtocolVersion::V5;
        // Keep alive: MQTT 5 clients asking for more than --max-keepalive (or 0, no
        // limit) get Server Keep Alive (§3.2.2.3.14); 3.1.1 clients are held to the limit.
        let max_keepalive = shared.config.max_keepalive;
        let mut keep_alive = connect.keep_alive_secs;
        let mut server_keep_alive = None;
        if keep_alive > max_keepalive || (keep_alive == 0 && max_keepalive < u16::MAX) {
            keep_alive = max_keepalive;
            server_keep_alive = v5.then_some(max_keepalive);
        }
        let props = &connect.properties;
        let send_maximum = props
            .receive_maximum
            .unwrap_or(u16::MAX)
            .min(shared.config.max_inflight);
        let stored = shared.config.persistence.keeps_sessions()
            && if v5 {
                props.session_expiry_interval.unwrap_or(0) > 0
            } else {
                !connect.clean_start
            };
        let session_expiry = if v5 {
            props.session_expiry_interval.unwrap_or(0)
        } else if connect.clean_start {
            0
        } else {
            u32::MAX
        };
        Granted {
            keep_alive,
            server_keep_alive,
            send_maximum,
            stored,
            session_expiry,
        }
    }
}

/// Sets the session up for this connection (resumed or new) and marks it online and
/// stored or not.
fn start_session(
    shared: &Shared,
    kept: &mut KeptSession,
    version: ProtocolVersion,
    client_id: &str,
    granted: &Granted,
    resumed: bool,
    now: Instant,
) {
    let session_config = SessionConfig {
        send_maximum: granted.send_maximum,
        receive_maximum: shared.config.max_inflight,
        keep_alive: (granted.keep_alive > 0)
            .then(|| Duration::from_secs(granted.keep_alive.into())),
        max_queued: Some(shared.config.max_queued),
        topic_alias_maximum: shared.config.topic_alias_maximum,
        persist: granted.stored,
        ..SessionConfig::new(version, Role::Server)
    };
    if resumed {
        kept.session.resume(session_config, now);
    } else {
        kept.session = Session::new(session_config, now);
    }
    kept.set_online(true);
    if kept.is_stored() && !granted.stored {
        shared.config.persistence.session_removed(client_id);
    }
    kept.set_stored(granted.stored.then_some(&shared.config.persistence));
}

/// The CONNACK: for MQTT 5, with what the server supports (§3.2.2.3).
fn connack(
    connect: &Connect,
    shared: &Shared,
    granted: &Granted,
    resumed: bool,
    client_id: &str,
    assigned: bool,
) -> ConnAck {
    let mut ack = ConnAck {
        session_present: resumed,
        reason_code: ReasonCode::Success,
        properties: Default::default(),
    };
    if connect.protocol_version != ProtocolVersion::V5 {
        return ack;
    }
    let p = &mut ack.properties;
    p.receive_maximum = Some(shared.config.max_inflight);
    p.retain_available = Some(1);
    p.topic_alias_maximum = Some(shared.config.topic_alias_maximum);
    p.wildcard_subscription_available = Some(1);
    p.subscription_identifier_available = Some(1);
    p.shared_subscription_available = Some(1);
    p.server_keep_alive = granted.server_keep_alive;
    if shared.config.max_packet_size < crate::protocol::codec::MAX_VARINT {
        p.maximum_packet_size = Some(shared.config.max_packet_size);
    }
    if assigned {
        p.assigned_client_identifier = Some(client_id.to_string());
    }
    if connect.properties.request_response_information == Some(1) {
        // MQTT 5.0 §4.10: a prefix the client may use for its response topics.
        p.response_information = Some(format!("response/{client_id}/"));
    }
    ack
}

fn log_connected(
    shared: &Shared,
    connect: &Connect,
    peer: SocketAddr,
    client_id: &str,
    keep_alive: u16,
) {
    let fields = LogFields {
        event: "connected",
        client_id: Some(client_id),
        address: Some(peer),
        reason: None,
    };
    shared.log_with(
        1,
        fields,
        format_args!(
            "New client connected from {peer} as {client_id} (p{}, c{}, k{}{}).",
            connect.protocol_version.level(),
            u8::from(connect.clean_start),
            keep_alive,
            connect
                .username
                .as_deref()
                .map(|u| format!(", u'{u}'"))
                .unwrap_or_default()
        ),
    );
}

/// Registers the connection under `client_id`; if another connection has it, asks
/// that one to close and hand its session over (MQTT 5.0 §3.1.4, 0x8E).
async fn take_over(
    shared: &Shared,
    client_id: &Arc<str>,
    conn_id: u64,
    signal: Arc<Signal>,
    now: Instant,
) -> Option<KeptSession> {
    // The takeover request is sent under the store's lock: the old connection, ending
    // at the same moment, checks for it after finding (under the same lock) that it no
    // longer owns the client identifier, so the session cannot fall between the two.
    let (previous, expired, reply) = {
        let mut store = shared.sessions();
        let (previous, expired) = store.connect(client_id.clone(), conn_id, signal, now);
        match previous {
            Previous::Online(old) => {
                let (tx, rx) = oneshot::channel();
                let reply = old.take_over(tx).is_ok().then_some(rx);
                (None, expired, reply)
            }
            Previous::Offline(kept) => (Some(kept), expired, None),
            Previous::None => (None, expired, None),
        }
    };
    if let Some(expired) = expired {
        shared.end_session(client_id, expired, now);
    }
    match reply {
        Some(rx) => tokio::time::timeout(TAKEOVER_TIMEOUT, rx)
            .await
            .ok()
            .and_then(Result::ok)
            .flatten(),
        None => previous,
    }
}

/// The session to use: the kept one unless Clean Start (which ends it, publishing a
/// will that waits for its delay), or a new one. Returns it and "session present".
fn resume_or_start(
    shared: &Shared,
    connect: &Connect,
    client_id: &Arc<str>,
    previous: Option<KeptSession>,
    now: Instant,
) -> (KeptSession, bool) {
    // MQTT 5.0 §3.1.3.2.2: a new connection before the will delay passed cancels the
    // will, unless it starts clean, which ends the old session and so sends the will.
    if connect.clean_start {
        let will = shared.wills().take(client_id);
        if let Some(will) = will {
            shared.publish(will, now);
        }
    } else {
        shared.wills().cancel(client_id);
    }
    match previous {
        Some(kept) if !connect.clean_start => (kept, true),
        other => {
            if let Some(old) = other {
                shared.end_session(client_id, old, now);
            }
            // The mailbox comes with the first subscription (`KeptSession`).
            let session = Session::new(
                SessionConfig::new(connect.protocol_version, Role::Server),
                now,
            );
            (KeptSession::new(shared.next_id(), session), false)
        }
    }
}

//! Opening one bench connection, kept lean for tens of thousands of them: TCP from a
//! chosen local address (`net::dial`), TLS over it, the one CONNECT/CONNACK handshake
//! (`net::handshake`), and what went wrong as the report's error kinds. The connection
//! itself is `net::Connection` (TCP inline, TLS boxed, a read buffer that grows only
//! when needed).
//!
//! Bench does not use `client::`: the client core reconnects on its own, which a load
//! generator must not do. Must not run QoS flows (`protocol::session` does) or keep
//! statistics.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::FutureExt as _;

use crate::net::handshake::{handshake, HandshakeError};
use crate::net::tls::{connect_tls, TlsOptions};
use crate::net::{dial, Connection, Stream};
use crate::protocol::{ConnAck, Connect};

pub use crate::net::IoEvent;

/// A bench connection.
pub type Conn = Connection;

/// Why a client could not connect: the kind is the key in the report's `errors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// TCP connection refused.
    Refused,
    /// No CONNACK within the connect timeout.
    TimedOut,
    /// No local port or address left (EADDRNOTAVAIL): use more --bind-addresses.
    NoLocalPort,
    /// Out of file descriptors (EMFILE, ENFILE): the open-file limit is too low for
    /// this many clients (bench warns before the run when it is).
    NoFileDescriptor,
    /// The CONNACK carried a failure reason code.
    ConnAckRefused(String),
    /// An MQTT 5 CONNECT was refused as an unknown version: CONNACK 0x84, a 3.1.1
    /// CONNACK (which does not decode as 5), or the connection closed or reset in
    /// answer, as 3.1.1-only brokers do (MQTT 3.1.1 §3.1.2.2; a broker that closes
    /// before reading the whole CONNECT resets the connection).
    VersionRefused,
    /// The TLS handshake failed (bad certificate, wrong name, not a TLS port, …): the
    /// text says why and which flag fixes it.
    Tls(String),
    /// Any other I/O or protocol problem.
    Other(String),
}

impl ConnectFailure {
    /// The error kind in the report.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectFailure::Refused => "connect_refused",
            ConnectFailure::TimedOut => "connect_timed_out",
            ConnectFailure::NoLocalPort => "connect_no_local_port",
            ConnectFailure::NoFileDescriptor => "connect_too_many_open_files",
            ConnectFailure::ConnAckRefused(_) => "connack_refused",
            ConnectFailure::VersionRefused => "connect_version_refused",
            ConnectFailure::Tls(_) => "connect_tls",
            ConnectFailure::Other(_) => "connect_error",
        }
    }

    /// What went wrong, when the kind alone does not say it (for the summary line).
    pub fn detail(&self) -> Option<&str> {
        match self {
            ConnectFailure::Tls(text) => Some(text),
            _ => None,
        }
    }
}

/// TLS for every connection of a run: the rustls config, loaded once from the flags and
/// shared (an `Arc`) by all clients, and the host name the broker's certificate must
/// carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsTarget {
    /// The loaded `--cafile`/`--cert`/`--key`/`--insecure`.
    pub options: TlsOptions,
    /// The name checked against the broker's certificate (`-h` or the URL's host).
    pub host: String,
}

/// Connects to `addr` from `bind` (any local address when `None`), sends `connect`
/// and waits for a successful CONNACK, all within `timeout`.
pub fn open(
    addr: SocketAddr,
    bind: Option<IpAddr>,
    tls: Option<&TlsTarget>,
    connect: Connect,
    timeout: Duration,
) -> impl Future<Output = Result<(Conn, ConnAck), ConnectFailure>> + '_ {
    // A combinator, not an `async fn`: its arguments (the CONNECT) would stay in every
    // client task beside `open_inner`'s copy of them.
    tokio::time::timeout(timeout, open_inner(addr, bind, tls, connect, timeout))
        .map(|result| result.unwrap_or(Err(ConnectFailure::TimedOut)))
}

async fn open_inner(
    addr: SocketAddr,
    bind: Option<IpAddr>,
    tls: Option<&TlsTarget>,
    connect: Connect,
    timeout: Duration,
) -> Result<(Conn, ConnAck), ConnectFailure> {
    let tcp = dial::tcp_from(addr, bind).await.map_err(io_failure)?;
    let stream = match tls {
        None => Stream::from(tcp),
        // The handshake's future holds a whole rustls connection: boxed, so that it
        // does not grow every client task (plain ones too) by its size.
        Some(tls) => Stream::from(
            Box::pin(connect_tls(tcp, &tls.host, &tls.options))
                .await
                .map_err(|e| ConnectFailure::Tls(e.to_string()))?,
        ),
    };
    let mut conn = Connection::new(stream, connect.protocol_version);
    // Boxed too: the exchange's timer and buffers are needed once, not for the task's life.
    match Box::pin(handshake(&mut conn, connect, timeout)).await {
        Ok(ack) => Ok((conn, ack)),
        Err(e) => Err(handshake_failure(e)),
    }
}

/// A failed TCP connection as its error kind.
fn io_failure(e: io::Error) -> ConnectFailure {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => ConnectFailure::Refused,
        Some(libc::EADDRNOTAVAIL) | Some(libc::EADDRINUSE) => ConnectFailure::NoLocalPort,
        Some(libc::EMFILE) | Some(libc::ENFILE) => ConnectFailure::NoFileDescriptor,
        _ => ConnectFailure::Other(e.to_string()),
    }
}

/// A failed handshake as its error kind.
fn handshake_failure(e: HandshakeError) -> ConnectFailure {
    match e {
        HandshakeError::VersionRefused(_) => ConnectFailure::VersionRefused,
        HandshakeError::Refused(ack) => {
            ConnectFailure::ConnAckRefused(format!("{:?}", ack.reason_code))
        }
        HandshakeError::Tls(why) => ConnectFailure::Tls(why),
        HandshakeError::TimedOut(_) => ConnectFailure::TimedOut,
        HandshakeError::Io(e) => io_failure(e),
        other => ConnectFailure::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_task_stays_under_1_5_kib() {
        // Every client task is allocated at its future's largest state, for the whole
        // run: the connect's state (and the TLS handshake's, a whole rustls connection)
        // must stay boxed, the `Driver` must be in the task once and a publisher's state
        // boxed (832 bytes in a test build; 3,160 when the drive future held the driver
        // twice and a DISCONNECT packet across its wait).
        use crate::bench::client::{self, Ctx, Phase, Role};
        use std::sync::Arc;
        let config = crate::bench::BenchConfig::new(crate::bench::Target::Embedded);
        let plan = crate::bench::plan::Plan::build(&config).unwrap();
        let ctx = Arc::new(Ctx {
            config,
            plan,
            addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            epoch: std::time::Instant::now(),
            publish_properties: crate::protocol::Properties::default(),
            header_clock_ns: 0,
        });
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let (_phase_tx, phase) = tokio::sync::watch::channel(Phase::Connecting);
        let permit = Arc::new(tokio::sync::Semaphore::new(1))
            .try_acquire_owned()
            .unwrap();
        let task = client::run(Role::Publisher(0), None, ctx, tx, phase, permit);
        let size = std::mem::size_of_val(&task);
        assert!(size < 1536, "a client task is {size} bytes");
    }
}

//! A 3.1.1-only broker for tests, as a client sees mosquitto 1.x: a TCP proxy on
//! 127.0.0.1 (port 0) in front of a real broker. It reads each connection's CONNECT far
//! enough to see the protocol level, refuses level 5 (a CONNACK with return code 1, or
//! a plain close: MQTT 3.1.1 §3.1.2.2 allows either; or a close before the rest of the
//! CONNECT is read, which the client sees as a reset), forwards level 4 to the broker
//! with the CONNECT bytes it read and then pipes bytes both ways until either side
//! closes. It counts what it did, so a test can assert which connections were refused.
//! Std threads only; every read has a timeout and drop joins every thread.
//! Must not parse MQTT beyond the CONNECT's protocol level, nor change forwarded bytes.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Longest a proxied connection may sit with nothing to read, and the bound on connects:
/// far beyond a test's run, so only a stuck peer ever hits it.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest CONNECT read; a test's clients send a few dozen bytes.
const MAX_CONNECT: usize = 64 * 1024;
/// CONNACK with the MQTT 3.1.1 return code 1, "unacceptable protocol version" (§3.2.2.3).
const CONNACK_BAD_VERSION: [u8; 4] = [0x20, 0x02, 0x00, 0x01];

/// How the proxy refuses a level-5 CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// CONNACK with return code 1, then close (what mosquitto 1.x does).
    ConnAck,
    /// Close without answering, after reading the whole CONNECT: the client reads the
    /// end of the stream.
    Close,
    /// Close without answering as soon as the level is read: the rest of the CONNECT is
    /// left unread, so the kernel answers with a reset instead of a clean end of stream.
    Reset,
}

/// What the proxy did with the connections it accepted.
#[derive(Debug, Default)]
struct Counts {
    refused_v5: AtomicUsize,
    forwarded_v4: AtomicUsize,
    /// Anything else: another level, not a CONNECT, or closed before a whole CONNECT.
    other: AtomicUsize,
}

/// The running proxy; stops accepting and joins its threads on drop.
pub struct V311Proxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
    acceptor: Option<JoinHandle<()>>,
}

impl V311Proxy {
    /// Starts a proxy to the broker on 127.0.0.1:`broker_port`.
    pub fn start(broker_port: u16, refusal: Refusal) -> V311Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0 must work");
        let addr = listener
            .local_addr()
            .expect("a bound socket has an address");
        let upstream = SocketAddr::from(([127, 0, 0, 1], broker_port));
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let acceptor = {
            let (stop, counts) = (stop.clone(), counts.clone());
            thread::spawn(move || accept_loop(listener, upstream, refusal, &stop, &counts))
        };
        V311Proxy {
            addr,
            stop,
            counts,
            acceptor: Some(acceptor),
        }
    }

    /// `["-h", "127.0.0.1", "-p", PORT]` for the proxy.
    pub fn host_args(&self) -> Vec<String> {
        crate::net::host_args(self.addr)
    }

    /// Level-5 CONNECTs refused so far.
    pub fn refused_v5(&self) -> usize {
        self.counts.refused_v5.load(Ordering::SeqCst)
    }

    /// Level-4 connections forwarded to the broker so far.
    pub fn forwarded_v4(&self) -> usize {
        self.counts.forwarded_v4.load(Ordering::SeqCst)
    }

    /// Connections that were neither (closed early, not a CONNECT, another level).
    pub fn other(&self) -> usize {
        self.counts.other.load(Ordering::SeqCst)
    }
}

impl Drop for V311Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so it sees the stop flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    refusal: Refusal,
    stop: &AtomicBool,
    counts: &Arc<Counts>,
) {
    let mut connections = Vec::new();
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(client) = client else { continue };
        let counts = counts.clone();
        connections.push(thread::spawn(move || {
            let _ = serve(client, upstream, refusal, &counts);
        }));
    }
    for connection in connections {
        let _ = connection.join();
    }
}

/// One client connection: CONNECT, then refuse or forward.
fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    refusal: Refusal,
    counts: &Counts,
) -> io::Result<()> {
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    client.set_write_timeout(Some(IO_TIMEOUT))?;
    // Counted before answering: the client acts on the answer, and the test reads the
    // counts after the client is done.
    let mut connect = match read_connect_head(&mut client) {
        Ok(connect) => connect,
        Err(e) => {
            counts.other.fetch_add(1, Ordering::SeqCst);
            return Err(e);
        }
    };
    match connect.level {
        5 => {
            counts.refused_v5.fetch_add(1, Ordering::SeqCst);
            if refusal == Refusal::Reset {
                // Closing (no shutdown, which would send a FIN first) with bytes unread.
                drop(client);
                return Ok(());
            }
            // With the whole CONNECT read, the close is a FIN, not a reset.
            connect.read_rest(&mut client)?;
            if refusal == Refusal::ConnAck {
                client.write_all(&CONNACK_BAD_VERSION)?;
            }
            client.shutdown(Shutdown::Both)
        }
        4 => {
            counts.forwarded_v4.fetch_add(1, Ordering::SeqCst);
            connect.read_rest(&mut client)?;
            let mut broker = TcpStream::connect_timeout(&upstream, IO_TIMEOUT)?;
            broker.set_read_timeout(Some(IO_TIMEOUT))?;
            broker.set_write_timeout(Some(IO_TIMEOUT))?;
            broker.set_nodelay(true)?;
            client.set_nodelay(true)?;
            broker.write_all(&connect.bytes)?;
            pipe(client, broker)
        }
        _ => {
            counts.other.fetch_add(1, Ordering::SeqCst);
            client.shutdown(Shutdown::Both)
        }
    }
}

/// A CONNECT packet read off the wire up to its protocol level.
struct ConnectHead {
    /// The bytes read so far, fixed header included, to forward unchanged.
    bytes: Vec<u8>,
    /// How many bytes of the packet are still unread.
    unread: usize,
    /// The protocol level (4 for 3.1.1, 5 for 5.0).
    level: u8,
}

impl ConnectHead {
    /// Reads the rest of the packet onto `bytes`.
    fn read_rest(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        let start = self.bytes.len();
        self.bytes.resize(start + self.unread, 0);
        stream.read_exact(&mut self.bytes[start..])?;
        self.unread = 0;
        Ok(())
    }
}

/// Reads a CONNECT's fixed header (MQTT 3.1.1 §2.2) and its variable header up to the
/// protocol level, which follows the protocol name (§3.1.2.1, §3.1.2.2).
fn read_connect_head(stream: &mut TcpStream) -> io::Result<ConnectHead> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte)?;
    if byte[0] != 0x10 {
        return Err(invalid("the first packet is not a CONNECT"));
    }
    let mut bytes = vec![byte[0]];
    let mut remaining = 0usize;
    for shift in [0, 7, 14, 21] {
        stream.read_exact(&mut byte)?;
        bytes.push(byte[0]);
        remaining |= usize::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
        if shift == 21 {
            return Err(invalid("malformed remaining length"));
        }
    }
    if remaining > MAX_CONNECT {
        return Err(invalid("CONNECT too large"));
    }
    let mut name_len = [0u8; 2];
    stream.read_exact(&mut name_len)?;
    bytes.extend_from_slice(&name_len);
    // The name, then the level.
    let head = usize::from(u16::from_be_bytes(name_len)) + 1;
    if 2 + head > remaining {
        return Err(invalid("CONNECT without a protocol level"));
    }
    let start = bytes.len();
    bytes.resize(start + head, 0);
    stream.read_exact(&mut bytes[start..])?;
    let level = bytes[bytes.len() - 1];
    Ok(ConnectHead {
        bytes,
        unread: remaining - 2 - head,
        level,
    })
}

/// Copies bytes both ways until either side closes (or a read times out), then closes
/// both so the other direction ends too.
fn pipe(client: TcpStream, broker: TcpStream) -> io::Result<()> {
    let (client_r, broker_w) = (client.try_clone()?, broker.try_clone()?);
    let upward = thread::spawn(move || copy_then_close(client_r, broker_w));
    copy_then_close(broker, client);
    let _ = upward.join();
    Ok(())
}

fn copy_then_close(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

//! The running broker: bind the TCP listener, accept connections (one task each),
//! run housekeeping once a second (session expiry, delayed wills, expired retained
//! messages, `$SYS`), and stop gracefully as mini-redis does: tell every connection
//! task, then wait until they have all dropped their completion handles.
//! `start` is the library entry point for `mqtk serve` and for bench's embedded mode.
//! Must not print: the caller prints the `listening on` line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::broker::clock::clock_ms;
use crate::broker::config::BrokerConfig;
use crate::broker::conn::accept::serve_connection;
use crate::broker::conn::signal::SWEEP_PERIOD;
use crate::broker::event_loops::EventLoops;
use crate::broker::shared::Shared;
use crate::net::Stream;

/// Why a listener could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The address is in use, not local, or not allowed.
    #[error("cannot listen on {addr} ({hint})")]
    Bind {
        /// Where it tried.
        addr: SocketAddr,
        /// The flag that chose the address, or what to try instead.
        hint: &'static str,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The Unix socket path cannot be bound (`--unix`).
    #[error("cannot listen on the unix socket {path} (--unix)")]
    Unix {
        /// The socket's path.
        path: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// Bound, but its address cannot be read.
    #[error("cannot read the listener's address")]
    LocalAddr(#[source] std::io::Error),
}

/// Binds a TCP listener on `addr`; `hint` names the flag that chose it.
pub async fn bind(
    addr: SocketAddr,
    hint: &'static str,
) -> Result<(TcpListener, SocketAddr), ListenError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError::Bind { addr, hint, source })?;
    let local = listener.local_addr().map_err(ListenError::LocalAddr)?;
    Ok((listener, local))
}

/// How long shutdown waits for connection tasks to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A handle that starts connection tasks: what the TCP listener uses, and what a TLS or
/// WebSocket listener uses once it has a byte stream.
#[derive(Debug, Clone)]
pub struct BrokerHandle {
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    /// Dropped by each connection task when it ends; shutdown waits for all of them.
    done: mpsc::Sender<()>,
    /// The other event loops TCP connections are spread over (`--threads`); `None`:
    /// all run on the caller's runtime.
    loops: Option<Arc<EventLoops>>,
}

impl BrokerHandle {
    /// Runs an MQTT connection over `stream` (a `TcpStream` or a boxed `Transport`) in
    /// its own task.
    pub fn spawn_connection(&self, stream: impl Into<Stream>, peer: SocketAddr) {
        tokio::spawn(self.clone().into_connection(stream.into(), peer));
    }

    /// The MQTT connection over `stream`, to be run as a task.
    fn into_connection(
        self,
        stream: Stream,
        peer: SocketAddr,
    ) -> impl std::future::Future<Output = ()> + Send {
        self.shared
            .router
            .stats
            .connections_total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        serve_connection(stream, peer, self.shared, self.shutdown, self.done)
    }

    /// Runs `run(tcp)` on the next event loop in turn (the caller's runtime without
    /// `--threads`): a TCP connection, before its TLS handshake or WebSocket upgrade,
    /// lives on one loop.
    pub fn spawn_tcp<F, Fut>(&self, tcp: TcpStream, run: F)
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let Some(loops) = &self.loops else {
            tokio::spawn(run(tcp));
            return;
        };
        if let Err(err) = loops.spawn_tcp(tcp, run) {
            self.log(
                1,
                format_args!("cannot move a connection to its event loop: {err}"),
            );
        }
    }

    /// Logs a line when `-v` is at least `level` (0: always), as the broker does.
    pub fn log(&self, level: u8, line: std::fmt::Arguments<'_>) {
        self.shared.log(level, line);
    }

    /// The configuration in force.
    pub fn config(&self) -> &BrokerConfig {
        &self.shared.config
    }

    /// Resolves once the broker is stopping.
    pub async fn stopping(&self) {
        let mut shutdown = self.shutdown.clone();
        let _ = shutdown.wait_for(|stop| *stop).await;
    }
}

/// A broker running in this process.
#[derive(Debug)]
pub struct RunningBroker {
    local_addr: SocketAddr,
    handle: BrokerHandle,
    stop: watch::Sender<bool>,
    done_rx: mpsc::Receiver<()>,
    tasks: Vec<JoinHandle<()>>,
}

/// Binds the listener and starts serving on the caller's runtime; returns once the
/// port is open.
pub async fn start(config: BrokerConfig) -> Result<RunningBroker, ListenError> {
    start_with_loops(config, None).await
}

/// `start`, spreading TCP connections over `loops` and the caller's runtime.
pub async fn start_with_loops(
    config: BrokerConfig,
    loops: Option<EventLoops>,
) -> Result<RunningBroker, ListenError> {
    let hint = "see --bind and --port; -p 0 picks a free port";
    let (listener, local_addr) = bind(config.bind, hint).await?;
    let shared = Arc::new(Shared::new(config));
    for msg in shared.config.persistence.load_retained() {
        shared.router.publish(Arc::new(msg), Instant::now());
    }
    crate::broker::restore::restore_sessions(&shared, Instant::now());
    let (stop, shutdown) = watch::channel(false);
    let (done, done_rx) = mpsc::channel(1);
    let handle = BrokerHandle {
        shared: shared.clone(),
        shutdown,
        done,
        loops: loops.map(Arc::new),
    };
    let accept = tokio::spawn(accept_loop(listener, handle.clone()));
    let sweep = tokio::spawn(keep_alive_sweep(shared.clone(), handle.shutdown.clone()));
    let housekeeping = tokio::spawn(housekeeping(shared, handle.shutdown.clone()));
    Ok(RunningBroker {
        local_addr,
        handle,
        stop,
        done_rx,
        tasks: vec![accept, housekeeping, sweep],
    })
}

impl RunningBroker {
    /// The address the MQTT/TCP listener is bound to (the real port with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to add connections from other listeners.
    pub fn handle(&self) -> BrokerHandle {
        self.handle.clone()
    }

    /// Stops accepting, tells every client (MQTT 5: DISCONNECT 0x8B), and waits
    /// (bounded) until every connection task has finished.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        // Connected clients hear it through their signal (one registering now sees
        // `stop` instead: the store's lock orders the two).
        for signal in self.handle.shared.sessions().online() {
            signal.shut_down();
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        let loops = self.handle.loops.take();
        drop(self.handle);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.done_rx.recv()).await;
        if let Some(loops) = loops {
            // The loops' threads end at once: their connections have finished.
            let _ = tokio::task::spawn_blocking(move || loops.stop()).await;
        }
    }
}

async fn accept_loop(listener: TcpListener, handle: BrokerHandle) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let broker = handle.clone();
                    handle.spawn_tcp(stream, move |tcp| broker.into_connection(tcp.into(), peer));
                }
                Err(err) => {
                    // EMFILE and friends: back off a little instead of spinning.
                    handle.shared.log(1, format_args!("accept failed: {err}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = handle.stopping() => return,
        }
    }
}

/// Every `SWEEP_PERIOD`: wakes the connection tasks whose keep-alive deadline passed
/// (their session decides), instead of a timer per connection.
async fn keep_alive_sweep(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SWEEP_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let now_ms = clock_ms(Instant::now());
        for signal in shared.sessions().online() {
            signal.sweep(now_ms);
        }
    }
}

/// Once a second: expire sessions, publish wills whose delay passed, drop expired
/// retained messages, refresh `$SYS` topics whose value changed.
async fn housekeeping(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut since_sys = shared.config.sys_interval;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let now = Instant::now();
        let expired = shared.sessions().take_expired(now);
        for (client_id, kept) in expired {
            shared.log(1, format_args!("Expiring session of client {client_id}."));
            shared.end_session(&client_id, kept, now);
        }
        let due = shared.wills().take_due(now);
        for will in due {
            shared.publish(will, now);
        }
        shared.router.prune_retained(now);
        since_sys += Duration::from_secs(1);
        if since_sys >= shared.config.sys_interval {
            since_sys = Duration::ZERO;
            shared.publish_sys(now);
        }
    }
}

//! The broker of `mqtk serve`: plain state (subscription trie, retained store, session
//! store, delayed wills, `$SYS` counters) unit-tested without sockets, and a thin tokio
//! layer (listener, one task per connection owning its session, shutdown).
//!
//! Routing design: the subscription trie sits behind a `std::sync::RwLock`. Every
//! publish takes the read lock (publishers on all cores proceed in parallel), walks
//! only the matching branches, and `try_send`s an `Arc<Message>` (one payload `Bytes`
//! for all subscribers) into each matching session's bounded mailbox; SUBSCRIBE,
//! UNSUBSCRIBE and session ends take the write lock. We chose this over a router task
//! because a single router task serialises every publish through one core and adds a
//! channel hop per message, while the read lock is uncontended except while a
//! (rare, short) subscribe changes the tree. A full mailbox never blocks the router: the
//! delivery is dropped for that session alone, or handed back for its publisher to wait
//! on (flow control, below), so a subscriber that stopped reading slows nobody.
//!
//! Each connection task drives the shared `protocol::session::Session` (QoS 1/2 flows
//! and keep-alive are written once for client and broker) and pulls from its mailbox
//! only while the client's receive window has room, so the mailbox is the one bounded
//! queue (`--max-queued`), online or offline. Flow control (`flow`): a QoS 1/2 message
//! that finds a live subscriber's queue full (drained within the last 200 ms) makes its
//! publisher's task wait for room, at most 1 s, reading nothing more from its socket
//! meanwhile, so under a flood publishers slow down to what subscribers take, as with
//! single-threaded mosquitto, instead of losing messages. A subscriber that stopped
//! reading, or is offline, never slows anyone: its queue fills and further messages are
//! dropped for it (counted, logged). QoS 0 waits the same way.
//!
//! Memory per idle connection (the figure is in README.md, `scripts/serve-memory`
//! measures it) is what the layout is shaped by. An idle connection holds the boxed
//! `Conn` with its `Session`; its tokio task, whose future stays small because the idle
//! wait polls the socket, the mailbox and the `Signal` by hand and everything rare (the
//! CONNECT phase, flow control, the goodbye) is boxed; tokio's I/O registration; the
//! session's `Mailbox` (its channel is made at the first delivery); the `Signal`
//! (takeover, shutdown, and a broker-wide keep-alive sweep instead of a timer per
//! connection); its trie path (level names inline up to 23 bytes, one-entry `SmallMap`s)
//! and subscription list. No read or write buffer while quiet (a quiet connection reads
//! into a stack buffer), no empty hash map (maps few connections use are boxed on first
//! use), no boxed TCP stream. A connection gives its buffers back before each wait, not
//! later from the sweep: clients that connect in a burst would all hold theirs until the
//! sweep, and the heap keeps that peak.
//!
//! The files, by concern (no file-level dependency cycle: `scripts/module-cycles`):
//! - `route/`: a published message to the mailboxes of its receivers: `message`,
//!   `mailbox`, the `subscriptions` trie, `retained`, `router`, and `flow`, the one
//!   owner of publisher back-pressure. Uses only `hooks` and `sys` outside itself.
//! - `conn/`: one task per network connection: `accept` (CONNECT → CONNACK),
//!   `connection` (the task and its I/O over a `net::Connection`), `handler`
//!   (what each packet does), `persistence` (what it tells the `Persistence` hook),
//!   `signal` (what wakes it), `linger` (the graceful close after a reason was sent).
//! - `persist/`: sessions that outlive a connection: `kept_session`, the in-memory
//!   `session_store`, and `--data-dir`'s `data_dir` hook over the redb `database`.
//! - `access/`: who may connect and what they may do: `auth` over `password` and `acl`.
//! - `shared`: the state every connection task shares, and ending a session.
//! - `config`: `BrokerConfig`; `mosquitto_conf`: the `-c FILE` parser; `file_error`: why
//!   a mosquitto text file could not be used.
//! - `limits`: the abuse limits' log lines and connections per IP address.
//! - `hooks`: the access-control and persistence seams; `will`: wills and the MQTT 5
//!   will delay; `sys`: counters and `$SYS/broker/...`; `restore`: stored sessions back
//!   at start.
//! - `server`: `start`, the listener, housekeeping, graceful shutdown; `listeners`: the
//!   TLS and WebSocket listeners.
//! - `fault/`: fault injection rules (`--fault`, `--faults`, `$CONTROL/mqtk/faults`):
//!   parsed and matched here, applied by `conn/fixture.rs`; `trace`: `--trace`, one
//!   JSON line per packet through a bounded queue to a writer thread.

pub mod access;
mod clock;
mod config;
mod conn;
pub mod event_loops;
pub mod fault;
mod file_error;
pub mod hooks;
mod limits;
pub mod listeners;
pub mod mosquitto_conf;
pub mod persist;
mod restore;
mod route;
mod server;
mod shared;
mod sys;
pub mod trace;
mod will;

pub use crate::net::Transport;
pub use config::BrokerConfig;
pub use server::{start, start_with_loops, BrokerHandle, RunningBroker};

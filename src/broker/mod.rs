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
//! (rare, short) subscribe changes the tree. A full mailbox drops the message for that
//! session only, so a slow subscriber never slows publishers or other subscribers.
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
//! Memory per idle connection (`scripts/serve-memory --connections 2000 --runs 5`, an
//! idle client = CONNECT keep alive 600 + one SUBSCRIBE): 1.72 KiB median, runs
//! 1.71-1.72 (MQTT 5: 1.72, 1.71-1.73), mosquitto 2.0.11 1.72 KiB; it was 4.02 before
//! the changes described here. What an idle connection holds (heap,
//! valgrind massif at 500 connections): the boxed `Conn` with its `Session` (~470 B);
//! its tokio task (256 B: the future is 144 bytes because the idle wait polls the socket,
//! the mailbox and the `signal` by hand, and everything rare, the CONNECT phase, flow
//! control, the goodbye, is boxed); tokio's I/O registration (256 B, cache-padded,
//! tokio's own); the session's `Mailbox` (184 B; its channel is made at the first
//! delivery); the connection's `Signal` (72 B: takeover, shutdown, and a broker-wide
//! keep-alive sweep every 250 ms instead of a timer per connection); the trie path
//! (two ~56 B nodes, level names inline up to 23 bytes) and its one-entry vectors
//! (`SmallMap`), the session's subscription list, and a share of the session store's
//! and the parent trie node's hash tables (~140 B at 2000 clients). No read or write
//! buffer while quiet (a quiet connection reads into a stack buffer), no empty hash
//! map (maps used by few connections are boxed on first use, the others are
//! `SmallMap`s), no boxed TCP stream. Kernel socket buffers are outside the RSS.
//! On a loaded machine the runs spread up to ~1.8 KiB (the allocations spread over both
//! workers' malloc arenas). A quiet connection gives its buffers back before each wait,
//! which costs a few small allocations per packet for one that is busy but reads
//! little (a subscriber); giving them back later, from the keep-alive sweep, was tried
//! and lost: clients that connect in a burst all hold their buffers until the sweep,
//! and the heap keeps that peak (8.8 KiB). mimalloc was tried too: 6.2 KiB.
//!
//! Folders by concern; the dependencies go one way: `conn` → `route`, `persist`, `access`
//! (through `hooks`) → `route::message`.
//! - `route/`: a published message to the mailboxes of its receivers (message, mailbox,
//!   subscriptions, retained, router, flow control).
//! - `conn/`: one task per network connection (accept, connection, handler, signal,
//!   stream).
//! - `persist/`: sessions kept across connections (`session_store`) and across restarts
//!   (`save_restore`, `data_dir`, `database`).
//! - `access/`: who may connect and what they may do (auth, acl, password).
//! - `config`: `BrokerConfig`; `mosquitto_conf`: the `-c FILE` parser; `file_error`: why
//!   a mosquitto text file could not be used.
//! - `shared`: the state shared by connection tasks, session ends.
//! - `will`: wills and the MQTT 5 will delay; `sys`: counters and `$SYS/broker/...`.
//! - `hooks`: the access-control and persistence seams.
//! - `server`: `start`, the listener, housekeeping, graceful shutdown; `listeners`: TLS
//!   and WebSocket listeners.

pub mod access;
pub mod config;
mod conn;
mod file_error;
pub mod hooks;
pub mod listeners;
pub mod mosquitto_conf;
pub mod persist;
mod route;
mod server;
mod shared;
mod sys;
mod will;

pub use config::BrokerConfig;
pub use conn::transport::Transport;
pub use server::{start, BrokerHandle, RunningBroker};

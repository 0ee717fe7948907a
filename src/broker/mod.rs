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
//! Memory per idle connection (scripts/serve-memory: ~4.0 KiB, mosquitto 2.0.11 ~1.7) is
//! kept small by boxing the connection state and everything used only at CONNECT or at
//! the end, a 24-byte `Delivery`, a read buffer that starts at 256 bytes and grows only
//! while reads fill it, giving buffers back when the connection is quiet, a mailbox that
//! makes its tokio channel (~0.8 KB) at the first delivery, and boxed trie children (a
//! one-child node's table holds four 32-byte slots, not four 160-byte nodes). Where the
//! rest goes (valgrind massif, heap per connection): the connection task's future
//! (~0.6 KB) and the boxed `Conn` (~0.5 KB), tokio's I/O registration (~0.25 KB), the
//! read buffer, the trie path and its subscriber map, the `Mailbox`, kernel socket
//! buffers outside the heap.
//!
//! - `message`: the shared `Message` and a subscriber's `Delivery`.
//! - `mailbox`: a session's bounded queue, also its offline queue.
//! - `subscriptions`: the topic trie, shared subscription groups.
//! - `retained`: retained messages by topic.
//! - `router`: publish → mailboxes, retained store, shared-group requeue.
//! - `flow`: a publisher waiting for room in a live subscriber's full queue.
//! - `sessions`: client id → connected task or kept session, expiry.
//! - `stream`: a connection's byte stream, TCP inline.
//! - `signal`: what wakes a connection task (takeover, shutdown, keep-alive sweep).
//! - `will`: wills and the MQTT 5 will delay.
//! - `sys`: counters and `$SYS/broker/...` topics.
//! - `hooks`: the access-control and persistence seams.
//! - `state`: `BrokerConfig`, the state shared by connection tasks, session ends.
//! - `accept`: CONNECT → CONNACK, takeover, resume; `connection`: the per-connection
//!   task and its I/O; `handler`: what each packet does.
//! - `server`: `start`, the listener, housekeeping, graceful shutdown.

mod accept;
pub mod acl;
pub mod auth;
pub mod config;
mod connection;
pub mod durable;
pub mod file_error;
mod flow;
mod handler;
pub mod hooks;
mod keep;
pub mod listeners;
pub mod mailbox;
pub mod message;
pub mod password;
pub mod retained;
pub mod router;
pub mod server;
pub mod sessions;
mod signal;
pub mod state;
pub mod store;
pub mod stream;
pub mod subscriptions;
pub mod sys;
pub mod will;

pub use connection::Transport;
pub use server::{start, BrokerHandle, RunningBroker};
pub use state::BrokerConfig;

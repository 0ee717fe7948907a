//! One task per network connection: CONNECT → CONNACK (`accept`), the task and its I/O
//! (`connection`, over `net::Connection`), what each packet does (`handler`), the
//! graceful close after a reason was sent (`linger`), the test-fixture features (fault
//! injection, tracing: `tap` holds their state, `fixture` applies them),
//! what it tells the `Persistence` hook (`persistence`), and what wakes an idle task
//! (`signal`). Must not route by itself: publishing goes through `Shared`.

pub(crate) mod accept;
pub(crate) mod connection;
pub(crate) mod fixture;
pub(crate) mod handler;
pub(crate) mod linger;
pub(crate) mod persistence;
pub(crate) mod signal;
pub(crate) mod tap;

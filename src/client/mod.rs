//! The client core used by pub, sub and bench: connection, reconnect with backoff, and the `--session-dir` store.

pub mod tls;

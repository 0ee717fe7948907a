//! Access control: who may connect and what they may do (`auth`: the broker's
//! `Authenticator` combining `--allow-anonymous`, the `password` file and the `acl`
//! file). Must not log or do I/O after loading.

pub mod acl;
pub mod auth;
pub mod password;

pub use auth::AccessControl;

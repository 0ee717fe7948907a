//! The broker of `mqtk serve`: listener, connection tasks, sessions, subscriptions, retained messages, wills, keep alive, shutdown.

pub mod acl;
pub mod config;
pub mod password;

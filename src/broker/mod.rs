//! The broker of `mqtk serve`: listener, connection tasks, sessions, subscriptions, retained messages, wills, keep alive, shutdown.

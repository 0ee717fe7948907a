//! Transports below MQTT shared by the broker and the clients: TLS configuration
//! (`tls`) and MQTT over WebSocket as a byte stream (`ws`). Must not know MQTT packets;
//! every transport ends up as an `AsyncRead + AsyncWrite` stream ([`Stream`]), so the
//! broker's connection task and the client run over TCP, TLS and WebSocket alike.

pub mod tls;
pub mod ws;

use tokio::io::{AsyncRead, AsyncWrite};

/// Any connected byte stream: TCP, TLS over TCP, WebSocket over either.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

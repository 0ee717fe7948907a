//! `Transport`: any byte stream a client connection can run over (TCP, TLS, WebSocket),
//! the one name the listeners, the stream and the connection task share. Must not
//! read or write itself.

use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream a client connection runs over.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

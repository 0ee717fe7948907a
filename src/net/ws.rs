//! MQTT over WebSocket (MQTT 5.0 §6, MQTT 3.1.1 §6): the handshake for both roles and
//! [`WsStream`], which turns a WebSocket into a plain byte stream (`AsyncRead` +
//! `AsyncWrite`) so the broker's connection task and the client run over it unchanged.
//! Must not know MQTT packets: each `write` becomes one binary frame, and frames are read
//! as a byte stream because the spec lets an MQTT packet span frames.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

/// The WebSocket subprotocol of MQTT 3.1.1 and 5.0 (§6: "mqtt").
pub const SUBPROTOCOL: &str = "mqtt";
/// The path serve advertises, and clients use when a URL gives none.
pub const DEFAULT_PATH: &str = "/mqtt";

/// Subprotocols accepted from clients, in order of preference: `mqttv3.1` is what
/// MQTT 3.1 clients (and some old libraries) send.
const ACCEPTED: &[&str] = &[SUBPROTOCOL, "mqttv3.1"];

/// Server side: answer a WebSocket upgrade and return the byte stream. The client must
/// offer the `mqtt` subprotocol (MQTT §6: the server must select it); any path is
/// accepted, like mosquitto, so `/mqtt` and `/` both work.
pub async fn accept<S>(stream: S, max_frame_bytes: usize) -> io::Result<WsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // The error type is tungstenite's HTTP response; its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, mut response: Response| {
        let offered = request
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .find(|p| ACCEPTED.iter().any(|a| a.eq_ignore_ascii_case(p)))
            .map(str::to_string);
        match offered {
            Some(protocol) => {
                let value = HeaderValue::from_str(&protocol).map_err(|_| refuse())?;
                response
                    .headers_mut()
                    .insert("sec-websocket-protocol", value);
                Ok(response)
            }
            None => Err(refuse()),
        }
    };
    let ws = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        callback,
        Some(config(max_frame_bytes)),
    )
    .await
    .map_err(to_io)?;
    Ok(WsStream::new(ws))
}

fn refuse() -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(
        "MQTT over WebSocket needs the \"mqtt\" subprotocol (Sec-WebSocket-Protocol: mqtt)\n"
            .to_string(),
    ));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

/// Client side: upgrade `stream` (TCP or TLS) by requesting `url` (`ws://host:port/path`
/// or `wss://…`; the scheme only says which stream the caller built).
pub async fn connect<S>(stream: S, url: &str, max_frame_bytes: usize) -> io::Result<WsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = url.into_client_request().map_err(to_io)?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config(max_frame_bytes)))
            .await
            .map_err(to_io)?;
    Ok(WsStream::new(ws))
}

/// Client side, from the parts of a URL: upgrades `stream` (TCP or TLS, `secure` says
/// which) at `path` (`/mqtt` when `None` or empty) of `host:port`, offering the `mqtt`
/// subprotocol. The error names the URL.
pub async fn connect_to<S>(
    stream: S,
    secure: bool,
    host: &str,
    port: u16,
    path: Option<&str>,
    max_frame_bytes: usize,
) -> io::Result<WsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let scheme = if secure { "wss" } else { "ws" };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let path = path.filter(|p| !p.is_empty()).unwrap_or(DEFAULT_PATH);
    let slash = if path.starts_with('/') { "" } else { "/" };
    let url = format!("{scheme}://{host}:{port}{slash}{path}");
    connect(stream, &url, max_frame_bytes).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("the WebSocket upgrade at {url} failed: {e}"),
        )
    })
}

fn config(max_frame_bytes: usize) -> WebSocketConfig {
    // An MQTT packet may be up to 256 MiB; the frame limit follows the broker's or the
    // client's maximum packet size so a WebSocket peer cannot send more than a TCP one.
    WebSocketConfig::default()
        .max_frame_size(Some(max_frame_bytes))
        .max_message_size(Some(max_frame_bytes))
}

fn to_io(e: tungstenite::Error) -> io::Error {
    match e {
        tungstenite::Error::Io(io) => io,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, "websocket closed")
        }
        other => io::Error::other(format!("websocket: {other}")),
    }
}

/// A WebSocket seen as a byte stream.
#[derive(Debug)]
pub struct WsStream<S> {
    inner: WebSocketStream<S>,
    /// The unread rest of the last binary frame.
    pending: Bytes,
    /// A close frame or end of stream was seen.
    eof: bool,
}

impl<S> WsStream<S> {
    fn new(inner: WebSocketStream<S>) -> Self {
        WsStream {
            inner,
            pending: Bytes::new(),
            eof: false,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.pending.is_empty() && !this.eof {
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.pending = data,
                // Pings are answered by tungstenite itself on the next write or flush.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Text(_))) => {
                    // MQTT §6: "MQTT Control Packets MUST be sent in WebSocket binary data
                    // frames. If any other type of data frame is received the recipient
                    // MUST close the Network Connection."
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "websocket text frame received; MQTT needs binary frames",
                    )));
                }
                Some(Ok(Message::Close(_))) | None => this.eof = true,
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
            }
        }
        let n = this.pending.len().min(buf.remaining());
        buf.put_slice(&this.pending[..n]);
        this.pending.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let inner = &mut self.inner;
        ready!(Pin::new(&mut *inner).poll_ready(cx)).map_err(to_io)?;
        Pin::new(&mut *inner)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(to_io)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx).map_err(to_io)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(Pin::new(&mut self.inner).poll_close(cx)) {
            Ok(()) | Err(tungstenite::Error::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(to_io(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_cross_in_both_directions_and_close_is_eof() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = accept(tcp, 1 << 20).await.unwrap();
            let mut got = [0u8; 6];
            ws.read_exact(&mut got).await.unwrap();
            ws.write_all(b"pong").await.unwrap();
            ws.flush().await.unwrap();
            let mut rest = Vec::new();
            ws.read_to_end(&mut rest).await.unwrap();
            (got, rest)
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut ws = connect(tcp, &format!("ws://{addr}/mqtt"), 1 << 20)
            .await
            .unwrap();
        // Two frames that the reader sees as one byte stream.
        ws.write_all(b"pi").await.unwrap();
        ws.write_all(b"ngxx").await.unwrap();
        ws.flush().await.unwrap();
        let mut reply = [0u8; 4];
        ws.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"pong");
        ws.write_all(b"tail").await.unwrap();
        ws.shutdown().await.unwrap();
        let (got, rest) = server.await.unwrap();
        assert_eq!(&got, b"pingxx");
        assert_eq!(rest, b"tail");
    }

    #[tokio::test]
    async fn an_upgrade_without_the_mqtt_subprotocol_is_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            accept(tcp, 1 << 20).await.map(|_| ())
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let client = tokio_tungstenite::client_async(format!("ws://{addr}/mqtt"), tcp).await;
        assert!(client.is_err());
        assert!(server.await.unwrap().is_err());
    }
}

//! Opening the byte stream to the broker: DNS, TCP (with a timeout, trying each
//! address), and the seam where TLS plugs in. Must not know MQTT.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::config::{ConnectConfig, Transport};
use super::error::{io_reason, ClientError};

/// A connected byte stream: TCP, or TLS over it.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Opens the stream `config` asks for.
pub async fn open(config: &ConnectConfig) -> Result<Box<dyn Stream>, ClientError> {
    let tcp = connect_tcp(&config.host, config.port, config.connect_timeout).await?;
    match &config.transport {
        Transport::Tcp => Ok(Box::new(tcp)),
        Transport::Tls(_) => Err(ClientError::Connect {
            address: config.address(),
            reason: "TLS is not available in this build yet (--cafile, --cert, mqtts://)".into(),
        }),
    }
}

async fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, ClientError> {
    let address = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| ClientError::Resolve {
            host: host.to_string(),
            reason: io_reason(&e),
        })?
        .collect();
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // Small packets (acks, pings) must not wait for Nagle's algorithm.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = Some(io_reason(&e)),
            Err(_) => last = Some(format!("no answer within {} s", timeout.as_secs())),
        }
    }
    Err(ClientError::Connect {
        address,
        reason: last.unwrap_or_else(|| "the host name has no address".to_string()),
    })
}

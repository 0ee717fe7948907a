//! Opening the byte stream to the broker: DNS, TCP (with a timeout, trying each
//! address), then TLS and/or the WebSocket upgrade from `client::tls`. Must not know
//! MQTT.

use std::time::Duration;

use tokio::net::TcpStream;

use super::config::{ConnectConfig, Transport};
use super::connection::MAX_PACKET_SIZE;
use super::error::{io_reason, ClientError};
use super::tls::{connect_tls, connect_ws};

pub use crate::net::Stream;

/// Opens the stream `config` asks for.
pub async fn open(config: &ConnectConfig) -> Result<Box<dyn Stream>, ClientError> {
    let tcp = connect_tcp(&config.host, config.port, config.connect_timeout).await?;
    let failed = |e: std::io::Error| ClientError::Connect {
        address: config.address(),
        reason: io_reason(&e),
    };
    let max_packet = config
        .properties
        .maximum_packet_size
        .unwrap_or(MAX_PACKET_SIZE) as usize;
    let (host, port) = (config.host.as_str(), config.port);
    let stream: Box<dyn Stream> = match &config.transport {
        Transport::Tcp => Box::new(tcp),
        Transport::Tls(tls) => Box::new(connect_tls(tcp, host, tls).await.map_err(failed)?),
        Transport::Ws { path } => Box::new(
            connect_ws(tcp, false, host, port, path.as_deref(), max_packet)
                .await
                .map_err(failed)?,
        ),
        Transport::Wss { tls, path } => {
            let tls = connect_tls(tcp, host, tls).await.map_err(failed)?;
            Box::new(
                connect_ws(tls, true, host, port, path.as_deref(), max_packet)
                    .await
                    .map_err(failed)?,
            )
        }
    };
    Ok(stream)
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

//! One network connection carrying MQTT packets: decode packets from the read buffer,
//! encode many packets into one write buffer and write it once. Reports every packet
//! to the observer (`-d`). Must not know the QoS flows (that is `protocol::session`).

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

use super::config::{PacketDirection, PacketObserver};
use super::error::{io_reason, ClientError};
use super::transport::Stream;
use crate::protocol::{Packet, ProtocolVersion};

/// The largest packet accepted when the user set no --maximum-packet-size: MQTT's own
/// limit (a remaining length of 268,435,455 bytes).
pub const MAX_PACKET_SIZE: u32 = 268_435_460;

/// The reading half.
pub struct Reader {
    io: ReadHalf<Box<dyn Stream>>,
    buf: BytesMut,
    version: ProtocolVersion,
    max_packet_size: u32,
    address: String,
}

/// The writing half: packets are encoded into `buf` and written by `flush`.
pub struct Writer {
    io: WriteHalf<Box<dyn Stream>>,
    buf: BytesMut,
    version: ProtocolVersion,
    address: String,
}

/// Splits a stream into its packet reader and writer.
pub fn split(
    stream: Box<dyn Stream>,
    version: ProtocolVersion,
    max_packet_size: u32,
    address: &str,
) -> (Reader, Writer) {
    let (read, write) = tokio::io::split(stream);
    let reader = Reader {
        io: read,
        buf: BytesMut::with_capacity(64 * 1024),
        version,
        max_packet_size,
        address: address.to_string(),
    };
    let writer = Writer {
        io: write,
        buf: BytesMut::with_capacity(64 * 1024),
        version,
        address: address.to_string(),
    };
    (reader, writer)
}

impl Reader {
    /// The next packet already in the buffer, without reading.
    pub fn buffered_packet(&mut self) -> Result<Option<Packet>, ClientError> {
        Packet::decode(&mut self.buf, self.version, self.max_packet_size).map_err(|source| {
            ClientError::Protocol {
                address: self.address.clone(),
                source,
            }
        })
    }

    /// Reads more bytes into the buffer (cancel-safe: nothing is lost when the future is
    /// dropped). An end of stream is `ConnectionLost`.
    pub async fn fill(&mut self) -> Result<(), ClientError> {
        match self.io.read_buf(&mut self.buf).await {
            Ok(0) => Err(self.lost("the broker closed the connection".into())),
            Ok(_) => Ok(()),
            Err(e) => Err(failure(&self.address, &e)),
        }
    }

    /// Reads until one whole packet is there.
    pub async fn read_packet(&mut self) -> Result<Packet, ClientError> {
        loop {
            if let Some(packet) = self.buffered_packet()? {
                return Ok(packet);
            }
            self.fill().await?;
        }
    }

    /// Switches the version used to decode (after the fallback to 3.1.1).
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.version = version;
    }

    /// The raw bytes read and not yet decoded.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    fn lost(&self, reason: String) -> ClientError {
        ClientError::ConnectionLost {
            address: self.address.clone(),
            reason,
        }
    }
}

impl Writer {
    /// Encodes `packet` into the write buffer. A packet that cannot be encoded (a field
    /// too long) is an error naming the rule; nothing of it is written.
    pub fn queue(&mut self, packet: &Packet) -> Result<(), ClientError> {
        packet
            .encode(self.version, &mut self.buf)
            .map_err(|source| ClientError::Protocol {
                address: self.address.clone(),
                source,
            })
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Writes everything queued, in one write where the socket takes it.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = async {
            self.io.write_all(&self.buf).await?;
            self.io.flush().await
        }
        .await;
        self.buf.clear();
        result.map_err(|e| failure(&self.address, &e))
    }

    /// Flushes and closes the writing side (TCP FIN).
    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        let _ = self.io.shutdown().await;
    }
}

/// A read or write error: a failed TLS session (`Tls`) or a lost connection.
fn failure(address: &str, e: &std::io::Error) -> ClientError {
    let address = address.to_string();
    match crate::net::tls::session_failure(e) {
        Some(reason) => ClientError::Tls { address, reason },
        None => ClientError::ConnectionLost {
            address,
            reason: io_reason(e),
        },
    }
}

/// Reports a packet to the observer, if there is one.
pub fn observe(
    observer: &Option<PacketObserver>,
    client_id: &str,
    direction: PacketDirection,
    packet: &Packet,
) {
    if let Some(observer) = observer {
        observer(client_id, direction, packet);
    }
}

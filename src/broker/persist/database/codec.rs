//! How the durable store encodes its records: a message is the wall-clock time it was
//! received plus the PUBLISH packet as the codec writes it for MQTT 5 (so every property
//! survives); an in-flight message adds its QoS 2 "released" flag. Must not open the
//! database (that is `mod.rs`).

use std::time::{Duration, UNIX_EPOCH};

use bytes::BytesMut;

use super::records::StoredMessage;
use crate::protocol::{Packet, ProtocolVersion, Publish, QoS};

/// `[1][received ms: u64 BE][packet id: u16 BE][MQTT 5 PUBLISH]`. The packet id is kept
/// apart because a QoS 1/2 PUBLISH cannot be encoded with id 0 (a queued message has none).
pub(super) fn encode_message(message: &StoredMessage) -> Result<Vec<u8>, String> {
    let ms = message
        .received
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let mut out = vec![1u8];
    out.extend_from_slice(&ms.to_be_bytes());
    out.extend_from_slice(&encode_publish(&message.publish)?);
    Ok(out)
}

pub(super) fn decode_message(bytes: &[u8]) -> Result<StoredMessage, String> {
    match bytes {
        [1, rest @ ..] if rest.len() >= 8 => {
            let (ms, packet) = rest.split_at(8);
            let ms = u64::from_be_bytes(ms.try_into().map_err(|_| "short record")?);
            Ok(StoredMessage {
                publish: decode_publish(packet)?,
                received: UNIX_EPOCH + Duration::from_millis(ms),
            })
        }
        _ => Err("unknown message record format".into()),
    }
}

pub(super) fn encode_outgoing(publish: &Publish, released: bool) -> Result<Vec<u8>, String> {
    let mut out = vec![u8::from(released)];
    out.extend_from_slice(&encode_publish(publish)?);
    Ok(out)
}

pub(super) fn decode_outgoing(bytes: &[u8]) -> Result<(Publish, bool), String> {
    match bytes {
        [flag @ (0 | 1), packet @ ..] => Ok((decode_publish(packet)?, *flag == 1)),
        _ => Err("unknown outgoing record format".into()),
    }
}

fn encode_publish(publish: &Publish) -> Result<Vec<u8>, String> {
    let mut p = publish.clone();
    let id = p.packet_id;
    if p.qos != QoS::AtMostOnce && id == 0 {
        p.packet_id = 1;
    }
    let mut buf = BytesMut::new();
    Packet::Publish(p)
        .encode(ProtocolVersion::V5, &mut buf)
        .map_err(|e| e.to_string())?;
    let mut out = id.to_be_bytes().to_vec();
    out.extend_from_slice(&buf);
    Ok(out)
}

fn decode_publish(bytes: &[u8]) -> Result<Publish, String> {
    if bytes.len() < 2 {
        return Err("short record".into());
    }
    let id = u16::from_be_bytes([bytes[0], bytes[1]]);
    let mut buf = BytesMut::from(&bytes[2..]);
    match Packet::decode(&mut buf, ProtocolVersion::V5, u32::MAX) {
        Ok(Some(Packet::Publish(mut p))) if buf.is_empty() => {
            p.packet_id = id;
            Ok(p)
        }
        Ok(_) => Err("record is not one PUBLISH packet".into()),
        Err(e) => Err(format!("damaged message record: {e}")),
    }
}

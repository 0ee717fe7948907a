//! Packet decoding, both versions, with and without a maximum packet size, and the
//! round trip: whatever decodes must encode, and decode again to the same packet
//! (the decoder and the encoder agree on every field either accepts).
//!
//! Input: two bytes of maximum packet size (as a power of two and a fraction), then the
//! bytes on the wire.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mqtk::protocol::{Packet, ProtocolVersion};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (head, wire) = data.split_at(2);
    // A limit anywhere from 2 bytes to 2^28: small ones are the interesting ones.
    let max = (u32::from(head[1]) + 2) << (head[0] % 21);
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        decode_stream(wire, version, u32::MAX);
        decode_stream(wire, version, max);
    }
});

/// Decodes packets from the front of `wire` until it needs more bytes or fails, checking
/// what a caller relies on: `Ok(None)` consumes nothing, an oversized packet is refused,
/// and each packet round-trips.
fn decode_stream(wire: &[u8], version: ProtocolVersion, max: u32) {
    let mut buf = BytesMut::from(wire);
    loop {
        let before = buf.len();
        match Packet::decode(&mut buf, version, max) {
            Ok(Some(packet)) => {
                let used = before - buf.len();
                assert!(used as u64 <= u64::from(max), "{used} bytes decoded past max {max}");
                round_trip(&packet, version);
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "an incomplete decode consumed bytes");
                return;
            }
            Err(_) => return,
        }
    }
}

fn round_trip(packet: &Packet, version: ProtocolVersion) {
    let mut out = BytesMut::new();
    packet
        .encode(version, &mut out)
        .unwrap_or_else(|e| panic!("a decoded packet does not encode: {e}\n{packet:?}"));
    let bytes = out.to_vec();
    let again = Packet::decode(&mut out, version, u32::MAX)
        .unwrap_or_else(|e| panic!("our own encoding does not decode: {e}\n{packet:?}\n{bytes:02X?}"))
        .expect("a whole frame was encoded");
    assert!(out.is_empty(), "the encoding has trailing bytes");
    assert_eq!(&again, packet, "decode(encode(p)) != p; bytes {bytes:02X?}");
}

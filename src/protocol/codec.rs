//! Wire primitives, written once for both versions: variable byte integers, two-byte
//! integers, UTF-8 strings, binary data and the fixed header (MQTT 5.0 §1.5, §2.1).
//! Must not know any packet's layout.
//!
//! Reading works on a `Bytes` holding one complete frame: every read checks the bytes
//! are there first (a short field inside a complete frame is malformed, never "need
//! more"), and strings and binary data are zero-copy slices of the frame.
//! Writing goes through [`Sink`], so each packet's layout is written once and run twice:
//! first into a [`Counter`] to learn the remaining length, then into the buffer.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use super::error::ProtocolError;

/// The largest value a variable byte integer can hold (MQTT 5.0 §1.5.5).
pub const MAX_VARINT: u32 = 268_435_455;

/// The largest MQTT packet: a fixed header (one byte of type and flags, four of
/// remaining length) and the largest remaining length (MQTT 5.0 §2.1.4). The limit used
/// when neither side set a Maximum Packet Size. The one definition of it.
pub const MAX_PACKET_SIZE: u32 = MAX_VARINT + 5;

/// The largest UTF-8 string or binary data field: its length is a two-byte integer.
pub const MAX_FIELD_LEN: usize = 65_535;

type Result<T> = std::result::Result<T, ProtocolError>;

/// Where encoded bytes go: a buffer, or a counter that only measures.
pub trait Sink {
    /// Appends one byte.
    fn put_u8(&mut self, value: u8);
    /// Appends bytes.
    fn put_slice(&mut self, bytes: &[u8]);
}

impl Sink for BytesMut {
    fn put_u8(&mut self, value: u8) {
        BufMut::put_u8(self, value);
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A [`Sink`] that counts the bytes it would write.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counter(pub usize);

impl Sink for Counter {
    fn put_u8(&mut self, _: u8) {
        self.0 += 1;
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

/// Writes a two-byte integer, big-endian (§1.5.2).
pub fn put_u16<S: Sink>(sink: &mut S, value: u16) {
    sink.put_slice(&value.to_be_bytes());
}

/// Writes a four-byte integer, big-endian (§1.5.3).
pub fn put_u32<S: Sink>(sink: &mut S, value: u32) {
    sink.put_slice(&value.to_be_bytes());
}

/// Writes a variable byte integer (§1.5.5); fails above [`MAX_VARINT`].
pub fn put_varint<S: Sink>(sink: &mut S, mut value: u32) -> Result<()> {
    if value > MAX_VARINT {
        return Err(ProtocolError::Malformed(
            "variable byte integer above 268,435,455",
        ));
    }
    loop {
        let mut byte = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            byte |= 0x80;
        }
        sink.put_u8(byte);
        if value == 0 {
            return Ok(());
        }
    }
}

/// The number of bytes the variable byte integer `value` takes (1 to 4).
pub fn varint_len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes a UTF-8 string (§1.5.4): two-byte length, then the bytes.
/// Fails on strings over 65,535 bytes or containing U+0000 ([MQTT-1.5.4-2]).
pub fn put_str<S: Sink>(sink: &mut S, value: &str) -> Result<()> {
    if value.len() > MAX_FIELD_LEN {
        return Err(ProtocolError::Malformed(
            "UTF-8 string longer than 65,535 bytes",
        ));
    }
    if value.contains('\0') {
        return Err(ProtocolError::Malformed("UTF-8 string contains U+0000"));
    }
    put_u16(sink, value.len() as u16);
    sink.put_slice(value.as_bytes());
    Ok(())
}

/// Writes binary data (§1.5.6): two-byte length, then the bytes.
pub fn put_binary<S: Sink>(sink: &mut S, value: &[u8]) -> Result<()> {
    if value.len() > MAX_FIELD_LEN {
        return Err(ProtocolError::Malformed(
            "binary data longer than 65,535 bytes",
        ));
    }
    put_u16(sink, value.len() as u16);
    sink.put_slice(value);
    Ok(())
}

/// Reads one byte; `what` names the field in the error.
pub fn get_u8(buf: &mut Bytes, what: &'static str) -> Result<u8> {
    if buf.remaining() < 1 {
        return Err(ProtocolError::Malformed(what));
    }
    Ok(buf.get_u8())
}

/// Reads a two-byte integer.
pub fn get_u16(buf: &mut Bytes, what: &'static str) -> Result<u16> {
    if buf.remaining() < 2 {
        return Err(ProtocolError::Malformed(what));
    }
    Ok(buf.get_u16())
}

/// Reads a four-byte integer.
pub fn get_u32(buf: &mut Bytes, what: &'static str) -> Result<u32> {
    if buf.remaining() < 4 {
        return Err(ProtocolError::Malformed(what));
    }
    Ok(buf.get_u32())
}

/// Reads a variable byte integer inside a frame (§1.5.5): at most four bytes.
pub fn get_varint(buf: &mut Bytes, what: &'static str) -> Result<u32> {
    match parse_varint(buf)? {
        Some((value, len)) => {
            buf.advance(len);
            Ok(value)
        }
        None => Err(ProtocolError::Malformed(what)),
    }
}

/// Parses a variable byte integer at the start of `bytes` without consuming it:
/// `Ok(None)` when it runs past the end, `Err` when it is longer than four bytes.
pub fn parse_varint(bytes: &[u8]) -> Result<Option<(u32, usize)>> {
    let mut value: u32 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(4) {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                // [MQTT-1.5.5-1]: "The encoded value MUST use the minimum number of bytes
                // necessary to represent the value"; a trailing 0x00 byte adds nothing.
                return Err(ProtocolError::Malformed(
                    "variable byte integer is not minimally encoded",
                ));
            }
            return Ok(Some((value, i + 1)));
        }
    }
    if bytes.len() >= 4 {
        // MQTT 5.0 §1.5.5: "The maximum number of bytes in the Variable Byte Integer
        // field is four."
        return Err(ProtocolError::Malformed(
            "variable byte integer longer than 4 bytes",
        ));
    }
    Ok(None)
}

/// Reads a UTF-8 string as a zero-copy `ByteString` (§1.5.4): ill-formed UTF-8
/// ([MQTT-1.5.4-1]) and U+0000 ([MQTT-1.5.4-2]) are malformed.
pub fn get_bytestring(buf: &mut Bytes, what: &'static str) -> Result<ByteString> {
    let len = usize::from(get_u16(buf, what)?);
    if buf.remaining() < len {
        return Err(ProtocolError::Malformed(what));
    }
    let raw = buf.split_to(len);
    if raw.contains(&0) {
        return Err(ProtocolError::Malformed("UTF-8 string contains U+0000"));
    }
    ByteString::try_from(raw)
        .map_err(|_| ProtocolError::Malformed("UTF-8 string is not well-formed UTF-8"))
}

/// Reads a UTF-8 string into an owned `String`.
pub fn get_string(buf: &mut Bytes, what: &'static str) -> Result<String> {
    get_bytestring(buf, what).map(|s| String::from(&*s))
}

/// Reads binary data (§1.5.6) as a zero-copy slice.
pub fn get_binary(buf: &mut Bytes, what: &'static str) -> Result<Bytes> {
    let len = usize::from(get_u16(buf, what)?);
    if buf.remaining() < len {
        return Err(ProtocolError::Malformed(what));
    }
    Ok(buf.split_to(len))
}

/// Fails when bytes are left after a packet's last field.
pub fn expect_end(buf: &Bytes, what: &'static str) -> Result<()> {
    if buf.is_empty() {
        Ok(())
    } else {
        Err(ProtocolError::Malformed(what))
    }
}

/// The fixed header (§2.1): packet type and flags, and where the frame ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// The first byte: packet type in the high nibble, flags in the low one.
    pub first_byte: u8,
    /// The remaining length: bytes after the fixed header.
    pub remaining_len: u32,
    /// Length of the fixed header itself (2 to 5 bytes).
    pub header_len: usize,
}

impl FixedHeader {
    /// Parses the fixed header at the front of `bytes` without consuming anything:
    /// `Ok(None)` when it is not complete yet.
    pub fn parse(bytes: &[u8]) -> Result<Option<FixedHeader>> {
        let Some((&first_byte, rest)) = bytes.split_first() else {
            return Ok(None);
        };
        Ok(parse_varint(rest)?.map(|(remaining_len, len)| FixedHeader {
            first_byte,
            remaining_len,
            header_len: 1 + len,
        }))
    }

    /// The size of the whole packet: fixed header plus remaining length.
    pub fn packet_len(&self) -> usize {
        self.header_len + self.remaining_len as usize
    }

    /// Packet type, 0 to 15.
    pub fn packet_type(&self) -> u8 {
        self.first_byte >> 4
    }

    /// The four flag bits.
    pub fn flags(&self) -> u8 {
        self.first_byte & 0x0F
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint_bytes(value: u32) -> Vec<u8> {
        let mut buf = BytesMut::new();
        put_varint(&mut buf, value).unwrap();
        buf.to_vec()
    }

    #[test]
    fn varints_match_the_spec_table_of_boundaries() {
        // MQTT 5.0 §1.5.5, table 1-1: the boundaries of each length.
        assert_eq!(varint_bytes(0), [0x00]);
        assert_eq!(varint_bytes(127), [0x7F]);
        assert_eq!(varint_bytes(128), [0x80, 0x01]);
        assert_eq!(varint_bytes(16_383), [0xFF, 0x7F]);
        assert_eq!(varint_bytes(16_384), [0x80, 0x80, 0x01]);
        assert_eq!(varint_bytes(2_097_151), [0xFF, 0xFF, 0x7F]);
        assert_eq!(varint_bytes(2_097_152), [0x80, 0x80, 0x80, 0x01]);
        assert_eq!(varint_bytes(268_435_455), [0xFF, 0xFF, 0xFF, 0x7F]);
        for v in [
            0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, MAX_VARINT,
        ] {
            let bytes = varint_bytes(v);
            assert_eq!(varint_len(v), bytes.len());
            assert_eq!(parse_varint(&bytes).unwrap(), Some((v, bytes.len())));
        }
    }

    #[test]
    fn varint_above_the_maximum_is_refused_on_encode() {
        assert!(put_varint(&mut BytesMut::new(), MAX_VARINT + 1).is_err());
    }

    #[test]
    fn varint_of_five_bytes_is_malformed_and_a_short_one_needs_more() {
        assert!(parse_varint(&[0x80, 0x80, 0x80, 0x80, 0x01]).is_err());
        assert!(parse_varint(&[0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        assert_eq!(parse_varint(&[0x80, 0x80]).unwrap(), None);
        assert_eq!(parse_varint(&[]).unwrap(), None);
        assert!(
            parse_varint(&[0x80, 0x00]).is_err(),
            "0 in two bytes is not minimal"
        );
        assert!(parse_varint(&[0xFF, 0x80, 0x00]).is_err());
    }

    #[test]
    fn strings_with_nul_or_bad_utf8_are_malformed() {
        let mut nul = Bytes::from_static(&[0, 2, b'a', 0]);
        assert!(get_bytestring(&mut nul, "s").is_err());
        let mut bad = Bytes::from_static(&[0, 2, 0xC3, 0x28]);
        assert!(get_bytestring(&mut bad, "s").is_err());
        // U+D800 encoded as if it were a scalar value (MQTT 5.0 §1.5.4).
        let mut surrogate = Bytes::from_static(&[0, 3, 0xED, 0xA0, 0x80]);
        assert!(get_bytestring(&mut surrogate, "s").is_err());
        let mut short = Bytes::from_static(&[0, 5, b'a']);
        assert!(get_bytestring(&mut short, "s").is_err());
    }

    #[test]
    fn string_example_of_the_spec_round_trips() {
        // MQTT 5.0 §1.5.4, figure 1-1: "A𪛔" is 00 05 41 F0 AA 9B 94.
        let mut buf = BytesMut::new();
        put_str(&mut buf, "A\u{2A6D4}").unwrap();
        assert_eq!(&buf[..], [0x00, 0x05, 0x41, 0xF0, 0xAA, 0x9B, 0x94]);
        let mut bytes = buf.freeze();
        assert_eq!(&*get_bytestring(&mut bytes, "s").unwrap(), "A\u{2A6D4}");
        assert!(bytes.is_empty());
    }
}

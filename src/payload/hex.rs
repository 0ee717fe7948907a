//! Hexadecimal text and bytes: the one hex encoder of the crate (sub's `--decode hex`,
//! `-F %x`) and the reader of pub's `--encode hex`. Must not know about MQTT.

use super::error::EncodeError;

/// `bytes` as hex digits, two a byte, lower or upper case.
pub fn encode(bytes: &[u8], upper: bool) -> String {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(digits[usize::from(b >> 4)]));
        out.push(char::from(digits[usize::from(b & 0x0F)]));
    }
    out
}

/// The bytes that hex text stands for. Whitespace between digits is ignored (so a
/// `xxd -p` dump with its line breaks works); anything else must be a digit, in pairs.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    for (at, &c) in text.iter().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        let Some(nibble) = char::from(c).to_digit(16) else {
            return Err(EncodeError::Hex(format!(
                "byte {} ({}) is not a hex digit",
                at + 1,
                shown(c)
            )));
        };
        let nibble = nibble as u8;
        match high.take() {
            Some(h) => out.push(h << 4 | nibble),
            None => high = Some(nibble),
        }
    }
    if high.is_some() {
        return Err(EncodeError::Hex(
            "odd number of hex digits (each byte takes two)".into(),
        ));
    }
    Ok(out)
}

fn shown(c: u8) -> String {
    if c.is_ascii_graphic() {
        format!("'{}'", char::from(c))
    } else {
        format!("0x{c:02X}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_ignores_line_breaks() {
        assert_eq!(encode(&[0xDE, 0xAD, 0x01], false), "dead01");
        assert_eq!(encode(&[0xDE, 0xAD, 0x01], true), "DEAD01");
        assert_eq!(decode(b"de AD\n01").unwrap(), vec![0xDE, 0xAD, 0x01]);
    }

    #[test]
    fn bad_hex_says_which_byte() {
        assert_eq!(
            decode(b"0g").unwrap_err().to_string(),
            "not hex: byte 2 ('g') is not a hex digit"
        );
        assert!(decode(b"abc")
            .unwrap_err()
            .to_string()
            .contains("odd number"));
    }
}

//! `-F %f` and `%d`: a payload read as one IEEE 754 number, a 4-byte float or an 8-byte
//! double, printed as C's `printf("%.*f")` does (mosquitto_sub 2.1 copies the payload
//! into a float in the host's byte order: little-endian on x86 and ARM, which is what is
//! read here on every host). Must not print.

/// The payload as `%f` (`spec` b'f') or `%d` (b'd') with `precision` decimals (6 when
/// `None`); `Err` says why the payload is not one.
pub fn format(payload: &[u8], spec: u8, precision: Option<usize>) -> Result<String, String> {
    let (value, size, name) = match spec {
        b'f' => (
            <[u8; 4]>::try_from(payload).map(|b| f64::from(f32::from_le_bytes(b))),
            4,
            "float",
        ),
        _ => (
            <[u8; 8]>::try_from(payload).map(f64::from_le_bytes),
            8,
            "double",
        ),
    };
    let value = value.map_err(|_| {
        format!(
            "-F %{}: the payload is {} bytes, not a {size}-byte IEEE 754 {name}",
            spec as char,
            payload.len()
        )
    })?;
    Ok(if value.is_nan() {
        "nan".into()
    } else if value.is_infinite() {
        if value > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{value:.*}", precision.unwrap_or(6))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_and_doubles_print_as_printf_does() {
        assert_eq!(
            format(&1.5f32.to_le_bytes(), b'f', None).unwrap(),
            "1.500000"
        );
        assert_eq!(
            format(&(-2.25f64).to_le_bytes(), b'd', Some(1)).unwrap(),
            "-2.2"
        );
        assert_eq!(format(&f32::NAN.to_le_bytes(), b'f', None).unwrap(), "nan");
        assert_eq!(
            format(&f64::NEG_INFINITY.to_le_bytes(), b'd', None).unwrap(),
            "-inf"
        );
        let err = format(b"12", b'f', None).unwrap_err();
        assert!(err.contains("2 bytes, not a 4-byte"), "{err}");
    }
}

//! Every receiver check of the codec, one malformed or forbidden packet per rule, with
//! the MQTT 5 reason code the error must carry. Each row names the rule it breaks.

use bytes::BytesMut;
use mqtk::protocol::{Packet, ProtocolError, ProtocolVersion, ReasonCode};

use ProtocolVersion::{V311, V5};
use ReasonCode::{MalformedPacket as Malformed, ProtocolError as ProtocolErr};

/// Decodes `bytes` as one complete frame and returns the error it must produce.
fn error_of(bytes: &[u8], version: ProtocolVersion) -> ProtocolError {
    let mut buf = BytesMut::from(bytes);
    match Packet::decode(&mut buf, version, u32::MAX) {
        Err(e) => e,
        Ok(other) => panic!("{bytes:02X?} decoded to {other:?}, expected an error"),
    }
}

/// (rule, version, bytes, expected reason code)
#[rustfmt::skip]
const CASES: &[(&str, ProtocolVersion, &[u8], ReasonCode)] = &[
    // Fixed header (MQTT 5.0 §2.1.3, table 2-2).
    ("packet type 0 is reserved", V5, &[0x00, 0x00], Malformed),
    ("AUTH does not exist in 3.1.1", V311, &[0xF0, 0x00], Malformed),
    ("CONNACK flags 0000", V311, &[0x21, 0x02, 0x00, 0x00], Malformed),
    ("PUBACK flags 0000", V311, &[0x41, 0x02, 0x00, 0x01], Malformed),
    ("PUBREC flags 0000", V311, &[0x58, 0x02, 0x00, 0x01], Malformed),
    ("PUBREL flags 0010 (0000)", V311, &[0x60, 0x02, 0x00, 0x01], Malformed),
    ("PUBREL flags 0010 (0011)", V5, &[0x63, 0x02, 0x00, 0x01], Malformed),
    ("PUBCOMP flags 0000", V311, &[0x72, 0x02, 0x00, 0x01], Malformed),
    ("SUBSCRIBE flags 0010", V311, &[0x80, 0x06, 0, 1, 0, 1, b'a', 0], Malformed),
    ("SUBACK flags 0000", V311, &[0x92, 0x03, 0, 1, 0], Malformed),
    ("UNSUBSCRIBE flags 0010", V311, &[0xA0, 0x05, 0, 1, 0, 1, b'a'], Malformed),
    ("UNSUBACK flags 0000", V311, &[0xB2, 0x02, 0, 1], Malformed),
    ("PINGREQ flags 0000", V311, &[0xC4, 0x00], Malformed),
    ("PINGRESP flags 0000", V311, &[0xD1, 0x00], Malformed),
    ("DISCONNECT flags 0000", V5, &[0xE8, 0x00], Malformed),
    ("AUTH flags 0000", V5, &[0xF1, 0x00], Malformed),
    ("remaining length longer than 4 bytes", V311, &[0xC0, 0x80, 0x80, 0x80, 0x80, 0x01], Malformed),
    ("remaining length not minimally encoded", V311, &[0xC0, 0x80, 0x00], Malformed),
    // PUBLISH (§3.3).
    ("PUBLISH QoS 3", V311, &[0x36, 0x05, 0, 1, b'a', 0, 1], Malformed),
    ("PUBLISH DUP on QoS 0", V5, &[0x38, 0x04, 0, 1, b'a', 0], Malformed),
    ("PUBLISH QoS 1 packet id 0", V311, &[0x32, 0x05, 0, 1, b'a', 0, 0], Malformed),
    ("PUBLISH topic with +", V311, &[0x30, 0x05, 0, 3, b'a', b'/', b'+'], ReasonCode::TopicNameInvalid),
    ("PUBLISH topic with #", V5, &[0x30, 0x04, 0, 1, b'#', 0], ReasonCode::TopicNameInvalid),
    ("PUBLISH empty topic on 3.1.1", V311, &[0x30, 0x02, 0, 0], ReasonCode::TopicNameInvalid),
    ("PUBLISH empty topic without alias", V5, &[0x30, 0x03, 0, 0, 0], ProtocolErr),
    ("PUBLISH topic with U+0000", V311, &[0x30, 0x05, 0, 3, b'a', 0, b'b'], Malformed),
    ("PUBLISH topic not UTF-8", V311, &[0x30, 0x04, 0, 2, 0xC3, 0x28], Malformed),
    ("PUBLISH topic truncated", V311, &[0x30, 0x03, 0, 5, b'a'], Malformed),
    ("PUBLISH packet id truncated", V311, &[0x32, 0x04, 0, 1, b'a', 0], Malformed),
    ("PUBLISH topic alias 0", V5, &[0x30, 0x07, 0, 1, b'a', 3, 0x23, 0, 0], ReasonCode::TopicAliasInvalid),
    ("PUBLISH property length past the end", V5, &[0x30, 0x05, 0, 1, b'a', 9, 0x01], Malformed),
    ("PUBLISH property value truncated", V5, &[0x30, 0x06, 0, 1, b'a', 2, 0x02, 0], Malformed),
    ("PUBLISH two topic aliases", V5, &[0x30, 0x0A, 0, 1, b'a', 6, 0x23, 0, 1, 0x23, 0, 2], ProtocolErr),
    ("PUBLISH payload format indicator 2", V5, &[0x30, 0x06, 0, 1, b'a', 2, 0x01, 2], ProtocolErr),
    ("PUBLISH two payload format indicators", V5, &[0x30, 0x08, 0, 1, b'a', 4, 0x01, 1, 0x01, 0], ProtocolErr),
    ("PUBLISH subscription identifier 0", V5, &[0x30, 0x06, 0, 1, b'a', 2, 0x0B, 0], ProtocolErr),
    ("PUBLISH unknown property 0x04", V5, &[0x30, 0x06, 0, 1, b'a', 2, 0x04, 0], Malformed),
    ("PUBLISH property not allowed (receive maximum)", V5, &[0x30, 0x07, 0, 1, b'a', 3, 0x21, 0, 1], Malformed),
    ("PUBLISH response topic with wildcard", V5, &[0x30, 0x08, 0, 1, b'a', 4, 0x08, 0, 1, b'#'], ReasonCode::TopicNameInvalid),
    // PUBACK family (§3.4-3.7).
    ("PUBACK packet id 0", V311, &[0x40, 0x02, 0, 0], Malformed),
    ("PUBACK trailing byte on 3.1.1", V311, &[0x40, 0x03, 0, 1, 0], Malformed),
    ("PUBACK reason code PUBACK may not carry", V5, &[0x40, 0x03, 0, 1, 0x92], Malformed),
    ("PUBREL reason code PUBREL may not carry", V5, &[0x62, 0x03, 0, 1, 0x10], Malformed),
    ("PUBCOMP property not allowed", V5, &[0x70, 0x07, 0, 1, 0, 3, 0x23, 0, 1], Malformed),
    ("PUBREC trailing bytes after properties", V5, &[0x50, 0x05, 0, 1, 0, 0, 0xFF], Malformed),
    ("PUBACK truncated packet id", V311, &[0x40, 0x01, 0], Malformed),
    // CONNECT (§3.1).
    ("CONNECT protocol name", V311, &[0x10, 0x0C, 0, 4, b'M', b'Q', b'T', b'X', 4, 2, 0, 60, 0, 0], ProtocolErr),
    ("CONNECT protocol level 6", V311, &[0x10, 0x0C, 0, 4, b'M', b'Q', b'T', b'T', 6, 2, 0, 60, 0, 0], ReasonCode::UnsupportedProtocolVersion),
    ("CONNECT MQTT 3.1", V311, &[0x10, 0x0E, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 2, 0, 60, 0, 0], ReasonCode::UnsupportedProtocolVersion),
    ("CONNECT reserved flag", V311, &[0x10, 0x0C, 0, 4, b'M', b'Q', b'T', b'T', 4, 3, 0, 60, 0, 0], Malformed),
    ("CONNECT will QoS without will flag", V311, &[0x10, 0x0C, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x0A, 0, 60, 0, 0], Malformed),
    ("CONNECT will retain without will flag", V311, &[0x10, 0x0C, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x22, 0, 60, 0, 0], Malformed),
    ("CONNECT will QoS 3", V311, &[0x10, 0x0C, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x1E, 0, 60, 0, 0], Malformed),
    ("CONNECT password without user name on 3.1.1", V311, &[0x10, 0x0E, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x42, 0, 60, 0, 0, 0, 0], Malformed),
    ("CONNECT trailing bytes", V311, &[0x10, 0x0D, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 0, 0], Malformed),
    ("CONNECT client id truncated", V311, &[0x10, 0x0C, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 3], Malformed),
    ("CONNECT user name missing", V311, &[0x10, 0x0C, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x82, 0, 60, 0, 0], Malformed),
    ("CONNECT will topic with wildcard", V311, &[0x10, 0x11, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x06, 0, 60, 0, 0, 0, 1, b'+', 0, 0], ReasonCode::TopicNameInvalid),
    ("CONNECT receive maximum 0", V5, &[0x10, 0x10, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60, 3, 0x21, 0, 0, 0, 0], ProtocolErr),
    ("CONNECT maximum packet size 0", V5, &[0x10, 0x12, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60, 5, 0x27, 0, 0, 0, 0, 0, 0], ProtocolErr),
    ("CONNECT request problem information 2", V5, &[0x10, 0x0F, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60, 2, 0x17, 2, 0, 0], ProtocolErr),
    ("CONNECT request response information 2", V5, &[0x10, 0x0F, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60, 2, 0x19, 2, 0, 0], ProtocolErr),
    ("CONNECT two session expiry intervals", V5, &[0x10, 0x17, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60, 10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2, 0, 0], ProtocolErr),
    ("CONNECT property not allowed (topic alias)", V5, &[0x10, 0x10, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60, 3, 0x23, 0, 1, 0, 0], Malformed),
    ("CONNECT authentication data without method", V5, &[0x10, 0x10, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60, 3, 0x16, 0, 0, 0, 0], ProtocolErr),
    ("CONNECT will property not allowed (session expiry)", V5, &[0x10, 0x18, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x06, 0, 60, 0, 0, 0, 5, 0x11, 0, 0, 0, 1, 0, 1, b'w', 0, 0], Malformed),
    // CONNACK (§3.2).
    ("CONNACK reserved acknowledge flags", V311, &[0x20, 0x02, 0x02, 0x00], Malformed),
    ("CONNACK return code 6", V311, &[0x20, 0x02, 0x00, 0x06], Malformed),
    ("CONNACK session present with refusal", V311, &[0x20, 0x02, 0x01, 0x05], ProtocolErr),
    ("CONNACK reason code CONNACK may not carry", V5, &[0x20, 0x03, 0x00, 0x04, 0x00], Malformed),
    ("CONNACK maximum QoS 2", V5, &[0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02], ProtocolErr),
    ("CONNACK retain available 2", V5, &[0x20, 0x05, 0x00, 0x00, 0x02, 0x25, 0x02], ProtocolErr),
    ("CONNACK wildcard subscription available 2", V5, &[0x20, 0x05, 0x00, 0x00, 0x02, 0x28, 0x02], ProtocolErr),
    ("CONNACK subscription identifiers available 2", V5, &[0x20, 0x05, 0x00, 0x00, 0x02, 0x29, 0x02], ProtocolErr),
    ("CONNACK shared subscription available 2", V5, &[0x20, 0x05, 0x00, 0x00, 0x02, 0x2A, 0x02], ProtocolErr),
    ("CONNACK receive maximum 0", V5, &[0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0, 0], ProtocolErr),
    ("CONNACK truncated", V311, &[0x20, 0x01, 0x00], Malformed),
    ("CONNACK trailing byte", V311, &[0x20, 0x03, 0x00, 0x00, 0x00], Malformed),
    // SUBSCRIBE (§3.8).
    ("SUBSCRIBE without filters", V311, &[0x82, 0x02, 0, 1], ProtocolErr),
    ("SUBSCRIBE without filters (5.0)", V5, &[0x82, 0x03, 0, 1, 0], ProtocolErr),
    ("SUBSCRIBE packet id 0", V311, &[0x82, 0x06, 0, 0, 0, 1, b'a', 0], Malformed),
    ("SUBSCRIBE requested QoS 3", V311, &[0x82, 0x06, 0, 1, 0, 1, b'a', 3], Malformed),
    ("SUBSCRIBE reserved bits on 3.1.1", V311, &[0x82, 0x06, 0, 1, 0, 1, b'a', 0x10], Malformed),
    ("SUBSCRIBE reserved bits on 5.0", V5, &[0x82, 0x07, 0, 1, 0, 0, 1, b'a', 0x80], Malformed),
    ("SUBSCRIBE retain handling 3", V5, &[0x82, 0x07, 0, 1, 0, 0, 1, b'a', 0x30], ProtocolErr),
    ("SUBSCRIBE no local on a shared subscription", V5, &[0x82, 0x10, 0, 1, 0, 0, 10, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/', b'a', 0x04], ProtocolErr),
    ("SUBSCRIBE options missing", V311, &[0x82, 0x05, 0, 1, 0, 1, b'a'], Malformed),
    ("SUBSCRIBE filter with misplaced #", V311, &[0x82, 0x08, 0, 1, 0, 3, b'#', b'/', b'a', 0], ReasonCode::TopicFilterInvalid),
    ("SUBSCRIBE filter with misplaced +", V311, &[0x82, 0x07, 0, 1, 0, 2, b'a', b'+', 0], ReasonCode::TopicFilterInvalid),
    ("SUBSCRIBE empty filter", V311, &[0x82, 0x05, 0, 1, 0, 0, 0], ReasonCode::TopicFilterInvalid),
    ("SUBSCRIBE two subscription identifiers", V5, &[0x82, 0x0B, 0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, b'a', 0], ProtocolErr),
    ("SUBSCRIBE subscription identifier 0", V5, &[0x82, 0x09, 0, 1, 2, 0x0B, 0, 0, 1, b'a', 0], ProtocolErr),
    ("SUBSCRIBE subscription identifier varint of 5 bytes", V5, &[0x82, 0x0D, 0, 1, 6, 0x0B, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 1, b'a', 0], Malformed),
    // SUBACK, UNSUBSCRIBE, UNSUBACK (§3.9-3.11).
    ("SUBACK without reason codes", V311, &[0x90, 0x02, 0, 1], ProtocolErr),
    ("SUBACK 3.1.1 return code 0x87", V311, &[0x90, 0x03, 0, 1, 0x87], Malformed),
    ("SUBACK reason code SUBACK may not carry", V5, &[0x90, 0x04, 0, 1, 0, 0x04], Malformed),
    ("UNSUBSCRIBE without filters", V311, &[0xA2, 0x02, 0, 1], ProtocolErr),
    ("UNSUBSCRIBE invalid filter", V5, &[0xA2, 0x06, 0, 1, 0, 0, 1, 0], Malformed),
    // (MQTT 5 keeps a misplaced wildcard for an UNSUBACK / SUBACK 0x8F, §3.9.3.)
    ("UNSUBSCRIBE misplaced #", V311, &[0xA2, 0x06, 0, 1, 0, 2, b'#', b'a'], ReasonCode::TopicFilterInvalid),
    ("UNSUBACK trailing bytes on 3.1.1", V311, &[0xB0, 0x03, 0, 1, 0], Malformed),
    ("UNSUBACK without reason codes on 5.0", V5, &[0xB0, 0x03, 0, 1, 0], ProtocolErr),
    ("UNSUBACK reason code UNSUBACK may not carry", V5, &[0xB0, 0x04, 0, 1, 0, 0x01], Malformed),
    // PINGREQ, PINGRESP, DISCONNECT, AUTH (§3.12-3.15).
    ("PINGREQ with a body", V311, &[0xC0, 0x01, 0], Malformed),
    ("PINGRESP with a body", V5, &[0xD0, 0x01, 0], Malformed),
    ("DISCONNECT with a body on 3.1.1", V311, &[0xE0, 0x01, 0], Malformed),
    ("DISCONNECT reason code DISCONNECT may not carry", V5, &[0xE0, 0x01, 0x01], Malformed),
    ("DISCONNECT property not allowed", V5, &[0xE0, 0x05, 0, 3, 0x21, 0, 1], Malformed),
    ("DISCONNECT trailing bytes", V5, &[0xE0, 0x03, 0, 0, 0], Malformed),
    ("AUTH reason code AUTH may not carry", V5, &[0xF0, 0x01, 0x80], Malformed),
    ("AUTH data without method", V5, &[0xF0, 0x05, 0x18, 3, 0x16, 0, 0], ProtocolErr),
    ("AUTH reason code without method", V5, &[0xF0, 0x01, 0x18], ProtocolErr),
    ("CONNECT MQIsdp with level 4", V311, &[0x10, 0x0E, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 4, 2, 0, 60, 0, 0], ProtocolErr),
    ("AUTH duplicate method", V5, &[0xF0, 0x08, 0x18, 6, 0x15, 0, 0, 0x15, 0, 0], ProtocolErr),
];

#[test]
fn every_receiver_check_rejects_its_packet_with_the_reason_code_of_the_spec() {
    let mut failures = Vec::new();
    for &(rule, version, bytes, expected) in CASES {
        // Each fixture must be a complete frame, so the check, not "need more", answers.
        let declared = usize::from(bytes[1] & 0x7F) + 2;
        if bytes[1] & 0x80 == 0 {
            assert_eq!(
                declared,
                bytes.len(),
                "fixture {rule:?} has a wrong remaining length"
            );
        }
        let error = error_of(bytes, version);
        if error.reason_code() != expected {
            failures.push(format!(
                "{rule}: expected {expected}, got {error} ({})",
                error.reason_code()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn errors_name_the_rule_they_break() {
    let error = error_of(&[0x30, 0x05, 0, 3, b'a', b'/', b'+'], V311);
    assert_eq!(
        error.to_string(),
        "invalid topic name: topic name contains a wildcard (+ or #)"
    );
    let error = error_of(&[0x30, 0x07, 0, 1, b'a', 3, 0x21, 0, 1], V5);
    assert_eq!(
        error.to_string(),
        "malformed packet: property receive maximum is not allowed in PUBLISH"
    );
    let error = error_of(&[0x60, 0x02, 0x00, 0x01], V311);
    assert_eq!(
        error.to_string(),
        "malformed packet: PUBREL fixed header flags must be 0010"
    );
}

#[test]
fn a_claimed_256_mb_packet_is_refused_from_the_fixed_header_alone() {
    // PUBLISH announcing 268,435,455 bytes; only the 5-byte header has arrived.
    let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F][..]);
    let capacity_before = buf.capacity();
    let error = Packet::decode(&mut buf, V5, 1024 * 1024).unwrap_err();
    assert_eq!(
        error,
        ProtocolError::PacketTooLarge {
            size: 268_435_460,
            max: 1024 * 1024
        }
    );
    assert_eq!(error.reason_code(), ReasonCode::PacketTooLarge);
    assert_eq!(
        buf.capacity(),
        capacity_before,
        "nothing allocated for the claim"
    );
}

#[test]
fn the_maximum_packet_size_counts_the_whole_packet() {
    // PINGREQ is 2 bytes: accepted with a limit of 2, refused with 1.
    let mut buf = BytesMut::from(&[0xC0, 0x00][..]);
    assert_eq!(
        Packet::decode(&mut buf.clone(), V311, 1)
            .unwrap_err()
            .reason_code(),
        ReasonCode::PacketTooLarge
    );
    assert_eq!(Packet::decode(&mut buf, V311, 2), Ok(Some(Packet::PingReq)));
}

#[test]
fn an_incomplete_frame_needs_more_bytes_and_consumes_nothing() {
    for bytes in [&[][..], &[0x30], &[0x30, 0x80], &[0x30, 0x05, 0, 3, b'a']] {
        let mut buf = BytesMut::from(bytes);
        assert_eq!(
            Packet::decode(&mut buf, V5, u32::MAX),
            Ok(None),
            "{bytes:02X?}"
        );
        assert_eq!(&buf[..], bytes);
    }
}

//! Property tests of the codec and the topic rules:
//! - every packet valid for a version survives `decode(encode(p)) == p`;
//! - arbitrary bytes, and valid packets with bytes flipped, inserted or cut, decode to a
//!   packet, "need more" or an error, never a panic, and "need more" consumes nothing;
//! - a stream of valid packets cut in arbitrary chunks decodes to the same packets;
//! - packets with any properties and reason codes (allowed there or not, in range or
//!   not) are refused by the encoder or decode to themselves or an error;
//! - `matches` agrees with a simple reference matcher, and on the spec's examples.
//!
//! `scripts/fuzz` runs the same properties with a very large PROPTEST_CASES.
//!
//! Also in this binary: `checks`, every receiver check of the codec with its reason
//! code, and `fixtures`, byte-exact packets from the spec and from mosquitto.
//! Failure cases proptest saved replay from main.proptest-regressions, next to this
//! file ([`config`]).

mod checks;
mod fixtures;
mod strategies;

use bytes::BytesMut;
use mqtk::protocol::topic::{matches, validate_topic_filter, validate_topic_name};
use mqtk::protocol::{Packet, Properties, ProtocolVersion, ReasonCode};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use strategies::{any_properties, plain_topic_filter, topic_name, version, versioned_packets};
use ProtocolVersion::V5;

fn encode(packet: &Packet, version: ProtocolVersion) -> BytesMut {
    let mut buf = BytesMut::new();
    packet
        .encode(version, &mut buf)
        .expect("valid packets encode");
    buf
}

/// Decodes everything in `buf`; stops at "need more" or an error. Never loops: every
/// `Ok(Some)` consumes at least the two-byte fixed header.
fn decode_all(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max: u32,
) -> Result<Vec<Packet>, String> {
    let mut packets = Vec::new();
    loop {
        let before = buf.len();
        match Packet::decode(buf, version, max) {
            Ok(Some(p)) => {
                assert!(
                    buf.len() + 2 <= before,
                    "a decoded packet consumed under 2 bytes"
                );
                packets.push(p);
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "\"need more\" consumed bytes");
                return Ok(packets);
            }
            Err(e) => {
                // The error always knows its reason code, and it is a failure code.
                assert!(!e.reason_code().is_success(), "{e}");
                return Err(e.to_string());
            }
        }
    }
}

/// proptest's defaults (PROPTEST_CASES and the rest are read from the environment), with
/// failures saved to and replayed from tests/protocol/main.proptest-regressions. The
/// default `SourceParallel` would look for tests/proptest-regressions/main.txt, because
/// it takes the folder holding main.rs for a crate's src/.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

// ---- properties ----------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_valid_packet_round_trips((version, packets) in versioned_packets(2)) {
        let packet = &packets[0];
        let mut buf = encode(packet, version);
        let decoded = Packet::decode(&mut buf, version, u32::MAX);
        prop_assert_eq!(decoded, Ok(Some(packet.clone())));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..256),
        version in version(),
        max in prop_oneof![Just(u32::MAX), 0..300u32],
    ) {
        let _ = decode_all(&mut BytesMut::from(&bytes[..]), version, max);
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_fixed_header_never_panic(
        first in any::<u8>(),
        body in vec(any::<u8>(), 0..200),
        version in version(),
    ) {
        // A correct remaining length gets the bytes past the framing into every decoder.
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[first]);
        let mut len = body.len();
        loop {
            let byte = (len % 128) as u8;
            len /= 128;
            buf.extend_from_slice(&[if len > 0 { byte | 0x80 } else { byte }]);
            if len == 0 { break; }
        }
        buf.extend_from_slice(&body);
        let _ = decode_all(&mut buf, version, u32::MAX);
    }

    #[test]
    fn mutated_valid_packets_never_panic(
        (version, packets) in versioned_packets(3),
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..4),
    ) {
        let mut bytes = Vec::new();
        for p in &packets {
            bytes.extend_from_slice(&encode(p, version));
        }
        for (at, value, kind) in edits {
            let i = at.index(bytes.len().max(1));
            match kind {
                0 if !bytes.is_empty() => bytes[i] = value,
                1 => bytes.insert(i.min(bytes.len()), value),
                _ if !bytes.is_empty() => { bytes.remove(i); }
                _ => {}
            }
        }
        let _ = decode_all(&mut BytesMut::from(&bytes[..]), version, u32::MAX);
    }

    #[test]
    fn a_stream_cut_in_arbitrary_chunks_decodes_to_the_same_packets(
        (version, packets) in versioned_packets(8),
        cuts in vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut stream = Vec::new();
        for p in &packets {
            stream.extend_from_slice(&encode(p, version));
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.push(stream.len());
        cuts.sort_unstable();
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        let mut start = 0;
        for cut in cuts {
            buf.extend_from_slice(&stream[start..cut]);
            start = cut;
            decoded.extend(decode_all(&mut buf, version, u32::MAX).expect("valid stream"));
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(decoded, packets);
    }

    #[test]
    fn topic_matching_agrees_with_a_reference_matcher(
        filter in plain_topic_filter(),
        topic in topic_name(),
    ) {
        prop_assert!(validate_topic_filter(&filter).is_ok(), "{}", filter);
        prop_assert!(validate_topic_name(&topic).is_ok(), "{}", topic);
        prop_assert_eq!(matches(&filter, &topic), reference_matches(&filter, &topic), "{} vs {}", filter, topic);
    }

    #[test]
    fn a_filter_made_from_a_topic_matches_it(
        topic in topic_name(),
        plus in vec(any::<bool>(), 5),
        cut in any::<prop::sample::Index>(),
    ) {
        // Replace some levels with + and maybe cut the tail off for a #: it must match,
        // unless a leading wildcard meets a topic starting with $ (MQTT 5.0 §4.7.2).
        let levels: Vec<&str> = topic.split('/').collect();
        let mut filter: Vec<&str> = levels.iter().zip(&plus).map(|(l, p)| if *p { "+" } else { l }).collect();
        filter.extend(levels.iter().skip(plus.len()));
        let keep = cut.index(filter.len() + 1);
        if keep < filter.len() {
            filter.truncate(keep);
            filter.push("#");
        }
        let filter = filter.join("/");
        prop_assert!(validate_topic_filter(&filter).is_ok(), "{}", filter);
        let dollar_blocked = topic.starts_with('$') && filter.starts_with(['+', '#']);
        prop_assert_eq!(matches(&filter, &topic), !dollar_blocked, "{} vs {}", filter, topic);
    }
}

/// Puts `props` and `code` into whatever place `packet` has for them.
fn tamper(packet: &mut Packet, props: Properties, code: ReasonCode) {
    match packet {
        Packet::Connect(p) => match &mut p.will {
            Some(will) if code as u8 % 2 == 0 => will.properties = props,
            _ => p.properties = props,
        },
        Packet::ConnAck(p) => (p.properties, p.reason_code) = (props, code),
        Packet::Publish(p) => p.properties = props,
        Packet::PubAck(p) | Packet::PubRec(p) | Packet::PubRel(p) | Packet::PubComp(p) => {
            (p.properties, p.reason_code) = (props, code)
        }
        Packet::Subscribe(p) => p.properties = props,
        Packet::SubAck(p) => (p.properties, p.reason_codes[0]) = (props, code),
        Packet::Unsubscribe(p) => p.properties = props,
        Packet::UnsubAck(p) => {
            p.properties = props;
            if let Some(first) = p.reason_codes.first_mut() {
                *first = code;
            }
        }
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(p) => (p.properties, p.reason_code) = (props, code),
        Packet::Auth(p) => (p.properties, p.reason_code) = (props, code),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn packets_with_any_properties_and_reason_codes_encode_or_refuse_and_never_panic(
        (version, packets) in versioned_packets(2),
        props in any_properties(true),
        code in prop_oneof![Just(ReasonCode::Success), any::<u8>().prop_map(|b| ReasonCode::from_u8(b).unwrap_or(ReasonCode::Success))],
    ) {
        // Properties and reason codes in places they may not go, values out of range:
        // encoding either refuses or writes bytes that decode to the same packet or to
        // an error; on 5.0, where everything is on the wire, never to another packet.
        let mut packet = packets[0].clone();
        tamper(&mut packet, props, code);
        let mut buf = BytesMut::new();
        if packet.encode(version, &mut buf).is_ok() {
            let decoded = Packet::decode(&mut buf, version, u32::MAX);
            if let (V5, Ok(Some(decoded))) = (version, decoded) {
                prop_assert_eq!(decoded, packet);
            }
        } else {
            prop_assert!(buf.is_empty(), "a refused encode wrote {} bytes", buf.len());
        }
    }
}

/// The definition of MQTT 5.0 §4.7 written plainly: without a trailing `#` the filter
/// has as many levels as the name and each is equal or `+`; with one, the levels
/// before it must match the first levels of the name and the name may be longer by
/// any number of levels (including zero, "sport/#" matches "sport"). `$` names are
/// never matched by a filter starting with a wildcard.
fn reference_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    let level_ok = |(a, b): (&&str, &&str)| *a == "+" || a == b;
    if f.last() == Some(&"#") {
        let prefix = &f[..f.len() - 1];
        t.len() >= prefix.len() && prefix.iter().zip(&t).all(level_ok)
    } else {
        f.len() == t.len() && f.iter().zip(&t).all(level_ok)
    }
}

#[test]
fn the_reference_matcher_agrees_with_the_spec_examples() {
    // MQTT 5.0 §4.7.1.2, §4.7.1.3, §4.7.2: (filter, topic, matches).
    let cases = [
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        (
            "sport/tennis/player1/#",
            "sport/tennis/player1/ranking",
            true,
        ),
        (
            "sport/tennis/player1/#",
            "sport/tennis/player1/score/wimbledon",
            true,
        ),
        ("sport/#", "sport", true),
        ("#", "sport/tennis", true),
        ("sport/tennis/+", "sport/tennis/player1", true),
        ("sport/tennis/+", "sport/tennis/player1/ranking", false),
        ("sport/+", "sport", false),
        ("sport/+", "sport/", true),
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        ("#", "$SYS/uptime", false),
        ("+/monitor/Clients", "$SYS/monitor/Clients", false),
        ("$SYS/#", "$SYS/monitor/Clients", true),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
    ];
    for (filter, topic, expected) in cases {
        assert_eq!(
            reference_matches(filter, topic),
            expected,
            "reference: {filter} vs {topic}"
        );
        assert_eq!(
            matches(filter, topic),
            expected,
            "matches: {filter} vs {topic}"
        );
    }
}

//! The `sub -F` template parser (`output::message::Template`, mosquitto_sub's `%`
//! fields, `@` time fields, `\` escapes, widths and precisions), then rendering the
//! parsed template for a message with properties, a binary payload and a JSON payload.
//! An error or output, never a panic; a huge width is the template's business, so the
//! widths the fuzzer may ask for are bounded by the input's length (see below).
#![no_main]

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mqtk::output::message::{render, MessageFormat, Received, Template};
use mqtk::protocol::{Properties, Publish, QoS};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A width of 10^9 would make a 1 GB line, which is what the user asked for: keep
    // the fuzzer to widths it can afford (every digit run at most 4 long).
    if text.as_bytes().windows(5).any(|w| w.iter().all(u8::is_ascii_digit)) {
        return;
    }
    let Ok(template) = Template::parse(text) else {
        return;
    };
    let format = MessageFormat::Template(template);
    let mut properties = Properties::default();
    properties.content_type = Some("application/json".into());
    properties.response_topic = Some("r/t".into());
    properties.correlation_data = Some(Bytes::from_static(b"\x00\xff"));
    properties.message_expiry_interval = Some(30);
    properties.subscription_identifiers = vec![1, 268_435_455];
    properties.user_properties = vec![("k".into(), "v\"\n".into())];
    for payload in [&b"{\"a\": [1, 2.5, null]}"[..], b"\xff\x00text", b""] {
        let publish = Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: true,
            topic: "a/b/\u{e9}".into(),
            packet_id: 7,
            properties: properties.clone(),
            payload: Bytes::copy_from_slice(payload),
        };
        let received = Received {
            publish: &publish,
            at: SystemTime::UNIX_EPOCH + Duration::from_nanos(1_764_662_400_123_456_789),
            decoded: None,
            decode_error: None,
        };
        let _ = render(&format, &received, false);
    }
});

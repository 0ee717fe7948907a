//! `mqtk serve --threads 1`: one event loop, packets applied in the order they are
//! read, across connections: a SUBSCRIBE on one connection followed, without waiting
//! for its SUBACK, by a PUBLISH on another is delivered (as on mosquitto). Raw sockets:
//! the test decides which bytes leave first. Must not: test routing itself (pubsub.rs).

use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant};

use support::raw::{publish_packet, subscribe, Raw};
use support::Serve;

/// How long a delivery may take before the try counts as missed.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(2);

/// The next whole packet within `timeout`, or None.
fn next_packet(raw: &mut Raw, buf: &mut Vec<u8>, timeout: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    loop {
        if buf.len() >= 2 && buf[1] < 0x80 && buf.len() >= 2 + usize::from(buf[1]) {
            let len = 2 + usize::from(buf[1]);
            return Some(buf.drain(..len).collect());
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        raw.stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("set a read timeout");
        let mut chunk = [0u8; 512];
        match raw.stream.read(&mut chunk) {
            Ok(0) => panic!("the broker closed the connection"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn with_threads_1_a_publish_right_after_a_subscribe_on_another_connection_is_delivered() {
    const TRIES: u16 = 1000;
    let serve = Serve::start(&["--threads", "1"]);
    let mut subscriber = Raw::v311(serve.port(), "order-sub", 60);
    let mut publisher = Raw::v311(serve.port(), "order-pub", 60);
    let mut buf = Vec::new();
    for i in 1..=TRIES {
        let topic = format!("order/{i}");
        subscriber.send(&subscribe(i, &topic, 0, false));
        publisher.send(&publish_packet(&topic, 0, 0, b"m", false));
        let suback = next_packet(&mut subscriber, &mut buf, DELIVERY_TIMEOUT);
        assert_eq!(
            suback.as_deref().map(|p| p[0]),
            Some(0x90),
            "try {i}: SUBACK"
        );
        let publish = next_packet(&mut subscriber, &mut buf, DELIVERY_TIMEOUT);
        assert!(
            publish.as_ref().is_some_and(|p| p[0] == 0x30),
            "try {i}: the PUBLISH sent after the SUBSCRIBE was not delivered: {publish:02X?}"
        );
    }
}

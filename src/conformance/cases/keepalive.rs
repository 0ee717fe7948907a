//! Keep alive: PINGREQ answered, and a silent client dropped after 1.5 × its keep alive
//! (measured with a tolerance) with its will published. Must not test wills otherwise.

use std::time::{Duration, Instant};

use super::common::Ctx;
use crate::conformance::case::Case;
use crate::conformance::probe::will;
use crate::conformance::verdict::{ensure, spec, Check, Verdict};
use crate::conformance_case as case;
use crate::protocol::{Packet, QoS};

pub const CASES: &[Case] = &[
    case!(
        "keepalive",
        "pingreq",
        Must,
        spec("3.12.4", "MQTT-3.12.4-1"),
        spec("3.12.4", "MQTT-3.12.4-1"),
        "PINGREQ is answered with PINGRESP",
        pingreq
    ),
    case!(
        "keepalive",
        "silent-client-dropped",
        Must,
        spec("3.1.2.10", "MQTT-3.1.2-24"),
        spec("3.1.2.10", "MQTT-3.1.2-22"),
        "a client silent for 1.5 x keep alive is disconnected and its will published",
        silent_client
    ),
];

/// How late a broker may notice: brokers check timers periodically.
const TOLERANCE: Duration = Duration::from_millis(1500);

async fn pingreq(cx: Ctx) -> Check {
    let mut peer = cx.peer().await?;
    peer.send(&Packet::PingReq).await?;
    peer.expect(cx.arrive(), "PINGRESP", |p| {
        matches!(p, Packet::PingResp).then_some(())
    })
    .await
}

async fn silent_client(cx: Ctx) -> Check {
    let topic = cx.topic("will");
    let mut sub = cx.peer().await?;
    sub.subscribe(&topic, QoS::AtLeastOnce, cx.arrive()).await?;
    let mut connect = cx.connect_packet(&cx.client_id());
    connect.keep_alive_secs = 2;
    connect.will = Some(will(&topic, b"timed out"));
    let mut silent = cx.open(connect).await?;
    let opened = Instant::now();
    let keep_alive = Duration::from_secs(u64::from(
        silent.connack.properties.server_keep_alive.unwrap_or(2),
    ));
    if keep_alive.is_zero() {
        return Err(Verdict::Skip("server keep alive 0: keep alive off".into()));
    }
    let limit = keep_alive * 3 / 2;
    silent.expect_closed(limit + TOLERANCE).await.map_err(|_| {
        Verdict::Fail(format!(
            "keep alive {keep_alive:?}: still connected after {:?}",
            limit + TOLERANCE
        ))
    })?;
    let after = opened.elapsed();
    ensure(after >= keep_alive, || {
        format!("keep alive {keep_alive:?}: dropped already after {after:?}")
    })?;
    sub.expect_publish(cx.arrive()).await.map_err(|_| {
        Verdict::Fail(format!(
            "dropped after {after:?}, but its will was not published"
        ))
    })?;
    Ok(())
}

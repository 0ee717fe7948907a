//! CONNECT rules: the first packet, a second CONNECT, the reserved flag, client ids.
//! Must not test what happens after the session is open (other groups do).

use super::common::{closes_offender, frame, hex, string, Ctx};
use crate::conformance::case::Case;
use crate::conformance::peer::Next;
use crate::conformance::verdict::{ensure, section, spec, Check, Verdict};
use crate::conformance_case as case;
use crate::protocol::{Packet, ReasonCode};

pub const CASES: &[Case] = &[
    case!(
        "connect",
        "second-connect",
        Must,
        spec("3.1", "MQTT-3.1.0-2"),
        spec("3.1", "MQTT-3.1.0-2"),
        "a second CONNECT on a connection is a protocol violation: the broker closes it",
        second_connect
    ),
    case!(
        "connect",
        "reserved-flag",
        Must,
        spec("3.1.2.3", "MQTT-3.1.2-3"),
        spec("3.1.2.3", "MQTT-3.1.2-3"),
        "a CONNECT with the reserved flag set is refused by closing the connection",
        reserved_flag
    ),
    case!(
        "connect",
        "empty-id-persistent",
        Must,
        spec("3.1.3.1", "MQTT-3.1.3-8"),
        None,
        "an empty client id with clean session 0 gets CONNACK 0x02 and the connection closed",
        empty_id_persistent
    ),
    case!(
        "connect",
        "assigned-id",
        Must,
        None,
        spec("3.2.2.3.7", "MQTT-3.2.2-16"),
        "an empty client id is accepted and the assigned one returned in CONNACK",
        assigned_id
    ),
    case!(
        "connect",
        "will-qos-without-will",
        Must,
        spec("3.1.2.6", "MQTT-3.1.2-13"),
        section("3.1.2.6"),
        "will QoS 1 with the will flag 0 is refused by closing the connection",
        will_qos_without_will
    ),
    case!(
        "connect",
        "will-qos3",
        Must,
        spec("3.1.2.6", "MQTT-3.1.2-14"),
        section("3.1.2.6"),
        "will QoS 3 is refused by closing the connection",
        will_qos3
    ),
];

/// The bytes of `cx`'s version's CONNECT for `client_id` with `flags`.
fn raw_connect(cx: &Ctx, client_id: &str, flags: u8) -> Vec<u8> {
    let mut body = string(b"MQTT");
    body.push(cx.version.level());
    body.push(flags);
    body.extend_from_slice(&60u16.to_be_bytes());
    if cx.v5() {
        body.push(0);
    }
    body.extend_from_slice(&string(client_id.as_bytes()));
    frame(0x10, &body)
}

/// Sends a CONNECT with `flags` on a new connection: it must be closed, after at most a
/// CONNACK with a failure code.
async fn refused_connect(cx: &Ctx, bytes: Vec<u8>) -> Check {
    let mut conn = cx.dial().await?;
    conn.wbuf.extend_from_slice(&bytes);
    let mut peer = super::common::Peer::new(conn, String::new(), empty_connack());
    peer.send_raw(&[]).await.ok();
    match peer.next(cx.arrive()).await {
        Next::Closed => Ok(()),
        Next::Packet(Packet::ConnAck(ack)) if !ack.reason_code.is_success() => {
            peer.expect_closed(cx.arrive()).await.map(drop)
        }
        other => Err(Verdict::Fail(format!(
            "sent {}, expected the connection closed, got {}",
            hex(&bytes),
            match other {
                Next::Packet(p) => crate::output::packet_summary(&p),
                Next::Silent => "nothing, and it stayed open".into(),
                Next::Broken(e) => e,
                Next::Closed => unreachable!("matched above"),
            }
        ))),
    }
}

/// A CONNECT with a will (topic and payload) and `flags`.
fn raw_connect_with_will(cx: &Ctx, flags: u8) -> Vec<u8> {
    let mut body = string(b"MQTT");
    body.push(cx.version.level());
    body.push(flags);
    body.extend_from_slice(&60u16.to_be_bytes());
    if cx.v5() {
        body.push(0);
    }
    body.extend_from_slice(&string(cx.client_id().as_bytes()));
    if flags & 0x04 != 0 {
        if cx.v5() {
            body.push(0);
        }
        body.extend_from_slice(&string(cx.topic("will").as_bytes()));
        body.extend_from_slice(&string(b"w"));
    }
    frame(0x10, &body)
}

async fn will_qos_without_will(cx: Ctx) -> Check {
    // Clean start, will flag 0, will QoS 1.
    refused_connect(&cx, raw_connect_with_will(&cx, 0x0A)).await
}

async fn will_qos3(cx: Ctx) -> Check {
    // Clean start, will flag 1, will QoS 3.
    refused_connect(&cx, raw_connect_with_will(&cx, 0x1E)).await
}

async fn second_connect(cx: Ctx) -> Check {
    let again = raw_connect(&cx, &cx.client_id(), 0x02);
    closes_offender(&cx, &again, &[ReasonCode::ProtocolError]).await
}

async fn reserved_flag(cx: Ctx) -> Check {
    refused_connect(&cx, raw_connect(&cx, &cx.client_id(), 0x03)).await
}

async fn empty_id_persistent(cx: Ctx) -> Check {
    let bytes = raw_connect(&cx, "", 0x00);
    let mut conn = cx.dial().await?;
    conn.wbuf.extend_from_slice(&bytes);
    let mut peer = super::common::Peer::new(conn, String::new(), empty_connack());
    peer.send_raw(&[]).await?;
    let ack = peer
        .expect(cx.arrive(), "CONNACK", |p| match p {
            Packet::ConnAck(a) => Some(a.clone()),
            _ => None,
        })
        .await?;
    ensure(
        ack.reason_code == ReasonCode::ClientIdentifierNotValid,
        || {
            format!(
                "expected CONNACK return code 2 (identifier rejected), got {}",
                ack.reason_code
            )
        },
    )?;
    peer.expect_closed(cx.arrive()).await.map(drop)
}

async fn assigned_id(cx: Ctx) -> Check {
    let peer = cx.open(cx.connect_packet("")).await?;
    let assigned = peer.connack.properties.assigned_client_identifier.clone();
    peer.disconnect().await;
    ensure(assigned.as_deref().is_some_and(|id| !id.is_empty()), || {
        format!("CONNACK has no assigned client identifier: {assigned:?}")
    })
}

fn empty_connack() -> crate::protocol::ConnAck {
    crate::protocol::ConnAck {
        session_present: false,
        reason_code: ReasonCode::Success,
        properties: Default::default(),
    }
}

//! QoS 0/1/2 flows in both directions, the send window, the queue, the receive maximum.

use super::*;

#[test]
fn qos0_publish_is_sent_at_once_without_packet_id() {
    let c = clock();
    let mut s = client(&c);
    s.publish(msg("a", QoS::AtMostOnce, "x"), c.at(0));
    assert_eq!(
        published(&transmits(&mut s, c.at(0))),
        vec![(0, false, "x".into())]
    );
    assert!(s.is_idle());
    assert!(events(&mut s).is_empty());
}

#[test]
fn qos1_publish_completes_on_puback() {
    let c = clock();
    let mut s = client(&c);
    let seq = s.publish(msg("a", QoS::AtLeastOnce, "x"), c.at(0));
    assert_eq!(
        published(&transmits(&mut s, c.at(0))),
        vec![(1, false, "x".into())]
    );
    assert!(!s.is_idle());
    s.handle_packet(Packet::PubAck(ack(1)), c.at(1)).unwrap();
    assert_eq!(events(&mut s), vec![delivered(seq, 1, QoS::AtLeastOnce)]);
    assert!(s.is_idle());
    // A late duplicate PUBACK changes nothing.
    s.handle_packet(Packet::PubAck(ack(1)), c.at(2)).unwrap();
    assert!(events(&mut s).is_empty());
}

#[test]
fn qos2_publish_goes_through_pubrec_pubrel_pubcomp() {
    let c = clock();
    let mut s = client(&c);
    let seq = s.publish(msg("a", QoS::ExactlyOnce, "x"), c.at(0));
    assert_eq!(
        published(&transmits(&mut s, c.at(0))),
        vec![(1, false, "x".into())]
    );
    s.handle_packet(Packet::PubRec(ack(1)), c.at(1)).unwrap();
    assert_eq!(transmits(&mut s, c.at(1)), vec![Packet::PubRel(ack(1))]);
    assert!(events(&mut s).is_empty());
    // A duplicate PUBREC gets the PUBREL again; a PUBACK for a QoS 2 id is ignored.
    s.handle_packet(Packet::PubRec(ack(1)), c.at(2)).unwrap();
    s.handle_packet(Packet::PubAck(ack(1)), c.at(2)).unwrap();
    assert_eq!(transmits(&mut s, c.at(2)), vec![Packet::PubRel(ack(1))]);
    s.handle_packet(Packet::PubComp(ack(1)), c.at(3)).unwrap();
    assert_eq!(events(&mut s), vec![delivered(seq, 1, QoS::ExactlyOnce)]);
    assert!(s.is_idle());
}

#[test]
fn pubcomp_not_found_after_a_resent_pubrel_still_completes_the_message() {
    // The broker completed the flow and its PUBCOMP was lost with the connection; the
    // PUBREL sent again on the next one gets 0x92 (MQTT 5.0 §3.7.2.1).
    let c = clock();
    let mut s = client(&c);
    let seq = s.publish(msg("a", QoS::ExactlyOnce, "x"), c.at(0));
    transmits(&mut s, c.at(0));
    s.handle_packet(Packet::PubRec(ack(1)), c.at(1)).unwrap();
    transmits(&mut s, c.at(1));
    let mut comp = ack(1);
    comp.reason_code = ReasonCode::PacketIdentifierNotFound;
    s.handle_packet(Packet::PubComp(comp), c.at(2)).unwrap();
    assert_eq!(events(&mut s), vec![delivered(seq, 1, QoS::ExactlyOnce)]);
}

#[test]
fn pubrec_with_a_failure_code_ends_the_qos2_flow() {
    let c = clock();
    let mut s = client(&c);
    let seq = s.publish(msg("a", QoS::ExactlyOnce, "x"), c.at(0));
    transmits(&mut s, c.at(0));
    let mut rec = ack(1);
    rec.reason_code = ReasonCode::NotAuthorized;
    s.handle_packet(Packet::PubRec(rec), c.at(1)).unwrap();
    assert!(
        transmits(&mut s, c.at(1)).is_empty(),
        "no PUBREL after a refused PUBREC"
    );
    assert_eq!(
        events(&mut s),
        vec![Event::Delivered {
            seq,
            packet_id: 1,
            qos: QoS::ExactlyOnce,
            reason_code: ReasonCode::NotAuthorized
        }]
    );
    assert!(s.is_idle());
}

#[test]
fn pubrec_for_an_unknown_id_is_answered_with_pubrel_not_found_on_v5() {
    let c = clock();
    let mut s = client(&c);
    s.handle_packet(Packet::PubRec(ack(9)), c.at(0)).unwrap();
    let mut rel = ack(9);
    rel.reason_code = ReasonCode::PacketIdentifierNotFound;
    assert_eq!(transmits(&mut s, c.at(0)), vec![Packet::PubRel(rel)]);
}

#[test]
fn the_window_holds_at_most_send_maximum_messages_in_flight() {
    let c = clock();
    let mut cfg = config(ProtocolVersion::V5, Role::Client);
    cfg.send_maximum = 2;
    let mut s = Session::new(cfg, c.at(0));
    for i in 0..5 {
        s.publish(msg("a", QoS::AtLeastOnce, &i.to_string()), c.at(0));
    }
    assert_eq!(
        published(&transmits(&mut s, c.at(0))),
        vec![(1, false, "0".into()), (2, false, "1".into())]
    );
    assert_eq!((s.inflight_len(), s.queued_len()), (2, 3));
    s.handle_packet(Packet::PubAck(ack(2)), c.at(1)).unwrap();
    assert_eq!(
        published(&transmits(&mut s, c.at(1))),
        vec![(3, false, "2".into())]
    );
    s.handle_packet(Packet::PubAck(ack(1)), c.at(1)).unwrap();
    s.handle_packet(Packet::PubAck(ack(3)), c.at(1)).unwrap();
    assert_eq!(
        published(&transmits(&mut s, c.at(1))),
        vec![(4, false, "3".into()), (5, false, "4".into())]
    );
    s.handle_packet(Packet::PubAck(ack(4)), c.at(1)).unwrap();
    s.handle_packet(Packet::PubAck(ack(5)), c.at(1)).unwrap();
    let done = events(&mut s)
        .iter()
        .filter(|e| matches!(e, Event::Delivered { .. }))
        .count();
    assert_eq!(done, 5);
    assert!(s.is_idle());
}

#[test]
fn messages_beyond_max_queued_are_dropped_and_reported() {
    let c = clock();
    let mut cfg = config(ProtocolVersion::V5, Role::Server);
    cfg.send_maximum = 1;
    cfg.max_queued = Some(2);
    let mut s = Session::new(cfg, c.at(0));
    for i in 0..4 {
        s.publish(msg("a", QoS::AtLeastOnce, &i.to_string()), c.at(0));
    }
    assert_eq!(published(&transmits(&mut s, c.at(0))).len(), 1);
    assert_eq!(s.queued_len(), 2);
    let dropped: Vec<_> = events(&mut s)
        .into_iter()
        .map(|e| match e {
            Event::Dropped(p) => p.payload,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(dropped, vec![Bytes::from_static(b"3")]);
}

#[test]
fn incoming_qos1_is_delivered_and_acknowledged_every_time() {
    let c = clock();
    let mut s = client(&c);
    s.handle_packet(incoming(QoS::AtLeastOnce, 3, "m"), c.at(0))
        .unwrap();
    assert_eq!(messages(&mut s).len(), 1);
    assert_eq!(transmits(&mut s, c.at(0)), vec![Packet::PubAck(ack(3))]);
    // At least once: a resent copy is delivered again.
    s.handle_packet(incoming(QoS::AtLeastOnce, 3, "m"), c.at(1))
        .unwrap();
    assert_eq!(messages(&mut s).len(), 1);
    assert_eq!(transmits(&mut s, c.at(1)), vec![Packet::PubAck(ack(3))]);
}

#[test]
fn incoming_qos2_is_delivered_once_until_pubrel() {
    let c = clock();
    let mut s = client(&c);
    s.handle_packet(incoming(QoS::ExactlyOnce, 7, "m"), c.at(0))
        .unwrap();
    assert_eq!(messages(&mut s).len(), 1);
    assert_eq!(transmits(&mut s, c.at(0)), vec![Packet::PubRec(ack(7))]);
    // The peer missed our PUBREC and resends: PUBREC again, no second delivery.
    s.handle_packet(incoming(QoS::ExactlyOnce, 7, "m"), c.at(1))
        .unwrap();
    assert!(messages(&mut s).is_empty());
    assert_eq!(transmits(&mut s, c.at(1)), vec![Packet::PubRec(ack(7))]);
    s.handle_packet(Packet::PubRel(ack(7)), c.at(2)).unwrap();
    assert_eq!(transmits(&mut s, c.at(2)), vec![Packet::PubComp(ack(7))]);
    // After PUBREL the id is free: the same id is a new message.
    s.handle_packet(incoming(QoS::ExactlyOnce, 7, "n"), c.at(3))
        .unwrap();
    assert_eq!(messages(&mut s).len(), 1);
}

#[test]
fn pubrel_for_an_unknown_id_gets_pubcomp_not_found_on_v5_and_success_on_v311() {
    let c = clock();
    let mut s = client(&c);
    s.handle_packet(Packet::PubRel(ack(4)), c.at(0)).unwrap();
    let mut comp = ack(4);
    comp.reason_code = ReasonCode::PacketIdentifierNotFound;
    assert_eq!(transmits(&mut s, c.at(0)), vec![Packet::PubComp(comp)]);

    let mut s = Session::new(config(ProtocolVersion::V311, Role::Client), c.at(0));
    s.handle_packet(Packet::PubRel(ack(4)), c.at(0)).unwrap();
    assert_eq!(transmits(&mut s, c.at(0)), vec![Packet::PubComp(ack(4))]);
}

#[test]
fn incoming_beyond_the_receive_maximum_is_a_protocol_error_on_v5() {
    let c = clock();
    let mut cfg = config(ProtocolVersion::V5, Role::Server);
    cfg.receive_maximum = 2;
    let mut s = Session::new(cfg.clone(), c.at(0));
    s.handle_packet(incoming(QoS::ExactlyOnce, 1, "a"), c.at(0))
        .unwrap();
    s.handle_packet(incoming(QoS::ExactlyOnce, 2, "b"), c.at(0))
        .unwrap();
    let err = s
        .handle_packet(incoming(QoS::AtLeastOnce, 3, "c"), c.at(0))
        .unwrap_err();
    assert_eq!(err.reason_code(), ReasonCode::ReceiveMaximumExceeded);
    // A resend of one already counted is fine; after PUBREL there is room again.
    s.handle_packet(incoming(QoS::ExactlyOnce, 2, "b"), c.at(0))
        .unwrap();
    s.handle_packet(Packet::PubRel(ack(1)), c.at(0)).unwrap();
    s.handle_packet(incoming(QoS::ExactlyOnce, 3, "c"), c.at(0))
        .unwrap();

    // QoS 1 PUBACKs not yet written count as unacknowledged too.
    let mut s = Session::new(cfg.clone(), c.at(0));
    s.handle_packet(incoming(QoS::AtLeastOnce, 1, "a"), c.at(0))
        .unwrap();
    s.handle_packet(incoming(QoS::AtLeastOnce, 2, "b"), c.at(0))
        .unwrap();
    assert!(s
        .handle_packet(incoming(QoS::AtLeastOnce, 3, "c"), c.at(0))
        .is_err());
    let mut s = Session::new(cfg.clone(), c.at(0));
    for id in 1..10 {
        s.handle_packet(incoming(QoS::AtLeastOnce, id, "a"), c.at(0))
            .unwrap();
        transmits(&mut s, c.at(0));
    }

    // MQTT 3.1.1 has no receive maximum.
    cfg.version = ProtocolVersion::V311;
    let mut s = Session::new(cfg, c.at(0));
    for id in 1..10 {
        s.handle_packet(incoming(QoS::ExactlyOnce, id, "a"), c.at(0))
            .unwrap();
    }
}

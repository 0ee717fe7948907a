//! Resume and restart, duplicates across them, packet ids, topic aliases, keep alive
//! for both roles, the store changes.

use super::*;
use crate::protocol::packet::{SubAck, Subscribe, Subscription};

#[test]
fn resume_resends_unacknowledged_publishes_with_dup_and_pubrel_in_order() {
    let c = clock();
    let mut s = client(&c);
    s.publish(msg("a", QoS::AtLeastOnce, "a"), c.at(0));
    s.publish(msg("a", QoS::ExactlyOnce, "b"), c.at(0));
    s.publish(msg("a", QoS::ExactlyOnce, "c"), c.at(0));
    s.publish(msg("a", QoS::AtLeastOnce, "d"), c.at(0));
    transmits(&mut s, c.at(0));
    s.handle_packet(Packet::PubRec(ack(3)), c.at(1)).unwrap();
    s.handle_packet(Packet::PubAck(ack(4)), c.at(1)).unwrap();
    s.disconnected();
    assert!(s.poll_timeout().is_none());
    // Published while offline: queued, sent after the resent ones.
    s.publish(msg("a", QoS::AtLeastOnce, "e"), c.at(2));
    assert!(transmits(&mut s, c.at(2)).is_empty());

    s.resume(config(ProtocolVersion::V5, Role::Client), c.at(3));
    let sent = transmits(&mut s, c.at(3));
    assert_eq!(sent.len(), 4);
    assert_eq!(
        published(&sent[..2]),
        vec![(1, true, "a".into()), (2, true, "b".into())]
    );
    assert_eq!(sent[2], Packet::PubRel(ack(3)));
    // Ids go on cycling: the new message gets the next one, not a just-freed one.
    assert_eq!(published(&sent[3..]), vec![(5, false, "e".into())]);
}

#[test]
fn a_qos2_message_is_not_delivered_twice_across_a_resume() {
    let c = clock();
    let mut s = client(&c);
    s.handle_packet(incoming(QoS::ExactlyOnce, 5, "m"), c.at(0))
        .unwrap();
    assert_eq!(messages(&mut s).len(), 1);
    // Connection lost before our PUBREC went out.
    s.disconnected();
    s.resume(config(ProtocolVersion::V5, Role::Client), c.at(1));
    let mut dup = incoming(QoS::ExactlyOnce, 5, "m");
    if let Packet::Publish(p) = &mut dup {
        p.dup = true;
    }
    s.handle_packet(dup, c.at(1)).unwrap();
    assert!(messages(&mut s).is_empty());
    assert_eq!(transmits(&mut s, c.at(1)), vec![Packet::PubRec(ack(5))]);
}

#[test]
fn restart_without_a_peer_session_resends_as_new_and_forgets_incoming_state() {
    let c = clock();
    let mut s = client(&c);
    s.publish(msg("a", QoS::AtLeastOnce, "a"), c.at(0));
    let b = s.publish(msg("a", QoS::ExactlyOnce, "b"), c.at(0));
    s.publish(msg("a", QoS::ExactlyOnce, "c"), c.at(0));
    transmits(&mut s, c.at(0));
    s.handle_packet(Packet::PubRec(ack(2)), c.at(0)).unwrap();
    s.handle_packet(incoming(QoS::ExactlyOnce, 9, "in"), c.at(0))
        .unwrap();
    events(&mut s);
    s.disconnected();
    s.restart(config(ProtocolVersion::V5, Role::Client), c.at(1));
    // "b" was taken by the peer (PUBREC): finished. The others go again, not as DUP.
    assert_eq!(events(&mut s), vec![delivered(b, 2, QoS::ExactlyOnce)]);
    let sent = published(&transmits(&mut s, c.at(1)));
    assert_eq!(
        sent.iter()
            .map(|(_, dup, p)| (*dup, p.as_str()))
            .collect::<Vec<_>>(),
        vec![(false, "a"), (false, "c")]
    );
    s.handle_packet(incoming(QoS::ExactlyOnce, 9, "new"), c.at(2))
        .unwrap();
    assert_eq!(
        messages(&mut s).len(),
        1,
        "id 9 belongs to a new message now"
    );
}

#[test]
fn qos0_while_offline_is_dropped_unless_queue_qos0_offline() {
    let c = clock();
    let mut s = client(&c);
    s.disconnected();
    s.publish(msg("a", QoS::AtMostOnce, "x"), c.at(0));
    assert!(matches!(events(&mut s)[..], [Event::Dropped(_)]));

    let mut cfg = config(ProtocolVersion::V5, Role::Client);
    cfg.queue_qos0_offline = true;
    let mut s = Session::new(cfg.clone(), c.at(0));
    s.disconnected();
    s.publish(msg("a", QoS::AtMostOnce, "x"), c.at(0));
    s.publish(msg("a", QoS::AtLeastOnce, "y"), c.at(0));
    assert!(events(&mut s).is_empty());
    s.resume(cfg, c.at(1));
    assert_eq!(
        published(&transmits(&mut s, c.at(1))),
        vec![(0, false, "x".into()), (1, false, "y".into())]
    );
}

#[test]
fn allocated_packet_ids_never_collide_and_free_on_suback() {
    let c = clock();
    let mut s = client(&c);
    s.publish(msg("a", QoS::AtLeastOnce, "x"), c.at(0));
    let id = s.allocate_packet_id().unwrap();
    assert_eq!(id, 2);
    let sub = Subscribe {
        packet_id: id,
        subscriptions: vec![Subscription::new("t", QoS::AtLeastOnce)],
        properties: Properties::default(),
    };
    s.send(Packet::Subscribe(sub.clone()));
    s.publish(msg("a", QoS::AtLeastOnce, "y"), c.at(0));
    let sent = transmits(&mut s, c.at(0));
    assert_eq!(sent[1], Packet::Subscribe(sub));
    assert_eq!(
        published(&sent),
        vec![(1, false, "x".into()), (3, false, "y".into())]
    );
    let suback = SubAck {
        packet_id: id,
        reason_codes: vec![ReasonCode::GrantedQoS1],
        properties: Properties::default(),
    };
    s.handle_packet(Packet::SubAck(suback.clone()), c.at(1))
        .unwrap();
    assert_eq!(events(&mut s), vec![Event::Other(Packet::SubAck(suback))]);
}

#[test]
fn packet_ids_wrap_around_and_skip_ids_still_in_flight() {
    let c = clock();
    let mut s = client(&c);
    s.publish(msg("a", QoS::AtLeastOnce, "first"), c.at(0)); // id 1, stays in flight
    for id in 2..=u16::MAX {
        s.publish(msg("a", QoS::AtLeastOnce, "x"), c.at(0));
        s.handle_packet(Packet::PubAck(ack(id)), c.at(0)).unwrap();
    }
    transmits(&mut s, c.at(0));
    s.publish(msg("a", QoS::AtLeastOnce, "wrapped"), c.at(0));
    assert_eq!(
        published(&transmits(&mut s, c.at(0))),
        vec![(2, false, "wrapped".into())]
    );
}

#[test]
fn all_ids_in_use_keeps_messages_queued_instead_of_panicking() {
    let c = clock();
    let mut s = client(&c);
    for _ in 0..u16::MAX {
        s.publish(msg("a", QoS::AtLeastOnce, "x"), c.at(0));
    }
    assert_eq!(s.inflight_len(), usize::from(u16::MAX));
    assert_eq!(s.allocate_packet_id(), None);
    s.publish(msg("a", QoS::AtLeastOnce, "later"), c.at(0));
    assert_eq!(s.queued_len(), 1);
    s.handle_packet(Packet::PubAck(ack(77)), c.at(0)).unwrap();
    assert_eq!(s.queued_len(), 0);
}

#[test]
fn incoming_topic_aliases_are_resolved_and_checked() {
    let c = clock();
    let mut cfg = config(ProtocolVersion::V5, Role::Client);
    cfg.topic_alias_maximum = 5;
    let mut s = Session::new(cfg, c.at(0));
    let mut first = msg("long/topic", QoS::AtMostOnce, "1");
    first.properties.topic_alias = Some(3);
    s.handle_packet(Packet::Publish(first), c.at(0)).unwrap();
    let mut second = msg("", QoS::AtMostOnce, "2");
    second.properties.topic_alias = Some(3);
    s.handle_packet(Packet::Publish(second), c.at(0)).unwrap();
    let got = messages(&mut s);
    assert_eq!(
        got.iter().map(|p| &p.topic[..]).collect::<Vec<_>>(),
        vec!["long/topic", "long/topic"]
    );
    assert!(got.iter().all(|p| p.properties.topic_alias.is_none()));

    let mut unknown = msg("", QoS::AtMostOnce, "3");
    unknown.properties.topic_alias = Some(4);
    assert!(s.handle_packet(Packet::Publish(unknown), c.at(0)).is_err());
    let mut too_big = msg("t", QoS::AtMostOnce, "4");
    too_big.properties.topic_alias = Some(6);
    let err = s
        .handle_packet(Packet::Publish(too_big), c.at(0))
        .unwrap_err();
    assert_eq!(err.reason_code(), ReasonCode::TopicAliasInvalid);
    let empty = msg("", QoS::AtMostOnce, "5");
    assert!(s.handle_packet(Packet::Publish(empty), c.at(0)).is_err());
}

#[test]
fn client_sends_pingreq_when_idle_and_gives_up_without_pingresp() {
    let c = clock();
    let mut cfg = config(ProtocolVersion::V311, Role::Client);
    cfg.keep_alive = Some(Duration::from_secs(10));
    let mut s = Session::new(cfg, c.at(0));
    assert_eq!(s.poll_timeout(), Some(c.at(10_000)));
    // Sending anything moves the deadline; receiving does not (the client must send).
    s.publish(msg("a", QoS::AtMostOnce, "x"), c.at(4_000));
    transmits(&mut s, c.at(4_000));
    s.handle_packet(incoming(QoS::AtMostOnce, 0, "y"), c.at(6_000))
        .unwrap();
    assert_eq!(messages(&mut s).len(), 1);
    assert_eq!(s.poll_timeout(), Some(c.at(14_000)));
    s.handle_timeout(c.at(13_999));
    assert!(transmits(&mut s, c.at(13_999)).is_empty());
    s.handle_timeout(c.at(14_000));
    assert_eq!(transmits(&mut s, c.at(14_000)), vec![Packet::PingReq]);
    assert_eq!(s.poll_timeout(), Some(c.at(24_000)));
    s.handle_packet(Packet::PingResp, c.at(14_500)).unwrap();
    assert_eq!(s.poll_timeout(), Some(c.at(24_000)));
    s.handle_timeout(c.at(24_000));
    assert_eq!(transmits(&mut s, c.at(24_000)), vec![Packet::PingReq]);
    // No PINGRESP this time: gone one keep alive after the PINGREQ.
    s.handle_timeout(c.at(33_999));
    assert!(events(&mut s).is_empty());
    s.handle_timeout(c.at(34_000));
    assert_eq!(events(&mut s), vec![Event::PeerTimedOut]);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn server_gives_up_after_one_and_a_half_keep_alives_of_silence() {
    let c = clock();
    let mut cfg = config(ProtocolVersion::V5, Role::Server);
    cfg.keep_alive = Some(Duration::from_secs(10));
    let mut s = Session::new(cfg, c.at(0));
    assert_eq!(s.poll_timeout(), Some(c.at(15_000)));
    s.handle_packet(Packet::PingReq, c.at(5_000)).unwrap();
    assert_eq!(transmits(&mut s, c.at(5_000)), vec![Packet::PingResp]);
    assert_eq!(s.poll_timeout(), Some(c.at(20_000)));
    s.handle_timeout(c.at(19_999));
    assert!(events(&mut s).is_empty());
    s.handle_timeout(c.at(20_000));
    assert_eq!(events(&mut s), vec![Event::PeerTimedOut]);
}

#[test]
fn keep_alive_zero_or_none_sets_no_timer() {
    let c = clock();
    let mut cfg = config(ProtocolVersion::V5, Role::Client);
    assert_eq!(Session::new(cfg.clone(), c.at(0)).poll_timeout(), None);
    cfg.keep_alive = Some(Duration::ZERO);
    assert_eq!(Session::new(cfg, c.at(0)).poll_timeout(), None);
}

#[test]
fn pings_in_the_wrong_direction_are_protocol_errors() {
    let c = clock();
    let mut s = client(&c);
    assert!(s.handle_packet(Packet::PingReq, c.at(0)).is_err());
    let mut s = Session::new(config(ProtocolVersion::V5, Role::Server), c.at(0));
    assert!(s.handle_packet(Packet::PingResp, c.at(0)).is_err());
}

/// Replays the store changes a session reports, as the --session-dir store does.
fn persisted(s: &mut Session, state: &mut PersistedState) -> Vec<Event> {
    let mut others = Vec::new();
    for event in events(s) {
        match event {
            Event::Store(change) => state.apply(&change),
            other => others.push(other),
        }
    }
    others
}

#[test]
fn a_session_restored_from_its_store_changes_resumes_every_flow() {
    let c = clock();
    let mut cfg = config(ProtocolVersion::V5, Role::Client);
    cfg.persist = true;
    cfg.send_maximum = 3;
    let mut s = Session::new(cfg.clone(), c.at(0));
    let mut state = PersistedState::default();
    for payload in ["a", "b", "c", "d", "e"] {
        s.publish(msg("t", QoS::ExactlyOnce, payload), c.at(0));
    }
    transmits(&mut s, c.at(0));
    s.handle_packet(Packet::PubRec(ack(1)), c.at(0)).unwrap(); // a: released
    s.handle_packet(Packet::PubRec(ack(2)), c.at(0)).unwrap();
    s.handle_packet(Packet::PubComp(ack(2)), c.at(0)).unwrap(); // b: done, d sent
    s.handle_packet(incoming(QoS::ExactlyOnce, 40, "in"), c.at(0))
        .unwrap();
    s.handle_packet(incoming(QoS::ExactlyOnce, 41, "in2"), c.at(0))
        .unwrap();
    s.handle_packet(Packet::PubRel(ack(41)), c.at(0)).unwrap();
    persisted(&mut s, &mut state);
    drop(s); // the process dies

    assert_eq!(state.outgoing.len(), 4);
    assert_eq!(
        state.incoming_qos2.iter().copied().collect::<Vec<_>>(),
        vec![40]
    );
    let mut s = Session::restore(cfg.clone(), state.clone(), c.at(10));
    assert!(
        transmits(&mut s, c.at(10)).is_empty(),
        "offline until resumed"
    );
    s.resume(cfg, c.at(11));
    let sent = transmits(&mut s, c.at(11));
    assert_eq!(sent[0], Packet::PubRel(ack(1)));
    assert_eq!(
        published(&sent[1..]),
        vec![(3, true, "c".into()), (4, true, "d".into())]
    );
    assert_eq!(sent.len(), 3, "e waits: the window of 3 is full");
    // The restored incoming state still deduplicates.
    s.handle_packet(incoming(QoS::ExactlyOnce, 40, "in"), c.at(12))
        .unwrap();
    assert!(messages(&mut s).is_empty());
    // New messages continue the sequence numbers.
    let seq = s.publish(msg("t", QoS::ExactlyOnce, "f"), c.at(12));
    assert_eq!(seq, 6);
    // Finishing everything leaves an empty store.
    for id in [3, 4] {
        s.handle_packet(Packet::PubRec(ack(id)), c.at(13)).unwrap();
    }
    for id in [1, 3, 4] {
        s.handle_packet(Packet::PubComp(ack(id)), c.at(13)).unwrap();
    }
    let sent = published(&transmits(&mut s, c.at(13)));
    assert_eq!(
        sent.iter().map(|(_, _, p)| p.as_str()).collect::<Vec<_>>(),
        vec!["e", "f"]
    );
    for (id, _, _) in sent {
        s.handle_packet(Packet::PubRec(ack(id)), c.at(14)).unwrap();
        s.handle_packet(Packet::PubComp(ack(id)), c.at(14)).unwrap();
    }
    s.handle_packet(Packet::PubRel(ack(40)), c.at(14)).unwrap();
    let mut replay = state;
    let done = persisted(&mut s, &mut replay);
    assert_eq!(
        done.iter()
            .filter(|e| matches!(e, Event::Delivered { .. }))
            .count(),
        5
    );
    assert!(replay.is_empty(), "left over: {replay:?}");
    transmits(&mut s, c.at(14));
    assert!(s.is_idle());
}

#[test]
fn store_changes_come_before_the_packets_they_cover() {
    let c = clock();
    let mut cfg = config(ProtocolVersion::V5, Role::Client);
    cfg.persist = true;
    let mut s = Session::new(cfg, c.at(0));
    let seq = s.publish(msg("t", QoS::AtLeastOnce, "a"), c.at(0));
    assert_eq!(
        events(&mut s),
        vec![
            Event::Store(StoreChange::OutgoingQueued {
                seq,
                publish: msg("t", QoS::AtLeastOnce, "a")
            }),
            Event::Store(StoreChange::OutgoingSent { seq, packet_id: 1 }),
        ]
    );
    s.handle_packet(incoming(QoS::ExactlyOnce, 8, "m"), c.at(0))
        .unwrap();
    let evs = events(&mut s);
    assert!(
        matches!(evs[0], Event::Message(_)),
        "delivered first, then recorded: {evs:?}"
    );
    assert_eq!(
        evs[1],
        Event::Store(StoreChange::IncomingReceived { packet_id: 8 })
    );
}

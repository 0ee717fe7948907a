//! What a connection keeps for the test-fixture features, boxed and present only when
//! one is on for it (`--fault`/`--faults`/`--allow-control`, or `--trace` matching the
//! client): the rule set and trace it reports to, and what a fired fault left pending:
//! a hold (delay, stall), an end (close, disconnect, takeover), a throttle. Plain
//! state; `fixture.rs` applies it. Must not do I/O. Without it the connection pays one
//! `Option` check per packet (`Conn::tap`).

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use crate::broker::config::BrokerConfig;
use crate::broker::fault::Faults;
use crate::broker::trace::Trace;
use crate::protocol::{Packet, ReasonCode};

/// The fixture state of one connection.
#[derive(Debug, Default)]
pub(crate) struct Tap {
    /// The broker's fault rules, when fault injection is on.
    pub faults: Option<Arc<Faults>>,
    /// The trace, when this client is traced.
    pub trace: Option<Arc<Trace>>,
    /// A delay or stall in progress: the connection waits until it is served.
    pub hold: Option<Hold>,
    /// A fault decided to end the connection.
    pub end: Option<FaultEnd>,
    /// `throttle=RATE` fired: bytes per second the broker sends at.
    pub throttle: Option<u32>,
}

/// A connection waiting because of `delay` or `stall`.
#[derive(Debug)]
pub(crate) struct Hold {
    /// Until when.
    pub until: Instant,
    /// Packets encoded meanwhile (they go after the wait, in order).
    pub out: BytesMut,
    /// An incoming packet that waits (`delay` on `dir=in`).
    pub held: Option<Packet>,
}

/// How a fault ends a connection.
#[derive(Debug, Clone)]
pub(crate) struct FaultEnd {
    /// MQTT 5 DISCONNECT reason; `None`: close without a word.
    pub reason: Option<ReasonCode>,
    /// Ended as by a takeover (the will waits for its delay, as after a real one).
    pub takeover: bool,
    /// Which rule, for the log.
    pub why: String,
}

impl Tap {
    /// The tap of a new connection of `client_id`, or `None` when no fixture feature
    /// concerns it.
    pub fn for_client(config: &BrokerConfig, client_id: &str) -> Option<Box<Tap>> {
        let trace = config
            .trace
            .as_ref()
            .filter(|t| t.wants(client_id))
            .cloned();
        if trace.is_none() && config.faults.is_none() {
            return None;
        }
        Some(Box::new(Tap {
            faults: config.faults.clone(),
            trace,
            ..Tap::default()
        }))
    }

    /// True while the connection must stop decoding: a hold or an end is pending.
    pub fn stops(&self) -> bool {
        self.hold.is_some() || self.end.is_some()
    }

    /// Starts a hold until `until` unless one is on.
    pub fn hold_until(&mut self, until: Instant) -> &mut Hold {
        self.hold.get_or_insert_with(|| Hold {
            until,
            out: BytesMut::new(),
            held: None,
        })
    }
}

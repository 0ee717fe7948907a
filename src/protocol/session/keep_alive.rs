//! Keep-alive deadlines for both ends of a connection (MQTT 3.1.1 §3.1.2.10, MQTT 5.0
//! §3.1.2.10): a client sends PINGREQ when it has sent nothing for the keep alive and
//! treats the server as gone when the PINGREQ stays unanswered for another keep alive;
//! a server treats the client as gone after one and a half keep alives of silence.
//! Only arithmetic on the `Instant`s it is given; must not read a clock.

use std::time::{Duration, Instant};

use super::config::Role;

/// What the keep-alive timer asks for when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// Nothing due yet.
    None,
    /// Client: send a PINGREQ now.
    SendPing,
    /// The peer is considered gone.
    PeerGone,
}

/// Where the ping exchange stands (client side; a server only uses `Expired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ping {
    /// No PINGREQ outstanding.
    Idle,
    /// Client: the outstanding PINGREQ was queued then. Counting from the queueing, not
    /// the write, means a connection whose socket takes nothing at all also times out.
    Sent(Instant),
    /// The peer was declared gone; the timer is off.
    Expired,
}

/// The timer's state. The role and interval are the session's (`SessionConfig`),
/// passed in rather than kept twice (memory per idle connection).
#[derive(Debug, Clone)]
pub(super) struct KeepAlive {
    last_sent: Instant,
    last_received: Instant,
    ping: Ping,
}

impl KeepAlive {
    pub(super) fn new(now: Instant) -> KeepAlive {
        KeepAlive {
            last_sent: now,
            last_received: now,
            ping: Ping::Idle,
        }
    }

    pub(super) fn on_sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    pub(super) fn on_received(&mut self, now: Instant) {
        self.last_received = now;
    }

    pub(super) fn on_ping_response(&mut self) {
        if let Ping::Sent(_) = self.ping {
            self.ping = Ping::Idle;
        }
    }

    /// The next instant at which `on_timeout` has something to do, for a connection of
    /// `role` with keep alive `interval` (`None` or zero: off, §3.1.2.10).
    pub(super) fn deadline(&self, role: Role, interval: Option<Duration>) -> Option<Instant> {
        let interval = interval.filter(|d| !d.is_zero())?;
        Some(match (role, self.ping) {
            (_, Ping::Expired) => return None,
            (Role::Client, Ping::Sent(sent)) => sent + interval,
            (Role::Client, Ping::Idle) => self.last_sent + interval,
            (Role::Server, _) => self.last_received + interval + interval / 2,
        })
    }

    pub(super) fn on_timeout(
        &mut self,
        role: Role,
        interval: Option<Duration>,
        now: Instant,
    ) -> Action {
        let Some(deadline) = self.deadline(role, interval) else {
            return Action::None;
        };
        if now < deadline {
            return Action::None;
        }
        match (role, self.ping) {
            (Role::Client, Ping::Idle) => {
                self.ping = Ping::Sent(now);
                Action::SendPing
            }
            _ => {
                self.ping = Ping::Expired;
                Action::PeerGone
            }
        }
    }
}

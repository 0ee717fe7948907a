//! Keep-alive deadlines for both ends of a connection (MQTT 3.1.1 §3.1.2.10, MQTT 5.0
//! §3.1.2.10): a client sends PINGREQ when it has sent nothing for the keep alive and
//! treats the server as gone when the PINGREQ stays unanswered for another keep alive;
//! a server treats the client as gone after one and a half keep alives of silence.
//! Only arithmetic on the `Instant`s it is given; must not read a clock.

use std::time::{Duration, Instant};

use super::Role;

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

#[derive(Debug, Clone)]
pub(super) struct KeepAlive {
    role: Role,
    interval: Option<Duration>,
    last_sent: Instant,
    last_received: Instant,
    /// Client: when the outstanding PINGREQ was queued. Counting from the queueing, not
    /// the write, means a connection whose socket takes nothing at all also times out.
    ping_sent: Option<Instant>,
    expired: bool,
}

impl KeepAlive {
    pub(super) fn new(role: Role, interval: Option<Duration>, now: Instant) -> KeepAlive {
        // A keep alive of 0 turns the mechanism off (§3.1.2.10).
        let interval = interval.filter(|d| !d.is_zero());
        KeepAlive {
            role,
            interval,
            last_sent: now,
            last_received: now,
            ping_sent: None,
            expired: false,
        }
    }

    pub(super) fn on_sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    pub(super) fn on_received(&mut self, now: Instant) {
        self.last_received = now;
    }

    pub(super) fn on_ping_response(&mut self) {
        self.ping_sent = None;
    }

    /// The next instant at which `on_timeout` has something to do.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let interval = self.interval?;
        if self.expired {
            return None;
        }
        Some(match self.role {
            Role::Client => match self.ping_sent {
                Some(sent) => sent + interval,
                None => self.last_sent + interval,
            },
            Role::Server => self.last_received + interval + interval / 2,
        })
    }

    pub(super) fn on_timeout(&mut self, now: Instant) -> Action {
        let Some(deadline) = self.deadline() else {
            return Action::None;
        };
        if now < deadline {
            return Action::None;
        }
        match (self.role, self.ping_sent) {
            (Role::Client, None) => {
                self.ping_sent = Some(now);
                Action::SendPing
            }
            _ => {
                self.expired = true;
                Action::PeerGone
            }
        }
    }
}

//! The churning side of a connection-only client (`--scenario churn`): when its next
//! disconnect is due (client i of N at `start + i/R`, then every `N/R`, so the run makes
//! R reconnects a second in all), and connecting again on the same client id, with the
//! connect time or the failure reported. A failed reconnect waits for the next slot.
//! Must not decide when the run ends: the run's phase does.

use std::time::{Duration, Instant};

use tokio::time::sleep_until;

use crate::bench::collect::Update;
use crate::bench::conn;

use super::{client_id, connect_packet, session, wait_phase, Driver, Msg, Phase, Role};

impl Driver {
    /// When this client disconnects next; `None` when it does not churn, the churn has
    /// not started (it starts with the run's publishing phase) or is over (`--duration`
    /// after the start: the run makes rate × duration reconnects, however late it ends).
    pub(super) fn next_churn(&mut self, phase: Phase) -> Option<Instant> {
        let config = &self.ctx.config;
        let (Phase::Publishing { start_ns, .. }, Role::ConnectOnly(i), Some(rate)) =
            (phase, self.role, config.churn_rate)
        else {
            return None;
        };
        let start = self.ctx.epoch + Duration::from_nanos(start_ns);
        let at = *self
            .churn_at
            .get_or_insert_with(|| start + Duration::from_secs_f64(f64::from(i) / rate));
        let end = start + config.hold_for().unwrap_or_default();
        (at < end).then_some(at)
    }

    fn churn_period(&self) -> Duration {
        let config = &self.ctx.config;
        let rate = config.churn_rate.unwrap_or(1.0);
        Duration::from_secs_f64(f64::from(config.connect_only_clients.max(1)) / rate)
    }

    /// Connects again at the current slot (at once after a churn disconnect; after a
    /// dropped connection, when its slot comes); false when the run finished first or
    /// the churn is over.
    pub(super) async fn reconnect(&mut self) -> bool {
        let period = self.churn_period();
        loop {
            let Some(slot) = self.next_churn(self.phase) else {
                return false;
            };
            if slot > Instant::now() {
                tokio::select! {
                    _ = sleep_until(slot.into()) => {}
                    finished = self.until_finishing() => if finished {
                        return false;
                    },
                }
            }
            self.churn_at = Some(slot + period);
            let ctx = self.ctx.clone();
            let config = &ctx.config;
            let packet = connect_packet(config, config.version, client_id(config, self.role));
            let started = Instant::now();
            let open = conn::open(
                ctx.addr,
                None,
                config.tls.as_ref(),
                packet,
                config.connect_timeout,
            );
            let opened = tokio::select! {
                opened = open => opened,
                finished = self.until_finishing() => {
                    if finished {
                        return false;
                    }
                    continue;
                }
            };
            match opened {
                Ok((conn, connack)) => {
                    let now = Instant::now();
                    let connect_us = now.duration_since(started).as_micros() as u64;
                    let _ = self
                        .tx
                        .send(Msg::Update(Update::Reconnected { connect_us }));
                    let (session, window) = session(config, &connack, now);
                    self.conn = super::idle_reads(conn, self.role);
                    self.session = session;
                    self.window = window;
                    // The timer belongs to the old session: set it again next turn.
                    self.timer_at = self.ctx.epoch;
                    return true;
                }
                Err(failure) => {
                    let kind = failure.kind();
                    let _ = self.tx.send(Msg::Update(Update::ReconnectFailed { kind }));
                }
            }
        }
    }

    /// The next change of the run's phase: true when the run is finishing (or gone).
    async fn until_finishing(&mut self) -> bool {
        match (&mut self.phase_wait).await {
            Some(mut phase) => {
                self.phase = *phase.borrow_and_update();
                self.phase_wait = wait_phase(phase);
                self.phase == Phase::Finishing
            }
            None => true,
        }
    }
}

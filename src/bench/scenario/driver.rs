//! The run's loop (`Driver`): owns the collector, fed by the clients' channel, and moves
//! the run through its stages (connecting, publishing, draining, finishing), telling the
//! clients the phase, drawing progress, cutting the interval histogram and the series on
//! every tick, and waiting for a sharded run's start barrier. Must not spawn or stop
//! clients or build the report (`scenario` does).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::bench::barrier::BarrierHandle;
use crate::bench::broker_proc::BrokerWatch;
use crate::bench::client::{Ctx, Msg, Phase};
use crate::bench::collect::{Collector, Update};
use crate::bench::config::RunBound;
use crate::bench::hdrlog::HdrLog;
use crate::bench::progress::{Progress, Snapshot};
use crate::bench::quiet::{Movement, QuietWatch};
use crate::bench::series::{self, Series};

/// How often progress is drawn and the interval histogram is cut.
const TICK: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Connecting,
    Publishing {
        since: Instant,
    },
    /// No publishers: connection-only clients stay (`--hold`) or churn until then.
    Holding {
        until: Instant,
    },
    Draining {
        publish_end: Instant,
    },
    Finishing,
}

/// The run's loop state: the collector (fed by the clients' channel, owned here alone),
/// the stage, and what the stages need to know.
pub(super) struct Driver {
    pub(super) ctx: Arc<Ctx>,
    phase_tx: watch::Sender<Phase>,
    pub(super) total: u64,
    pub(super) collector: Collector,
    ready: u64,
    done: u64,
    stage: Stage,
    pub(super) publish_window: Option<(Instant, Instant)>,
    watch: QuietWatch,
    interval_start: Duration,
    finish_deadline: Option<Instant>,
    pub(super) last_sent: Option<u64>,
    /// `--series`, fed on every tick.
    pub(super) series: Option<Series>,
    /// The start barrier of a sharded run; publishing waits for its go.
    pub(super) barrier: Option<BarrierHandle>,
    /// Why the barrier did not let the run start.
    pub(super) barrier_error: Option<String>,
    /// `--broker-pid`, sampled on every tick.
    pub(super) broker: Option<BrokerWatch>,
}

impl Driver {
    pub(super) fn new(ctx: Arc<Ctx>, phase_tx: watch::Sender<Phase>, total: u64) -> Driver {
        // By the plan's publishers: with --cross-shard, every shard's.
        let mut collector = Collector::new(ctx.plan.publisher_topics.len() as u32);
        collector.set_unordered_receivers(ctx.plan.shared_receivers.clone());
        Driver {
            ctx,
            phase_tx,
            total,
            collector,
            ready: 0,
            done: 0,
            stage: Stage::Connecting,
            publish_window: None,
            watch: QuietWatch::new(Instant::now()),
            interval_start: Duration::ZERO,
            finish_deadline: None,
            last_sent: None,
            series: None,
            barrier: None,
            barrier_error: None,
            broker: None,
        }
    }

    /// Runs until every client has ended, or the clients did not stop in time.
    pub(super) async fn drive(
        &mut self,
        mut rx: mpsc::UnboundedReceiver<Msg>,
        progress: &mut dyn Progress,
        hdr_log: Option<&HdrLog>,
    ) {
        let mut ticker = tokio::time::interval(TICK);
        // Ctrl-C ends the run early with a report of what was measured so far.
        let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
        let mut interrupted = false;
        let mut waiting_for_go = self.barrier.is_some();
        loop {
            tokio::select! {
                go = barrier_go(&mut self.barrier), if waiting_for_go => {
                    waiting_for_go = false;
                    self.on_go(go.unwrap_or_else(|_| Err("the start barrier stopped".into())));
                    self.advance(Instant::now(), None);
                },
                _ = &mut interrupt, if !interrupted => {
                    interrupted = true;
                    self.on_interrupt();
                    self.advance(Instant::now(), None);
                },
                msg = rx.recv() => match msg {
                    // A stage ends as soon as what it waits for has come (every client
                    // ready, every publisher done, every delivery in), not on the next
                    // tick: a short run is not padded by a second.
                    Some(msg) => if self.on_msg(msg) {
                        self.advance(Instant::now(), None);
                    },
                    None => break, // every client has ended
                },
                _ = ticker.tick() => {
                    if !self.on_tick(progress, hdr_log) {
                        break;
                    }
                }
            }
        }
    }

    /// The barrier's answer: publish now, or end the run with its reason.
    fn on_go(&mut self, go: Result<(), String>) {
        match go {
            Ok(()) if self.stage == Stage::Connecting => {
                self.stage = self.start_publishing(Instant::now());
            }
            Ok(()) => {}
            Err(why) => {
                self.barrier_error = Some(why);
                self.stage = Stage::Finishing;
            }
        }
    }

    /// Tells every publisher to start a moment ahead, so they all see the same start.
    fn start_publishing(&mut self, now: Instant) -> Stage {
        let config = &self.ctx.config;
        let start = Instant::now() + Duration::from_millis(10);
        let start_ns = start.duration_since(self.ctx.epoch).as_nanos() as u64;
        self.collector
            .set_measure_from(start_ns + config.warmup.as_nanos() as u64);
        if config.cross().is_some() && config.warmup.is_zero() {
            self.collector.set_warmup_until(0);
        }
        let _ = self.phase_tx.send(Phase::Publishing {
            start_ns,
            draining: false,
        });
        self.watch.restart(now);
        match (config.publishers, config.hold_for()) {
            (0, Some(hold)) => Stage::Holding {
                until: start + hold,
            },
            _ => Stage::Publishing { since: start },
        }
    }

    fn on_interrupt(&mut self) {
        self.collector.count_errors("interrupted", 1);
        if let Stage::Publishing { since } = self.stage {
            self.publish_window = Some((since, Instant::now()));
        }
        self.stage = Stage::Finishing;
    }

    /// Takes a client's message; true when it may end the stage (what the stage waits
    /// for has moved).
    fn on_msg(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Update(update) => {
                let delivered = matches!(update, Update::Samples { .. });
                self.collector.absorb(update);
                delivered && matches!(self.stage, Stage::Draining { .. })
            }
            Msg::Ready => {
                self.ready += 1;
                true
            }
            Msg::Done { last_sent_ns } => {
                self.done += 1;
                self.last_sent = self.last_sent.max(last_sent_ns);
                true
            }
        }
    }

    /// Moves the stage on, as far as it goes now (a run whose deliveries are all in when
    /// its publishers are done drains at once), and tells the clients: draining (figures
    /// as they come) and finishing (end). `quiet` is known on a tick only (`None`
    /// between ticks).
    fn advance(&mut self, now: Instant, quiet: Option<bool>) {
        // Each step moves forward through the five stages, so a few steps end it.
        for _ in 0..5 {
            let next = self.next_stage(now, quiet);
            if next == self.stage {
                break;
            }
            let drains = !matches!(self.stage, Stage::Draining { .. })
                && matches!(next, Stage::Draining { .. });
            self.stage = next;
            if drains {
                self.phase_tx.send_modify(|phase| {
                    if let Phase::Publishing { draining, .. } = phase {
                        *draining = true;
                    }
                });
            }
        }
        if self.stage == Stage::Finishing && self.finish_deadline.is_none() {
            let _ = self.phase_tx.send(Phase::Finishing);
            self.finish_deadline = Some(now + Duration::from_secs(10));
        }
    }

    /// Draws progress, cuts the interval histogram, moves the stage on; false when the
    /// clients did not stop in time.
    fn on_tick(&mut self, progress: &mut dyn Progress, hdr_log: Option<&HdrLog>) -> bool {
        let now = Instant::now();
        self.cut_interval(now, progress, hdr_log);
        // Progress is what the broker still does for us: sends, acks, deliveries,
        // and any QoS flow packet (a QoS 2 backlog of PUBREL/PUBCOMP moves with
        // no delivery for seconds on mosquitto 2.0.11).
        let c = &self.collector;
        self.watch.observe(
            now,
            Movement {
                sent: c.sent,
                acked: c.acked,
                received: c.received_total,
                flow_packets: c.flow_packets,
            },
        );
        // Nothing moving for this long means the broker stopped answering; at
        // a slow --rate, gaps between messages are normal and last longer.
        let config = &self.ctx.config;
        let patience = config
            .drain_timeout
            .max(Duration::from_secs_f64(2.0 / config.rate.unwrap_or(1.0)));
        let quiet = self.watch.is_quiet(now, patience);
        self.advance(now, Some(quiet));
        if self.finish_deadline.is_some_and(|d| now >= d) {
            self.collector.absorb(Update::Error {
                kind: "clients_did_not_stop",
            });
            return false;
        }
        true
    }

    /// The run's last interval, after the clients' last hand-over: written to
    /// `--hdr-log` (a run can end between ticks, or its clients hand over after the last
    /// one) and returned for the series.
    pub(super) fn cut_last_interval(
        &mut self,
        elapsed: Duration,
        hdr_log: Option<&HdrLog>,
    ) -> hdrhistogram::Histogram<u64> {
        let interval = self.collector.take_interval();
        self.log_interval(elapsed, interval.clone(), hdr_log);
        interval
    }

    /// Writes the interval that ends at `elapsed` to `--hdr-log` (when it holds samples)
    /// and starts the next one there.
    fn log_interval(
        &mut self,
        elapsed: Duration,
        interval: hdrhistogram::Histogram<u64>,
        hdr_log: Option<&HdrLog>,
    ) {
        if let (Some(log), false) = (hdr_log, interval.is_empty()) {
            let length = elapsed.saturating_sub(self.interval_start);
            log.write(self.interval_start, length, interval);
        }
        self.interval_start = elapsed;
    }

    /// The counters a `--series` line needs.
    pub(super) fn series_counters(&self) -> series::Counters {
        series::Counters {
            sent: self.collector.sent,
            received: self.collector.received_unique(),
            lost: self.collector.gaps_so_far(),
            connected: self.collector.connected_now(),
            broker: self.broker.as_ref().and_then(BrokerWatch::latest),
        }
    }

    /// Writes the interval histogram to --series and --hdr-log and draws progress.
    fn cut_interval(
        &mut self,
        now: Instant,
        progress: &mut dyn Progress,
        hdr_log: Option<&HdrLog>,
    ) {
        if let Some(broker) = &mut self.broker {
            broker.observe();
        }
        let interval = self.collector.take_interval();
        let p99_us = (!interval.is_empty()).then(|| interval.value_at_quantile(0.99));
        let elapsed = now.duration_since(self.ctx.epoch);
        if self.series.is_some() {
            let counters = self.series_counters();
            if let Some(series) = &mut self.series {
                series.tick(elapsed, counters, &interval);
            }
        }
        self.log_interval(elapsed, interval, hdr_log);
        let expected = match self.ctx.config.bound {
            RunBound::Messages(n) => Some(
                n * self
                    .ctx
                    .plan
                    .receivers_of
                    .iter()
                    .map(|r| r.len() as u64)
                    .sum::<u64>(),
            ),
            RunBound::Duration(_) => None,
        };
        progress.update(&Snapshot {
            elapsed,
            connected: self.collector.connected_now() as u64,
            clients: self.total,
            sent: self.collector.sent,
            received: self.collector.received_unique(),
            expected,
            p99_us,
        });
    }

    /// Connecting until every client is ready, publishing until every publisher is done
    /// (or the bound is over and nothing moves), draining until every delivery arrived
    /// (or nothing moves), then finishing.
    fn next_stage(&mut self, now: Instant, tick_quiet: Option<bool>) -> Stage {
        let quiet = tick_quiet == Some(true);
        let config = &self.ctx.config;
        match self.stage {
            Stage::Connecting if self.ready >= self.total => {
                if let Some(ready) = self.barrier.as_mut().map(|b| b.ready.take()) {
                    // A shard: tell the barrier once, and publish on its go.
                    if let Some(ready) = ready {
                        let _ = ready.send(());
                    }
                    self.watch.restart(now);
                    self.stage
                } else if config.publishers == 0 && config.hold_for().is_none() {
                    Stage::Finishing
                } else {
                    self.start_publishing(now)
                }
            }
            Stage::Publishing { since } => {
                let bound_over = match config.bound {
                    RunBound::Duration(d) => now >= since + d,
                    RunBound::Messages(_) => true,
                };
                let publishers = config.publishers as u64;
                if self.done >= publishers || (bound_over && quiet) {
                    if self.done < publishers {
                        self.collector.absorb(Update::Error {
                            kind: "publishers_stalled",
                        });
                    }
                    self.publish_window = Some((since, now));
                    self.watch.restart(now);
                    Stage::Draining { publish_end: now }
                } else {
                    self.stage
                }
            }
            Stage::Holding { until } if now >= until => Stage::Finishing,
            Stage::Draining { .. } => {
                let all_in = self
                    .drain_target()
                    .is_some_and(|expected| self.collector.received_unique() >= expected);
                // A run with a series ends on a tick: its last window then spans whole
                // ticks as the others do, and holds the deliveries handed over at the
                // drain (up to a hand-over period old); a window of a few ms would
                // read them as a spike.
                let on_grid = tick_quiet.is_some() || self.series.is_none();
                if (all_in || quiet) && on_grid {
                    Stage::Finishing
                } else {
                    self.stage
                }
            }
            other => other,
        }
    }
}

impl Driver {
    /// The deliveries the drain waits for: what the plan expects of what was sent; with
    /// `--cross-shard` what every shard's publishers send to this one's subscribers,
    /// known for a count-bound run only (others drain until nothing moves).
    fn drain_target(&self) -> Option<u64> {
        let plan = &self.ctx.plan;
        match (self.ctx.config.cross(), self.ctx.config.bound) {
            (None, _) => Some(plan.expected(self.collector.sent_by_publisher().iter().copied())),
            (Some(_), RunBound::Messages(n)) => Some(
                n * plan
                    .receivers_of
                    .iter()
                    .map(|r| r.len() as u64)
                    .sum::<u64>(),
            ),
            (Some(_), RunBound::Duration(_)) => None,
        }
    }
}

/// The barrier's answer; never, without a barrier.
async fn barrier_go(
    barrier: &mut Option<BarrierHandle>,
) -> Result<Result<(), String>, tokio::sync::oneshot::error::RecvError> {
    match barrier {
        Some(b) => (&mut b.go).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::collect::Sample;
    use crate::bench::plan::Plan;
    use crate::bench::{BenchConfig, Target};
    use crate::protocol::Properties;

    /// A driver of one publisher and one subscriber, 3 messages, and the clients' view
    /// of the phase.
    fn driver() -> (Driver, watch::Receiver<Phase>) {
        let mut config = BenchConfig::new(Target::Embedded);
        config.publishers = 1;
        config.bound = RunBound::Messages(3);
        let plan = Plan::build(&config).unwrap();
        let ctx = Arc::new(Ctx {
            config,
            plan,
            addr: ([127, 0, 0, 1], 1).into(),
            epoch: Instant::now(),
            publish_properties: Properties::default(),
            header_clock_ns: 0,
        });
        let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
        (Driver::new(ctx, phase_tx, 2), phase_rx)
    }

    fn samples(sequences: std::ops::Range<u64>) -> Msg {
        Msg::Update(Update::Samples {
            receiver: 0,
            samples: sequences
                .map(|sequence| Sample {
                    publisher: 0,
                    sequence,
                    sent_at_ns: 1,
                    received_at_ns: 2,
                })
                .collect(),
            payload_len: 64,
        })
    }

    /// Feeds a client's message as the loop does: the stage moves at once.
    fn feed(d: &mut Driver, msg: Msg) {
        if d.on_msg(msg) {
            d.advance(Instant::now(), None);
        }
    }

    fn feed_all(d: &mut Driver, msgs: impl IntoIterator<Item = Msg>) {
        msgs.into_iter().for_each(|msg| feed(d, msg));
    }

    fn done() -> Msg {
        Msg::Done {
            last_sent_ns: Some(5),
        }
    }

    /// Whether the clients are told to hand over as they receive; `None`: not publishing.
    fn draining(phase: &watch::Receiver<Phase>) -> Option<bool> {
        match *phase.borrow() {
            Phase::Publishing { draining, .. } => Some(draining),
            _ => None,
        }
    }

    fn published(count: u64) -> Msg {
        Msg::Update(Update::Published {
            publisher: 0,
            count,
        })
    }

    #[test]
    fn stages_end_when_what_they_wait_for_arrives_without_a_tick() {
        let (mut d, phase) = driver();
        feed(&mut d, Msg::Ready);
        assert_eq!(d.stage, Stage::Connecting);
        feed(&mut d, Msg::Ready);
        assert!(matches!(d.stage, Stage::Publishing { .. }));
        assert_eq!(draining(&phase), Some(false));

        feed_all(&mut d, [samples(0..1), published(3), done()]);
        assert!(matches!(d.stage, Stage::Draining { .. }));
        assert_eq!(draining(&phase), Some(true));

        feed(&mut d, samples(1..2));
        assert!(
            matches!(d.stage, Stage::Draining { .. }),
            "one delivery missing"
        );
        feed(&mut d, samples(2..3));
        assert_eq!(d.stage, Stage::Finishing);
        assert_eq!(*phase.borrow(), Phase::Finishing);
        assert!(d.finish_deadline.is_some());
    }

    #[test]
    fn a_run_whose_deliveries_are_in_when_the_publisher_is_done_finishes_then() {
        let (mut d, phase) = driver();
        feed_all(&mut d, [Msg::Ready, Msg::Ready, samples(0..3)]);
        assert!(matches!(d.stage, Stage::Publishing { .. }));
        feed_all(&mut d, [published(3), done()]);
        assert_eq!(d.stage, Stage::Finishing);
        assert_eq!(*phase.borrow(), Phase::Finishing);
        assert!(d.publish_window.is_some());
    }

    #[test]
    fn a_drain_short_of_deliveries_waits_for_the_quiet_tick() {
        let (mut d, _phase) = driver();
        feed_all(
            &mut d,
            [Msg::Ready, Msg::Ready, published(3), done(), samples(0..2)],
        );
        assert!(matches!(d.stage, Stage::Draining { .. }));
        // Only a tick knows that nothing has moved for the drain timeout.
        d.advance(Instant::now(), Some(true));
        assert_eq!(d.stage, Stage::Finishing);
    }

    #[test]
    fn a_run_with_a_series_finishes_on_the_tick_after_its_deliveries_are_in() {
        let (mut d, phase) = driver();
        d.series = Some(Series::new(None));
        feed_all(
            &mut d,
            [Msg::Ready, Msg::Ready, published(3), samples(0..3), done()],
        );
        assert!(matches!(d.stage, Stage::Draining { .. }));
        assert_eq!(draining(&phase), Some(true));
        d.advance(Instant::now(), Some(false));
        assert_eq!(d.stage, Stage::Finishing);
    }
}

//! Runs a scenario from start to report: spawns the clients at `--connect-rate` (with a
//! bounded number of handshakes at once, spread over `--bind-addresses`), waits until
//! every subscriber is subscribed, starts the publishers together, waits for the last
//! QoS 1/2 acknowledgement and the last delivery (or until nothing moves for the drain
//! timeout), stops everyone, and turns the collector's figures into a `BenchReport`.
//! The collector is owned by this loop alone and fed by a channel.
//! Must not parse flags or write to stdout (progress goes through `Progress`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

use crate::protocol::{Disconnect, Packet, Properties, ProtocolVersion};

use super::barrier::{self, BarrierHandle};
use super::client::{self, Ctx, Msg, Phase, Role};
use super::collect::{Collector, Update};
use super::config::{BenchConfig, RunBound};
use super::conn::{self, ConnectFailure};
use super::hdrlog::HdrLog;
use super::plan::Plan;
use super::progress::{Progress, Snapshot};
use super::quiet::{Movement, QuietWatch};
use super::report::{BenchReport, BrokerInfo, CpuUsage, Parameters, ShardInfo};
use super::series::{self, Series};
use super::stats;
use super::sys;
use super::workers::Workers;

/// TCP + MQTT handshakes in progress at once: more only overflows the broker's listen
/// backlog and turns into SYN retransmits a second later.
const MAX_HANDSHAKES: usize = 128;
/// How often progress is drawn and the interval histogram is cut.
const TICK: Duration = Duration::from_millis(500);

/// Where the broker is and how to account for it.
pub struct Broker {
    /// The address clients connect to.
    pub addr: SocketAddr,
    /// For the report.
    pub info: BrokerInfo,
    /// Name prefix of the embedded broker's threads, to keep its CPU out of ours.
    pub thread_prefix: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Connecting,
    Publishing { since: Instant },
    Draining { publish_end: Instant },
    Finishing,
}

/// Runs the benchmark described by `config` against `broker`.
pub async fn run(
    config: BenchConfig,
    broker: Broker,
    publish_properties: Properties,
    mut progress: Box<dyn Progress>,
    series: Option<Series>,
) -> anyhow::Result<Outcome> {
    config.check().map_err(anyhow::Error::msg)?;
    let plan = Plan::build(&config).map_err(anyhow::Error::msg)?;
    let mut config = config;
    if let Some(version) = fallback_version(&config, broker.addr).await {
        if config.shared_group.is_some() {
            anyhow::bail!("the broker refused MQTT 5, which --shared needs");
        }
        config.version = version;
    }
    let start = Start::now(&config, &broker)?;
    let ctx = Arc::new(Ctx {
        config: config.clone(),
        plan,
        addr: broker.addr,
        epoch: start.epoch,
        publish_properties,
    });
    let (tx, rx) = mpsc::unbounded_channel::<Msg>();
    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let roles = roles(&config);
    let total = roles.len() as u64;
    let workers = Arc::new(Workers::from_env().context("cannot start the bench's worker threads")?);
    let client_threads = workers.threads() as u32;
    let spawner = tokio::spawn(spawn_clients(
        roles,
        ctx.clone(),
        tx,
        phase_rx,
        workers.clone(),
    ));
    let mut driver = Driver::new(ctx, phase_tx, total);
    driver.series = series;
    driver.barrier = config.shard.as_ref().map(|plan| {
        barrier::start(
            config.clone(),
            broker.addr,
            plan.shard.clone(),
            plan.parameter_hash.clone(),
            plan.start,
        )
    });
    driver
        .drive(rx, progress.as_mut(), start.hdr_log.as_ref())
        .await;
    progress.finish();
    stop_clients(spawner, workers).await;
    if let Some(barrier) = driver.barrier.take() {
        barrier.finish().await;
    }
    if let Some(why) = driver.barrier_error.take() {
        anyhow::bail!(why);
    }
    let elapsed = start.epoch.elapsed();
    let mut points = Vec::new();
    if let Some(series) = driver.series.take() {
        let interval = driver.collector.take_interval();
        let counters = driver.series_counters();
        let mut series = series;
        series.tick(elapsed, counters, &interval);
        points = series
            .finish(elapsed, counters)
            .context("cannot write --series")?;
    }
    let cpu = start.cpu_used(&broker);
    if let Some(log) = start.hdr_log {
        log.finish().context("cannot write --hdr-log")?;
    }
    let times = Times {
        epoch: start.epoch,
        wall: start.wall,
        elapsed,
    };
    let latency = driver.collector.latency_histogram().clone();
    Ok(Outcome {
        report: report(&config, broker.info, times, driver, cpu, client_threads),
        latency,
        series: points,
    })
}

/// What a run gives: the report, and for `--plot` the whole-run latency histogram and
/// the per-second series (empty unless a `Series` was given).
pub struct Outcome {
    pub report: BenchReport,
    pub latency: hdrhistogram::Histogram<u64>,
    pub series: Vec<series::SeriesPoint>,
}

/// The clients of the run, subscribers first (they must be subscribed before anyone
/// publishes), then publishers, then connect-only clients.
fn roles(config: &BenchConfig) -> Vec<Role> {
    (0..config.subscribers)
        .map(Role::Subscriber)
        .chain((0..config.publishers).map(Role::Publisher))
        .chain((0..config.connect_only_clients).map(Role::ConnectOnly))
        .collect()
}

/// Aborts the clients still running (each has had its chance to stop) and stops the
/// worker threads.
async fn stop_clients(spawner: JoinHandle<Vec<JoinHandle<()>>>, workers: Arc<Workers>) {
    let handles = spawner.await.unwrap_or_default();
    for handle in handles {
        handle.abort();
    }
    if let Ok(workers) = Arc::try_unwrap(workers) {
        workers.stop();
    }
}

/// What is taken when the run starts: time zero, the wall clock, CPU counters (ours and
/// the embedded broker's), and the --hdr-log file.
struct Start {
    epoch: Instant,
    wall: SystemTime,
    cpu: sys::CpuTimes,
    broker_cpu: Option<sys::CpuTimes>,
    hdr_log: Option<HdrLog>,
}

/// When the run started (monotonic and wall clock) and how long it took.
struct Times {
    epoch: Instant,
    wall: SystemTime,
    elapsed: Duration,
}

/// CPU used by the run: the bench's own (the embedded broker's taken out) and the
/// embedded broker's.
struct CpuUsed {
    own: sys::CpuTimes,
    broker: Option<sys::CpuTimes>,
}

impl Start {
    fn now(config: &BenchConfig, broker: &Broker) -> anyhow::Result<Start> {
        let epoch = Instant::now();
        let wall = SystemTime::now();
        let cpu = sys::process_cpu();
        let broker_cpu = broker.thread_prefix.and_then(sys::threads_cpu);
        let hdr_log = match &config.hdr_log {
            Some(path) => Some(
                HdrLog::create(path, wall)
                    .with_context(|| format!("cannot create --hdr-log {}", path.display()))?,
            ),
            None => None,
        };
        Ok(Start {
            epoch,
            wall,
            cpu,
            broker_cpu,
            hdr_log,
        })
    }

    /// The CPU used since the start.
    fn cpu_used(&self, broker: &Broker) -> CpuUsed {
        let mut own = sys::process_cpu().since(&self.cpu);
        let broker_cpu = match (broker.thread_prefix, &self.broker_cpu) {
            (Some(prefix), Some(before)) => {
                sys::threads_cpu(prefix).map(|after| after.since(before))
            }
            _ => None,
        };
        if let Some(b) = &broker_cpu {
            own = own.since(b);
        }
        CpuUsed {
            own,
            broker: broker_cpu,
        }
    }
}

/// The run's loop state: the collector (fed by the clients' channel, owned here alone),
/// the stage, and what the stages need to know.
struct Driver {
    ctx: Arc<Ctx>,
    phase_tx: watch::Sender<Phase>,
    total: u64,
    collector: Collector,
    ready: u64,
    done: u64,
    stage: Stage,
    publish_window: Option<(Instant, Instant)>,
    watch: QuietWatch,
    interval_start: Duration,
    finish_deadline: Option<Instant>,
    last_sent: Option<u64>,
    /// `--series`, fed on every tick.
    series: Option<Series>,
    /// The start barrier of a sharded run; publishing waits for its go.
    barrier: Option<BarrierHandle>,
    /// Why the barrier did not let the run start.
    barrier_error: Option<String>,
}

impl Driver {
    fn new(ctx: Arc<Ctx>, phase_tx: watch::Sender<Phase>, total: u64) -> Driver {
        let mut collector = Collector::new(ctx.config.publishers);
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
        }
    }

    /// Runs until every client has ended, or the clients did not stop in time.
    async fn drive(
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
                },
                _ = &mut interrupt, if !interrupted => {
                    interrupted = true;
                    self.on_interrupt();
                },
                msg = rx.recv() => match msg {
                    Some(msg) => self.on_msg(msg),
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
        let _ = self.phase_tx.send(Phase::Publishing { start_ns });
        self.watch.restart(now);
        Stage::Publishing { since: start }
    }

    fn on_interrupt(&mut self) {
        self.collector.count_errors("interrupted", 1);
        if let Stage::Publishing { since } = self.stage {
            self.publish_window = Some((since, Instant::now()));
        }
        self.stage = Stage::Finishing;
    }

    fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Update(update) => self.collector.absorb(update),
            Msg::Ready => self.ready += 1,
            Msg::Done { last_sent_ns } => {
                self.done += 1;
                self.last_sent = self.last_sent.max(last_sent_ns);
            }
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
        self.stage = self.next_stage(now, quiet);
        if self.stage == Stage::Finishing && self.finish_deadline.is_none() {
            let _ = self.phase_tx.send(Phase::Finishing);
            self.finish_deadline = Some(now + Duration::from_secs(10));
        }
        if self.finish_deadline.is_some_and(|d| now >= d) {
            self.collector.absorb(Update::Error {
                kind: "clients_did_not_stop",
            });
            return false;
        }
        true
    }

    /// The counters a `--series` line needs.
    fn series_counters(&self) -> series::Counters {
        series::Counters {
            sent: self.collector.sent,
            received: self.collector.received_unique(),
            lost: self.collector.gaps_so_far(),
            connected: self.collector.connected(),
        }
    }

    /// Writes the interval histogram to --series and --hdr-log and draws progress.
    fn cut_interval(
        &mut self,
        now: Instant,
        progress: &mut dyn Progress,
        hdr_log: Option<&HdrLog>,
    ) {
        let interval = self.collector.take_interval();
        let p99_us = (!interval.is_empty()).then(|| interval.value_at_quantile(0.99));
        let elapsed = now.duration_since(self.ctx.epoch);
        if self.series.is_some() {
            let counters = self.series_counters();
            if let Some(series) = &mut self.series {
                series.tick(elapsed, counters, &interval);
            }
        }
        if let Some(log) = hdr_log {
            if !interval.is_empty() {
                log.write(
                    self.interval_start,
                    elapsed.saturating_sub(self.interval_start),
                    interval,
                );
            }
        }
        self.interval_start = elapsed;
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
            connected: self.collector.connected() as u64,
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
    fn next_stage(&mut self, now: Instant, quiet: bool) -> Stage {
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
                } else if config.publishers == 0 {
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
            Stage::Draining { .. } => {
                let sent = self.collector.sent_by_publisher().iter().copied();
                let expected = self.ctx.plan.expected(sent);
                if self.collector.received_unique() >= expected || quiet {
                    Stage::Finishing
                } else {
                    self.stage
                }
            }
            other => other,
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

/// Turns the collector's figures into the report.
fn report(
    config: &BenchConfig,
    broker: BrokerInfo,
    times: Times,
    driver: Driver,
    cpu: CpuUsed,
    client_threads: u32,
) -> BenchReport {
    let Driver {
        ctx,
        mut collector,
        total,
        publish_window,
        last_sent,
        ..
    } = driver;
    let (epoch, elapsed) = (times.epoch, times.elapsed);
    let plan = &ctx.plan;
    let deliveries = collector.deliveries(|p| {
        plan.receivers_of
            .get(p as usize)
            .map_or(&[], |r| r.as_slice())
    });
    collector.count_errors("unexpected_delivery", deliveries.unexpected);
    let (measured, measured_bytes, measured_secs) = collector.measured();
    let per_sec = |n: u64, secs: f64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    // Publishing ends with the last message produced (or when the run gave up waiting).
    let publish_secs = publish_window.map_or(0.0, |(start, gave_up)| {
        let end = last_sent.map_or(gave_up, |ns| epoch + Duration::from_nanos(ns));
        end.saturating_duration_since(start).as_secs_f64()
    });
    let messages = collector.sent + deliveries.received;
    BenchReport {
        mqtk_version: env!("CARGO_PKG_VERSION").to_string(),
        broker,
        parameters: Parameters {
            scenario: config.shard.as_ref().map_or_else(
                || config.scenario_name().to_string(),
                |s| s.scenario.clone(),
            ),
            ..parameters(config)
        },
        started_unix_ms: times
            .wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        elapsed_secs: elapsed.as_secs_f64(),
        measured_secs,
        clients: collector.client_figures(total as u32),
        connect_time_us: collector.connect_stats(),
        connects_per_sec: collector.connects_per_sec(),
        sent: collector.sent,
        acked: collector.acked,
        expected: deliveries.expected,
        received: deliveries.received,
        lost: deliveries.lost,
        duplicates: deliveries.duplicates,
        reordered: deliveries.reordered,
        warmup_excluded: collector.warmup_excluded(),
        throughput_msgs_per_sec: per_sec(measured, measured_secs),
        throughput_bytes_per_sec: per_sec(measured_bytes, measured_secs),
        sent_msgs_per_sec: per_sec(collector.sent, publish_secs),
        latency_us: collector.latency_stats(),
        pub_round_trip_us: collector.round_trip_stats(),
        errors: collector.errors().clone(),
        error_messages: collector.error_details().clone(),
        cpu: CpuUsage {
            user_secs: cpu.own.user.as_secs_f64(),
            system_secs: cpu.own.system.as_secs_f64(),
            per_message_us: (messages > 0)
                .then(|| cpu.own.total().as_secs_f64() * 1e6 / messages as f64),
            embedded_broker_secs: cpu.broker.map(|b| b.total().as_secs_f64()),
            utilization_percent: cpu.own.total().as_secs_f64() * 100.0
                / elapsed.as_secs_f64().max(1e-9),
            threads: client_threads,
        },
        slo: Vec::new(),
        shard: config.shard.as_ref().map(|plan| ShardInfo {
            run_id: plan.shard.run_id.clone(),
            index: Some(plan.shard.index),
            count: plan.shard.count,
            parameter_hash: plan.parameter_hash.clone(),
            histogram: stats::settings(),
            latency_hdr: Some(stats::encode(collector.latency_histogram())),
            pub_round_trip_hdr: Some(stats::encode(collector.round_trip_histogram())),
            connect_time_hdr: Some(stats::encode(collector.connect_histogram())),
        }),
    }
}

/// The version to use instead of `config.version` when the broker refuses it, asked with
/// one probe connection (as `pub` and `sub` fall back to 3.1.1 when it does); `None`
/// when -V fixed the version, or the probe got anything but a refusal of the version
/// (the clients will report what went wrong).
async fn fallback_version(config: &BenchConfig, addr: SocketAddr) -> Option<ProtocolVersion> {
    let next = crate::net::handshake::next_version(config.version, config.version_fixed)?;
    let probe =
        client::connect_packet(config, config.version, format!("{}probe", config.id_prefix));
    match conn::open(
        addr,
        None,
        config.tls.as_ref(),
        probe,
        config.connect_timeout,
    )
    .await
    {
        Ok((mut conn, _)) => {
            if conn
                .queue(&Packet::Disconnect(Disconnect::normal()))
                .is_ok()
            {
                let _ = conn.flush().await;
            }
            None
        }
        Err(ConnectFailure::VersionRefused) => Some(next),
        Err(_) => None,
    }
}

async fn spawn_clients(
    roles: Vec<Role>,
    ctx: Arc<Ctx>,
    tx: mpsc::UnboundedSender<Msg>,
    phase: watch::Receiver<Phase>,
    workers: Arc<Workers>,
) -> Vec<JoinHandle<()>> {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let start = Instant::now();
    let binds = &ctx.config.bind_addresses;
    let mut handles = Vec::with_capacity(roles.len());
    for (i, role) in roles.into_iter().enumerate() {
        if let Some(rate) = ctx.config.connect_rate {
            tokio::time::sleep_until((start + Duration::from_secs_f64(i as f64 / rate)).into())
                .await;
        }
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            break;
        };
        let bind = (!binds.is_empty()).then(|| binds[i % binds.len()]);
        handles.push(workers.spawn(
            i,
            client::run(role, bind, ctx.clone(), tx.clone(), phase.clone(), permit),
        ));
    }
    handles
}

/// The report's record of what `config` asks for.
pub fn parameters(config: &BenchConfig) -> Parameters {
    Parameters {
        scenario: config.scenario_name().to_string(),
        protocol_version: match config.version {
            ProtocolVersion::V5 => "5".into(),
            ProtocolVersion::V311 => "3.1.1".into(),
        },
        qos: config.qos as u8,
        size_bytes: config.size,
        publishers: config.publishers,
        subscribers: config.subscribers,
        connect_only_clients: config.connect_only_clients,
        messages_per_publisher: match config.bound {
            RunBound::Messages(n) => Some(n),
            RunBound::Duration(_) => None,
        },
        duration_secs: match config.bound {
            RunBound::Duration(d) => Some(d.as_secs_f64()),
            RunBound::Messages(_) => None,
        },
        rate_msgs_per_sec_per_publisher: config.rate,
        warmup_secs: config.warmup.as_secs_f64(),
        inflight: config.inflight,
        receive_maximum: config
            .receive_maximum
            .filter(|_| config.version == ProtocolVersion::V5),
        topic: config.topic.clone(),
        sub_topic: config.sub_topic.clone(),
        shared_group: config.shared_group.clone(),
        connect_rate_per_sec: config.connect_rate,
        bind_addresses: config
            .bind_addresses
            .iter()
            .map(|a| a.to_string())
            .collect(),
    }
}

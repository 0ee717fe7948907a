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

use super::barrier;
use super::broker_proc::BrokerWatch;
use super::client::{self, Ctx, Msg, Phase, Role};
use super::collect::{Collector, Deliveries};
use super::config::{BenchConfig, RunBound};
use super::conn::{self, ConnectFailure};
use super::cross;
use super::hdrlog::HdrLog;
use super::plan::Plan;
use super::progress::Progress;
use super::report::{
    BenchReport, BrokerInfo, ChurnFigures, CpuUsage, CrossShardFigures, FlapFigures, Parameters,
    ShardInfo, ShardSecond,
};
use super::series::{self, Series};
use super::stats;
use super::sys;
use super::workers::Workers;

mod driver;
use driver::Driver;

/// TCP + MQTT handshakes in progress at once: more only overflows the broker's listen
/// backlog and turns into SYN retransmits a second later.
const MAX_HANDSHAKES: usize = 128;

/// Where the broker is and how to account for it.
pub struct Broker {
    /// The address clients connect to.
    pub addr: SocketAddr,
    /// For the report.
    pub info: BrokerInfo,
    /// Name prefix of the embedded broker's threads, to keep its CPU out of ours.
    pub thread_prefix: Option<&'static str>,
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
    let broker_watch = match config.broker_pid {
        Some(pid) => Some(BrokerWatch::start(pid).with_context(|| {
            format!("--broker-pid {pid}: no such process (bench reads /proc/{pid})")
        })?),
        None => None,
    };
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
        header_clock_ns: match config.cross() {
            Some(_) => start
                .wall
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            None => 0,
        },
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
    // A shard always keeps its series, with each second's histogram, for the merge.
    driver.series = match (series, config.shard.is_some()) {
        (series, false) => series,
        (series, true) => Some(
            series
                .unwrap_or_else(|| Series::new(None))
                .keeping_histograms(),
        ),
    };
    driver.broker = broker_watch;
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
    if let Some(broker) = &mut driver.broker {
        broker.observe();
    }
    let interval = driver.cut_last_interval(elapsed, start.hdr_log.as_ref());
    let (mut points, mut histograms) = (Vec::new(), Vec::new());
    if let Some(series) = driver.series.take() {
        let counters = driver.series_counters();
        let mut series = series;
        series.tick(elapsed, counters, &interval);
        (points, histograms) = series
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
    let mut report = report(&config, broker.info, times, driver, cpu, client_threads);
    if let Some(shard) = &mut report.shard {
        shard.series = points
            .iter()
            .zip(histograms)
            .map(|(point, latency_hdr)| ShardSecond {
                point: point.clone(),
                latency_hdr,
            })
            .collect();
    }
    Ok(Outcome {
        report,
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
/// publishes), then publishers, then connect-only clients. A subscriber's index is its
/// place in the plan; a publisher's is its index in the plan's topics, which with
/// `--cross-shard` counts the publishers of the shards before this one.
fn roles(config: &BenchConfig) -> Vec<Role> {
    let first_publisher = config.cross().map_or(0, |c| c.first_publisher);
    (0..config.subscribers)
        .map(Role::Subscriber)
        .chain((first_publisher..first_publisher + config.publishers).map(Role::Publisher))
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
        broker: broker_watch,
        ..
    } = driver;
    let (epoch, elapsed) = (times.epoch, times.elapsed);
    let (deliveries, cross) = deliveries(config, &collector, &ctx.plan);
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
        churn: config.churn_rate.map(|_| {
            let churned = collector.churned();
            let secs = config.hold_for().map_or(0.0, |d| d.as_secs_f64());
            ChurnFigures {
                reconnects: churned.reconnects,
                reconnects_failed: churned.failed,
                reconnects_per_sec: per_sec(churned.reconnects + churned.failed, secs),
            }
        }),
        flapping: config.flap_interval.map(|_| {
            let flaps = collector.flaps();
            FlapFigures {
                flaps: flaps.map_or(0, |f| f.count),
                missed_while_unsubscribed: deliveries.missed_while_unsubscribed,
                unsuback_us: flaps.and_then(|f| stats::summarize(&f.unsuback)),
                suback_us: flaps.and_then(|f| stats::summarize(&f.suback)),
            }
        }),
        broker_process: broker_watch.map(|w| w.figures(elapsed)),
        latency_hdr: (config.shard.is_none() && !collector.latency_histogram().is_empty())
            .then(|| stats::encode(collector.latency_histogram())),
        shard: config.shard.as_ref().map(|plan| ShardInfo {
            run_id: plan.shard.run_id.clone(),
            index: Some(plan.shard.index),
            count: plan.shard.count,
            parameter_hash: plan.parameter_hash.clone(),
            histogram: stats::settings(),
            latency_hdr: Some(stats::encode(collector.latency_histogram())),
            pub_round_trip_hdr: Some(stats::encode(collector.round_trip_histogram())),
            connect_time_hdr: Some(stats::encode(collector.connect_histogram())),
            series: Vec::new(),
            cross_shard: cross,
        }),
    }
}

/// The run's delivery accounting against the plan. A `--cross-shard` shard's also by
/// publisher shard: it receives from publishers it does not run, whose sent counts
/// only the merge knows, so its `expected` and `lost` are 0 until then.
fn deliveries(
    config: &BenchConfig,
    collector: &Collector,
    plan: &Plan,
) -> (Deliveries, Option<CrossShardFigures>) {
    let receivers_of = |p: u32| {
        plan.receivers_of
            .get(p as usize)
            .map_or(&[][..], |r| r.as_slice())
    };
    let mut d = collector.deliveries(receivers_of);
    let (Some(c), Some(shard)) = (config.cross(), &config.shard) else {
        return (d, None);
    };
    let by_publisher = collector.received_by_publisher(receivers_of);
    let own = collector
        .sent_by_publisher()
        .iter()
        .skip(c.first_publisher as usize)
        .take(config.publishers as usize)
        .copied()
        .collect::<Vec<_>>();
    let figures = cross::shard_figures(
        &by_publisher,
        cross::expected_of_sent(&own, &c.heard_by),
        shard.shard.count,
    );
    d.received = by_publisher.iter().sum();
    d.unexpected = collector.received_unique().saturating_sub(d.received);
    (d.expected, d.lost) = (0, 0);
    (d, Some(figures))
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
        hold_secs: config.hold.map(|d| d.as_secs_f64()),
        churn_rate_per_sec: config.churn_rate,
        flap_interval_secs: config.flap_interval.map(|d| d.as_secs_f64()),
        cross_shard: config.cross().is_some(),
    }
}

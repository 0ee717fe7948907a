//! `mqtk serve`: its help text and `run`, which turns the flags (`args.rs`) and `-c FILE`
//! (`setup.rs`) into a checked broker config and runs `crate::broker`. Must not print
//! directly (only through `crate::output`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context;

use crate::broker::{self, BrokerConfig};
use crate::output;

use crate::broker::event_loops::EventLoops;
use crate::broker::listeners::ListenerSpec;
use crate::cli::exit::Exit;

mod args;
mod fixture;
mod setup;

pub use args::ServeArgs;

/// Long help of the subcommand (`--help`, man page). Lines indented by two spaces are
/// kept as written in the man page (see `docs.rs`).
pub const LONG_ABOUT: &str = "\
Run an MQTT 3.1.1 and 5.0 broker.

Before any other output on stdout it prints exactly one line
`listening on mqtt://ADDR:PORT` (the real port with -p 0) and flushes it, then one line
per further listener (mqtts://, ws://), so a script can start it in the background and
read the port. Nothing else goes to stdout (but --trace -); logs go to stderr
(--log-format json: one JSON object a line).

By default it listens on 127.0.0.1:1883 only, allows anonymous clients, keeps everything
in memory, and applies mosquitto's default limits: 20 QoS 1/2 messages in flight and 1000
more queued per client, packets up to 268435455 bytes, keep alive up to 65535 s, no
connection limit. When a connected client's queue is full, a message for it (any QoS)
makes the publisher wait (up to 1 s) for room; messages for a client that is offline or
has stopped reading are dropped and counted instead (-vv shows them). Long before that,
a connected client with more than 64 messages queued makes the publishers wait until
it has taken half of them (nothing is dropped for this), so publishers go at their
subscribers' pace and messages do not wait behind long queues. Unlike mosquitto,
QoS 0 messages count towards the queue too. MQTT 5 clients
learn the limits from CONNACK (Receive Maximum, Maximum Packet Size, Server Keep Alive);
a client that exceeds them is disconnected.

--password-file FILE checks user names and passwords against a mosquitto_passwd file and
refuses anonymous clients, as mosquitto 2.0 does, unless --allow-anonymous true. A refused
client gets CONNACK \"not authorized\" (MQTT 5: 0x87, 3.1.1: 5). --acl-file restricts
topics per user; see README.md for both file formats.

-v logs to stderr, one line each, in mosquitto's words: connections, refusals,
disconnections, subscriptions. -vv also logs every PUBLISH received and how many
receivers it went to and how many were dropped. $SYS/# topics publish the broker's
counters every second, and afresh for each new $SYS subscriber.

--threads 1 runs one event loop: packets are applied in the order their sockets became
readable, across connections (as in mosquitto), so a PUBLISH sent on one connection right
after a SUBSCRIBE on another, without waiting for the SUBACK, is delivered. With more
threads (the default: one per core) that holds only once the SUBACK has come.

After a DISCONNECT with a reason (MQTT 5) or a refusing CONNACK, the broker closes its
writing side and reads and discards for up to 1 s, until the client closes, so a client
still sending reads the reason instead of a TCP reset.

As a test fixture for client code, it misbehaves on purpose when asked: --fault RULE
(repeatable) and --faults FILE (one rule a line, read again on SIGHUP) are a match and an
action, `MATCH... ; ACTION`:
  client=dev-* type=puback dir=in nth=2 ; drop
  client=sensor-7 ; connack=0x87
  type=publish dir=out topic=cmd/# p=0.1 ; duplicate
  type=pingreq after=5s count=1 ; stall=30s
Match keys (all must hold): client=GLOB, user=GLOB, topic=FILTER, type=T[,T...],
dir=in|out (seen from the broker), nth=N (only the Nth match, counted broker-wide),
count=N (at most N times), p=P (probability; --fault-seed repeats a run), after=TIME and
for=TIME (a window from when the rule was loaded). Actions: close (no DISCONNECT),
disconnect=CODE (MQTT 5 DISCONNECT, then close), connack=CODE (refuse the CONNECT), drop
(not handled, or not sent), delay=TIME (the packet waits, and the connection with it),
duplicate (an outgoing PUBLISH is sent again with DUP), stall=TIME (from this packet on
nothing is read or written for TIME; an outgoing one still goes, an incoming one is
handled and its answer waits), no-pingresp, throttle=RATE (what the broker sends goes at
RATE, e.g. 100B/s), takeover (ends the connection as a takeover does, 0x8E).
Every fault that fires is logged at -v and counted in $SYS/broker/faults/...
With --allow-control, clients the ACL allows publish `add RULE`, `remove RULE|#N|all` or
`list` to $CONTROL/mqtk/faults; the answer goes to the MQTT 5 response topic and the
PUBACK reason code (0x83 for a bad rule, 0x87 when not allowed).

--trace FILE|- writes one JSON line per packet in either direction (time, unix_ns,
client_id, dir, type and the decoded packet, payload as text or base64, cut at
--trace-payload BYTES); --trace-client GLOB picks the clients. The trace never slows the
broker: when the writer falls behind, lines are dropped and counted in
$SYS/broker/trace/dropped.

SIGINT and SIGTERM stop it cleanly: MQTT 5 clients get DISCONNECT \"server shutting
down\" (0x8B), and the exit status is 0. -c reads the common subset of a mosquitto.conf;
flags given on the command line win over the file.

Exit status: 0 after SIGINT or SIGTERM; 1 when it cannot start (port in use, bad -c file,
unreadable --password-file or --acl-file, a --data-dir that is not an mqtk store); 2 when
the command line cannot be parsed.";

/// Examples shown after the flags in `--help`.
pub const AFTER_HELP: &str = "\
Examples:
  mqtk serve                                   127.0.0.1:1883, anonymous clients allowed
  mqtk serve --bind 0.0.0.0 -p 1883 -v
  mqtk serve -p 0 | head -1                     pick a free port and print it
  mqtk serve -p 0 --threads 1                   a test fixture: packets in arrival order
  mqtk serve -p 0 -v --fault 'type=puback dir=in nth=1 ; drop'
  mqtk serve -p 0 --faults faults.txt --trace trace.jsonl --log-format json -v
  mqtk serve -c /etc/mosquitto/mosquitto.conf
  mqtk serve --data-dir /var/lib/mqtk --password-file passwd --allow-anonymous false
  mqtk serve --tls-port 8883 --cert server.pem --key server.key --ws-port 9001
  mqtk serve --unix /run/mqtk.sock                and: mqtk sub --unix /run/mqtk.sock -t '#'";

/// Runs `mqtk serve` until SIGINT or SIGTERM.
pub fn run(mut args: ServeArgs) -> anyhow::Result<()> {
    let deployment = setup::setup(&mut args)?;
    for warning in &deployment.warnings {
        output::warning(warning);
    }
    let mut config = broker_config(&args)?;
    deployment.apply_to(&mut config);
    let faults = fixture::apply(&args, &mut config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let loops = event_loops(args.threads).context("cannot start the event loops")?;
    runtime.block_on(serve(
        config,
        loops,
        deployment.listeners,
        faults,
        args.unix.clone(),
    ))
}

/// The event loops for `--threads` (default: one per core), each a thread with tokio's
/// current-thread runtime, this one included. With one, the event loop runs the
/// connection tasks in the order their sockets became readable, so a packet read first
/// is applied first, across connections (as in mosquitto). With more, each TCP
/// connection lives on one loop (`broker::event_loops`), the loops run in parallel, and
/// two packets on two connections may then be applied in either order until the first
/// is acknowledged.
fn event_loops(threads: Option<u16>) -> std::io::Result<Option<EventLoops>> {
    let n = match threads {
        Some(n) => usize::from(n),
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    if n <= 1 {
        return Ok(None);
    }
    EventLoops::start(n).map(Some)
}

/// Turns the flags into a checked broker configuration.
fn broker_config(args: &ServeArgs) -> anyhow::Result<BrokerConfig> {
    let ip: IpAddr = args.bind.parse().map_err(|_| {
        Exit::new(
            2,
            format!(
                "invalid --bind address '{}': give an IP address such as 127.0.0.1 or 0.0.0.0",
                args.bind
            ),
        )
    })?;
    let defaults = BrokerConfig::default();
    Ok(BrokerConfig {
        bind: SocketAddr::new(ip, args.port),
        verbosity: args.verbose,
        max_connections: args.max_connections.map(|n| n as usize),
        max_packet_size: args.max_packet_size.unwrap_or(defaults.max_packet_size),
        max_inflight: args.max_inflight.unwrap_or(defaults.max_inflight),
        max_queued: args
            .max_queued
            // 0 is "no limit", as max_queued_messages 0 is in mosquitto.conf.
            .map(|n| if n == 0 { setup::UNLIMITED_QUEUE } else { n } as usize)
            .unwrap_or(defaults.max_queued),
        max_keepalive: args.max_keepalive.unwrap_or(defaults.max_keepalive),
        max_queued_bytes: args
            .max_queued_bytes
            .map_or(defaults.max_queued_bytes, saturating_usize),
        max_subscriptions_per_client: args
            .max_subscriptions_per_client
            .map_or(defaults.max_subscriptions_per_client, |n| n as usize),
        max_topic_levels: args
            .max_topic_levels
            .map_or(defaults.max_topic_levels, |n| n as usize),
        max_retained: args
            .max_retained
            .map_or(defaults.max_retained, |n| n as usize),
        max_retained_bytes: args
            .max_retained_bytes
            .map_or(defaults.max_retained_bytes, saturating_usize),
        max_connections_per_ip: args.max_connections_per_ip.map(|n| n as usize),
        connect_timeout: args
            .connect_timeout
            .map_or(defaults.connect_timeout, |s| Duration::from_secs(s.into())),
        max_connect_rate: args.max_connect_rate,
        ordered: args.threads == Some(1),
        ..defaults
    })
}

fn saturating_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

async fn serve(
    config: BrokerConfig,
    loops: Option<EventLoops>,
    listeners: Vec<ListenerSpec>,
    faults: Option<fixture::FaultSetup>,
    unix: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    // Handlers first: a script may send SIGTERM as soon as it reads the port.
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
    let trace = config.trace.clone();
    let broker = broker::start_with_loops(config, loops).await?;
    if let Some(setup) = &faults {
        let (n, seed) = (setup.faults.active(), setup.faults.seed());
        broker.handle().log(
            1,
            format_args!("Fault injection on: {n} rule(s), seed {seed} (--fault-seed {seed} repeats the draws)."),
        );
    }
    output::stdout_line(format!("listening on mqtt://{}", broker.local_addr()))
        .context("cannot write to stdout")?;
    for url in setup::start_listeners(listeners, broker.handle()).await? {
        output::stdout_line(format!("listening on {url}")).context("cannot write to stdout")?;
    }
    if let Some(path) = &unix {
        let bound = crate::broker::listeners::start_unix(path.clone(), broker.handle()).await?;
        output::stdout_line(format!("listening on {}", bound.url))
            .context("cannot write to stdout")?;
    }
    if let Some(trace) = &trace {
        // `--trace -` comes after the `listening on` lines.
        trace.open_stdout();
    }
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                if let Some(line) = faults.as_ref().and_then(|f| f.reload()) {
                    broker.handle().log(0, format_args!("{line}"));
                }
            }
        }
    }
    broker.shutdown().await;
    if let Some(path) = &unix {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

//! `mqtk serve`: its help text and `run`, which turns the flags (`args.rs`) and `-c FILE`
//! (`setup.rs`) into a checked broker config and runs `crate::broker`. Must not print
//! directly (only through `crate::output`).

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;

use crate::broker::{self, BrokerConfig};
use crate::output;

use crate::broker::listeners::ListenerSpec;
use crate::cli::exit::Exit;

mod args;
mod setup;

pub use args::ServeArgs;

/// Long help of the subcommand (`--help`, man page). Lines indented by two spaces are
/// kept as written in the man page (see `docs.rs`).
pub const LONG_ABOUT: &str = "\
Run an MQTT 3.1.1 and 5.0 broker.

Before any other output on stdout it prints exactly one line
`listening on mqtt://ADDR:PORT` (the real port with -p 0) and flushes it, then one line
per further listener (mqtts://, ws://), so a script can start it in the background and
read the port. Nothing else goes to stdout; logs go to stderr.

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
    let runtime = runtime(args.threads).context("cannot start the async runtime")?;
    runtime.block_on(serve(config, deployment.listeners, args.unix.clone()))
}

/// The runtime for `--threads`. One thread is tokio's current-thread runtime: one event
/// loop that runs the connection tasks in the order their sockets became readable, so a
/// packet read first is applied first, across connections (as in mosquitto). More
/// threads serve connections in parallel, and two packets on two connections may then
/// be applied in either order until the first is acknowledged.
fn runtime(threads: Option<u16>) -> std::io::Result<tokio::runtime::Runtime> {
    match threads {
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n.into())
            .enable_all()
            .build(),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
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
        ordered: args.threads == Some(1),
        ..defaults
    })
}

async fn serve(
    config: BrokerConfig,
    listeners: Vec<ListenerSpec>,
    unix: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    // Handlers first: a script may send SIGTERM as soon as it reads the port.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot install the SIGINT handler")?;
    let broker = broker::start(config).await?;
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
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    broker.shutdown().await;
    if let Some(path) = &unix {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

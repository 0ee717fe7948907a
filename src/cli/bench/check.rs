//! Turning `mqtk bench`'s flags into a checked `BenchConfig`: the scenario preset, the
//! broker to measure, TLS, and the connection flags bench refuses because it would ignore
//! them. Must not run anything.

use std::time::Duration;

use crate::bench::config::default_sub_topic;
use crate::bench::conn::TlsTarget;
use crate::bench::{BenchConfig, RunBound, Target};
use crate::cli::connect_args::ConnectArgs;
use crate::cli::values::UrlScheme;
use crate::net::tls::TlsOptions;
use crate::protocol::Properties;
use crate::protocol::ProtocolVersion;

use super::args::{BenchArgs, Scenario};
use super::shard;

/// Turns the flags into a checked `BenchConfig`: the scenario preset first, explicit
/// flags over it.
pub(crate) fn bench_config(args: &BenchArgs) -> anyhow::Result<BenchConfig> {
    let c = &args.connect;
    refuse_unusable_flags(c)?;
    let (target, url_user, url_password) = target(c);
    let mut config = BenchConfig::new(target);
    config.tls = tls_target(c, &config.target)?;
    apply_shape(args, &mut config);
    let version = c.single_version()?;
    config.version = version.unwrap_or(ProtocolVersion::V5);
    config.version_fixed = version.is_some();
    config.receive_maximum = c.receive_maximum;
    if c.receive_maximum.is_some() && config.version == ProtocolVersion::V311 {
        anyhow::bail!("--receive-maximum is MQTT 5 only; drop it, or use -V 5");
    }
    config.connect_rate = args.connect_rate;
    config.bind_addresses = args.bind_addresses.clone();
    if let Some(prefix) = &c.id_prefix {
        config.id_prefix = format!("{prefix}{}-", std::process::id());
    }
    config.keep_alive_secs = c.keepalive_secs();
    config.username = c.username.clone().or(url_user);
    config.password = c.password.clone().or(url_password).map(String::into_bytes);
    config.hdr_log = args.hdr_log.clone();
    config.broker_pid = args.broker_pid;
    shard::apply(&args.shards, &mut config)?;
    config.check().map_err(anyhow::Error::msg)?;
    Ok(config)
}

/// Refuses WebSocket URLs and the connection flags bench would ignore.
fn refuse_unusable_flags(c: &ConnectArgs) -> anyhow::Result<()> {
    if let Some(url) = c
        .url
        .as_ref()
        .filter(|u| matches!(u.scheme, UrlScheme::Ws | UrlScheme::Wss))
    {
        anyhow::bail!(
            "-L {}://…: bench speaks MQTT over TCP or TLS, not WebSocket; use mqtt:// or mqtts://",
            if url.scheme == UrlScheme::Ws {
                "ws"
            } else {
                "wss"
            }
        );
    }
    if let Some((flag, why)) = unused_connection_flag(c)? {
        anyhow::bail!("bench does not use {flag}: {why}");
    }
    Ok(())
}

/// The broker to measure (from -L, -h, -p, or none: the embedded one), with the URL's
/// user name and password.
fn target(c: &ConnectArgs) -> (Target, Option<String>, Option<String>) {
    // As pub and sub: TLS with mqtts://, or with any TLS flag on -h/-p (port 8883 then).
    let default_port = if c.wants_tls() { 8883 } else { 1883 };
    match (&c.url, &c.host, c.port) {
        (Some(url), _, _) => (
            Target::Remote {
                host: url.host.clone(),
                port: url.port_or_default(),
            },
            url.username.clone(),
            url.password.clone(),
        ),
        (None, Some(host), port) => (
            Target::Remote {
                host: host.clone(),
                port: port.unwrap_or(default_port),
            },
            None,
            None,
        ),
        (None, None, Some(port)) => (
            Target::Remote {
                host: "localhost".into(),
                port,
            },
            None,
            None,
        ),
        (None, None, None) => (Target::Embedded, None, None),
    }
}

/// The TLS settings of a remote target when TLS is on; an error for a TLS flag on the
/// embedded broker.
fn tls_target(c: &ConnectArgs, target: &Target) -> anyhow::Result<Option<TlsTarget>> {
    if let (Target::Embedded, Some(flag)) = (target, c.tls_flag()) {
        anyhow::bail!(
            "{flag}: the built-in broker is measured over plain TCP; give the broker to \
             measure over TLS with -h HOST or -L mqtts://HOST"
        );
    }
    Ok(match target {
        Target::Remote { host, .. } if c.wants_tls() => Some(TlsTarget {
            // Read once, before the run: a bad file is named now, and every client
            // shares the one rustls config. Each client still makes a full handshake,
            // as the separate device it stands for would.
            options: TlsOptions::load(&c.tls_files())?.without_resumption(),
            host: host.clone(),
        }),
        _ => None,
    })
}

/// The scenario's shape: the preset's client counts, then the explicit flags for
/// clients, messages and topics.
fn apply_shape(args: &BenchArgs, config: &mut BenchConfig) {
    let (publishers, subscribers, clients) = match args.scenario {
        None => (1, 1, 0),
        Some(Scenario::FanIn) => (10, 1, 0),
        Some(Scenario::FanOut) => (1, 10, 0),
        Some(Scenario::Pairs) | Some(Scenario::Shared) | Some(Scenario::Flapping) => (10, 10, 0),
        Some(Scenario::Connect) | Some(Scenario::Churn) => (0, 0, 100),
    };
    let churn = args.scenario == Some(Scenario::Churn) || args.churn_rate.is_some();
    config.churn_rate = args.churn_rate.or(churn.then_some(10.0));
    let flapping = args.scenario == Some(Scenario::Flapping) || args.flap_interval.is_some();
    config.flap_interval = args
        .flap_interval
        .or(flapping.then_some(Duration::from_secs(1)));
    config.hold = args.hold;
    config.publishers = args.publishers.unwrap_or(publishers);
    config.subscribers = args.subscribers.unwrap_or(subscribers);
    config.connect_only_clients = args.clients.unwrap_or(clients);
    config.qos = args.qos;
    config.retain = args.retain;
    config.size = args.size;
    config.bound = match (args.messages, args.duration) {
        (_, Some(d)) => RunBound::Duration(d),
        (Some(n), None) => RunBound::Messages(n),
        (None, None) if churn || flapping => RunBound::Duration(Duration::from_secs(10)),
        (None, None) => RunBound::Messages(1000),
    };
    config.rate = args.rate.or(flapping.then_some(100.0));
    config.warmup = args.warmup.unwrap_or_default();
    config.inflight = args.inflight;
    config.topic = args.topic.clone();
    config.sub_topic = match (&args.sub_topic, args.scenario) {
        (Some(t), _) => t.clone(),
        (None, Some(Scenario::Pairs | Scenario::Flapping)) => args.topic.clone(),
        (None, _) => default_sub_topic(&args.topic),
    };
    config.shared_group = match (&args.shared, args.scenario) {
        (Some(g), _) => Some(g.clone()),
        (None, Some(Scenario::Shared)) => Some("mqtk-bench".into()),
        (None, _) => None,
    };
}

/// The first connection flag given that bench would otherwise ignore, with the reason:
/// a flag that silently does nothing would make a run measure something else than asked.
fn unused_connection_flag(c: &ConnectArgs) -> anyhow::Result<Option<(&'static str, &'static str)>> {
    let properties = c.properties()?;
    // --receive-maximum is bench's own (every client announces it).
    let connect = Properties {
        receive_maximum: None,
        ..properties.connect
    };
    let only_publish_properties = connect == Default::default()
        && properties.subscribe == Default::default()
        && properties.unsubscribe == Default::default()
        && properties.disconnect == Default::default()
        && properties.will == Default::default();
    let clean = "every simulated client connects with a clean session";
    let checks = [
        (
            c.id.is_some(),
            "-i",
            "each simulated client has its own id; use -I PREFIX",
        ),
        (c.disable_clean_session, "-c", clean),
        (c.session_expiry.is_some(), "-x", clean),
        (c.session_dir.is_some(), "--session-dir", clean),
        (
            c.will_topic.is_some(),
            "--will-topic",
            "simulated clients have no will",
        ),
        (
            c.debug,
            "-d",
            "bench does not print packets; see --json and --hdr-log",
        ),
        (
            c.maximum_packet_size.is_some(),
            "--maximum-packet-size",
            "bench sets no limit on packets",
        ),
        (
            c.topic_alias_maximum.is_some(),
            "--topic-alias-maximum",
            "bench uses no topic aliases",
        ),
        (
            !only_publish_properties,
            "-D",
            "bench sends only -D publish properties (and --message-expiry and the like)",
        ),
        (
            c.unix.is_some() || c.proxy.is_some(),
            if c.unix.is_some() {
                "--unix"
            } else {
                "--proxy"
            },
            "bench's clients connect over TCP or TLS directly",
        ),
        (
            c.bind_address.is_some(),
            "-A",
            "spread the clients over local addresses with --bind-addresses",
        ),
    ];
    Ok(checks
        .into_iter()
        .find(|(given, _, _)| *given)
        .map(|(_, flag, why)| (flag, why)))
}

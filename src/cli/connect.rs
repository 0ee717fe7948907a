//! Turns the shared connection flags (`ConnectArgs`, `-L` URL included) into the
//! client's checked `ConnectConfig`, and the MQTT 5 properties of the other packets.
//! Errors name the flag as typed and say how to fix it. Must not connect or print
//! (except through the `-d` observer it installs, which calls `output`).

use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;

use super::connect_args::ConnectArgs;
use super::properties::CommandProperties;
use super::values::UrlScheme;
use crate::client::{ConnectConfig, PacketDirection, Reconnect, TlsOptions, Transport};
use crate::output::{self, Direction};
use crate::protocol::{topic, ProtocolVersion, QoS, Will};

/// A checked connection: the client config, the topic of `-L` (if any) and the
/// properties given for the packets the subcommand sends.
pub struct Connection {
    /// What the client needs to connect.
    pub config: ConnectConfig,
    /// The path of a `-L` URL, used as the topic when no `-t` is given.
    pub url_topic: Option<String>,
    /// `-D` and dedicated property flags, by packet.
    pub properties: CommandProperties,
}

/// Checks the connection flags of `mqtk SUBCOMMAND` (`pub`/`sub`) and builds the config.
pub fn connection(args: &ConnectArgs) -> anyhow::Result<Connection> {
    let properties = args.properties()?;
    let url = args.url.as_ref();
    let scheme = url.map(|u| u.scheme);
    let tls = args.wants_tls();
    let host = url
        .map(|u| u.host.clone())
        .or_else(|| args.host.clone())
        .unwrap_or_else(|| "localhost".into());
    let port = match url {
        Some(u) => u.port_or_default(),
        None => args.port.unwrap_or(if tls { 8883 } else { 1883 }),
    };
    if port == 0 {
        bail!("-p 0: give the broker's port (1-65535)");
    }
    let client_id = client_id(args)?;
    let mut config = ConnectConfig::new(host, port, client_id);
    // Read the TLS files now, once: a bad one is named before any connection attempt,
    // and reconnects reuse the config.
    let tls_options = || TlsOptions::load(&args.tls_files());
    config.transport = match scheme {
        // --no-tls turns a wss:// URL into plain WebSocket, as mosquitto's clients do.
        Some(UrlScheme::Ws) => Transport::Ws { path: None },
        Some(UrlScheme::Wss) if !tls => Transport::Ws { path: None },
        Some(UrlScheme::Wss) => Transport::Wss {
            tls: tls_options()?,
            path: None,
        },
        _ if tls => Transport::Tls(tls_options()?),
        _ => Transport::Tcp,
    };
    config.route = args.route()?;
    config.version = args.single_version()?;
    config.keep_alive = std::time::Duration::from_secs(u64::from(args.keepalive_secs()));
    config.clean_start = !args.disable_clean_session;
    config.username = args
        .username
        .clone()
        .or_else(|| url.and_then(|u| u.username.clone()));
    config.password = args
        .password
        .clone()
        .or_else(|| url.and_then(|u| u.password.clone()))
        .map(String::into_bytes);
    if config.password.is_some()
        && config.username.is_none()
        && config.version == Some(ProtocolVersion::V311)
    {
        bail!("-P: MQTT 3.1.1 needs a user name with a password; add -u USER");
    }
    if args.session_expiry.is_some() && config.version == Some(ProtocolVersion::V311) {
        bail!("-x: the session expiry interval is MQTT 5 only; drop -x, or use -V 5 (on 3.1.1, -c alone keeps the session)");
    }
    config.properties = properties.connect.clone();
    // CLI.md: the session expiry is 0, or "never" with -c on MQTT 5, unless -x says.
    if args.disable_clean_session && config.properties.session_expiry_interval.is_none() {
        config.properties.session_expiry_interval = Some(u32::MAX);
    }
    config.disconnect_properties = properties.disconnect.clone();
    config.will = will(args, &properties)?;
    if args.session_dir.is_some() && args.id.is_none() {
        bail!("--session-dir keeps the session of one client id: give it with -i ID");
    }
    config.session_dir = args.session_dir.clone();
    config.reconnect = (!args.no_reconnect).then(Reconnect::default);
    if args.debug {
        config.observer = Some(Arc::new(
            |client_id: &str, direction: PacketDirection, packet| {
                let direction = match direction {
                    PacketDirection::Sent => Direction::Sent,
                    PacketDirection::Received => Direction::Received,
                };
                output::debug_packet(client_id, direction, packet);
            },
        ));
    }
    Ok(Connection {
        config,
        url_topic: url.and_then(|u| u.topic.clone()),
        properties,
    })
}

/// `-i`, or `-I PREFIX` + the process id, or `mqtk-PID-NANOS` (unique enough for two
/// runs in the same second). `-c` needs a fixed id: a generated one would never find
/// its session again.
fn client_id(args: &ConnectArgs) -> anyhow::Result<String> {
    if let Some(id) = &args.id {
        if id.len() > 65_535 {
            bail!("-i: the client id is longer than 65535 bytes");
        }
        return Ok(id.clone());
    }
    if args.disable_clean_session {
        bail!("-c keeps a session on the broker under the client id: give one with -i ID");
    }
    let pid = std::process::id();
    Ok(match &args.id_prefix {
        Some(prefix) => format!("{prefix}{pid}"),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            format!("mqtk-{pid}-{nanos:x}")
        }
    })
}

fn will(args: &ConnectArgs, properties: &CommandProperties) -> anyhow::Result<Option<Will>> {
    let Some(topic) = &args.will_topic else {
        if !properties.will.is_empty() {
            bail!("-D will …: will properties need a will; add --will-topic");
        }
        return Ok(None);
    };
    topic::validate_topic_name(topic).with_context(|| format!("--will-topic {topic}"))?;
    Ok(Some(Will {
        topic: topic.as_str().into(),
        payload: Bytes::from(args.will_payload.clone().unwrap_or_default()),
        qos: args.will_qos.unwrap_or(QoS::AtMostOnce),
        retain: args.will_retain,
        properties: properties.will.clone(),
    }))
}

/// Runs a client command's future to completion on a single-threaded runtime: one client
/// needs no more, and `pub` and `sub` start fast.
pub fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(future))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> anyhow::Result<Connection> {
        let mut argv = vec!["mqtk", "sub", "-t", "x"];
        argv.extend_from_slice(args);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Sub(sub) => connection(&sub.connect),
            _ => unreachable!("parsed a sub command line"),
        }
    }

    #[test]
    fn defaults_are_localhost_1883_mqtt5_with_fallback_and_a_generated_id() {
        let c = parse(&[]).unwrap().config;
        assert_eq!(
            (c.host.as_str(), c.port, c.version),
            ("localhost", 1883, None)
        );
        assert!(c.client_id.starts_with("mqtk-"));
        assert!(c.clean_start && c.reconnect.is_some() && c.will.is_none());
        assert_eq!(c.keep_alive.as_secs(), 60);
    }

    #[test]
    fn url_gives_host_port_credentials_and_topic() {
        let c = parse(&["-L", "mqtt://alice:s3cret@broker.example:1884/a/b/#"]).unwrap();
        assert_eq!(
            (c.config.host.as_str(), c.config.port),
            ("broker.example", 1884)
        );
        assert_eq!(c.config.username.as_deref(), Some("alice"));
        assert_eq!(c.config.password.as_deref(), Some(&b"s3cret"[..]));
        assert_eq!(c.url_topic.as_deref(), Some("a/b/#"));
        let tls = parse(&["-L", "mqtts://broker"]).unwrap().config;
        assert_eq!(tls.port, 8883);
        assert!(matches!(tls.transport, Transport::Tls(_)));
        let ws = parse(&["-L", "ws://broker"]).unwrap().config;
        assert_eq!((ws.port, ws.transport), (80, Transport::Ws { path: None }));
    }

    #[test]
    fn flags_map_onto_the_config() {
        let c = parse(&[
            "-h",
            "127.0.0.1",
            "-p",
            "1999",
            "-V",
            "311",
            "-i",
            "me",
            "-k",
            "5",
            "-c",
            "-u",
            "u",
            "-P",
            "p",
            "--will-topic",
            "w/t",
            "--will-payload",
            "gone",
            "--will-qos",
            "1",
            "--will-retain",
            "--receive-maximum",
            "7",
            "--no-reconnect",
        ])
        .unwrap()
        .config;
        assert_eq!(
            (c.host.as_str(), c.port, c.client_id.as_str()),
            ("127.0.0.1", 1999, "me")
        );
        assert_eq!(c.version, Some(ProtocolVersion::V311));
        assert!(!c.clean_start && c.reconnect.is_none());
        assert_eq!(c.keep_alive.as_secs(), 5);
        assert_eq!(c.properties.receive_maximum, Some(7));
        assert_eq!(
            c.properties.session_expiry_interval,
            Some(u32::MAX),
            "-c means never expire on 5"
        );
        let will = c.will.unwrap();
        assert_eq!(
            (&will.topic[..], &will.payload[..], will.qos, will.retain),
            ("w/t", &b"gone"[..], QoS::AtLeastOnce, true)
        );
    }

    #[test]
    fn mistakes_are_named_by_their_flag() {
        let msg = |args: &[&str]| {
            parse(args)
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default()
        };
        assert!(msg(&["-c"]).contains("-c keeps a session"));
        assert!(msg(&["--session-dir", "/tmp/x"]).contains("--session-dir"));
        assert!(msg(&["--will-topic", "a/#"]).contains("--will-topic a/#"));
        assert!(msg(&["-I", "p", "-p", "0"]).contains("-p 0"));
    }
}

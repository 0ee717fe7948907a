//! The common subset of mosquitto.conf that `serve -c FILE` reads, parsed into a plain
//! [`FileConfig`]. Values stay `Option` so that command-line flags given explicitly can win
//! over the file when serve merges the two (that merge lives in `cli/serve/setup.rs`).
//!
//! An unknown or unsupported directive is a warning naming its line (mosquitto itself
//! refuses unknown ones, but a user's file often has logging or bridge lines that do not
//! matter for serve); a bad value is an error naming its line. This module does no logging
//! and opens no sockets or files other than the config file itself.

use std::path::{Path, PathBuf};

use crate::broker::file_error::{self, FileError};
use crate::protocol::codec::{MAX_PACKET_SIZE, MAX_VARINT};

/// Why the config file could not be used.
pub type ConfigError = FileError;

/// The protocol of a `listener`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListenerProtocol {
    /// MQTT over TCP, or over TLS when the listener has a certificate.
    #[default]
    Mqtt,
    /// MQTT over WebSocket (subprotocol `mqtt`).
    WebSockets,
}

/// One listener: `listener PORT [ADDRESS]` and the directives that follow it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListenerConfig {
    /// Port; 0 picks a free one.
    pub port: u16,
    /// Address to bind, `None` for serve's default.
    pub bind_address: Option<String>,
    /// `protocol mqtt|websockets`.
    pub protocol: ListenerProtocol,
    /// `certfile`: PEM certificate chain; set means TLS.
    pub certfile: Option<PathBuf>,
    /// `keyfile`: PEM private key.
    pub keyfile: Option<PathBuf>,
    /// `cafile`: PEM CA certificates to verify client certificates against.
    pub cafile: Option<PathBuf>,
    /// `require_certificate true|false`.
    pub require_certificate: bool,
}

/// The directives of the supported subset, each `None` when the file does not set it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileConfig {
    /// Listeners in file order. Directives before the first `listener` (or `port`) set up
    /// the default listener, which is then the first entry.
    pub listeners: Vec<ListenerConfig>,
    /// `allow_anonymous`.
    pub allow_anonymous: Option<bool>,
    /// `password_file`.
    pub password_file: Option<PathBuf>,
    /// `acl_file`.
    pub acl_file: Option<PathBuf>,
    /// `persistence`.
    pub persistence: Option<bool>,
    /// `persistence_location`.
    pub persistence_location: Option<PathBuf>,
    /// `max_connections`; `Some(None)` is mosquitto's `-1`, no limit.
    pub max_connections: Option<Option<u32>>,
    /// `max_packet_size` in bytes; 0 means no limit.
    pub max_packet_size: Option<u32>,
    /// `max_inflight_messages`; 0 means no limit.
    pub max_inflight_messages: Option<u16>,
    /// `max_queued_messages`; 0 means no limit.
    pub max_queued_messages: Option<u32>,
    /// `max_queued_bytes`; 0 means no limit (as `--max-queued-bytes 0`).
    pub max_queued_bytes: Option<u64>,
    /// `message_size_limit` in bytes of payload; 0 means no limit.
    pub message_size_limit: Option<u32>,
    /// `max_keepalive` in seconds.
    pub max_keepalive: Option<u16>,
}

impl FileConfig {
    /// The data directory mosquitto's `persistence true` + `persistence_location` names.
    pub fn data_dir(&self) -> Option<&Path> {
        match self.persistence {
            Some(true) => Some(
                self.persistence_location
                    .as_deref()
                    .unwrap_or_else(|| Path::new(".")),
            ),
            _ => None,
        }
    }
}

/// Directives of mosquitto.conf that serve knows but ignores, to say so in the warning.
const IGNORED: &[&str] = &[
    "autosave_interval",
    "autosave_on_changes",
    "connection_messages",
    "log_dest",
    "log_timestamp",
    "log_timestamp_format",
    "log_type",
    "per_listener_settings",
    "persistence_file",
    "persistent_client_expiration",
    "pid_file",
    "sys_interval",
    "user",
];

/// Parse a config file's text. Returns the config and line-numbered warnings to log.
pub fn parse(text: &str) -> Result<(FileConfig, Vec<String>), ConfigError> {
    let mut config = FileConfig::default();
    let mut warnings = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (directive, value) = match line.find([' ', '\t']) {
            Some(i) => (&line[..i], line[i..].trim()),
            None => (line, ""),
        };
        let bad = |reason: String| FileError::line(line_no, format!("{directive}: {reason}"));
        if let Some(warning) = apply(&mut config, directive, value).map_err(bad)? {
            warnings.push(format!("line {line_no}: {warning}"));
        }
    }
    Ok((config, warnings))
}

/// Read and parse a config file; errors name the file and line.
pub fn load(path: &Path) -> Result<(FileConfig, Vec<String>), ConfigError> {
    file_error::load(path, "cannot read config file ", parse)
}

/// Apply one directive; `Ok(Some(warning))` for one that is ignored.
fn apply(c: &mut FileConfig, directive: &str, value: &str) -> Result<Option<String>, String> {
    match directive {
        "listener" => {
            let mut words = value.split_whitespace();
            let port = parse_port(words.next().unwrap_or(""))?;
            let bind_address = words.next().map(str::to_string);
            if words.next().is_some() {
                return Err("expected `listener PORT [ADDRESS]`".into());
            }
            c.listeners.push(ListenerConfig {
                port,
                bind_address,
                ..ListenerConfig::default()
            });
        }
        "port" => default_listener(c).port = parse_port(value)?,
        "bind_address" => default_listener(c).bind_address = Some(one_word(value)?.to_string()),
        "protocol" => {
            current_listener(c).protocol = match value {
                "mqtt" => ListenerProtocol::Mqtt,
                "websockets" => ListenerProtocol::WebSockets,
                other => return Err(format!("{other:?} is not mqtt or websockets")),
            }
        }
        "certfile" => current_listener(c).certfile = Some(path(value)?),
        "keyfile" => current_listener(c).keyfile = Some(path(value)?),
        "cafile" => current_listener(c).cafile = Some(path(value)?),
        "require_certificate" => current_listener(c).require_certificate = parse_bool(value)?,
        "allow_anonymous" => c.allow_anonymous = Some(parse_bool(value)?),
        "password_file" => c.password_file = Some(path(value)?),
        "acl_file" => c.acl_file = Some(path(value)?),
        "persistence" => c.persistence = Some(parse_bool(value)?),
        "persistence_location" => c.persistence_location = Some(path(value)?),
        "max_connections" => {
            let n: i64 = parse_int(value)?;
            c.max_connections = Some(match n {
                -1 => None,
                0.. => Some(u32::try_from(n).map_err(|_| too_big(value))?),
                _ => return Err(format!("{value} is negative; use -1 for no limit")),
            });
        }
        "max_packet_size" => c.max_packet_size = Some(limited(value, MAX_PACKET_SIZE)?),
        "max_inflight_messages" => c.max_inflight_messages = Some(limited(value, 65_535)?),
        "max_queued_messages" => c.max_queued_messages = Some(limited(value, u32::MAX)?),
        "max_queued_bytes" => c.max_queued_bytes = Some(limited(value, i64::MAX)?),
        "message_size_limit" => c.message_size_limit = Some(limited(value, MAX_VARINT)?),
        "max_keepalive" => c.max_keepalive = Some(limited(value, 65_535)?),
        other if IGNORED.contains(&other) => {
            return Ok(Some(format!(
                "mosquitto directive {other:?} is not supported by mqtk serve and is ignored"
            )))
        }
        other => return Ok(Some(format!("unknown directive {other:?} ignored"))),
    }
    Ok(None)
}

/// `port`/`bind_address` before any `listener` set up the default listener (listener 0).
fn default_listener(c: &mut FileConfig) -> &mut ListenerConfig {
    if c.listeners.is_empty() {
        c.listeners.push(ListenerConfig {
            port: 1883,
            ..ListenerConfig::default()
        });
    }
    &mut c.listeners[0]
}

/// Per-listener directives apply to the listener most recently opened.
fn current_listener(c: &mut FileConfig) -> &mut ListenerConfig {
    if c.listeners.is_empty() {
        default_listener(c);
    }
    let last = c.listeners.len() - 1;
    &mut c.listeners[last]
}

fn one_word(value: &str) -> Result<&str, String> {
    match value.split_whitespace().collect::<Vec<_>>().as_slice() {
        [word] => Ok(word),
        [] => Err("missing value".into()),
        _ => Err(format!("expected one value, got {value:?}")),
    }
}

fn path(value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        return Err("missing path".into());
    }
    Ok(PathBuf::from(value))
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("{other:?} is not true or false")),
    }
}

fn parse_int(value: &str) -> Result<i64, String> {
    one_word(value)?
        .parse()
        .map_err(|_| format!("{value:?} is not a whole number"))
}

fn too_big(value: &str) -> String {
    format!("{value} is too large")
}

fn limited<T: TryFrom<i64>>(value: &str, max: impl Into<i64>) -> Result<T, String> {
    let max = max.into();
    let n = parse_int(value)?;
    if !(0..=max).contains(&n) {
        return Err(format!("{value} is outside 0..={max}"));
    }
    T::try_from(n).map_err(|_| too_big(value))
}

fn parse_port(value: &str) -> Result<u16, String> {
    one_word(value)?
        .parse()
        .map_err(|_| format!("{value:?} is not a port number (0-65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "\
# a typical small deployment
per_listener_settings false
listener 1883 127.0.0.1
listener 8883
certfile /etc/mqtk/server.crt
keyfile /etc/mqtk/server.key
cafile /etc/mqtk/ca.crt
require_certificate true
listener 9001
protocol websockets
allow_anonymous false
password_file /etc/mqtk/passwd
acl_file /etc/mqtk/acl
persistence true
persistence_location /var/lib/mqtk/
max_connections -1
max_packet_size 65536
max_inflight_messages 20
max_queued_messages 1000
message_size_limit 4096
max_keepalive 300
log_dest stderr
bridge_protocol_version mqttv311
";

    #[test]
    fn the_supported_subset_is_parsed() {
        let (c, warnings) = parse(FULL).unwrap();
        assert_eq!(c.listeners.len(), 3);
        assert_eq!(c.listeners[0].port, 1883);
        assert_eq!(c.listeners[0].bind_address.as_deref(), Some("127.0.0.1"));
        assert_eq!(c.listeners[0].certfile, None);
        let tls = &c.listeners[1];
        assert_eq!(tls.port, 8883);
        assert_eq!(
            tls.certfile.as_deref(),
            Some(Path::new("/etc/mqtk/server.crt"))
        );
        assert_eq!(
            tls.keyfile.as_deref(),
            Some(Path::new("/etc/mqtk/server.key"))
        );
        assert_eq!(tls.cafile.as_deref(), Some(Path::new("/etc/mqtk/ca.crt")));
        assert!(tls.require_certificate);
        assert_eq!(c.listeners[2].protocol, ListenerProtocol::WebSockets);
        assert_eq!(c.allow_anonymous, Some(false));
        assert_eq!(
            c.password_file.as_deref(),
            Some(Path::new("/etc/mqtk/passwd"))
        );
        assert_eq!(c.acl_file.as_deref(), Some(Path::new("/etc/mqtk/acl")));
        assert_eq!(c.data_dir(), Some(Path::new("/var/lib/mqtk/")));
        assert_eq!(c.max_connections, Some(None));
        assert_eq!(c.max_packet_size, Some(65536));
        assert_eq!(c.max_inflight_messages, Some(20));
        assert_eq!(c.max_queued_messages, Some(1000));
        assert_eq!(c.message_size_limit, Some(4096));
        assert_eq!(c.max_keepalive, Some(300));
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings[0].starts_with("line 2:") && warnings[0].contains("per_listener_settings")
        );
        assert!(warnings[2].starts_with("line 23:") && warnings[2].contains("unknown directive"));
    }

    #[test]
    fn an_empty_file_sets_nothing() {
        let (c, w) = parse("# nothing\n\n   \n").unwrap();
        assert_eq!(c, FileConfig::default());
        assert!(w.is_empty());
        assert_eq!(c.data_dir(), None);
    }

    #[test]
    fn port_and_bind_address_before_listeners_make_the_default_listener() {
        let (c, _) =
            parse("bind_address 0.0.0.0\nport 1884\nlistener 9001\nprotocol websockets\n").unwrap();
        assert_eq!(c.listeners[0].port, 1884);
        assert_eq!(c.listeners[0].bind_address.as_deref(), Some("0.0.0.0"));
        assert_eq!(c.listeners[0].protocol, ListenerProtocol::Mqtt);
        assert_eq!(c.listeners[1].protocol, ListenerProtocol::WebSockets);
    }

    #[test]
    fn bad_values_are_errors_naming_the_line_and_directive() {
        for (text, needle) in [
            ("allow_anonymous yes", "not true or false"),
            ("listener http", "not a port number"),
            ("listener 70000", "not a port number"),
            ("listener 1883 a b", "expected"),
            ("max_connections -5", "negative"),
            ("max_keepalive 70000", "outside"),
            ("max_inflight_messages many", "not a whole number"),
            ("protocol http", "not mqtt or websockets"),
            ("password_file", "missing path"),
            ("message_size_limit 300000000", "outside"),
        ] {
            let err = parse(&format!("# c\n{text}\n")).unwrap_err().to_string();
            let directive = text.split(' ').next().unwrap();
            assert!(
                err.contains("line 2") && err.contains(directive) && err.contains(needle),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn load_names_the_file_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.conf");
        std::fs::write(&path, "max_keepalive x\n").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("m.conf: line 1"), "{err}");
        let missing = load(&dir.path().join("none.conf")).unwrap_err().to_string();
        assert!(missing.contains("none.conf"), "{missing}");
    }

    #[test]
    fn the_file_mosquitto_ships_as_its_default_parses_without_error() {
        // /etc/mosquitto/mosquitto.conf of Debian's package: only warnings.
        let text = "pid_file /run/mosquitto/mosquitto.pid\npersistence true\n\
                    persistence_location /var/lib/mosquitto/\nlog_dest file /var/log/mosquitto/mosquitto.log\n\
                    include_dir /etc/mosquitto/conf.d\n";
        let (c, w) = parse(text).unwrap();
        assert_eq!(c.data_dir(), Some(Path::new("/var/lib/mosquitto/")));
        assert_eq!(w.len(), 3);
    }
}

//! Parsers for flag values that clap cannot check on its own: `-L` URLs, `-V` versions,
//! QoS, durations, `KEY=VALUE` pairs, `--proxy` URLs, `--tls-version`,
//! `--retain-handling`, `--random-filter` percentages. Each returns a message that says what was wrong
//! and what is accepted (clap prefixes it with the flag). Must not print or touch I/O.

use std::time::Duration;

use crate::net::socks::Proxy;
use crate::net::tls::TlsVersion;
use crate::protocol::{ProtocolVersion, QoS, RetainHandling};

/// The scheme of a `-L` URL: the transport to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlScheme {
    /// `mqtt://`: plain TCP, default port 1883.
    Mqtt,
    /// `mqtts://`: TLS, default port 8883.
    Mqtts,
    /// `ws://`: WebSocket, default port 80.
    Ws,
    /// `wss://`: WebSocket over TLS, default port 443.
    Wss,
}

impl UrlScheme {
    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            UrlScheme::Mqtt => 1883,
            UrlScheme::Mqtts => 8883,
            UrlScheme::Ws => 80,
            UrlScheme::Wss => 443,
        }
    }

    /// True for the schemes that run over TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, UrlScheme::Mqtts | UrlScheme::Wss)
    }
}

/// A parsed `-L mqtt://[user[:pass]@]host[:port][/topic]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Transport.
    pub scheme: UrlScheme,
    /// User name, if the URL has one.
    pub username: Option<String>,
    /// Password, if the URL has one.
    pub password: Option<String>,
    /// Host name or address (IPv6 without the brackets).
    pub host: String,
    /// Port, if the URL names one (else [`UrlScheme::default_port`]).
    pub port: Option<u16>,
    /// Everything after the first `/` following the host, taken literally (it may hold
    /// `+` and `#`); `None` when absent or empty.
    pub topic: Option<String>,
}

impl BrokerUrl {
    /// The port to connect to.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(self.scheme.default_port())
    }
}

/// Parses `-L URL`.
pub fn parse_url(s: &str) -> Result<BrokerUrl, String> {
    let (scheme, rest) = s
        .split_once("://")
        .ok_or_else(|| format!("`{s}` is not a URL like mqtt://host:1883/topic"))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "mqtt" | "tcp" => UrlScheme::Mqtt,
        "mqtts" | "ssl" => UrlScheme::Mqtts,
        "ws" => UrlScheme::Ws,
        "wss" => UrlScheme::Wss,
        other => {
            return Err(format!(
                "unknown scheme `{other}`: use mqtt, mqtts, ws or wss"
            ))
        }
    };
    let (authority, topic) = match rest.split_once('/') {
        Some((authority, topic)) => (authority, (!topic.is_empty()).then(|| topic.to_string())),
        None => (rest, None),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(info) => match info.split_once(':') {
            Some((user, pass)) => (Some(user.to_string()), Some(pass.to_string())),
            None => (Some(info.to_string()), None),
        },
    };
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("`{s}`: missing `]` after the IPv6 address"))?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(format!("`{s}`: expected `:PORT` after `]`")),
            },
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(format!("`{s}` has no host: write mqtt://HOST[:PORT]"));
    }
    let port = match port {
        None => None,
        Some(port) => Some(
            port.parse::<u16>()
                .map_err(|_| format!("`{port}` in `{s}` is not a port number (0-65535)"))?,
        ),
    };
    Ok(BrokerUrl {
        scheme,
        username,
        password,
        host: host.to_string(),
        port,
        topic,
    })
}

/// Parses `-V`: `5`, `311` (also `mqttv5`, `mqttv311`, `3.1.1`, `v5`).
pub fn parse_protocol_version(s: &str) -> Result<ProtocolVersion, String> {
    match s.to_ascii_lowercase().as_str() {
        "5" | "50" | "5.0" | "v5" | "mqttv5" | "mqttv50" => Ok(ProtocolVersion::V5),
        "311" | "3.1.1" | "4" | "v311" | "mqttv311" => Ok(ProtocolVersion::V311),
        "31" | "3.1" | "mqttv31" => Err("MQTT 3.1 is not supported: use 5 or 311".to_string()),
        _ => Err(format!("`{s}` is not an MQTT version: use 5 or 311")),
    }
}

/// `-V`: one MQTT version, or `both`, which only `mqtk test` takes (it checks the
/// broker on each); the commands that speak one version refuse it
/// (`ConnectArgs::single_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionArg {
    /// One version.
    One(ProtocolVersion),
    /// MQTT 3.1.1 and 5.
    Both,
}

/// Parses `-V`: a version as `parse_protocol_version` reads it, or `both`.
pub fn parse_version_arg(s: &str) -> Result<VersionArg, String> {
    if s.eq_ignore_ascii_case("both") {
        return Ok(VersionArg::Both);
    }
    parse_protocol_version(s)
        .map(VersionArg::One)
        .map_err(|e| format!("{e} (mqtk test also takes both)"))
}

/// Parses a TCP port number (0-65535).
pub fn parse_port(s: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .map_err(|_| format!("`{s}` is not a port number (0-65535)"))
}

/// Parses a QoS: `0`, `1` or `2`.
pub fn parse_qos(s: &str) -> Result<QoS, String> {
    s.parse::<u8>()
        .ok()
        .and_then(QoS::from_u8)
        .ok_or_else(|| format!("`{s}` is not a QoS: use 0, 1 or 2"))
}

/// Parses `-x`: seconds (0 to 4294967295), or `never`/`∞`/`-1` for a session that
/// does not expire (0xFFFFFFFF, MQTT 5.0 §3.1.2.11.2).
pub fn parse_session_expiry(s: &str) -> Result<u32, String> {
    match s {
        "never" | "∞" | "-1" | "inf" | "infinity" => Ok(u32::MAX),
        _ => s
            .parse::<u32>()
            .map_err(|_| format!("`{s}` is not a number of seconds (0-4294967295) or `never`")),
    }
}

/// Parses a duration: a number of seconds (`1.5`), or with a unit: `250ms`, `10s`,
/// `5m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| {
        format!("`{s}` is not a duration: use seconds (2, 0.5) or 250ms, 10s, 5m, 1h")
    })?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{s}` is not a duration: it must be zero or more"));
    }
    Duration::try_from_secs_f64(value * scale).map_err(|_| format!("`{s}` is too long a duration"))
}

/// Parses `KEY=VALUE` (the value may contain `=`; the key may not be empty).
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

/// Parses a payload format indicator: `0`/`bytes` (unspecified bytes) or `1`/`utf8`.
pub fn parse_payload_format(s: &str) -> Result<u8, String> {
    match s.to_ascii_lowercase().as_str() {
        "0" | "bytes" | "binary" | "unspecified" => Ok(0),
        "1" | "utf8" | "utf-8" | "text" => Ok(1),
        _ => Err(format!(
            "`{s}` is not a payload format: use 0 (bytes) or 1 (utf8)"
        )),
    }
}

/// Parses `--proxy`: `socks5h://[USER[:PASSWORD]@]HOST[:PORT]`.
pub fn parse_proxy(s: &str) -> Result<Proxy, String> {
    Proxy::parse(s)
}

/// Parses `--tls-version` as mosquitto spells it: `tlsv1.2` or `tlsv1.3`.
pub fn parse_tls_version(s: &str) -> Result<TlsVersion, String> {
    match s.to_ascii_lowercase().as_str() {
        "tlsv1.2" | "1.2" => Ok(TlsVersion::V1_2),
        "tlsv1.3" | "1.3" => Ok(TlsVersion::V1_3),
        "tlsv1.1" | "tlsv1" | "1.1" | "1.0" => Err(format!(
            "`{s}` is not offered: mqtk speaks TLS 1.2 and 1.3 only (tlsv1.2, tlsv1.3)"
        )),
        _ => Err(format!(
            "`{s}` is not a TLS version: use tlsv1.2 or tlsv1.3"
        )),
    }
}

/// Parses `--retain-handling`: mosquitto's `always`, `new`, `never`, or MQTT 5's
/// numbers 0, 1, 2 (MQTT 5.0 §3.8.3.1).
pub fn parse_retain_handling(s: &str) -> Result<RetainHandling, String> {
    match s.to_ascii_lowercase().as_str() {
        "always" | "0" => Ok(RetainHandling::SendOnSubscribe),
        "new" | "1" => Ok(RetainHandling::SendIfNew),
        "never" | "2" => Ok(RetainHandling::DoNotSend),
        _ => Err(format!(
            "`{s}` is not a retain handling: use always, new or never (0, 1, 2)"
        )),
    }
}

/// Parses `--random-filter`: a percentage from 0.1 to 100 (mosquitto's range).
pub fn parse_percent(s: &str) -> Result<f64, String> {
    match s.trim_end_matches('%').parse::<f64>() {
        Ok(p) if (0.1..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("`{s}` is not a percentage from 0.1 to 100")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mosquitto_21_values_parse() {
        assert_eq!(parse_tls_version("tlsv1.3"), Ok(TlsVersion::V1_3));
        assert!(parse_tls_version("tlsv1.1")
            .unwrap_err()
            .contains("1.2 and 1.3"));
        assert_eq!(
            parse_retain_handling("never"),
            Ok(RetainHandling::DoNotSend)
        );
        assert_eq!(parse_retain_handling("1"), Ok(RetainHandling::SendIfNew));
        assert!(parse_retain_handling("sometimes").is_err());
        assert_eq!(parse_percent("12.5"), Ok(12.5));
        assert!(parse_percent("0").is_err() && parse_percent("101").is_err());
    }

    #[test]
    fn url_with_everything_parses() {
        let url = parse_url("mqtts://alice:s3cret@broker.example:8884/a/+/#").unwrap();
        assert_eq!(url.scheme, UrlScheme::Mqtts);
        assert_eq!(url.username.as_deref(), Some("alice"));
        assert_eq!(url.password.as_deref(), Some("s3cret"));
        assert_eq!(url.host, "broker.example");
        assert_eq!(url.port, Some(8884));
        assert_eq!(url.topic.as_deref(), Some("a/+/#"));
    }

    #[test]
    fn url_defaults_port_by_scheme_and_accepts_ipv6() {
        let url = parse_url("mqtt://[::1]").unwrap();
        assert_eq!(url.host, "::1");
        assert_eq!(url.port_or_default(), 1883);
        assert_eq!(parse_url("wss://[::1]:9001/t").unwrap().port, Some(9001));
        assert_eq!(parse_url("mqtts://h").unwrap().port_or_default(), 8883);
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        assert!(parse_url("localhost:1883")
            .unwrap_err()
            .contains("not a URL"));
        assert!(parse_url("http://h")
            .unwrap_err()
            .contains("unknown scheme"));
        assert!(parse_url("mqtt://h:99999")
            .unwrap_err()
            .contains("not a port"));
        assert!(parse_url("mqtt://:1883").unwrap_err().contains("no host"));
    }

    #[test]
    fn versions_accept_mosquitto_spellings() {
        assert_eq!(
            parse_protocol_version("mqttv311"),
            Ok(ProtocolVersion::V311)
        );
        assert_eq!(parse_protocol_version("5"), Ok(ProtocolVersion::V5));
        assert!(parse_protocol_version("7")
            .unwrap_err()
            .contains("use 5 or 311"));
        assert!(parse_protocol_version("mqttv31")
            .unwrap_err()
            .contains("not supported"));
    }

    #[test]
    fn version_arg_takes_both_as_well() {
        assert_eq!(parse_version_arg("BOTH"), Ok(VersionArg::Both));
        assert_eq!(
            parse_version_arg("311"),
            Ok(VersionArg::One(ProtocolVersion::V311))
        );
        assert!(parse_version_arg("3")
            .unwrap_err()
            .contains("also takes both"));
    }

    #[test]
    fn qos_3_is_refused() {
        assert_eq!(parse_qos("2"), Ok(QoS::ExactlyOnce));
        assert!(parse_qos("3").unwrap_err().contains("0, 1 or 2"));
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn session_expiry_never_is_the_maximum() {
        assert_eq!(parse_session_expiry("never"), Ok(u32::MAX));
        assert_eq!(parse_session_expiry("60"), Ok(60));
        assert!(parse_session_expiry("-5").is_err());
    }
}

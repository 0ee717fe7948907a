//! The checked configuration of a run (`Config`: where the broker is, credentials,
//! versions, limits, prefixes) and which cases it selects (`Selection`: `--only` and
//! `--skip` patterns). Must not connect or run anything.

use crate::glob::glob;
use std::time::Duration;

use bytes::Bytes;

use crate::net;
use crate::protocol::ProtocolVersion;

/// Which cases to run: `--only` and `--skip` patterns.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Run only the cases one of these matches (all when empty).
    pub only: Vec<String>,
    /// Then leave out the cases one of these matches.
    pub skip: Vec<String>,
}

impl Selection {
    /// Whether the case `id` (`feature/name`) runs. A pattern matches the id, its
    /// feature, or (with `*` for any text) a glob over the id: `qos/*`, `*expiry*`.
    pub fn selects(&self, id: &str) -> bool {
        let hit = |pattern: &String| matches_pattern(pattern, id);
        (self.only.is_empty() || self.only.iter().any(hit)) && !self.skip.iter().any(hit)
    }
}

fn matches_pattern(pattern: &str, id: &str) -> bool {
    if !pattern.contains('*') {
        return id == pattern || id.split('/').next() == Some(pattern);
    }
    glob(pattern.as_bytes(), id.as_bytes())
}

/// A checked `mqtk test` run.
pub struct Config {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// TLS, when asked for.
    pub tls: Option<net::tls::TlsOptions>,
    /// How the bytes reach the broker: `--unix`, `--proxy`, `-A` (direct by default).
    pub route: net::dial::Route,
    /// User name for every connection.
    pub username: Option<String>,
    /// Password for every connection.
    pub password: Option<Bytes>,
    /// The versions to check, in order.
    pub versions: Vec<ProtocolVersion>,
    /// Which cases.
    pub selection: Selection,
    /// Each case's time limit.
    pub case_timeout: Duration,
    /// Every topic of the run is under this prefix.
    pub topic_prefix: String,
    /// Every client id of the run starts with this (letters and digits).
    pub id_prefix: String,
    /// The largest packet the probe tries.
    pub probe_max_packet: u32,
    /// A topic filter the broker's ACL refuses this client (`--denied-topic`): runs the
    /// `config` cases.
    pub denied_topic: Option<String>,
    /// A shell command that restarts the broker (`--restart-cmd`): runs the `durable`
    /// cases.
    pub restart_cmd: Option<String>,
    /// How many cases run at once (`--jobs`; 1: one at a time).
    pub jobs: usize,
}

impl Config {
    /// `mqtt://host:port` (`mqtts://` with TLS), for the report.
    pub fn broker(&self) -> String {
        let scheme = if self.tls.is_some() { "mqtts" } else { "mqtt" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_an_id_its_feature_or_a_glob() {
        assert!(matches_pattern("qos", "qos/qos1-flow"));
        assert!(matches_pattern("qos/qos1-flow", "qos/qos1-flow"));
        assert!(!matches_pattern("qos1", "qos/qos1-flow"));
        assert!(matches_pattern("*flow", "qos/qos1-flow"));
        assert!(matches_pattern("q*/*1*", "qos/qos1-flow"));
        assert!(!matches_pattern("retained/*", "qos/qos1-flow"));
        let selection = Selection {
            only: vec!["qos".into()],
            skip: vec!["*qos2*".into()],
        };
        assert!(selection.selects("qos/qos1-flow"));
        assert!(!selection.selects("qos/qos2-flow"));
        assert!(!selection.selects("will/abnormal-close"));
    }
}

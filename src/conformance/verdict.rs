//! The vocabulary of a result: how binding a rule is (`Level`), where it is in the
//! specification (`Spec`), and why a case did not pass (`Verdict`). Must not know about
//! connections, cases or rendering.

use serde::Serialize;

/// How binding the rule a case checks is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A MUST or MUST NOT: a failure makes `mqtk test` exit 1.
    Must,
    /// A SHOULD: reported, never changes the exit status.
    Should,
    /// Optional behaviour: reported as supported or not, never a failure.
    May,
    /// Depends on the broker's configuration: skipped unless the user names what to use.
    Config,
}

impl Level {
    /// The lowercase name, as in the table and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Level::Must => "must",
            Level::Should => "should",
            Level::May => "may",
            Level::Config => "config",
        }
    }
}

/// A place in one version of the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The section, e.g. `3.3.1.3`.
    pub section: &'static str,
    /// The normative statement id, e.g. `MQTT-3.3.1-8`, where there is one.
    pub normative: Option<&'static str>,
}

impl Spec {
    /// `§3.3.1.3 [MQTT-3.3.1-8]`.
    pub fn reference(&self) -> String {
        match self.normative {
            Some(id) => format!("§{} [{id}]", self.section),
            None => format!("§{}", self.section),
        }
    }
}

/// Why a case did not pass. `Ok(())` is a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The broker did not do what the rule says: what was expected and what was seen.
    Fail(String),
    /// Not run: the capability is not announced, or not configured.
    Skip(String),
    /// The case itself could not run (e.g. the connection it needs was refused).
    Error(String),
}

/// What a case returns.
pub type Check = Result<(), Verdict>;

impl Verdict {
    /// The text: what was expected and seen, why not run, or what broke.
    pub fn detail(&self) -> &str {
        match self {
            Verdict::Fail(d) | Verdict::Skip(d) | Verdict::Error(d) => d,
        }
    }
}

/// A spec reference with a normative id.
pub const fn spec(section: &'static str, normative: &'static str) -> Option<Spec> {
    Some(Spec {
        section,
        normative: Some(normative),
    })
}

/// A spec reference to a section only.
pub const fn section(section: &'static str) -> Option<Spec> {
    Some(Spec {
        section,
        normative: None,
    })
}

/// Fails with `message` unless `condition` holds.
pub fn ensure(condition: bool, message: impl FnOnce() -> String) -> Check {
    if condition {
        Ok(())
    } else {
        Err(Verdict::Fail(message()))
    }
}

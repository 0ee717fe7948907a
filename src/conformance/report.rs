//! The result model of a run (`Report`: the probe's findings and one `CaseReport` per
//! case and version), the summary counts and the exit status. Serializes as the
//! `--json` report. Must not render text (that is `render`) or run anything.

use std::time::Duration;

use serde::Serialize;

use super::capabilities::Capabilities;
use super::case::Case;
use super::config::Config;
use super::verdict::{Check, Level};
use crate::protocol::ProtocolVersion;

/// A case's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The broker did what the rule says (for `may`: supports it).
    Pass,
    /// It did not.
    Fail,
    /// Not run, or (for `may`) not supported.
    Skip,
    /// The case itself could not run.
    Error,
}

/// One case run on one version.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    /// `feature/name`.
    pub id: String,
    /// The feature group.
    pub feature: String,
    /// What the broker must do.
    pub title: String,
    /// `3.1.1` or `5`.
    pub version: &'static str,
    /// The section of that version's specification.
    pub spec: String,
    /// The normative statement id, where there is one.
    pub normative: Option<String>,
    /// How binding the rule is.
    pub level: Level,
    /// The result.
    pub result: Outcome,
    /// What was expected and seen (fail), why not run (skip), what broke (error).
    pub detail: String,
    /// How long the case ran, in milliseconds.
    pub duration_ms: u64,
}

/// `3.1.1` or `5`.
pub fn version_name(version: ProtocolVersion) -> &'static str {
    match version {
        ProtocolVersion::V311 => "3.1.1",
        ProtocolVersion::V5 => "5",
    }
}

impl CaseReport {
    /// The report of `case` on `version` that ended with `check` after `took`.
    pub fn new(case: &Case, version: ProtocolVersion, check: Check, took: Duration) -> CaseReport {
        let spec = case.spec(version).expect("only cases with a reference run");
        let (result, detail) = match &check {
            Ok(()) if case.level == Level::May => (Outcome::Pass, "supported".to_string()),
            Ok(()) => (Outcome::Pass, String::new()),
            Err(verdict) => (Outcome::from(verdict.clone()), verdict.detail().to_string()),
        };
        CaseReport {
            id: case.id(),
            feature: case.feature.to_string(),
            title: case.title.to_string(),
            version: version_name(version),
            spec: spec.section.to_string(),
            normative: spec.normative.map(str::to_string),
            level: case.level,
            result,
            detail,
            duration_ms: took.as_millis() as u64,
        }
    }

    /// `§3.3.1.3 [MQTT-3.3.1-8]`.
    pub fn reference(&self) -> String {
        match &self.normative {
            Some(id) => format!("§{} [{id}]", self.spec),
            None => format!("§{}", self.spec),
        }
    }
}

/// How many cases ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Skipped (or, for `may`, not supported).
    pub skipped: usize,
    /// Could not run.
    pub errors: usize,
    /// Failed `must` cases: any makes the exit status 1.
    pub must_failed: usize,
}

/// A whole run: the `--json` document.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `mqtt://host:port`.
    pub broker: String,
    /// The versions checked.
    pub versions: Vec<&'static str>,
    /// Every topic used is under this.
    pub topic_prefix: String,
    /// What the probe found.
    pub capabilities: Capabilities,
    /// One entry per case and version, in the order run.
    pub cases: Vec<CaseReport>,
    /// The counts.
    pub summary: Summary,
    /// The whole run, probe included, in milliseconds.
    pub duration_ms: u64,
}

impl Report {
    /// The report of a run of `config`.
    pub fn new(
        config: &Config,
        capabilities: Capabilities,
        cases: Vec<CaseReport>,
        took: Duration,
    ) -> Report {
        Report {
            broker: config.broker(),
            versions: config.versions.iter().map(|&v| version_name(v)).collect(),
            topic_prefix: config.topic_prefix.clone(),
            capabilities,
            summary: summarize(&cases),
            cases,
            duration_ms: took.as_millis() as u64,
        }
    }

    /// 0 when no `must` case failed, 1 when one did.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.summary.must_failed > 0)
    }
}

/// Counts `cases` by result.
pub fn summarize(cases: &[CaseReport]) -> Summary {
    let mut s = Summary::default();
    for case in cases {
        match case.result {
            Outcome::Pass => s.passed += 1,
            Outcome::Fail => s.failed += 1,
            Outcome::Skip => s.skipped += 1,
            Outcome::Error => s.errors += 1,
        }
        if case.result == Outcome::Fail && case.level == Level::Must {
            s.must_failed += 1;
        }
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A report with one case of each level and result that matters.
    pub fn sample(results: &[(Level, Outcome)]) -> Report {
        let cases = results
            .iter()
            .enumerate()
            .map(|(i, &(level, result))| CaseReport {
                id: format!("qos/case-{i}"),
                feature: "qos".into(),
                title: "the broker <does> \"it\" & more".into(),
                version: "5",
                spec: "4.3.2".into(),
                normative: Some("MQTT-4.3.2-1".into()),
                level,
                result,
                detail: if result == Outcome::Pass {
                    String::new()
                } else {
                    "expected <PUBACK>, got \u{1} & ]]>".into()
                },
                duration_ms: 12,
            })
            .collect::<Vec<_>>();
        Report {
            broker: "mqtt://localhost:1883".into(),
            versions: vec!["3.1.1", "5"],
            topic_prefix: "mqtk-test/x".into(),
            capabilities: Capabilities::default(),
            summary: summarize(&cases),
            cases,
            duration_ms: 40,
        }
    }

    #[test]
    fn only_a_failed_must_case_makes_the_exit_status_1() {
        use Level::*;
        use Outcome::*;
        assert_eq!(
            sample(&[(Must, Pass), (Should, Fail), (May, Skip)]).exit_code(),
            0
        );
        assert_eq!(sample(&[(Must, Error), (Config, Skip)]).exit_code(), 0);
        assert_eq!(sample(&[(Must, Pass), (Must, Fail)]).exit_code(), 1);
        let s = sample(&[(Must, Pass), (Must, Fail), (Should, Fail), (May, Skip)]).summary;
        assert_eq!((s.passed, s.failed, s.skipped, s.must_failed), (1, 2, 1, 1));
    }

    #[test]
    fn the_json_report_parses_and_names_every_field_of_a_case() {
        let report = sample(&[(Level::Must, Outcome::Fail)]);
        let text = serde_json::to_string(&report).unwrap();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        let case = &back["cases"][0];
        for field in [
            "id",
            "feature",
            "version",
            "spec",
            "normative",
            "level",
            "result",
            "detail",
            "duration_ms",
        ] {
            assert!(!case[field].is_null(), "{field} missing in {case}");
        }
        assert_eq!(case["level"], "must");
        assert_eq!(case["result"], "fail");
        assert_eq!(back["summary"]["failed"], 1);
    }
}

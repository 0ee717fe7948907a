//! The text forms of a `Report`: the table grouped by feature (ANSI colour when asked,
//! i.e. on a terminal), the summary line, the case list of `--list`, and JUnit XML for
//! CI. Return strings; must not print (the CLI hands them to `output`).

use std::fmt::Write as _;

use super::capabilities::Capabilities;
use super::case::Case;
use super::report::{version_name, Outcome, Report};
use crate::protocol::ProtocolVersion;

/// `N passed, N failed, N skipped` (and `N errors` when there were any).
pub fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    let mut line = format!(
        "{} passed, {} failed, {} skipped",
        s.passed, s.failed, s.skipped
    );
    if s.errors > 0 {
        let _ = write!(line, ", {} errors", s.errors);
    }
    let _ = write!(line, " in {:.1} s", report.duration_ms as f64 / 1000.0);
    line
}

fn paint(colour: bool, code: &str, text: &str) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn outcome_label(outcome: Outcome, colour: bool) -> String {
    let (code, text) = match outcome {
        Outcome::Pass => ("32", "pass "),
        Outcome::Fail => ("1;31", "FAIL "),
        Outcome::Skip => ("33", "skip "),
        Outcome::Error => ("35", "error"),
    };
    paint(colour, code, text)
}

/// The probe's findings, a few lines.
pub fn capabilities(report: &Report) -> String {
    let caps = &report.capabilities;
    let mut out = String::new();
    let _ = writeln!(out, "Broker {}", report.broker);
    for (name, state) in [("MQTT 3.1.1", &caps.v311), ("MQTT 5", &caps.v5)] {
        match state {
            Some(Ok(())) => {
                let _ = writeln!(out, "  {name:<28} accepted");
            }
            Some(Err(how)) => {
                let _ = writeln!(out, "  {name:<28} refused: {how}");
            }
            None => {}
        }
    }
    probe_lines(caps, &mut out);
    out
}

fn probe_lines(caps: &Capabilities, out: &mut String) {
    let flag = |v: Option<u8>| match v {
        None => "yes (not announced)".to_string(),
        Some(1) => "yes".to_string(),
        Some(n) => format!("no ({n})"),
    };
    let num = |v: Option<String>, absent: &str| v.unwrap_or_else(|| absent.to_string());
    if let Some(a) = &caps.connack {
        let rows = [
            (
                "maximum QoS",
                num(a.maximum_qos.map(|q| q.to_string()), "2 (not announced)"),
            ),
            ("retain available", flag(a.retain_available)),
            (
                "wildcard subscriptions",
                flag(a.wildcard_subscription_available),
            ),
            (
                "subscription identifiers",
                flag(a.subscription_identifier_available),
            ),
            (
                "shared subscriptions",
                flag(a.shared_subscription_available),
            ),
            (
                "receive maximum",
                num(
                    a.receive_maximum.map(|n| n.to_string()),
                    "65535 (not announced)",
                ),
            ),
            (
                "maximum packet size",
                num(
                    a.maximum_packet_size.map(|n| n.to_string()),
                    "not announced",
                ),
            ),
            (
                "topic alias maximum",
                num(
                    a.topic_alias_maximum.map(|n| n.to_string()),
                    "0 (not announced)",
                ),
            ),
            (
                "server keep alive",
                num(
                    a.server_keep_alive.map(|n| format!("{n} s")),
                    "not announced",
                ),
            ),
        ];
        for (name, value) in rows {
            let _ = writeln!(out, "  {name:<28} {value}");
        }
    }
    if let Some(n) = caps.largest_packet_bytes {
        let more = if caps.largest_packet_is_bound {
            " (the bound tried)"
        } else {
            ""
        };
        let _ = writeln!(out, "  {:<28} {n} bytes{more}", "largest PUBLISH accepted");
    }
    let seen = |v: Option<bool>| match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    };
    let _ = writeln!(out, "  {:<28} {}", "retained messages", seen(caps.retained));
    let _ = writeln!(out, "  {:<28} {}", "wills", seen(caps.wills));
    let _ = writeln!(out, "  {:<28} {}", "$SYS topics", seen(caps.sys_topics));
}

/// The results, grouped by feature, one line per case and version, with the detail of
/// every case that did not pass on the next line.
pub fn table(report: &Report, colour: bool) -> String {
    let mut out = capabilities(report);
    let width = report.cases.iter().map(|c| c.id.len()).max().unwrap_or(0);
    let mut feature = "";
    for case in &report.cases {
        if case.feature != feature {
            feature = &case.feature;
            let _ = writeln!(out, "\n{}", paint(colour, "1", feature));
        }
        let _ = writeln!(
            out,
            "  {} {:<6} {:<5} {:<width$} {:>6} ms  {}",
            outcome_label(case.result, colour),
            case.level.name(),
            case.version,
            case.id,
            case.duration_ms,
            case.reference(),
        );
        if !case.detail.is_empty() && case.result != Outcome::Pass {
            let _ = writeln!(out, "        {}", case.detail);
        }
    }
    let _ = writeln!(out, "\n{}", summary_line(report));
    out
}

/// `--list`: one line per case and version that would run.
pub fn list(cases: &[(Case, ProtocolVersion)]) -> String {
    let mut out = String::new();
    let width = cases.iter().map(|(c, _)| c.id().len()).max().unwrap_or(0);
    for (case, version) in cases {
        let spec = case
            .spec(*version)
            .expect("selected cases run on the version");
        let _ = writeln!(
            out,
            "{:<width$} {:<5} {:<6} {:<22} {}",
            case.id(),
            version_name(*version),
            case.level.name(),
            spec.reference(),
            case.title
        );
    }
    out
}

/// Text safe in XML 1.0 attribute values and content: escaped, without the control
/// characters XML cannot carry.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one `testsuite` per feature, one `testcase` per case and version.
pub fn junit(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let s = &report.summary;
    let _ = writeln!(
        out,
        "<testsuites name=\"mqtk test {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        xml(&report.broker),
        report.cases.len(),
        s.failed,
        s.errors,
        s.skipped,
        report.duration_ms as f64 / 1000.0
    );
    let mut features: Vec<&str> = Vec::new();
    for case in &report.cases {
        if !features.contains(&case.feature.as_str()) {
            features.push(&case.feature);
        }
    }
    for feature in features {
        let cases: Vec<_> = report
            .cases
            .iter()
            .filter(|c| c.feature == feature)
            .collect();
        let count = |o: Outcome| cases.iter().filter(|c| c.result == o).count();
        let time: u64 = cases.iter().map(|c| c.duration_ms).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            xml(feature),
            cases.len(),
            count(Outcome::Fail),
            count(Outcome::Error),
            count(Outcome::Skip),
            time as f64 / 1000.0
        );
        for case in cases {
            let _ = write!(
                out,
                "    <testcase classname=\"mqtk.{}\" name=\"{} (MQTT {}, {} {})\" time=\"{:.3}\"",
                xml(feature),
                xml(&case.id),
                case.version,
                case.level.name(),
                xml(&case.reference()),
                case.duration_ms as f64 / 1000.0
            );
            let detail = xml(&case.detail);
            let _ = match case.result {
                Outcome::Pass => writeln!(out, "/>"),
                Outcome::Fail => writeln!(
                    out,
                    ">\n      <failure message=\"{detail}\">{}</failure>\n    </testcase>",
                    xml(&case.title)
                ),
                Outcome::Error => writeln!(
                    out,
                    ">\n      <error message=\"{detail}\"/>\n    </testcase>"
                ),
                Outcome::Skip => writeln!(
                    out,
                    ">\n      <skipped message=\"{detail}\"/>\n    </testcase>"
                ),
            };
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::report::tests::sample;
    use crate::conformance::Level;

    fn all_results() -> Report {
        sample(&[
            (Level::Must, Outcome::Pass),
            (Level::Must, Outcome::Fail),
            (Level::Should, Outcome::Error),
            (Level::May, Outcome::Skip),
        ])
    }

    #[test]
    fn junit_is_well_formed_xml_for_a_real_parser() {
        let xml = junit(&all_results());
        let mut python = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, xml.etree.ElementTree as ET\n\
                 root = ET.fromstring(sys.stdin.read())\n\
                 cases = root.findall('./testsuite/testcase')\n\
                 print(len(cases), len(root.findall('.//failure')), \
                 len(root.findall('.//error')), len(root.findall('.//skipped')))",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        use std::io::Write as _;
        python
            .stdin
            .take()
            .unwrap()
            .write_all(xml.as_bytes())
            .unwrap();
        let out = python.wait_with_output().unwrap();
        assert!(out.status.success(), "{xml}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "4 1 1 1",
            "{xml}"
        );
    }

    #[test]
    fn the_table_groups_by_feature_and_ends_with_the_summary() {
        let text = table(&all_results(), false);
        assert!(!text.contains('\x1b'), "no colour when not asked: {text}");
        assert_eq!(text.matches("\nqos\n").count(), 1, "{text}");
        assert!(text.contains("FAIL  must"), "{text}");
        assert!(
            text.trim_end()
                .ends_with("1 passed, 1 failed, 1 skipped, 1 errors in 0.0 s"),
            "{text}"
        );
        assert!(table(&all_results(), true).contains("\x1b[1;31mFAIL"));
    }
}

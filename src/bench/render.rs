//! Renderers over `&BenchReport`: the human table printed at the end of a run and the
//! JSON report of `--json`. Also the small number formatters progress lines share.
//! Must not compute statistics (the report has them) or write anywhere: they return text.

use std::fmt::Write as _;

use super::report::{BenchReport, BrokerProcess, CrossShardFigures, LatencyStats, SloVerdict};

/// The report as pretty JSON (the `--json` format), newline-terminated.
pub fn json(report: &BenchReport) -> String {
    let mut text = serde_json::to_string_pretty(report)
        .expect("BenchReport has only string keys and finite-or-null numbers");
    text.push('\n');
    text
}

/// Sent, received, lost (or that it is not known yet), duplicates, reordered.
fn messages_line(report: &BenchReport) -> String {
    let received = if report.lost_final() {
        format!(
            "received {} of {}  lost {}",
            count(report.received),
            count(report.expected),
            count(report.lost)
        )
    } else {
        format!(
            "received {}  {}",
            count(report.received),
            super::cross::LOST_NOT_FINAL
        )
    };
    format!(
        "sent {}  {received}  duplicates {}  reordered {}",
        count(report.sent),
        count(report.duplicates),
        count(report.reordered)
    )
}

/// A --cross-shard run's deliveries by the shard of their publisher (and, merged, what
/// each shard's publishers lost).
fn cross_line(c: &CrossShardFigures) -> String {
    let list = |v: &[u64]| {
        v.iter()
            .enumerate()
            .map(|(k, n)| format!("{k}: {}", count(*n)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = format!(
        "received from shard {}",
        list(&c.received_by_publisher_shard)
    );
    if c.lost_final {
        let _ = write!(text, "; lost of shard {}", list(&c.lost_by_publisher_shard));
    }
    text
}

/// The report as the human table printed at the end of a run.
pub fn table(report: &BenchReport) -> String {
    let p = &report.parameters;
    let mut out = String::new();
    let mut row = |label: &str, value: String| {
        let _ = writeln!(out, "{label:<12}{value}");
    };
    row("broker", report.broker.description.clone());
    if let Some(shard) = &report.shard {
        let text = match shard.index {
            Some(i) => format!("shard {i} of {} of run {}", shard.count, shard.run_id),
            None => format!("{} shards of run {}, merged", shard.count, shard.run_id),
        };
        row(
            "run",
            format!("{text} (parameters {})", shard.parameter_hash),
        );
    }
    let bound = match (p.messages_per_publisher, p.duration_secs) {
        (_, Some(secs)) => format!("for {}", secs_text(secs)),
        (Some(n), None) => format!("{} msgs each", count(n)),
        (None, None) => String::new(),
    };
    let rate = p
        .rate_msgs_per_sec_per_publisher
        .map(|r| format!(" at {} msgs/s each", count(r.round() as u64)))
        .unwrap_or_default();
    let scenario = if let Some(churn) = p.churn_rate_per_sec {
        let mut text = format!(
            "{}: {} clients reconnect {} times/s in all {bound}, MQTT {}",
            p.scenario,
            count(p.connect_only_clients.into()),
            three_digits(churn),
            p.protocol_version
        );
        if p.publishers + p.subscribers > 0 {
            let _ = write!(
                text,
                ", beside {} pub → {} sub at QoS {}{rate}",
                p.publishers, p.subscribers, p.qos
            );
        }
        text
    } else if p.publishers + p.subscribers == 0 {
        let hold = p
            .hold_secs
            .map(|s| format!("hold {}", secs_text(s)))
            .unwrap_or_else(|| "hold".into());
        format!(
            "{}: {} clients connect, {hold}, disconnect, MQTT {}",
            p.scenario,
            count(p.connect_only_clients.into()),
            p.protocol_version
        )
    } else {
        format!(
            "{}: {} pub → {} sub, MQTT {}, QoS {}, {} B, {bound}{rate}",
            p.scenario, p.publishers, p.subscribers, p.protocol_version, p.qos, p.size_bytes
        )
    };
    row("scenario", scenario);
    let c = &report.clients;
    let mut clients = format!(
        "{} connected, {} failed",
        count(c.connected as u64),
        c.failed
    );
    if c.dropped > 0 {
        let _ = write!(clients, ", {} dropped", c.dropped);
    }
    if let Some(rate) = report.connects_per_sec {
        let _ = write!(clients, " ({} connects/s)", count(rate.round() as u64));
    }
    row("clients", clients);
    if let Some(ct) = &report.connect_time_us {
        row("connect", percentiles(ct));
    }
    if let Some(churn) = &report.churn {
        row(
            "churn",
            format!(
                "{} reconnects, {} failed ({} per second)",
                count(churn.reconnects),
                count(churn.reconnects_failed),
                three_digits(churn.reconnects_per_sec)
            ),
        );
    }
    if let Some(flap) = &report.flapping {
        let times = |name: &str, stats: &Option<LatencyStats>| {
            stats
                .as_ref()
                .map(|s| format!(", {name} {}", percentiles(s)))
                .unwrap_or_default()
        };
        row(
            "flapping",
            format!(
                "{} flaps, {} deliveries missed while unsubscribed (not expected){}{}",
                count(flap.flaps),
                count(flap.missed_while_unsubscribed),
                times("unsuback", &flap.unsuback_us),
                times("suback", &flap.suback_us),
            ),
        );
    }
    // A --cross-shard shard without publishers of its own still receives.
    if p.publishers > 0 || p.cross_shard {
        row("messages", messages_line(report));
        row(
            "throughput",
            format!(
                "{} msgs/s received ({}/s) over {}, {} msgs/s sent",
                count(report.throughput_msgs_per_sec.round() as u64),
                bytes(report.throughput_bytes_per_sec),
                secs_text(report.measured_secs),
                count(report.sent_msgs_per_sec.round() as u64)
            ),
        );
        row(
            "latency",
            report
                .latency_us
                .as_ref()
                .map_or_else(|| "no message received".into(), percentiles),
        );
        if let Some(c) = report.shard.as_ref().and_then(|s| s.cross_shard.as_ref()) {
            row("clocks", c.clock_note.clone());
            row("by shard", cross_line(c));
        }
        if let Some(rt) = &report.pub_round_trip_us {
            let label = if p.qos == 2 { "pubcomp" } else { "puback" };
            row(label, percentiles(rt));
        }
        if report.warmup_excluded > 0 {
            row(
                "warm-up",
                format!("{} deliveries excluded", count(report.warmup_excluded)),
            );
        }
    }
    let cpu = &report.cpu;
    let mut cpu_text = format!(
        "{} user, {} system",
        secs_text(cpu.user_secs),
        secs_text(cpu.system_secs)
    );
    if let Some(per) = cpu.per_message_us {
        let _ = write!(cpu_text, ", {per:.2} µs per message");
    }
    if let Some(broker) = cpu.embedded_broker_secs {
        let _ = write!(cpu_text, " (embedded broker: {} more)", secs_text(broker));
    }
    let _ = write!(
        cpu_text,
        "; {:.0}% of one core over the run",
        cpu.utilization_percent
    );
    row("bench cpu", cpu_text);
    if let Some(b) = &report.broker_process {
        row("broker pid", broker_process_line(b));
    }
    if cpu.saturated() {
        row(
            "warning",
            format!(
                "the bench kept its {} client thread(s) busy: it may have measured itself; use fewer clients, MQTK_BENCH_THREADS or a second machine",
                cpu.threads
            ),
        );
    }
    if !report.errors.is_empty() {
        let errors: Vec<String> = report
            .errors
            .iter()
            .map(|(k, v)| format!("{k} {}", count(*v)))
            .collect();
        row("errors", errors.join(", "));
    }
    for v in &report.slo {
        row("slo", slo_line(v));
    }
    out
}

/// `4242: rss 5.2 MB → 6.1 MB (max 6.3 MB), open files 12 → 112 (max 112), cpu 1.2 s (40% of one core)`.
fn broker_process_line(b: &BrokerProcess) -> String {
    let mut line = format!(
        "{}: rss {} → {} (max {})",
        b.pid,
        bytes(b.rss_start_bytes as f64),
        bytes(b.rss_end_bytes as f64),
        bytes(b.rss_max_bytes as f64)
    );
    match (b.open_fds_start, b.open_fds_end, b.open_fds_max) {
        (Some(start), Some(end), Some(max)) => {
            let _ = write!(
                line,
                ", open files {} → {} (max {})",
                count(start.into()),
                count(end.into()),
                count(max.into())
            );
        }
        _ => line.push_str(", open files not readable"),
    }
    let _ = write!(
        line,
        ", cpu {} ({:.0}% of one core)",
        secs_text(b.cpu_secs),
        b.cpu_percent
    );
    if b.exited {
        line.push_str("; it exited during the run");
    }
    line
}

/// `pass  p99<=20ms  (p99 was 1.23 ms)`, in the unit of the threshold.
fn slo_line(v: &SloVerdict) -> String {
    let actual = match (v.actual, v.unit.as_str()) {
        (None, _) => "not measured".to_string(),
        (Some(a), "us") => micros(a.round() as u64),
        (Some(a), "msgs/s") => format!("{} msgs/s", count(a.round() as u64)),
        (Some(a), _) => count(a.round() as u64),
    };
    let verdict = if v.passed { "pass" } else { "FAIL" };
    format!("{verdict}  {}  (was {actual})", v.threshold)
}

fn percentiles(s: &LatencyStats) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {}",
        micros(s.p50),
        micros(s.p90),
        micros(s.p99),
        micros(s.p999),
        micros(s.max),
        micros(s.mean.round() as u64)
    )
}

/// A duration given in microseconds, in the unit that keeps it short: `412 µs`, `1.23 ms`, `2.5 s`.
pub fn micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{} ms", three_digits(us as f64 / 1e3))
    } else {
        format!("{} s", three_digits(us as f64 / 1e6))
    }
}

fn secs_text(secs: f64) -> String {
    if secs < 1.0 {
        format!("{} ms", three_digits(secs * 1e3))
    } else {
        format!("{} s", three_digits(secs))
    }
}

/// Three significant digits, no trailing zeros past the point.
fn three_digits(v: f64) -> String {
    let text = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// An integer with thousands separators: `12,345,678`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(per_sec: f64) -> String {
    if per_sec >= 1e9 {
        format!("{} GB", three_digits(per_sec / 1e9))
    } else if per_sec >= 1e6 {
        format!("{} MB", three_digits(per_sec / 1e6))
    } else if per_sec >= 1e3 {
        format!("{} kB", three_digits(per_sec / 1e3))
    } else {
        format!("{} B", per_sec.round())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bench::report::*;

    pub(crate) fn sample_report() -> BenchReport {
        let lat = LatencyStats {
            count: 10,
            min: 90,
            p50: 412,
            p90: 900,
            p99: 1_234,
            p999: 2_000_000,
            max: 2_500_000,
            mean: 700.4,
        };
        BenchReport {
            mqtk_version: "0.1.0".into(),
            broker: BrokerInfo {
                address: "127.0.0.1:1883".into(),
                embedded: false,
                description: "mqtt://127.0.0.1:1883".into(),
            },
            parameters: Parameters {
                scenario: "fan-in".into(),
                protocol_version: "5".into(),
                qos: 1,
                size_bytes: 64,
                publishers: 10,
                subscribers: 1,
                connect_only_clients: 0,
                messages_per_publisher: Some(1000),
                duration_secs: None,
                rate_msgs_per_sec_per_publisher: None,
                warmup_secs: 0.0,
                inflight: None,
                receive_maximum: None,
                topic: "mqtk/bench/%i".into(),
                sub_topic: "mqtk/bench/+".into(),
                shared_group: None,
                connect_rate_per_sec: None,
                bind_addresses: vec![],
                hold_secs: None,
                churn_rate_per_sec: None,
                flap_interval_secs: None,
                cross_shard: false,
            },
            started_unix_ms: 1,
            elapsed_secs: 1.5,
            measured_secs: 0.25,
            clients: ClientFigures {
                requested: 11,
                connected: 11,
                failed: 0,
                dropped: 0,
            },
            connect_time_us: Some(lat),
            connects_per_sec: Some(5000.0),
            sent: 10_000,
            acked: 10_000,
            expected: 10_000,
            received: 9_999,
            lost: 1,
            duplicates: 0,
            reordered: 0,
            warmup_excluded: 0,
            throughput_msgs_per_sec: 39_996.0,
            throughput_bytes_per_sec: 2_559_744.0,
            sent_msgs_per_sec: 40_000.0,
            latency_us: Some(lat),
            pub_round_trip_us: None,
            errors: [("dropped".to_string(), 2)].into_iter().collect(),
            error_messages: Default::default(),
            cpu: CpuUsage {
                user_secs: 0.3,
                system_secs: 0.1,
                per_message_us: Some(20.0),
                embedded_broker_secs: None,
                utilization_percent: 26.7,
                threads: 2,
            },
            slo: Vec::new(),
            churn: None,
            flapping: None,
            latency_hdr: None,
            broker_process: None,
            shard: None,
        }
    }

    #[test]
    fn json_round_trips_through_serde() {
        let report = sample_report();
        let text = json(&report);
        let back: BenchReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for field in [
            "sent",
            "received",
            "lost",
            "duplicates",
            "throughput_msgs_per_sec",
            "connect_time_us",
        ] {
            assert!(v.get(field).is_some(), "missing {field} in {text}");
        }
        for field in ["p50", "p90", "p99", "p999", "max", "mean"] {
            assert!(
                v["latency_us"].get(field).is_some(),
                "missing latency_us.{field}"
            );
        }
    }

    #[test]
    fn table_shows_the_key_figures_with_units() {
        let text = table(&sample_report());
        for needle in [
            "mqtt://127.0.0.1:1883",
            "fan-in: 10 pub → 1 sub, MQTT 5, QoS 1, 64 B, 1,000 msgs each",
            "11 connected, 0 failed",
            "received 9,999 of 10,000  lost 1",
            "39,996 msgs/s received (2.56 MB/s) over 250 ms",
            "p50 412 µs  p90 900 µs  p99 1.23 ms  p99.9 2 s  max 2.5 s",
            "errors      dropped 2",
        ] {
            assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn a_cross_shard_table_says_the_clocks_and_whether_the_loss_is_known() {
        let mut report = sample_report();
        report.shard = Some(crate::bench::merge::tests::cross_shard_info());
        let text = table(&report);
        for needle in [
            "received 9,999  lost: known after merge",
            "clocks      clocks not shared (--cross-shard)",
            "received from shard 0: 12, 1: 0, 2: 0",
        ] {
            assert!(text.contains(needle), "{needle}\n{text}");
        }
        let c = report.shard.as_mut().unwrap().cross_shard.as_mut().unwrap();
        c.lost_final = true;
        c.lost_by_publisher_shard = vec![1, 0, 0];
        let text = table(&report);
        assert!(text.contains("received 9,999 of 10,000  lost 1"), "{text}");
        assert!(text.contains("; lost of shard 0: 1, 1: 0, 2: 0"), "{text}");
    }

    #[test]
    fn table_shows_the_churn_and_the_hold() {
        let mut report = sample_report();
        report.parameters.publishers = 0;
        report.parameters.subscribers = 0;
        report.parameters.connect_only_clients = 100;
        report.parameters.hold_secs = Some(30.0);
        assert!(
            table(&report).contains("100 clients connect, hold 30 s, disconnect"),
            "{}",
            table(&report)
        );
        report.parameters.scenario = "churn".into();
        report.parameters.churn_rate_per_sec = Some(50.0);
        report.parameters.messages_per_publisher = None;
        report.parameters.duration_secs = Some(10.0);
        report.churn = Some(ChurnFigures {
            reconnects: 498,
            reconnects_failed: 2,
            reconnects_per_sec: 50.0,
        });
        let text = table(&report);
        for needle in [
            "churn: 100 clients reconnect 50 times/s in all for 10 s, MQTT 5\n",
            "churn       498 reconnects, 2 failed (50 per second)\n",
        ] {
            assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn table_shows_the_watched_broker_process() {
        let mut report = sample_report();
        assert!(!table(&report).contains("broker pid"));
        report.broker_process = Some(BrokerProcess {
            pid: 4242,
            rss_start_bytes: 5_200_000,
            rss_end_bytes: 6_100_000,
            rss_max_bytes: 6_300_000,
            open_fds_start: Some(12),
            open_fds_end: Some(1_112),
            open_fds_max: Some(1_112),
            cpu_secs: 1.2,
            cpu_percent: 40.0,
            exited: false,
        });
        let text = table(&report);
        assert!(
            text.contains(
                "broker pid  4242: rss 5.2 MB → 6.1 MB (max 6.3 MB), open files 12 → 1,112 \
                 (max 1,112), cpu 1.2 s (40% of one core)\n"
            ),
            "{text}"
        );
        let back: BenchReport = serde_json::from_str(&json(&report)).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn table_warns_when_the_bench_itself_was_saturated() {
        let mut report = sample_report();
        assert!(!table(&report).contains("warning"));
        report.cpu.utilization_percent = 195.0;
        let text = table(&report);
        assert!(text.contains("195% of one core"), "{text}");
        assert!(
            text.contains("warning     the bench kept its 2 client thread(s) busy"),
            "{text}"
        );
    }

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(12_345_678), "12,345,678");
        assert_eq!(micros(999), "999 µs");
        assert_eq!(micros(1_500), "1.5 ms");
        assert_eq!(micros(61_000_000), "61 s");
        assert_eq!(three_digits(1.0), "1");
        assert_eq!(three_digits(123.4), "123");
    }
}

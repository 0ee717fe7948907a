//! `mqtk bench --slo` against mosquitto and `mqtk serve`: the verdicts in the JSON and
//! the table, exit status 3 on a violation (0 when all hold, 1 still wins for a broken
//! run), and a bad threshold refused before any run.

use support::bench::{bench, bench_at, PAIRS_QOS1_JSON};
use support::{Mosquitto, Serve};

/// A threshold no run on any machine meets, and ones every complete pairs run meets.
const UNREACHABLE: &str = "throughput>=1000000000000";
const MET: &str = "lost=0,duplicates=0,failed=0,p99<=60s";

fn args_with(slo: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = PAIRS_QOS1_JSON.iter().map(|a| a.to_string()).collect();
    for s in slo {
        args.extend(["--slo".to_string(), s.to_string()]);
    }
    args
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn met_thresholds_pass_and_exit_0_against_mosquitto() {
    let broker = Mosquitto::start();
    let out = bench(&broker, &refs(&args_with(&[MET])));
    out.assert_success();
    let r = out.report();
    let verdicts = r["slo"].as_array().expect("an slo array");
    assert_eq!(verdicts.len(), 4, "{r:#}");
    for v in verdicts {
        assert_eq!(v["passed"], true, "{v:#}");
    }
    assert_eq!(verdicts[0]["threshold"], "lost=0");
    assert_eq!(verdicts[0]["actual"], 0.0);
    assert_eq!(verdicts[3]["unit"], "us");
    assert_eq!(verdicts[3]["limit"], 60_000_000.0);
    assert!(
        out.stderr.contains("slo         pass  p99<=60s"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_violated_threshold_exits_3_with_the_verdicts_against_mqtk_serve() {
    let mut serve = Serve::start(&[]);
    let out = bench_at(&serve.host_args(), &refs(&args_with(&[MET, UNREACHABLE])));
    assert_eq!(out.status.code(), Some(3), "stderr:\n{}", out.stderr);
    let r = out.report();
    let verdicts = r["slo"].as_array().expect("an slo array");
    assert_eq!(verdicts.len(), 5, "both --slo flags count: {r:#}");
    assert_eq!(verdicts[4]["threshold"], UNREACHABLE);
    assert_eq!(verdicts[4]["passed"], false);
    assert!(verdicts[4]["actual"].as_f64().unwrap() > 0.0, "{r:#}");
    assert!(
        out.stderr
            .contains(&format!("slo         FAIL  {UNREACHABLE}")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("mqtk: --slo violated: {UNREACHABLE}")),
        "{}",
        out.stderr
    );
    serve.stop();
}

#[test]
fn a_bad_threshold_is_refused_before_the_run() {
    let broker = Mosquitto::start();
    let out = bench(&broker, &["--slo", "p99<=20", "--json", "-"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no run: {}", out.stdout);
    assert!(
        out.stderr.contains("--slo \"p99<=20\": \"20\" has no unit"),
        "{}",
        out.stderr
    );
}

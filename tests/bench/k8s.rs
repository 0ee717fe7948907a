//! `mqtk bench k8s`: the manifest validates against the Kubernetes schemas (pip's
//! kubernetes-validate, --strict), and read back (PyYAML, which it depends on) it is an
//! Indexed Job with the fields a sharded run needs; bench flags that would fail in the
//! cluster fail here.

use serde_json::Value;
use support::{mqtk, ok, output, text};

fn manifest(args: &[&str]) -> std::process::Output {
    output(mqtk().args(["bench", "k8s"]).args(args))
}

#[test]
fn the_manifest_is_a_valid_indexed_job_running_every_shard() {
    let out = manifest(&[
        "--shards",
        "4",
        "--image",
        "registry.example/mqtk:0.1",
        "--namespace",
        "load",
        "--node-selector",
        "pool=bench",
        "--name",
        "nightly-7",
        "--",
        "-h",
        "broker",
        "--scenario",
        "pairs",
        "--publishers",
        "400",
        "-q",
        "1",
        "--duration",
        "60s",
    ]);
    let yaml = ok(&out);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("job.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let validate = output(
        std::process::Command::new("kubernetes-validate")
            .args(["--strict", file.to_str().unwrap()]),
    );
    assert!(
        validate.status.success(),
        "kubernetes-validate (pip install kubernetes-validate; scripts/test does): {}{}",
        text(&validate.stdout),
        text(&validate.stderr)
    );
    let json = ok(&output(std::process::Command::new("python3").args([
        "-c",
        "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        file.to_str().unwrap(),
    ])));
    let job: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["metadata"]["namespace"], "load");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], 4);
    assert_eq!(spec["parallelism"], 4);
    assert_eq!(spec["backoffLimit"], 0);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["nodeSelector"]["pool"], "bench");
    let anti =
        &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(
        anti["podAffinityTerm"]["topologyKey"],
        "kubernetes.io/hostname"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "registry.example/mqtk:0.1");
    assert!(container["resources"]["requests"]["cpu"].is_string());
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[..3], ["bench", "-h", "broker"]);
    assert_eq!(
        args[args.len() - 4..],
        ["--shard", "auto/4", "--run-id", "nightly-7"]
    );
    assert!(yaml.contains("kubectl logs -n load -l job-name=nightly-7 --tail=-1 --max-log-requests=4 | mqtk bench merge -"));
}

#[test]
fn bench_flags_that_would_fail_in_the_cluster_fail_here() {
    for (args, why) in [
        (
            &[
                "--shards",
                "2",
                "--image",
                "i",
                "--",
                "-h",
                "b",
                "--scenario",
                "fan-out",
            ][..],
            "this run crosses shards",
        ),
        (
            &["--shards", "2", "--image", "i", "--", "--scenario", "pairs"][..],
            "name no broker",
        ),
        (
            &[
                "--shards", "2", "--image", "i", "--", "-h", "b", "--shard", "0/2",
            ][..],
            "bench k8s sets --shard",
        ),
        (
            &[
                "--shards", "2", "--image", "i", "--", "-h", "b", "--sizes", "1",
            ][..],
            "the bench flags after --",
        ),
        (
            &[
                "--shards", "2", "--image", "i", "--name", "Bad_Name", "--", "-h", "b",
            ][..],
            "a Kubernetes Job name",
        ),
    ] {
        let out = manifest(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out.stderr).contains(why),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn the_bench_subcommands_have_their_help() {
    for sub in ["merge", "k8s"] {
        let out = output(mqtk().args(["bench", sub, "--help"]));
        assert!(
            text(&out.stdout).contains("Usage: mqtk bench"),
            "{sub}: {}",
            text(&out.stderr)
        );
    }
}

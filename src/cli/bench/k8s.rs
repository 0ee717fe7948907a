//! `mqtk bench k8s --shards N --image IMAGE [--namespace NS] [--node-selector K=V]
//! -- BENCH FLAGS…`: checks the bench flags as a shard would (so a cluster never runs a
//! typo or a run that crosses shards) and prints the Indexed Job manifest
//! (`bench::k8s`). Must not talk to a cluster or print directly.

use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser as _;

use crate::bench::k8s::{self, JobSpec};
use crate::bench::shard;
use crate::cli::{Cli, Command};
use crate::output;

/// Prints the manifest.
pub fn run(args: super::args::K8sArgs) -> anyhow::Result<()> {
    let name = args.name.clone().unwrap_or_else(|| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("mqtk-bench-{now}")
    });
    // A Job name is a DNS label; the run id rules are narrower still.
    if name.len() > 52
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || name.starts_with('-')
        || name.ends_with('-')
    {
        anyhow::bail!(
            "--name {name:?}: use at most 52 lowercase letters, digits and `-` (a Kubernetes Job name, and the run id)"
        );
    }
    shard::check_run_id(&name).map_err(anyhow::Error::msg)?;
    let node_selector = args
        .node_selector
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("--node-selector {kv:?}: write KEY=VALUE"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    check_bench_args(&args.bench_args, args.shards, &name)?;
    let manifest = k8s::manifest(&JobSpec {
        name,
        namespace: args.namespace,
        image: args.image,
        shards: args.shards,
        node_selector,
        bench_args: args.bench_args,
        cpu: args.cpu,
        memory: args.memory,
    });
    output::stdout_bytes(manifest.as_bytes())?;
    Ok(())
}

/// Parses the bench flags as shard 0 of N would, so the pods run what was checked here.
fn check_bench_args(bench_args: &[String], shards: u32, name: &str) -> anyhow::Result<()> {
    if let Some(flag) = bench_args
        .iter()
        .find(|a| ["--shard", "--run-id", "--start-at"].contains(&a.as_str()))
    {
        anyhow::bail!(
            "{flag} after --: bench k8s sets --shard auto/N and --run-id (the Job name) itself"
        );
    }
    if !bench_args.iter().any(|a| {
        a == "-h" || a == "--host" || a == "-L" || a.starts_with("--url") || a.starts_with("-L")
    }) {
        anyhow::bail!("the bench flags after -- name no broker (-h HOST or -L URL): each pod would bench a broker of its own");
    }
    let shard_flags = [
        "--shard".to_string(),
        format!("0/{shards}"),
        "--run-id".into(),
        name.into(),
    ];
    let argv = ["mqtk".to_string(), "bench".into()]
        .into_iter()
        .chain(bench_args.iter().cloned())
        .chain(shard_flags);
    let cli = Cli::try_parse_from(argv).map_err(|e| {
        anyhow::anyhow!(
            "the bench flags after --: {}",
            e.render().to_string().trim()
        )
    })?;
    let Command::Bench(bench) = cli.command else {
        unreachable!("parsed as `mqtk bench`")
    };
    super::check::bench_config(&bench)?;
    Ok(())
}

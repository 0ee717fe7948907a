//! The shard flags of `mqtk bench` (`--shard`, `--run-id`, `--start-at`,
//! `--barrier-timeout`): they turn a whole-run `BenchConfig` into this shard's share,
//! with the run id and shard in every topic and client id. Must not run anything.

use std::time::Duration;

use clap::Args;

use crate::bench::config::{CrossShard, ShardPlan};
use crate::bench::plan::Plan;
use crate::bench::scenario;
use crate::bench::shard::{self, Shard, StartRule};
use crate::bench::BenchConfig;
use crate::cli::values;

/// Flags of a sharded run.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Shards (one run over many processes or pods)")]
pub struct ShardArgs {
    /// Run shard I of N (0-based) of the run; auto/N takes I from JOB_COMPLETION_INDEX
    #[arg(long, value_name = "I/N|auto/N")]
    pub shard: Option<String>,

    /// The id every shard of the run shares (in topics and client ids) [default: from
    /// the parameters and --start-at]
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,

    /// Start publishing at this wall time (Unix seconds) instead of the ready flags
    #[arg(long, value_name = "UNIX_TIME")]
    pub start_at: Option<f64>,

    /// Give up when the other shards are not ready after this long [default: 120s]
    #[arg(long, value_name = "SECS", value_parser = values::parse_duration)]
    pub barrier_timeout: Option<Duration>,

    /// Subscribers hear every shard's publishers (latency compares clocks; loss known after merge)
    #[arg(long)]
    pub cross_shard: bool,
}

/// Makes `config` (the whole run) this shard's share, or leaves it when no --shard.
pub fn apply(args: &ShardArgs, config: &mut BenchConfig) -> anyhow::Result<()> {
    let Some(text) = &args.shard else {
        for (given, flag) in [
            (args.run_id.is_some(), "--run-id"),
            (args.start_at.is_some(), "--start-at"),
            (args.barrier_timeout.is_some(), "--barrier-timeout"),
            (args.cross_shard, "--cross-shard"),
        ] {
            if given {
                anyhow::bail!("{flag} is for sharded runs: add --shard I/N");
            }
        }
        return Ok(());
    };
    let env = std::env::var(shard::INDEX_VARIABLE).ok();
    let (index, count) = shard::parse(text, env.as_deref()).map_err(anyhow::Error::msg)?;
    if args.cross_shard && config.flap_interval.is_some() {
        anyhow::bail!("--cross-shard and flapping: a flap's missed messages are told from loss by the publisher's counts, which another shard has; shard a flapping run without --cross-shard");
    }
    let mut whole = scenario::parameters(config);
    whole.cross_shard = args.cross_shard;
    let parameter_hash = shard::parameter_hash(&whole);
    let run_id = match (&args.run_id, args.start_at) {
        (Some(id), _) => id.clone(),
        (None, Some(at)) => format!("{parameter_hash}-{}", at.round() as u64),
        (None, None) => anyhow::bail!(
            "--shard needs --run-id ID (the same on every shard, new for every run) or --start-at UNIX_TIME"
        ),
    };
    shard::check_run_id(&run_id).map_err(anyhow::Error::msg)?;
    let start = match (args.start_at, args.barrier_timeout) {
        (Some(_), Some(_)) => {
            anyhow::bail!("--barrier-timeout is for the ready flags; --start-at needs none")
        }
        (Some(unix_secs), None) => StartRule::At { unix_secs },
        (None, timeout) => StartRule::Flags {
            timeout: timeout.unwrap_or(Duration::from_secs(120)),
        },
    };
    let cross = if args.cross_shard {
        Some(cross_numbering(config, &run_id, index, count)?)
    } else {
        check_no_cross_shard(config, count, text)?;
        None
    };
    let whole_scenario = whole.scenario.clone();
    *config = share_of(config, index, count);
    let prefix = match cross {
        Some(_) => shard::cross_prefix(&run_id),
        None => shard::prefix(&run_id, index),
    };
    prefix_topics(config, &prefix);
    config.id_prefix = format!("mqtk-{run_id}-s{index}-");
    config.shard = Some(ShardPlan {
        shard: Shard {
            index,
            count,
            run_id,
        },
        parameter_hash,
        start,
        scenario: whole_scenario,
        cross,
    });
    Ok(())
}

/// Shard `index`'s numbering in the whole run `whole` (`--cross-shard`), with how many
/// receivers of the whole run hear each of its publishers.
fn cross_numbering(
    whole: &BenchConfig,
    run_id: &str,
    index: u32,
    count: u32,
) -> anyhow::Result<CrossShard> {
    let mut prefixed = whole.clone();
    prefix_topics(&mut prefixed, &shard::cross_prefix(run_id));
    let plan = Plan::build(&prefixed).map_err(anyhow::Error::msg)?;
    let first_publisher = shard::first_of(whole.publishers, index, count);
    let share = shard::share(whole.publishers, index, count);
    Ok(CrossShard {
        first_publisher,
        first_subscriber: shard::first_of(whole.subscribers, index, count),
        run_publishers: whole.publishers,
        heard_by: plan.receivers_of[first_publisher as usize..][..share as usize]
            .iter()
            .map(|r| r.len() as u32)
            .collect(),
    })
}

/// Puts `prefix` before the publish and subscribe topics of `config`.
fn prefix_topics(config: &mut BenchConfig, prefix: &str) {
    config.topic = format!("{prefix}{}", config.topic);
    config.sub_topic = format!("{prefix}{}", config.sub_topic);
}

/// Shard `index`'s share of the clients of `whole`.
fn share_of(whole: &BenchConfig, index: u32, count: u32) -> BenchConfig {
    let mut config = whole.clone();
    config.publishers = shard::share(whole.publishers, index, count);
    config.subscribers = shard::share(whole.subscribers, index, count);
    config.connect_only_clients = shard::share(whole.connect_only_clients, index, count);
    // The churn rate is of all churning clients: each shard churns its share of them.
    config.churn_rate = whole.churn_rate.map(|rate| {
        rate * f64::from(config.connect_only_clients) / f64::from(whole.connect_only_clients.max(1))
    });
    config
}

/// Each shard's subscribers hear its own publishers only, so every latency sample is
/// taken on one clock. A run whose subscribers would hear publishers of other shards (a
/// fan-out, a wildcard fan-in) expects other deliveries when sharded: refused, with
/// the counts, rather than measuring another run than asked.
fn check_no_cross_shard(whole: &BenchConfig, count: u32, text: &str) -> anyhow::Result<()> {
    let deliveries = |config: &BenchConfig| -> anyhow::Result<u64> {
        let plan = Plan::build(config).map_err(anyhow::Error::msg)?;
        Ok(plan.receivers_of.iter().map(|r| r.len() as u64).sum())
    };
    let single = deliveries(whole)?;
    let mut sharded = 0;
    for i in 0..count {
        sharded += deliveries(&share_of(whole, i, count))?;
    }
    if single != sharded {
        anyhow::bail!(
            "--shard {text}: in one process each message goes to {single} subscriber(s) in all, split into {count} shards (each shard's subscribers hear its own publishers) to {sharded}: this run crosses shards; add --cross-shard (subscribers then hear every shard's publishers, and latency compares the shards' clocks), or shard runs whose subscribers each hear their own publishers (--scenario pairs, shared, connect), with at least {count} of each"
        );
    }
    Ok(())
}

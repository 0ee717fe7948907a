//! Shards of one run (`--shard I/N`): which shard this process is, its share of the
//! clients, the topic and client-id prefix that keeps shards apart on one broker, and the
//! parameter hash that tells a merge the shards ran the same thing.
//! Must not talk to the broker (`barrier` does) or merge reports (`merge` does).

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::report::Parameters;

/// This process's place in a sharded run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// 0-based shard index.
    pub index: u32,
    /// How many shards the run has.
    pub count: u32,
    /// The run every shard shares; in topics and client ids.
    pub run_id: String,
}

/// How the shards of a run start together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StartRule {
    /// When every shard's retained ready flag is on the broker, waiting at most this long.
    Flags { timeout: Duration },
    /// At this wall time (`--start-at`), seconds since the Unix epoch.
    At { unix_secs: f64 },
}

/// The environment variable a Kubernetes Indexed Job sets to the pod's index.
pub const INDEX_VARIABLE: &str = "JOB_COMPLETION_INDEX";

/// Reads `I/N` or `auto/N` (I from `JOB_COMPLETION_INDEX`, given as `env_index`).
pub fn parse(text: &str, env_index: Option<&str>) -> Result<(u32, u32), String> {
    let how = "write --shard I/N (0 <= I < N), or auto/N in a Kubernetes Indexed Job";
    let (index, count) = text
        .split_once('/')
        .ok_or_else(|| format!("--shard {text:?}: no `/`; {how}"))?;
    let count: u32 = count.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
        format!("--shard {text:?}: {count:?} is not a shard count of 1 or more; {how}")
    })?;
    let index: u32 = if index == "auto" {
        let value = env_index.ok_or_else(|| {
            format!("--shard {text:?}: auto needs {INDEX_VARIABLE}, which is not set; {how}")
        })?;
        value
            .parse()
            .map_err(|_| format!("--shard {text:?}: {INDEX_VARIABLE}={value:?} is not an index"))?
    } else {
        index
            .parse()
            .map_err(|_| format!("--shard {text:?}: {index:?} is not an index; {how}"))?
    };
    if index >= count {
        return Err(format!(
            "--shard {text:?}: index {index} is not below the count {count}; {how}"
        ));
    }
    Ok((index, count))
}

/// Shard `index`'s share of `total` clients: as even as can be, the first shards take
/// one more when it does not divide.
pub fn share(total: u32, index: u32, count: u32) -> u32 {
    total / count + u32::from(index < total % count)
}

/// The global index of shard `index`'s first client when `total` are shared out (the
/// shares before it, added): with `--cross-shard`, shard I's clients are numbered from
/// here, so every index names one client of the whole run.
pub fn first_of(total: u32, index: u32, count: u32) -> u32 {
    (0..index).map(|i| share(total, i, count)).sum()
}

/// The shard whose share of `total` holds the client with global index `client`.
pub fn owner(total: u32, client: u32, count: u32) -> u32 {
    let (base, extra) = (total / count, total % count);
    // The first `extra` shards hold base + 1 clients each, the others base.
    let big = extra * (base + 1);
    if client < big {
        client / (base + 1)
    } else {
        (extra + (client - big) / base.max(1)).min(count - 1)
    }
}

/// What every topic of a `--cross-shard` run starts with: the run id but no shard, so
/// a subscriber hears the publishers of every shard.
pub fn cross_prefix(run_id: &str) -> String {
    format!("mqtk-run/{run_id}/all/")
}

/// What every topic and client id of shard `index` starts with.
pub fn prefix(run_id: &str, index: u32) -> String {
    format!("mqtk-run/{run_id}/s{index}/")
}

/// The retained flag shard `index` sets once its clients are ready.
pub fn ready_topic(run_id: &str, index: u32) -> String {
    format!("mqtk-run/{run_id}/ready/{index}")
}

/// The filter every shard's flag matches.
pub fn ready_filter(run_id: &str) -> String {
    format!("mqtk-run/{run_id}/ready/+")
}

/// A run id is a topic level and part of client ids: letters, digits, `-`, `_`, `.`.
pub fn check_run_id(run_id: &str) -> Result<(), String> {
    if run_id.is_empty()
        || run_id.len() > 64
        || !run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "--run-id {run_id:?}: use 1 to 64 letters, digits, `-`, `_` or `.` (it is a topic level)"
        ));
    }
    Ok(())
}

/// The hash of what the whole run asked for (the unsplit parameters, before this
/// shard's share and prefix): equal on every shard of one run.
pub fn parameter_hash(whole_run: &Parameters) -> String {
    let text = serde_json::to_string(whole_run).expect("Parameters serialize to JSON");
    let digest = Sha256::digest(text.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_flags_read_index_and_count() {
        assert_eq!(parse("2/4", None), Ok((2, 4)));
        assert_eq!(parse("auto/4", Some("3")), Ok((3, 4)));
        for (text, env, why) in [
            ("4/4", None, "not below the count"),
            ("1", None, "no `/`"),
            ("0/0", None, "shard count of 1 or more"),
            ("x/2", None, "not an index"),
            ("auto/2", None, "JOB_COMPLETION_INDEX, which is not set"),
            ("auto/2", Some("a"), "is not an index"),
        ] {
            let e = parse(text, env).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn shares_add_up_to_the_whole() {
        for total in [0, 1, 3, 10, 1001] {
            let sum: u32 = (0..4).map(|i| share(total, i, 4)).sum();
            assert_eq!(sum, total);
        }
        assert_eq!([0, 1, 2, 3].map(|i| share(10, i, 4)), [3, 3, 2, 2]);
    }

    #[test]
    fn cross_shard_numbering_gives_every_client_one_index_and_one_owner() {
        for (total, count) in [(10, 4), (3, 3), (1, 3), (7, 1), (2, 5), (1001, 7)] {
            let mut next = 0;
            for i in 0..count {
                assert_eq!(first_of(total, i, count), next, "{total}/{count} shard {i}");
                for client in next..next + share(total, i, count) {
                    assert_eq!(owner(total, client, count), i, "{total}/{count} #{client}");
                }
                next += share(total, i, count);
            }
            assert_eq!(next, total);
        }
        // 10 over 4 is 3, 3, 2, 2: shard 2's first is 6, client 9 is shard 3's.
        assert_eq!(first_of(10, 2, 4), 6);
        assert_eq!(owner(10, 9, 4), 3);
    }

    #[test]
    fn run_ids_must_fit_in_a_topic_level() {
        assert!(check_run_id("nightly-2026.12.02_1").is_ok());
        for bad in ["", "a/b", "a+", "#", &"x".repeat(65)] {
            assert!(check_run_id(bad).is_err(), "{bad}");
        }
    }
}

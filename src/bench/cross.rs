//! `--cross-shard` accounting: a shard's deliveries by the shard of their publisher, and
//! the merge's exact loss from every shard's figures. One shard cannot know its loss
//! (other shards' publishers send to it); the merge can: each shard knows what its own
//! publishers sent and how many receivers of the whole run expect each of them.
//! Must not measure, read reports or print.

use super::report::CrossShardFigures;
use super::shard;

/// What a `--cross-shard` report says of its latencies.
pub const CLOCK_NOTE: &str =
    "clocks not shared (--cross-shard): latency includes the clock offset between shards";

/// What a lone `--cross-shard` shard's table says in place of its loss.
pub const LOST_NOT_FINAL: &str = "lost: known after merge";

/// Deliveries the whole run expects of one shard's messages: each of its publishers'
/// sent messages once per receiver (on any shard) hearing that publisher.
pub fn expected_of_sent(sent_by_own_publisher: &[u64], heard_by: &[u32]) -> u64 {
    sent_by_own_publisher
        .iter()
        .zip(heard_by)
        .map(|(sent, heard)| sent * u64::from(*heard))
        .sum()
}

/// A shard's figures, from the distinct deliveries its receivers got of each publisher
/// of the whole run (`received_by_publisher[p]`, by global index) in a run of `count`
/// shards.
pub fn shard_figures(
    received_by_publisher: &[u64],
    expected_of_sent: u64,
    count: u32,
) -> CrossShardFigures {
    let publishers = received_by_publisher.len() as u32;
    let mut by_shard = vec![0; count as usize];
    for (p, n) in received_by_publisher.iter().enumerate() {
        by_shard[shard::owner(publishers, p as u32, count) as usize] += n;
    }
    CrossShardFigures {
        clock_note: CLOCK_NOTE.into(),
        lost_final: false,
        expected_of_sent,
        received_by_publisher_shard: by_shard,
        lost_by_publisher_shard: Vec::new(),
    }
}

/// The whole run's figures from every shard's (in shard order, all of them): what
/// shard K's publishers lost is what the run expects of what they sent, less what
/// every shard received from them.
pub fn merge(shards: &[&CrossShardFigures]) -> Result<CrossShardFigures, String> {
    let count = shards.len();
    let mut received = vec![0u64; count];
    for (index, figures) in shards.iter().enumerate() {
        let by_shard = &figures.received_by_publisher_shard;
        if by_shard.len() != count {
            return Err(format!(
                "shard {index} counts deliveries from {} shard(s), the run has {count}",
                by_shard.len()
            ));
        }
        for (total, n) in received.iter_mut().zip(by_shard) {
            *total += n;
        }
    }
    let lost = shards
        .iter()
        .zip(&received)
        .map(|(figures, got)| figures.expected_of_sent.saturating_sub(*got))
        .collect();
    Ok(CrossShardFigures {
        clock_note: CLOCK_NOTE.into(),
        lost_final: true,
        expected_of_sent: shards.iter().map(|f| f.expected_of_sent).sum(),
        received_by_publisher_shard: received,
        lost_by_publisher_shard: lost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_counts_deliveries_by_the_shard_of_their_publisher() {
        // 5 publishers over 3 shards: 0-1 on shard 0, 2-3 on shard 1, 4 on shard 2.
        let f = shard_figures(&[10, 10, 7, 0, 3], 60, 3);
        assert_eq!(f.received_by_publisher_shard, [20, 7, 3]);
        assert!(!f.lost_final);
        assert_eq!(f.expected_of_sent, 60);
        assert_eq!(expected_of_sent(&[10, 20], &[3, 2]), 70);
    }

    #[test]
    fn the_merge_loses_what_was_sent_and_heard_but_not_received() {
        // Fan-out: one publisher on shard 0 sends 100 to 6 subscribers, 2 a shard.
        // Shard 2's subscribers missed 5; shards 1 and 2 sent nothing.
        let shard0 = shard_figures(&[200], expected_of_sent(&[100], &[6]), 3);
        let shard1 = shard_figures(&[200], 0, 3);
        let shard2 = shard_figures(&[195], 0, 3);
        let merged = merge(&[&shard0, &shard1, &shard2]).unwrap();
        assert_eq!(merged.expected_of_sent, 600);
        assert_eq!(merged.received_by_publisher_shard, [595, 0, 0]);
        assert_eq!(merged.lost_by_publisher_shard, [5, 0, 0]);
        assert!(merged.lost_final);
        let short = shard_figures(&[1], 0, 2);
        let e = merge(&[&shard0, &short, &shard2]).unwrap_err();
        assert!(e.contains("shard 1 counts deliveries from 2"), "{e}");
    }
}

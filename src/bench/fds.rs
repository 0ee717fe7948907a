//! The open-file budget of a run: how many file descriptors N clients need, and the
//! note or warning that says what raising the limit did and, when it fell short, how
//! many clients fit and how to get more.
//! Must not touch the limit (`sys::raise_open_file_limit` does) or print (the caller does).

use super::sys::FileLimit;

/// Descriptors kept for everything but the connections: the listener, runtimes' epoll
/// and wake-up descriptors, stdio, files written by --json/--hdr-log.
pub const SLACK: u64 = 256;

/// Descriptors per client: its socket, and the broker's end too when the broker runs in
/// this process.
pub fn per_client(embedded: bool) -> u64 {
    if embedded {
        2
    } else {
        1
    }
}

/// Descriptors a run of `clients` clients needs.
pub fn needed(clients: u32, embedded: bool) -> u64 {
    u64::from(clients) * per_client(embedded) + SLACK
}

/// What to tell the user about the limit: a note when it was raised, a warning when it is
/// still below what `clients` clients need.
pub fn messages(
    limit: &FileLimit,
    clients: u32,
    embedded: bool,
) -> (Option<String>, Option<String>) {
    let needed = needed(clients, embedded);
    let note = (limit.soft > limit.soft_before).then(|| {
        let hard = if limit.hard > limit.hard_before {
            format!(" (and its hard limit from {})", limit.hard_before)
        } else {
            String::new()
        };
        format!(
            "raised the open-file limit from {} to {}{hard} for {clients} clients",
            limit.soft_before, limit.soft
        )
    });
    let warning = (limit.soft < needed).then(|| {
        let per = per_client(embedded);
        let fit = limit.soft.saturating_sub(SLACK) / per;
        let each = if embedded {
            "2 per client with the embedded broker"
        } else {
            "1 per client"
        };
        format!(
            "the open-file limit is {} (hard limit {}), below the {needed} descriptors {clients} \
             clients need ({each}, plus {SLACK}): about {fit} clients fit. For more, raise the \
             hard limit: run bench as root (it raises the hard limit itself), `ulimit -Hn {needed}` \
             in a root shell before starting it, or `nofile` in /etc/security/limits.conf",
            limit.soft, limit.hard
        )
    });
    (note, warning)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(soft_before: u64, hard_before: u64, soft: u64, hard: u64) -> FileLimit {
        FileLimit {
            soft_before,
            hard_before,
            soft,
            hard,
        }
    }

    #[test]
    fn the_embedded_broker_doubles_the_descriptors_per_client() {
        assert_eq!(needed(10_000, false), 10_256);
        assert_eq!(needed(10_000, true), 20_256);
        assert_eq!(needed(0, true), SLACK);
    }

    #[test]
    fn nothing_is_said_when_the_limit_was_already_enough() {
        let same = limit(100_000, 100_000, 100_000, 100_000);
        assert_eq!(messages(&same, 20_000, true), (None, None));
    }

    #[test]
    fn raising_the_hard_limit_is_said() {
        let raised = limit(1024, 20_000, 20_256, 20_256);
        let (note, warning) = messages(&raised, 10_000, true);
        assert_eq!(
            note.unwrap(),
            "raised the open-file limit from 1024 to 20256 (and its hard limit from 20000) for 10000 clients"
        );
        assert!(warning.is_none());
        let soft_only = limit(1024, 20_000, 10_256, 20_000);
        let (note, warning) = messages(&soft_only, 10_000, false);
        assert_eq!(
            note.unwrap(),
            "raised the open-file limit from 1024 to 10256 for 10000 clients"
        );
        assert!(warning.is_none());
    }

    #[test]
    fn a_short_limit_says_how_many_clients_fit_and_how_to_get_more() {
        let short = limit(1024, 20_000, 20_000, 20_000);
        let (note, warning) = messages(&short, 12_000, true);
        assert!(note.unwrap().contains("from 1024 to 20000 for 12000"));
        let warning = warning.unwrap();
        assert!(warning.contains("below the 24256 descriptors 12000 clients need"));
        assert!(warning.contains("about 9872 clients fit"), "{warning}");
        assert!(warning.contains("ulimit -Hn 24256"));
        assert!(warning.contains("limits.conf"));
        let (_, warning) = messages(&short, 30_000, false);
        assert!(warning.unwrap().contains("about 19744 clients fit"));
        let tiny = limit(100, 100, 100, 100);
        assert!(messages(&tiny, 10, false)
            .1
            .unwrap()
            .contains("about 0 clients fit"));
    }
}

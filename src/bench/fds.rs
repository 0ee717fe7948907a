//! The open-file budget of a run: how many file descriptors N clients need, and the
//! note or warning that says what raising the limit did and, when it fell short, how
//! many clients fit and how to get more.
//! Must not touch the limit (`sys::raise_open_file_limit` does) or print (the caller does).

use super::sys::FileLimit;

/// Descriptors kept for everything but the connections: the listener, runtimes' epoll
/// and wake-up descriptors, stdio, files written by --json/--hdr-log (about 20 are open
/// when the clients start).
pub const SLACK: u64 = 64;

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
/// still below what `clients` clients need, with how many fit and how to get more (`root`:
/// bench runs as root, so the hard limit was out of even root's reach here).
pub fn messages(
    limit: &FileLimit,
    clients: u32,
    embedded: bool,
    root: bool,
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
        let fit = limit.soft.saturating_sub(SLACK) / per_client(embedded);
        let each = if embedded {
            "2 per client with the built-in broker"
        } else {
            "1 per client"
        };
        let how = if root {
            format!(
                "bench runs as root but may not raise the hard limit (no CAP_SYS_RESOURCE, as \
                 in many containers, or above fs.nr_open): raise it where the process is \
                 started (`docker run --ulimit nofile={needed}`, systemd's LimitNOFILE, \
                 `nofile` in /etc/security/limits.conf)"
            )
        } else {
            format!(
                "raise the hard limit: run bench as root (it raises the hard limit itself), \
                 `ulimit -Hn {needed}` in a root shell before starting it, or `nofile` in \
                 /etc/security/limits.conf"
            )
        };
        let separate = if embedded {
            ", or run `mqtk serve` as its own process and bench it with -h (1 descriptor per \
             client in each process)"
        } else {
            ""
        };
        format!(
            "the open-file limit is {} (hard limit {}), below the {needed} descriptors \
             {clients} clients need ({each}, plus {SLACK}): about {fit} clients fit. For \
             more, {how}{separate}",
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
        assert_eq!(needed(10_000, false), 10_064);
        assert_eq!(needed(10_000, true), 20_064);
        assert_eq!(needed(0, true), SLACK);
    }

    #[test]
    fn nothing_is_said_when_the_limit_was_already_enough() {
        let same = limit(100_000, 100_000, 100_000, 100_000);
        assert_eq!(messages(&same, 20_000, true, false), (None, None));
    }

    #[test]
    fn raising_the_hard_limit_is_said() {
        let raised = limit(1024, 20_000, 20_064, 20_064);
        let (note, warning) = messages(&raised, 10_000, true, true);
        assert_eq!(
            note.unwrap(),
            "raised the open-file limit from 1024 to 20064 (and its hard limit from 20000) for 10000 clients"
        );
        assert!(warning.is_none());
        let soft_only = limit(1024, 20_000, 10_064, 20_000);
        let (note, warning) = messages(&soft_only, 10_000, false, false);
        assert_eq!(
            note.unwrap(),
            "raised the open-file limit from 1024 to 10064 for 10000 clients"
        );
        assert!(warning.is_none());
    }

    #[test]
    fn a_short_limit_says_how_many_clients_fit_and_how_to_get_more() {
        let short = limit(1024, 20_000, 20_000, 20_000);
        let (note, warning) = messages(&short, 12_000, true, false);
        assert!(note.unwrap().contains("from 1024 to 20000 for 12000"));
        let warning = warning.unwrap();
        assert!(warning.contains("below the 24064 descriptors 12000 clients need"));
        assert!(warning.contains("about 9968 clients fit"), "{warning}");
        assert!(warning.contains("run bench as root"));
        assert!(warning.contains("ulimit -Hn 24064"));
        assert!(warning.contains("limits.conf"));
        assert!(warning.contains("run `mqtk serve` as its own process"));
        let (_, warning) = messages(&short, 30_000, false, true);
        let warning = warning.unwrap();
        assert!(warning.contains("about 19936 clients fit"), "{warning}");
        assert!(warning.contains("no CAP_SYS_RESOURCE"));
        assert!(warning.contains("--ulimit nofile=30064"));
        assert!(!warning.contains("mqtk serve"));
        let tiny = limit(10, 10, 10, 10);
        let warning = messages(&tiny, 10, false, false).1.unwrap();
        assert!(warning.contains("about 0 clients fit"));
    }
}

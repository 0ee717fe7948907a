//! What the bench asks of the operating system: its own CPU time (getrusage), the CPU
//! time of named threads or another process (/proc, Linux), another process's resident
//! memory and open descriptors (`--broker-pid`), and raising the open-file limit so
//! thousands of connections fit.
//! Must not print: callers report what was done.

use std::time::Duration;

/// User and system CPU time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// User time.
    pub user: Duration,
    /// System time.
    pub system: Duration,
}

impl CpuTimes {
    /// User plus system.
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    /// The time spent since `earlier`.
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// CPU time of this whole process so far.
pub fn process_cpu() -> CpuTimes {
    // SAFETY: getrusage writes into the struct we pass and reads nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return CpuTimes::default();
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    CpuTimes {
        user: tv(usage.ru_utime),
        system: tv(usage.ru_stime),
    }
}

fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// `(comm, utime + stime)` from the text of a /proc `stat` file.
fn parse_stat(text: &str) -> Option<(&str, CpuTimes)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?;
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // After "(comm)": state is field 3 of proc(5); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let tick =
        |t: u64| Duration::from_nanos(t.saturating_mul(1_000_000_000 / clock_ticks_per_sec()));
    Some((
        comm,
        CpuTimes {
            user: tick(utime),
            system: tick(stime),
        },
    ))
}

/// CPU time of another process from /proc/PID/stat; `None` when it is gone or not Linux.
pub fn pid_cpu(pid: u32) -> Option<CpuTimes> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text).map(|(_, cpu)| cpu)
}

/// Another process at one moment, from /proc (`--broker-pid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSample {
    /// Resident set size.
    pub rss_bytes: u64,
    /// Open file descriptors; `None` when /proc/PID/fd cannot be read (another user's
    /// process, without root).
    pub open_fds: Option<u32>,
    /// CPU time so far.
    pub cpu: CpuTimes,
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

/// Resident pages, the second field of /proc/PID/statm.
fn parse_statm_resident(text: &str) -> Option<u64> {
    text.split_whitespace().nth(1)?.parse().ok()
}

/// RSS, open descriptors and CPU time of process `pid`; `None` when it is gone (or
/// this is not Linux).
pub fn pid_sample(pid: u32) -> Option<ProcSample> {
    let cpu = pid_cpu(pid)?;
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let rss_bytes = parse_statm_resident(&statm)?.saturating_mul(page_size());
    let open_fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|dir| dir.count() as u32);
    Some(ProcSample {
        rss_bytes,
        open_fds,
        cpu,
    })
}

/// CPU time of this process's threads whose name starts with `prefix` (the embedded
/// broker's runtime threads), from /proc/self/task; `None` when /proc is not there.
pub fn threads_cpu(prefix: &str) -> Option<CpuTimes> {
    let mut total = CpuTimes::default();
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((comm, cpu)) = parse_stat(&text) {
            if comm.starts_with(prefix) {
                total.user += cpu.user;
                total.system += cpu.system;
            }
        }
    }
    Some(total)
}

/// The open-file limit (soft and hard) before and after `raise_open_file_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimit {
    /// Soft limit before.
    pub soft_before: u64,
    /// Hard limit before.
    pub hard_before: u64,
    /// Soft limit now: what the run may open.
    pub soft: u64,
    /// Hard limit now.
    pub hard: u64,
}

/// The kernel's ceiling on any hard open-file limit (`fs.nr_open`), when readable.
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `(soft, hard)` open-file limits.
#[allow(clippy::useless_conversion)] // rlim_t is u32 on some 32-bit targets
fn get_nofile() -> Option<(u64, u64)> {
    // SAFETY: getrlimit writes into the struct we pass.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0)
        .then(|| (u64::from(limit.rlim_cur), u64::from(limit.rlim_max)))
}

fn set_nofile(soft: u64, hard: u64) -> bool {
    let limit = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we pass.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 }
}

/// The limits to try, in order, to get a soft open-file limit of `wanted` from
/// `(soft, hard)`: first both raised to `wanted` (capped at `nr_open`) when that is above
/// the hard limit, then the soft limit alone up to the hard limit. `None`: nothing to try.
fn limit_attempts(
    wanted: u64,
    (soft, hard): (u64, u64),
    nr_open: Option<u64>,
) -> (Option<u64>, Option<u64>) {
    if soft >= wanted {
        return (None, None);
    }
    let both = wanted.min(nr_open.unwrap_or(u64::MAX));
    let soft_only = wanted.min(hard);
    (
        (both > hard).then_some(both),
        (soft_only > soft).then_some(soft_only),
    )
}

/// Raises the soft open-file limit to at least `wanted`. Above the hard limit it first
/// tries to raise the hard limit too (up to `fs.nr_open`), which needs CAP_SYS_RESOURCE
/// (root, outside containers that drop it); when that is refused the soft limit goes up
/// to the hard limit. Never lowers either. `None` when the limit cannot be read.
pub fn raise_open_file_limit(wanted: u64) -> Option<FileLimit> {
    let (soft_before, hard_before) = get_nofile()?;
    let (both, soft_only) = limit_attempts(wanted, (soft_before, hard_before), nr_open());
    if !both.is_some_and(|n| set_nofile(n, n)) {
        if let Some(n) = soft_only {
            set_nofile(n, hard_before);
        }
    }
    let (soft, hard) = get_nofile()?;
    Some(FileLimit {
        soft_before,
        hard_before,
        soft,
        hard,
    })
}

/// Whether this process runs as root (effective user id 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_spaces_and_parens_in_the_name() {
        let line = "1234 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 300 200 0 0 20 0 1 0";
        let (comm, cpu) = parse_stat(line).unwrap();
        assert_eq!(comm, "my (odd) name");
        let hz = clock_ticks_per_sec();
        assert_eq!(cpu.user, Duration::from_nanos(300 * (1_000_000_000 / hz)));
        assert_eq!(cpu.system, Duration::from_nanos(200 * (1_000_000_000 / hz)));
        assert!(parse_stat("garbage").is_none());
        assert!(parse_stat("1 (x) S 1").is_none());
    }

    #[test]
    fn own_cpu_time_grows_with_work() {
        let before = process_cpu();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let spent = process_cpu().since(&before);
        assert!(spent.total() > Duration::ZERO);
        assert!(pid_cpu(std::process::id()).is_some());
        assert!(threads_cpu("no-such-thread-prefix")
            .unwrap()
            .total()
            .is_zero());
    }

    #[test]
    fn a_process_sample_has_its_memory_descriptors_and_cpu() {
        assert_eq!(parse_statm_resident("2000 350 100 1 0 200 0"), Some(350));
        assert_eq!(parse_statm_resident("2000"), None);
        let me = pid_sample(std::process::id()).unwrap();
        assert!(me.rss_bytes > 1024 * 1024, "{me:?}");
        let _file = std::fs::File::open("/proc/self/stat").unwrap();
        assert!(me.open_fds.unwrap() >= 3, "{me:?}");
        assert!(pid_sample(u32::MAX).is_none());
    }

    #[test]
    fn the_hard_limit_is_tried_first_above_it_capped_at_nr_open() {
        // Enough already: nothing to do.
        assert_eq!(limit_attempts(100, (1024, 4096), None), (None, None));
        // Below the hard limit: the soft limit alone.
        assert_eq!(limit_attempts(2000, (1024, 4096), None), (None, Some(2000)));
        // Above it: both, then the soft limit up to the hard one.
        assert_eq!(
            limit_attempts(24_256, (1024, 20_000), Some(1_048_576)),
            (Some(24_256), Some(20_000))
        );
        // Never past fs.nr_open; soft already at the hard limit: only the hard raise.
        assert_eq!(
            limit_attempts(2_000_000, (20_000, 20_000), Some(1_048_576)),
            (Some(1_048_576), None)
        );
        // The hard limit already at fs.nr_open: nothing can be done.
        assert_eq!(limit_attempts(50, (10, 10), Some(10)), (None, None));
    }

    #[test]
    fn open_file_limit_goes_past_the_hard_limit_when_allowed_else_up_to_it() {
        let now = raise_open_file_limit(0).unwrap();
        assert_eq!((now.soft, now.hard), (now.soft_before, now.hard_before));
        // A little above the hard limit (RLIM_INFINITY aside): root raises both, anyone
        // else gets the hard limit; neither is ever lowered.
        let wanted = now.hard.saturating_add(64);
        let raised = raise_open_file_limit(wanted).unwrap();
        assert!(raised.soft >= now.soft && raised.hard >= now.hard);
        assert!(raised.soft <= raised.hard);
        let ceiling = nr_open().unwrap_or(u64::MAX);
        if raised.hard > now.hard {
            assert_eq!(raised.soft, wanted.min(ceiling));
            assert_eq!(raised.hard, wanted.min(ceiling));
        } else {
            assert_eq!(raised.soft, raised.hard);
        }
        let again = raise_open_file_limit(raised.soft).unwrap();
        assert_eq!((again.soft, again.hard), (raised.soft, raised.hard));
    }
}

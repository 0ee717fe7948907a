//! The broker's two clock readings: a cheap monotonic millisecond count that atomics
//! can hold (keep-alive deadlines, mailbox drain times, limit-log periods), and the
//! wall-clock seconds of mosquitto's log prefix. Must not depend on any other broker
//! module: everything below `shared` reads the clock through here.

use std::sync::OnceLock;
use std::time::Instant;

/// Milliseconds since the first call in this process, at least 1 (0 means "never").
pub(crate) fn clock_ms(now: Instant) -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    (now.saturating_duration_since(base).as_millis() as u64).max(1)
}

/// Seconds since the epoch, mosquitto's log prefix.
pub fn timestamp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

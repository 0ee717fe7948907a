//! What a fault rule does when it fires (`Action`): its words, their values, and which
//! packets each one can act on. Plain data, parsed and checked here; the connection
//! task applies them (`conn/fixture.rs`). Must not do I/O or read the clock.

use std::time::Duration;

use crate::protocol::ReasonCode;

/// What a fired rule does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Close the connection without a word (no DISCONNECT), dropping what is unsent.
    Close,
    /// MQTT 5: DISCONNECT with this reason code, then close (3.1.1: a silent close).
    Disconnect(ReasonCode),
    /// Refuse the CONNECT with this CONNACK reason code.
    ConnAck(ReasonCode),
    /// The packet is not handled (incoming) or not sent (outgoing).
    Drop,
    /// The packet waits this long; the connection waits with it (TCP keeps order).
    Delay(Duration),
    /// An outgoing PUBLISH is sent twice, the second time with DUP set (QoS 1/2).
    Duplicate,
    /// After this packet, the connection neither reads nor writes for this long.
    Stall(Duration),
    /// From this packet on, what the broker sends on the connection goes at this many
    /// bytes per second.
    Throttle(u32),
    /// End the connection as a takeover does (MQTT 5: DISCONNECT 0x8E); the session
    /// stays for the next connection as after a real takeover.
    TakeOver,
}

/// The action names, in the order of `Action::kind`, for `$SYS/broker/faults/...` and
/// messages.
pub const KINDS: [&str; 9] = [
    "close",
    "disconnect",
    "connack",
    "drop",
    "delay",
    "duplicate",
    "stall",
    "throttle",
    "takeover",
];

/// `$SYS/broker/faults/fired/KIND`, in the order of `KINDS`.
pub const SYS_TOPICS: [&str; 9] = [
    "$SYS/broker/faults/fired/close",
    "$SYS/broker/faults/fired/disconnect",
    "$SYS/broker/faults/fired/connack",
    "$SYS/broker/faults/fired/drop",
    "$SYS/broker/faults/fired/delay",
    "$SYS/broker/faults/fired/duplicate",
    "$SYS/broker/faults/fired/stall",
    "$SYS/broker/faults/fired/throttle",
    "$SYS/broker/faults/fired/takeover",
];

/// What the words of an action imply about the packets it can match.
#[derive(Debug, Default, PartialEq)]
pub struct Implied {
    /// The packet types it acts on, when only some can be (`connack`: CONNECT).
    pub types: Option<&'static [&'static str]>,
    /// The direction, when only one makes sense.
    pub dir: Option<super::matcher::Dir>,
}

impl Action {
    /// Index into `KINDS`.
    pub fn kind(&self) -> usize {
        match self {
            Action::Close => 0,
            Action::Disconnect(_) => 1,
            Action::ConnAck(_) => 2,
            Action::Drop => 3,
            Action::Delay(_) => 4,
            Action::Duplicate => 5,
            Action::Stall(_) => 6,
            Action::Throttle(_) => 7,
            Action::TakeOver => 8,
        }
    }

    /// Parses one action word (`drop`, `delay=500ms`, `disconnect=0x8E`, ...), with what
    /// it implies about the match.
    pub fn parse(word: &str) -> Result<(Action, Implied), String> {
        use super::matcher::Dir;
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (word, None),
        };
        fn need<'a>(name: &str, v: Option<&'a str>) -> Result<&'a str, String> {
            v.filter(|v| !v.is_empty())
                .ok_or_else(|| format!("`{name}` needs a value: `{name}={}`", example(name)))
        }
        let none = |v: Option<&str>, a: Action| match v {
            None => Ok(a),
            Some(_) => Err(format!("`{name}` takes no value")),
        };
        let implied = Implied::default();
        let action = match name {
            "close" => none(value, Action::Close)?,
            "drop" => none(value, Action::Drop)?,
            "takeover" => none(value, Action::TakeOver)?,
            "duplicate" => {
                let implied = Implied {
                    types: Some(&["PUBLISH"]),
                    dir: Some(Dir::Out),
                };
                return Ok((none(value, Action::Duplicate)?, implied));
            }
            "no-pingresp" => {
                let implied = Implied {
                    types: Some(&["PINGRESP"]),
                    dir: Some(Dir::Out),
                };
                return Ok((none(value, Action::Drop)?, implied));
            }
            "disconnect" => Action::Disconnect(reason(need(name, value)?)?),
            "connack" => {
                let code = reason(need(name, value)?)?;
                if code.is_success() {
                    return Err(format!(
                        "`{word}`: a refusing CONNACK needs a code of 0x80 or more (e.g. 0x87)"
                    ));
                }
                let implied = Implied {
                    types: Some(&["CONNECT"]),
                    dir: Some(Dir::In),
                };
                return Ok((Action::ConnAck(code), implied));
            }
            "delay" => Action::Delay(duration(need(name, value)?)?),
            "stall" => Action::Stall(duration(need(name, value)?)?),
            "throttle" => Action::Throttle(rate(need(name, value)?)?),
            _ => {
                return Err(format!(
                    "unknown action `{name}`; use close, disconnect=CODE, connack=CODE, drop, \
                     delay=TIME, duplicate, stall=TIME, no-pingresp, throttle=RATE or takeover"
                ))
            }
        };
        Ok((action, implied))
    }

    /// True when the action can act on a CONNECT (checked before the session starts).
    pub fn works_on_connect(&self) -> bool {
        matches!(
            self,
            Action::Close | Action::ConnAck(_) | Action::Drop | Action::Delay(_)
        )
    }
}

fn example(name: &str) -> &'static str {
    match name {
        "disconnect" => "0x8E",
        "connack" => "0x87",
        "delay" => "500ms",
        "stall" => "10s",
        "throttle" => "100B/s",
        _ => "VALUE",
    }
}

/// A reason code in hex (`0x87`) or decimal (`135`) that MQTT 5 defines.
pub fn reason(value: &str) -> Result<ReasonCode, String> {
    let byte = match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => value.parse::<u8>().ok(),
    };
    byte.and_then(ReasonCode::from_u8).ok_or_else(|| {
        format!("`{value}` is not an MQTT 5 reason code (0x00-0xA2 as defined, e.g. 0x87)")
    })
}

/// A duration with its unit: `250ms`, `10s`, `2m`, `1.5s`.
pub fn duration(value: &str) -> Result<Duration, String> {
    let (number, scale) = if let Some(n) = value.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('m') {
        (n, 60.0)
    } else {
        return Err(format!(
            "`{value}` is not a duration: give its unit, as in 250ms, 10s, 2m"
        ));
    };
    number
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .and_then(|v| Duration::try_from_secs_f64(v * scale).ok())
        .ok_or_else(|| format!("`{value}` is not a duration: use e.g. 250ms, 10s, 2m"))
}

/// Bytes per second: `100B/s`, `10KB/s`, `1MB/s` (decimal units).
pub fn rate(value: &str) -> Result<u32, String> {
    let bad = || format!("`{value}` is not a rate: use e.g. 100B/s, 10KB/s, 1MB/s");
    let per_sec = value.strip_suffix("/s").ok_or_else(bad)?;
    let (number, scale) = if let Some(n) = per_sec.strip_suffix("KB") {
        (n, 1_000)
    } else if let Some(n) = per_sec.strip_suffix("MB") {
        (n, 1_000_000)
    } else if let Some(n) = per_sec.strip_suffix('B') {
        (n, 1)
    } else {
        return Err(bad());
    };
    number
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|n| *n > 0)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_with_their_values() {
        assert_eq!(Action::parse("drop").unwrap().0, Action::Drop);
        assert_eq!(
            Action::parse("disconnect=0x8E").unwrap().0,
            Action::Disconnect(ReasonCode::SessionTakenOver)
        );
        assert_eq!(
            Action::parse("connack=135").unwrap().0,
            Action::ConnAck(ReasonCode::NotAuthorized)
        );
        assert_eq!(
            Action::parse("delay=500ms").unwrap().0,
            Action::Delay(Duration::from_millis(500))
        );
        assert_eq!(
            Action::parse("throttle=10KB/s").unwrap().0,
            Action::Throttle(10_000)
        );
        let (action, implied) = Action::parse("no-pingresp").unwrap();
        assert_eq!(action, Action::Drop);
        assert_eq!(implied.types, Some(&["PINGRESP"][..]));
    }

    #[test]
    fn bad_actions_say_what_to_write() {
        let err = |w: &str| Action::parse(w).unwrap_err();
        assert!(
            err("dorp").contains("unknown action `dorp`"),
            "{}",
            err("dorp")
        );
        assert!(err("delay").contains("delay=500ms"), "{}", err("delay"));
        assert!(err("delay=5").contains("unit"), "{}", err("delay=5"));
        assert!(err("connack=0x00").contains("0x80 or more"));
        assert!(err("disconnect=0x42").contains("not an MQTT 5 reason code"));
        assert!(err("throttle=fast").contains("100B/s"));
        assert!(err("drop=1").contains("takes no value"));
    }
}

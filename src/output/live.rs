//! The live views of `mqtk sub`: the `-w` screen (a header, then one terminal line per
//! topic in the order topics first arrive, each rewritten in place with ANSI escapes, as
//! mosquitto_sub 2.1's `--watch`) and the `--message-rate` line. Rendering only: returns
//! bytes for `output`; must not write them or decide which messages to show.

use std::collections::HashMap;

use bytestring::ByteString;

/// The first terminal row of a topic (row 1 is the header).
const FIRST_ROW: usize = 2;

/// `-w`: which row each topic has.
#[derive(Debug, Default)]
pub struct WatchScreen {
    header: String,
    rows: HashMap<ByteString, usize>,
}

impl WatchScreen {
    /// A screen whose header names the broker.
    pub fn new(broker: &str) -> WatchScreen {
        WatchScreen {
            header: format!("mqtk sub -w: {broker} (Ctrl-C to stop)"),
            rows: HashMap::new(),
        }
    }

    /// Clears the terminal, prints the header and turns line wrapping off, so that a
    /// long message is cut at the terminal's edge instead of pushing the rows down.
    pub fn start(&self) -> Vec<u8> {
        format!("\x1b[2J\x1b[1;1H\x1b[?7l{}\n", self.header).into_bytes()
    }

    /// The bytes that rewrite `topic`'s row with `rendered` (its first line only), then
    /// leave the cursor below the last row.
    pub fn place(&mut self, topic: &ByteString, rendered: &[u8]) -> Vec<u8> {
        let next = FIRST_ROW + self.rows.len();
        let row = *self.rows.entry(topic.clone()).or_insert(next);
        let line_end = rendered
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .unwrap_or(rendered.len());
        let mut out = format!("\x1b[{row};1H\x1b[2K").into_bytes();
        out.extend_from_slice(&rendered[..line_end]);
        out.extend_from_slice(format!("\x1b[{};1H", FIRST_ROW + self.rows.len()).as_bytes());
        out
    }

    /// Turns line wrapping back on, below the last row.
    pub fn end(&self) -> Vec<u8> {
        format!("\x1b[{};1H\x1b[?7h", FIRST_ROW + self.rows.len()).into_bytes()
    }
}

/// `--message-rate`: mosquitto_sub's line for one second.
pub fn rate_line(messages: u64) -> String {
    format!("{messages} msgs/s\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_topic_keeps_its_row_and_only_its_first_line_is_drawn() {
        let mut screen = WatchScreen::new("localhost:1883");
        assert!(String::from_utf8(screen.start())
            .unwrap()
            .contains("localhost:1883"));
        let a = screen.place(&"a".into(), b"a 1\n");
        assert_eq!(a, b"\x1b[2;1H\x1b[2Ka 1\x1b[3;1H");
        let b = screen.place(&"b".into(), b"b 1\nsecond line\n");
        assert_eq!(b, b"\x1b[3;1H\x1b[2Kb 1\x1b[4;1H");
        let a = screen.place(&"a".into(), b"a 2\n");
        assert_eq!(a, b"\x1b[2;1H\x1b[2Ka 2\x1b[4;1H");
        assert_eq!(screen.end(), b"\x1b[4;1H\x1b[?7h");
        assert_eq!(rate_line(12), "12 msgs/s\n");
    }
}

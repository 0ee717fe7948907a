//! `--pretty`: compact JSON text re-indented, two spaces a level, keys kept in the order
//! they were written (mosquitto_sub's `%j` field order, our `--json` order). Text only:
//! must not parse values or reorder anything.

/// `compact` (valid JSON without insignificant whitespace) spread over lines.
pub fn indent_json(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = compact.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // An empty object or array stays on its line.
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.push(chars.next().unwrap_or(' '));
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n("  ", depth));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_json_is_indented_and_strings_are_left_alone() {
        let text = r#"{"b":1,"a":{"s":"x,{:}\"y","l":[1,2],"e":[]}}"#;
        let pretty = indent_json(text);
        assert_eq!(
            pretty,
            "{\n  \"b\": 1,\n  \"a\": {\n    \"s\": \"x,{:}\\\"y\",\n    \"l\": [\n      1,\n      2\n    ],\n    \"e\": []\n  }\n}"
        );
        let back: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(text).unwrap()
        );
    }
}

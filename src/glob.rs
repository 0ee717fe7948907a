//! Shell-style globs over bytes, the one matcher for every `GLOB` the command line
//! takes: serve's fault rules and `--trace-client`, and `mqtk test --only/--skip`.
//! Must not know about topics: MQTT filters are `protocol::topic`.

/// `*` matches any run of bytes, `?` any one byte; everything else matches itself.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative with one backtrack point (the last `*`): linear in practice, and no
    // recursion a long client identifier could exhaust.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_runs_and_single_bytes() {
        assert!(glob(b"dev-*", b"dev-17"));
        assert!(glob(b"dev-*", b"dev-"));
        assert!(!glob(b"dev-*", b"prod-1"));
        assert!(glob(b"*-1?", b"dev-17"));
        assert!(!glob(b"*-1?", b"dev-1"));
        assert!(glob(b"*", b""));
        assert!(glob(b"a*b*c", b"axxbyyc"));
        assert!(!glob(b"a*b*c", b"axxbyy"));
        assert!(glob(b"exact", b"exact"));
    }
}

//! Mosquitto's password file: parse, verify, edit and write it, byte-compatible with
//! `mosquitto_passwd` of mosquitto 2.0 so a file made by either tool works with both.
//!
//! A line is `username:hash`; `#` lines and blank lines are skipped. Two hash schemes:
//! - `$7$ITERATIONS$SALT$HASH`: PBKDF2-HMAC-SHA512, 12-byte salt, 64-byte hash, base64
//!   (mosquitto 2.0's default, 101 iterations),
//! - `$6$SALT$HASH`: SHA-512 over password then salt (mosquitto 1.6 and earlier).
//!
//! Verification is constant time in the hash comparison, and a user who does not exist
//! costs the same PBKDF2 work as one who does, so timing does not tell whether a name is
//! known. This module does no terminal I/O and no logging: that is `cli/passwd.rs`'s and the
//! broker's job.

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use crate::broker::file_error::{self, FileError};

/// mosquitto_passwd's default PBKDF2 iteration count (mosquitto 2.0 `PW_DEFAULT_ITERATIONS`).
pub const DEFAULT_ITERATIONS: u32 = 101;
/// Salt length mosquitto_passwd generates (`SALT_LEN`).
const SALT_LEN: usize = 12;
/// SHA-512 output length, the only hash length either scheme produces.
const HASH_LEN: usize = 64;
/// Refuse iteration counts that would let a hostile file stall every CONNECT.
const MAX_ITERATIONS: u32 = 10_000_000;

/// Why a password file could not be read or a hash could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The file could not be read or written, or a line is not `username:hash` with a
    /// hash in one of mosquitto's formats.
    #[error(transparent)]
    File(#[from] FileError),
    /// A user name mosquitto would not accept.
    #[error("invalid username {0:?}: it must be non-empty, valid UTF-8 and contain no ':'")]
    BadUsername(String),
    /// The system random source failed while making a salt.
    #[error("cannot generate a random salt: {0}")]
    Random(String),
}

/// One stored password hash.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordHash {
    /// `$7$`: PBKDF2-HMAC-SHA512.
    Pbkdf2Sha512 {
        /// PBKDF2 iteration count.
        iterations: u32,
        /// Raw salt bytes.
        salt: Vec<u8>,
        /// Raw derived key.
        hash: Vec<u8>,
    },
    /// `$6$`: SHA-512(password ‖ salt).
    Sha512 {
        /// Raw salt bytes.
        salt: Vec<u8>,
        /// Raw digest.
        hash: Vec<u8>,
    },
}

impl fmt::Debug for PasswordHash {
    // Never print hash material in logs or test failures.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordHash::Pbkdf2Sha512 { iterations, .. } => {
                write!(f, "Pbkdf2Sha512 {{ iterations: {iterations}, .. }}")
            }
            PasswordHash::Sha512 { .. } => f.write_str("Sha512 { .. }"),
        }
    }
}

impl PasswordHash {
    /// Hash `password` the way `mosquitto_passwd` does by default: PBKDF2-SHA512, 101
    /// iterations, a fresh 12-byte random salt.
    pub fn new(password: &str) -> Result<Self, PasswordError> {
        let mut salt = vec![0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|e| PasswordError::Random(e.to_string()))?;
        Ok(Self::pbkdf2_with_salt(password, salt, DEFAULT_ITERATIONS))
    }

    /// Hash `password` with mosquitto 1.6's `$6$` scheme (`mosquitto_passwd -H sha512`).
    pub fn new_sha512(password: &str) -> Result<Self, PasswordError> {
        let mut salt = vec![0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|e| PasswordError::Random(e.to_string()))?;
        let mut digest = Sha512::new();
        digest.update(password.as_bytes());
        digest.update(&salt);
        Ok(PasswordHash::Sha512 {
            salt,
            hash: digest.finalize().to_vec(),
        })
    }

    /// PBKDF2-SHA512 with a given salt and iteration count.
    pub fn pbkdf2_with_salt(password: &str, salt: Vec<u8>, iterations: u32) -> Self {
        let hash = pbkdf2_sha512(password.as_bytes(), &salt, iterations);
        PasswordHash::Pbkdf2Sha512 {
            iterations,
            salt,
            hash,
        }
    }

    /// Parse the part after `username:`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let fields: Vec<&str> = text.split('$').collect();
        match fields.as_slice() {
            ["", "7", iterations, salt, hash] => {
                let iterations: u32 = iterations
                    .parse()
                    .map_err(|_| format!("bad iteration count {iterations:?}"))?;
                if iterations == 0 || iterations > MAX_ITERATIONS {
                    return Err(format!(
                        "iteration count {iterations} is outside 1..={MAX_ITERATIONS}"
                    ));
                }
                Ok(PasswordHash::Pbkdf2Sha512 {
                    iterations,
                    salt: decode_field("salt", salt)?,
                    hash: decode_hash(hash)?,
                })
            }
            ["", "6", salt, hash] => Ok(PasswordHash::Sha512 {
                salt: decode_field("salt", salt)?,
                hash: decode_hash(hash)?,
            }),
            _ => Err(
                "the password is not hashed as $7$ (sha512-pbkdf2) or $6$ (sha512); \
                 hash the file with mosquitto_passwd -U or mqtk passwd"
                    .to_string(),
            ),
        }
    }

    /// The text form written after `username:`.
    pub fn encode(&self) -> String {
        match self {
            PasswordHash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => format!(
                "$7${iterations}${}${}",
                BASE64.encode(salt),
                BASE64.encode(hash)
            ),
            PasswordHash::Sha512 { salt, hash } => {
                format!("$6${}${}", BASE64.encode(salt), BASE64.encode(hash))
            }
        }
    }

    /// Whether `password` matches, comparing digests in constant time.
    pub fn verify(&self, password: impl AsRef<[u8]>) -> bool {
        let password = password.as_ref();
        let (computed, stored) = match self {
            PasswordHash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => (pbkdf2_sha512(password, salt, *iterations), hash),
            PasswordHash::Sha512 { salt, hash } => {
                let mut digest = Sha512::new();
                digest.update(password);
                digest.update(salt);
                (digest.finalize().to_vec(), hash)
            }
        };
        bool::from(computed.as_slice().ct_eq(stored.as_slice()))
    }
}

fn pbkdf2_sha512(password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut out = vec![0u8; HASH_LEN];
    pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
    out
}

fn decode_field(what: &str, text: &str) -> Result<Vec<u8>, String> {
    let bytes = BASE64
        .decode(text)
        .map_err(|e| format!("bad base64 in the {what}: {e}"))?;
    if bytes.is_empty() {
        return Err(format!("empty {what}"));
    }
    Ok(bytes)
}

fn decode_hash(text: &str) -> Result<Vec<u8>, String> {
    let bytes = decode_field("hash", text)?;
    if bytes.len() != HASH_LEN {
        return Err(format!(
            "the hash is {} bytes, a SHA-512 hash is {HASH_LEN}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// A password file in memory, in file order so an edit rewrites it like mosquitto_passwd.
#[derive(Debug, Clone, Default)]
pub struct PasswordFile {
    entries: Vec<(String, PasswordHash)>,
}

impl PasswordFile {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse the text of a password file. A later line for the same user replaces an earlier.
    pub fn parse(text: &str) -> Result<Self, FileError> {
        let mut file = PasswordFile::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: String| FileError::line(index + 1, reason);
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| bad("expected username:hash".to_string()))?;
            if user.is_empty() {
                return Err(bad("empty username".to_string()));
            }
            let hash = PasswordHash::parse(hash)
                .map_err(|reason| bad(format!("user {user:?}: {reason}")))?;
            file.insert(user.to_string(), hash);
        }
        Ok(file)
    }

    /// Read and parse a password file.
    pub fn load(path: &Path) -> Result<Self, PasswordError> {
        Ok(file_error::load(path, "", Self::parse)?)
    }

    /// The file's text, one `username:hash` line per user.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for (user, hash) in &self.entries {
            text.push_str(user);
            text.push(':');
            text.push_str(&hash.encode());
            text.push('\n');
        }
        text
    }

    /// Write the file with [`write_atomically`].
    pub fn save(&self, path: &Path) -> Result<(), PasswordError> {
        write_atomically(path, &self.to_text())
    }

    /// Add or replace a user's password hash.
    pub fn insert(&mut self, user: String, hash: PasswordHash) {
        match self.entries.iter_mut().find(|(u, _)| *u == user) {
            Some(entry) => entry.1 = hash,
            None => self.entries.push((user, hash)),
        }
    }

    /// Set a user's password, hashed like mosquitto_passwd's default.
    pub fn set_password(&mut self, user: &str, password: &str) -> Result<(), PasswordError> {
        check_username(user)?;
        self.insert(user.to_string(), PasswordHash::new(password)?);
        Ok(())
    }

    /// Remove a user; whether it was there.
    pub fn remove(&mut self, user: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(u, _)| u != user);
        self.entries.len() != before
    }

    /// Whether the file has this user.
    pub fn contains(&self, user: &str) -> bool {
        self.entries.iter().any(|(u, _)| u == user)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file has no users.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Check a user's password. An unknown user costs the same hashing as a known one
    /// (issue 6: no timing that reveals whether a user exists).
    pub fn verify(&self, user: &str, password: impl AsRef<[u8]>) -> bool {
        let password = password.as_ref();
        match self.entries.iter().find(|(u, _)| u == user) {
            Some((_, hash)) => hash.verify(password),
            None => {
                // Same work as a real entry: PBKDF2 with the file's own iteration count.
                let iterations = self
                    .entries
                    .iter()
                    .find_map(|(_, h)| match h {
                        PasswordHash::Pbkdf2Sha512 { iterations, .. } => Some(*iterations),
                        PasswordHash::Sha512 { .. } => None,
                    })
                    .unwrap_or(DEFAULT_ITERATIONS);
                let decoy = PasswordHash::Pbkdf2Sha512 {
                    iterations,
                    salt: vec![0; SALT_LEN],
                    hash: vec![0; HASH_LEN],
                };
                let _ = decoy.verify(password);
                false
            }
        }
    }
}

/// Set (`Some`) or delete (`None`) one user's line in a password file's text, keeping
/// every other line (comments included) as it was, like mosquitto_passwd. Returns the new
/// text and whether the user was present.
pub fn edit_text(text: &str, user: &str, hash: Option<&PasswordHash>) -> (String, bool) {
    let mut out = String::with_capacity(text.len() + 128);
    let mut found = false;
    for line in text.lines() {
        let is_user =
            !line.starts_with('#') && line.split_once(':').is_some_and(|(u, _)| u == user);
        if !is_user {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        // The first line of the user is replaced, later duplicates dropped.
        if let (Some(hash), false) = (hash, found) {
            out.push_str(&format!("{user}:{}\n", hash.encode()));
        }
        found = true;
    }
    if let (Some(hash), false) = (hash, found) {
        out.push_str(&format!("{user}:{}\n", hash.encode()));
    }
    (out, found)
}

/// Write `text` to `path` atomically (temporary file in the same directory, fsync,
/// rename) with mode 0600 as mosquitto_passwd does, so a crash never leaves half a file.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), PasswordError> {
    use std::io::Write as _;
    let io_err = |cause| PasswordError::File(FileError::io(path, cause));
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{}.tmp", name.unwrap_or_else(|| "passwd".into())));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut out = options.open(&tmp).map_err(io_err)?;
    out.write_all(text.as_bytes()).map_err(io_err)?;
    out.sync_all().map_err(io_err)?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(io_err)
}

/// mosquitto_passwd refuses names with ':' (the field separator) and empty names.
pub fn check_username(user: &str) -> Result<(), PasswordError> {
    if user.is_empty() || user.contains(':') || user.contains('\n') {
        return Err(PasswordError::BadUsername(user.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by mosquitto_passwd 2.0.11: `mosquitto_passwd -c -b pw alice secret`.
    const ALICE_PBKDF2: &str = "alice:$7$101$b0amLmxPN4TOl0fD$aTgD3TlOnBpHP0Wo7imWUn6Vc0lqdFDs3cLuw8cZrG25Apot1M66h9u8u+EgobuVThC6riiV+ijYQMicNCO6sg==";
    // `mosquitto_passwd -b pw bob 'hunter 2'`.
    const BOB_PBKDF2: &str = "bob:$7$101$7YFeObnzlknpeUXi$aACkfJhiZA6JIPA7FbRLRAlsTW2HdeKv9uuKA7dogLLo12y7E38YSRr6enFDxF+KyganYVBbO6cNygcM1m6JIQ==";

    // `mosquitto_passwd -H sha512 -c -b pw6 carol 'pässwörd'`.
    const CAROL_SHA512: &str = "carol:$6$4xzwpT9DjIDZyYnK$nLVYUjlOdtuGeM3tOC4y9BNvy3TZqxi1Cs4gg5Yu8j8TVtiwTAdJibB8Hk+SSAdTw/XRee8CkUE9ZGJejmJ4lA==";

    #[test]
    fn verifies_sha512_hashes_written_by_mosquitto_passwd() {
        let file = PasswordFile::parse(CAROL_SHA512).unwrap();
        assert!(file.verify("carol", "pässwörd"));
        assert!(!file.verify("carol", "passwort"));
        assert_eq!(file.to_text(), format!("{CAROL_SHA512}\n"));
    }

    #[test]
    fn verifies_pbkdf2_hashes_written_by_mosquitto_passwd() {
        let file = PasswordFile::parse(&format!("{ALICE_PBKDF2}\n{BOB_PBKDF2}\n")).unwrap();
        assert_eq!(file.len(), 2);
        assert!(file.verify("alice", "secret"));
        assert!(!file.verify("alice", "Secret"));
        assert!(!file.verify("alice", "hunter 2"));
        assert!(file.verify("bob", "hunter 2"));
        assert!(!file.verify("carol", "secret"));
    }

    #[test]
    fn reencoding_a_parsed_file_gives_the_same_text() {
        let text = format!("{ALICE_PBKDF2}\n{BOB_PBKDF2}\n");
        assert_eq!(PasswordFile::parse(&text).unwrap().to_text(), text);
    }

    #[test]
    fn new_hashes_have_mosquitto_passwd_shape_and_verify() {
        let hash = PasswordHash::new("pw").unwrap();
        let text = hash.encode();
        let fields: Vec<&str> = text.split('$').collect();
        assert_eq!(fields[1], "7");
        assert_eq!(fields[2], "101");
        assert_eq!(fields[3].len(), 16, "12 salt bytes are 16 base64 chars");
        assert_eq!(fields[4].len(), 88, "64 hash bytes are 88 base64 chars");
        assert!(PasswordHash::parse(&text).unwrap().verify("pw"));
        assert_ne!(PasswordHash::new("pw").unwrap(), hash, "salts differ");
    }

    #[test]
    fn sha512_scheme_is_digest_of_password_then_salt() {
        let salt = b"0123456789ab".to_vec();
        let mut d = Sha512::new();
        d.update(b"pw");
        d.update(&salt);
        let line = format!(
            "u:$6${}${}",
            BASE64.encode(&salt),
            BASE64.encode(d.finalize())
        );
        let file = PasswordFile::parse(&line).unwrap();
        assert!(file.verify("u", "pw"));
        assert!(!file.verify("u", "pw "));
    }

    #[test]
    fn comments_blank_lines_and_crlf_are_skipped() {
        let text = format!("# users\n\n{ALICE_PBKDF2}\r\n");
        let file = PasswordFile::parse(&text).unwrap();
        assert!(file.verify("alice", "secret"));
    }

    #[test]
    fn bad_lines_are_errors_naming_the_line() {
        for (text, needle) in [
            ("alice:$7$101$b0amLmxPN4TOl0fD$", "line 2"),
            ("alice", "line 2"),
            ("alice:plaintext", "not hashed"),
            ("alice:$7$x$AAAA$AAAA", "iteration"),
            ("alice:$6$AAAA$AAAA", "bytes"),
            ("alice:$6$!!$AAAA", "base64"),
            (":$6$AAAA$AAAA", "empty username"),
        ] {
            let err = PasswordFile::parse(&format!("# c\n{text}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text:?} gave {err:?}");
            assert!(err.contains("line 2"), "{text:?} gave {err:?}");
        }
    }

    #[test]
    fn set_remove_and_usernames() {
        let mut file = PasswordFile::parse(ALICE_PBKDF2).unwrap();
        file.set_password("bob", "b").unwrap();
        file.set_password("alice", "new").unwrap();
        assert!(file.verify("alice", "new"));
        assert!(file.to_text().starts_with("alice:"), "order is kept");
        assert!(file.remove("bob"));
        assert!(!file.remove("bob"));
        assert!(file.set_password("a:b", "x").is_err());
        assert!(file.set_password("", "x").is_err());
    }

    #[test]
    fn save_then_load_round_trips_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        let mut file = PasswordFile::new();
        file.set_password("u", "p").unwrap();
        file.save(&path).unwrap();
        assert!(PasswordFile::load(&path).unwrap().verify("u", "p"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn editing_text_keeps_other_lines_and_replaces_or_deletes_the_user() {
        let text = format!("# staff\n{ALICE_PBKDF2}\n{BOB_PBKDF2}\nalice:$6$old$dup\n");
        let hash = PasswordHash::new_sha512("x").unwrap();
        let (edited, found) = edit_text(&text, "alice", Some(&hash));
        assert!(found);
        let lines: Vec<&str> = edited.lines().collect();
        assert_eq!(lines.len(), 3, "{edited}");
        assert_eq!(lines[0], "# staff");
        assert_eq!(lines[1], format!("alice:{}", hash.encode()));
        assert_eq!(lines[2], BOB_PBKDF2);
        let (deleted, found) = edit_text(&edited, "bob", None);
        assert!(found);
        assert_eq!(deleted.lines().count(), 2);
        let (added, found) = edit_text(&deleted, "carol", Some(&hash));
        assert!(!found);
        assert!(added.ends_with(&format!("carol:{}\n", hash.encode())));
        assert!(PasswordFile::parse(&added).unwrap().verify("carol", "x"));
    }

    #[test]
    fn debug_output_hides_hash_material() {
        let hash = PasswordHash::parse(ALICE_PBKDF2.split_once(':').unwrap().1).unwrap();
        assert!(!format!("{hash:?}").contains("b0amLm"));
    }
}

//! Who may connect and what they may do: `--allow-anonymous`, `--password-file` and
//! `--acl-file` combined into one [`AccessControl`], the broker's `Authenticator`.
//! Decisions follow mosquitto 2.0: every refused CONNECT gets "not authorized" (MQTT 5
//! 0x87, 3.1.1 return code 5) whatever the cause, so a client cannot tell a wrong password
//! from an unknown user; a username is only authenticated by a password file, so with no
//! password file a client with a username counts as anonymous. Must not log (the
//! connection task logs refusals) and does no I/O after loading.

use std::path::Path;

use crate::broker::access::acl::{Acl, Identity};
use crate::broker::access::password::{PasswordError, PasswordFile};
use crate::broker::file_error::FileError;
use crate::broker::hooks::{Authenticator, ClientIdentity};
use crate::protocol::{Connect, ReasonCode};

/// The access rules of a running broker.
#[derive(Debug, Clone)]
pub struct AccessControl {
    allow_anonymous: bool,
    passwords: Option<PasswordFile>,
    acl: Option<Acl>,
}

impl Default for AccessControl {
    /// Anonymous clients allowed, no password file, no ACL: everything allowed.
    fn default() -> Self {
        AccessControl::new(true, None, None)
    }
}

/// Why `--password-file` or `--acl-file` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// "--password-file PATH: line N: why", the path next to its flag.
    #[error("--password-file {0}")]
    PasswordFile(PasswordError),
    /// "--acl-file: PATH: line N: why".
    #[error("--acl-file")]
    AclFile(#[source] FileError),
}

impl AccessControl {
    /// Rules from values already loaded.
    pub fn new(allow_anonymous: bool, passwords: Option<PasswordFile>, acl: Option<Acl>) -> Self {
        AccessControl {
            allow_anonymous,
            passwords,
            acl,
        }
    }

    /// Load the files. Returns the rules and warnings (from the ACL file) to log.
    pub fn load(
        allow_anonymous: bool,
        password_file: Option<&Path>,
        acl_file: Option<&Path>,
    ) -> Result<(Self, Vec<String>), AccessError> {
        let passwords = password_file
            .map(|p| PasswordFile::load(p).map_err(AccessError::PasswordFile))
            .transpose()?;
        let (acl, warnings) = match acl_file {
            Some(p) => {
                let (acl, warnings) = Acl::load(p).map_err(AccessError::AclFile)?;
                (Some(acl), warnings)
            }
            None => (None, Vec::new()),
        };
        Ok((Self::new(allow_anonymous, passwords, acl), warnings))
    }

    /// Whether any rule restricts anything (false: the broker may skip the checks).
    pub fn is_open(&self) -> bool {
        self.allow_anonymous && self.passwords.is_none() && self.acl.is_none()
    }

    /// Decide a CONNECT from its username and password.
    pub fn check_connect(
        &self,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> Result<(), ReasonCode> {
        let authenticated = match (username, &self.passwords) {
            (Some(user), Some(file)) => {
                // A user in the file must give the right password; a user not in it is
                // refused after the same amount of hashing (no timing oracle).
                if file.verify(user, password.unwrap_or_default()) {
                    true
                } else {
                    return Err(ReasonCode::NotAuthorized);
                }
            }
            _ => false,
        };
        if authenticated || self.allow_anonymous {
            Ok(())
        } else {
            Err(ReasonCode::NotAuthorized)
        }
    }

    /// May the client publish to `topic`?
    pub fn can_publish(&self, client_id: &str, username: Option<&str>, topic: &str) -> bool {
        self.acl.as_ref().is_none_or(|acl| {
            acl.can_publish(
                Identity {
                    client_id,
                    username,
                },
                topic,
            )
        })
    }

    /// May the client subscribe to `filter`?
    pub fn can_subscribe(&self, client_id: &str, username: Option<&str>, filter: &str) -> bool {
        // A shared subscription `$share/GROUP/FILTER` is checked on its FILTER.
        let filter = shared_filter(filter).unwrap_or(filter);
        self.acl.as_ref().is_none_or(|acl| {
            acl.can_subscribe(
                Identity {
                    client_id,
                    username,
                },
                filter,
            )
        })
    }

    /// May a message on `topic` be delivered to the client?
    pub fn can_read(&self, client_id: &str, username: Option<&str>, topic: &str) -> bool {
        self.acl.as_ref().is_none_or(|acl| {
            acl.can_read(
                Identity {
                    client_id,
                    username,
                },
                topic,
            )
        })
    }
}

fn shared_filter(filter: &str) -> Option<&str> {
    let rest = filter.strip_prefix("$share/")?;
    rest.split_once('/').map(|(_, f)| f)
}

impl Authenticator for AccessControl {
    fn connect(&self, connect: &Connect) -> Result<(), ReasonCode> {
        self.check_connect(connect.username.as_deref(), connect.password.as_deref())
    }

    fn can_publish(&self, client: &ClientIdentity, topic: &str) -> bool {
        AccessControl::can_publish(self, &client.client_id, client.username.as_deref(), topic)
    }

    fn can_subscribe(&self, client: &ClientIdentity, filter: &str) -> bool {
        AccessControl::can_subscribe(self, &client.client_id, client.username.as_deref(), filter)
    }

    fn can_receive(&self, client: &ClientIdentity, topic: &str) -> bool {
        AccessControl::can_read(self, &client.client_id, client.username.as_deref(), topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passwords() -> PasswordFile {
        let mut file = PasswordFile::new();
        file.set_password("alice", "a").unwrap();
        file
    }

    #[test]
    fn anonymous_clients_follow_allow_anonymous() {
        let open = AccessControl::new(true, Some(passwords()), None);
        assert_eq!(open.check_connect(None, None), Ok(()));
        let closed = AccessControl::new(false, Some(passwords()), None);
        assert_eq!(
            closed.check_connect(None, None),
            Err(ReasonCode::NotAuthorized)
        );
    }

    #[test]
    fn wrong_password_and_unknown_user_get_the_same_refusal() {
        let ac = AccessControl::new(true, Some(passwords()), None);
        assert_eq!(ac.check_connect(Some("alice"), Some(b"a")), Ok(()));
        let wrong = ac.check_connect(Some("alice"), Some(b"b"));
        let unknown = ac.check_connect(Some("mallory"), Some(b"a"));
        let missing = ac.check_connect(Some("alice"), None);
        assert_eq!(wrong, Err(ReasonCode::NotAuthorized));
        assert_eq!(unknown, wrong);
        assert_eq!(missing, wrong);
    }

    #[test]
    fn without_a_password_file_a_username_is_not_authentication() {
        let closed = AccessControl::new(false, None, None);
        assert_eq!(
            closed.check_connect(Some("alice"), Some(b"a")),
            Err(ReasonCode::NotAuthorized)
        );
        let open = AccessControl::default();
        assert_eq!(open.check_connect(Some("anyone"), None), Ok(()));
        assert!(open.is_open());
    }

    #[test]
    fn acl_decides_topics_and_shared_subscriptions_are_checked_on_their_filter() {
        let (acl, _) = Acl::parse("user alice\ntopic read in/#\ntopic write out/#\n").unwrap();
        let ac = AccessControl::new(false, Some(passwords()), Some(acl));
        let alice = Some("alice");
        assert!(ac.can_publish("c", alice, "out/1"));
        assert!(!ac.can_publish("c", alice, "in/1"));
        assert!(ac.can_subscribe("c", alice, "in/#"));
        assert!(ac.can_subscribe("c", alice, "$share/g/in/x"));
        assert!(!ac.can_subscribe("c", alice, "$share/g/out/x"));
        assert!(ac.can_read("c", alice, "in/1"));
        assert!(!ac.can_read("c", None, "in/1"));
    }

    #[test]
    fn load_names_the_flag_of_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let acl = dir.path().join("acl");
        std::fs::write(&acl, "topic bogus a b\n").unwrap();
        // As the CLI prints it: the error and its sources.
        let err = anyhow::Error::from(AccessControl::load(true, None, Some(&acl)).unwrap_err());
        let text = format!("{err:#}");
        assert!(
            text.contains("--acl-file") && text.contains("line 1"),
            "{text}"
        );
        let err = AccessControl::load(true, Some(&dir.path().join("none")), None).unwrap_err();
        assert!(format!("{:#}", anyhow::Error::from(err)).contains("--password-file"));
    }
}

//! The text files `mqtk serve` reads: mosquitto.conf (`-c`), the ACL file and the
//! password file, in mosquitto's formats. Any text: an error or a config, never a
//! panic. The first byte picks the parser; an ACL that parses is also evaluated (its
//! `%c`/`%u` patterns, wildcards), and a password file is written back and must parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtk::broker::access::acl::{Acl, Identity};
use mqtk::broker::access::password::PasswordFile;
use mqtk::broker::mosquitto_conf;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 3 {
        0 => {
            let _ = mosquitto_conf::parse(text);
        }
        1 => acl(text),
        _ => passwords(text),
    }
});

fn acl(text: &str) {
    let Ok((acl, _warnings)) = Acl::parse(text) else {
        return;
    };
    for username in [None, Some("u"), Some("a/+")] {
        let who = Identity {
            client_id: "c/#",
            username,
        };
        for topic in ["a/b", "c/#/x", "$SYS/x", "", "/", "u/c/#"] {
            let _ = acl.can_publish(who, topic);
            let _ = acl.can_read(who, topic);
            let _ = acl.can_subscribe(who, topic);
        }
    }
}

fn passwords(text: &str) {
    let Ok(file) = PasswordFile::parse(text) else {
        return;
    };
    let written = file.to_text();
    let again = PasswordFile::parse(&written)
        .unwrap_or_else(|e| panic!("a password file we wrote does not parse: {e}\n{written}"));
    assert_eq!(again.len(), file.len(), "users lost in a rewrite:\n{written}");
}

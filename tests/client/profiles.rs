//! Profiles and secrets against a mosquitto that requires a password: each password
//! source of a profile (`password`, `password_env`, `password_file`,
//! `password_command`) and of the command line (`-P -`, `--pw-file`), precedence
//! (flags over `[profile.NAME]` over `[default]`, `--profile` and `MQTK_PROFILE`),
//! the warning about a password in a file others can read, a malformed file named with
//! its line and key, and the profile reaching sub, rr and bench (whose built-in broker
//! `[default]` does not replace).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::peers::{message, subscriber};
use support::{child_output, free_port, mqtk, output, p, text, Mosquitto};

const PASSWORD: &str = "s3cret pass";

/// mosquitto with user alice (PASSWORD) and no anonymous access, and a temp dir for
/// the config files.
fn broker() -> (Mosquitto, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let passwd = dir.path().join("passwd");
    let out = output(mqtk().args(["passwd", "-c", "-b", p(&passwd), "alice", PASSWORD]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let conf = format!("allow_anonymous false\npassword_file {}\n", p(&passwd));
    let broker = Mosquitto::start_in(dir, &conf);
    (broker, tempfile::tempdir().expect("temp dir"))
}

/// Writes `text` as DIR/config.toml with `mode` and returns its path.
fn config(dir: &Path, text: &str, mode: u32) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write the config file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

/// `mqtk pub --config FILE ARGS -t t -m x`.
fn publish(file: &Path, args: &[&str]) -> Command {
    let mut cmd = mqtk();
    cmd.arg("pub")
        .arg("--config")
        .arg(file)
        .args(args)
        .args(["-t", "t", "-m", "x"]);
    cmd
}

fn assert_logged_in(out: &Output, what: &str) {
    assert_eq!(out.status.code(), Some(0), "{what}: {}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "{what}");
}

fn assert_refused(out: &Output, what: &str) {
    assert_eq!(out.status.code(), Some(1), "{what}");
    assert!(
        text(&out.stderr).contains("not authorized"),
        "{what}: {}",
        text(&out.stderr)
    );
}

#[test]
fn each_password_source_of_a_profile_logs_in() {
    let (broker, dir) = broker();
    let port = broker.port();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, format!("{PASSWORD}\n")).expect("write the secret");
    let base = format!("[profile.p]\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"alice\"\n");
    let none = config(dir.path(), &base, 0o600);
    assert_refused(
        &output(&mut publish(&none, &["--profile", "p"])),
        "no password",
    );
    let sources = [
        format!("password = \"{PASSWORD}\""),
        "password_env = \"MQTK_TEST_PW\"".to_string(),
        format!("password_file = \"{}\"", p(&secret)),
        format!("password_command = \"printf '%s\\\\n' '{PASSWORD}'\""),
    ];
    for source in sources {
        let file = config(dir.path(), &format!("{base}{source}\n"), 0o600);
        let out = output(publish(&file, &["--profile", "p"]).env("MQTK_TEST_PW", PASSWORD));
        assert_logged_in(&out, &source);
    }
    let unset = config(
        dir.path(),
        &format!("{base}password_env = \"MQTK_TEST_UNSET\"\n"),
        0o600,
    );
    let out = output(&mut publish(&unset, &["--profile", "p"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("key `password_env`: the environment variable MQTK_TEST_UNSET is not set"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn dash_p_dash_and_pw_file_read_the_password_and_debug_never_shows_it() {
    let (broker, dir) = broker();
    let host = broker.host_args();
    let empty = config(dir.path(), "", 0o600);
    let mut child = publish(&empty, &["-u", "alice", "-P", "-", "-d"])
        .args(&host)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mqtk pub");
    let mut stdin = child.stdin.take().expect("stdin was piped");
    stdin
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("write stdin");
    drop(stdin);
    let out = child_output(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "-P -: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("received CONNACK"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("s3cret"),
        "{}",
        text(&out.stderr)
    );

    // With -l the first line of stdin is the password and the rest are the messages.
    let mut sub = subscriber(
        broker.port(),
        &["-u", "alice", "-P", PASSWORD, "-t", "lines"],
    );
    let mut child = mqtk()
        .args([
            "pub", "-u", "alice", "-P", "-", "-l", "-t", "lines", "-q", "1",
        ])
        .args(&host)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mqtk pub");
    let mut stdin = child.stdin.take().expect("stdin was piped");
    stdin
        .write_all(format!("{PASSWORD}\none\ntwo\n").as_bytes())
        .expect("write stdin");
    drop(stdin);
    let out = child_output(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "-P - -l: {}", text(&out.stderr));
    assert_eq!(
        (message(&mut sub), message(&mut sub)),
        ("one".into(), "two".into())
    );

    let secret = dir.path().join("secret");
    std::fs::write(&secret, format!("{PASSWORD}\r\n")).expect("write the secret");
    let out = output(publish(&empty, &["-u", "alice", "--pw-file", p(&secret)]).args(&host));
    assert_logged_in(&out, "--pw-file");
    let out = output(publish(&empty, &["-u", "alice", "--pw-file", "/nonexistent/pw"]).args(&host));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("mqtk: --pw-file /nonexistent/pw: cannot read the file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn flags_win_over_the_profile_and_the_profile_over_default() {
    let (broker, dir) = broker();
    let dead = free_port();
    let file = config(
        dir.path(),
        &format!(
            "[default]\nhost = \"127.0.0.1\"\nport = {dead}\nusername = \"alice\"\n\
             password = \"{PASSWORD}\"\n\n\
             [profile.good]\nhost = \"127.0.0.1\"\nport = {port}\n\n\
             [profile.badpw]\nhost = \"127.0.0.1\"\nport = {port}\npassword = \"wrong\"\n",
            port = broker.port()
        ),
        0o600,
    );
    let out = output(&mut publish(&file, &[]));
    assert_eq!(out.status.code(), Some(1));
    let dead_addr = format!("cannot connect to 127.0.0.1:{dead}");
    assert!(
        text(&out.stderr).contains(&dead_addr),
        "[default] alone: {}",
        text(&out.stderr)
    );
    // The profile's address over [default]'s; user and password from [default].
    assert_logged_in(
        &output(&mut publish(&file, &["--profile", "good"])),
        "--profile good",
    );
    let out = output(publish(&file, &[]).env("MQTK_PROFILE", "good"));
    assert_logged_in(&out, "MQTK_PROFILE=good");
    assert_refused(
        &output(&mut publish(&file, &["--profile", "badpw"])),
        "profile password",
    );
    let out = output(&mut publish(&file, &["--profile", "badpw", "-P", PASSWORD]));
    assert_logged_in(&out, "-P over the profile's password");
    let out = output(&mut publish(
        &file,
        &["--profile", "good", "-p", &dead.to_string()],
    ));
    assert!(
        text(&out.stderr).contains(&dead_addr),
        "-p over the profile: {}",
        text(&out.stderr)
    );
    let out = output(publish(&file, &["--profile", "stage"]).env("MQTK_PROFILE", "good"));
    assert_eq!(
        text(&out.stderr),
        format!(
            "mqtk: --profile stage: {} has no [profile.stage] (profiles: badpw, good)\n",
            file.display()
        )
    );
}

#[test]
fn a_password_in_a_file_others_can_read_is_warned_about() {
    let (broker, dir) = broker();
    let text_of = format!(
        "[default]\nhost = \"127.0.0.1\"\nport = {}\nusername = \"alice\"\npassword = \"{PASSWORD}\"\n",
        broker.port()
    );
    let file = config(dir.path(), &text_of, 0o644);
    let out = output(&mut publish(&file, &[]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!(
            "mqtk: warning: {f} holds a password and is readable by others (mode 0644); \
             run `chmod 600 {f}`, or use password_env, password_file or password_command\n",
            f = file.display()
        )
    );
    let file = config(dir.path(), &text_of, 0o600);
    assert_logged_in(&output(&mut publish(&file, &[])), "mode 0600");
}

#[test]
fn a_malformed_config_file_is_named_with_its_line_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            "[default]\nhost = \"h\"\nprot = 1883\n",
            ":3:1: unknown field `prot`, expected one of",
        ),
        (
            "[profile.a]\n\nport = \"high\"\n",
            ":3:8: key `port`: invalid type: string \"high\", expected u16",
        ),
        (
            "[profile.a]\nurl = \"broker:1883\"\n",
            ":2:7: key `url`: `broker:1883` is not a URL",
        ),
        ("[default]\nkeepalive = \n", ":2:13: key `keepalive`: "),
    ];
    for (body, expected) in cases {
        let file = config(dir.path(), body, 0o600);
        let out = output(&mut publish(&file, &[]));
        assert_eq!(out.status.code(), Some(1), "{body}");
        let prefix = format!("mqtk: --config: {}{expected}", file.display());
        assert!(
            text(&out.stderr).starts_with(&prefix),
            "{body}\n{}",
            text(&out.stderr)
        );
    }
    // The default location (XDG_CONFIG_HOME) is read too, and named the same way.
    std::fs::create_dir_all(dir.path().join("mqtk")).expect("mkdir");
    std::fs::write(dir.path().join("mqtk/config.toml"), "[default\n").expect("write");
    let out = output(
        mqtk()
            .env("XDG_CONFIG_HOME", dir.path())
            .args(["sub", "-t", "x"]),
    );
    assert_eq!(out.status.code(), Some(1));
    let expected = format!(
        "mqtk: {}:1:9: ",
        dir.path().join("mqtk/config.toml").display()
    );
    assert!(
        text(&out.stderr).starts_with(&expected),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sub_rr_and_bench_take_the_profile() {
    let (broker, dir) = broker();
    let file = config(
        dir.path(),
        &format!(
            "[default]\nhost = \"127.0.0.1\"\nport = {dead}\n\n[profile.lab]\nhost = \"127.0.0.1\"\nport = {}\nusername = \"alice\"\n\
             password_env = \"MQTK_TEST_PW\"\nprotocol_version = 311\n",
            broker.port(),
            dead = free_port()
        ),
        0o600,
    );
    let with_profile = |args: &[&str]| {
        let mut cmd = mqtk();
        cmd.args(args)
            .arg("--config")
            .arg(&file)
            .args(["--profile", "lab"])
            .env("MQTK_TEST_PW", PASSWORD);
        output(&mut cmd)
    };
    // Exit 27 means connected and subscribed, then nothing came.
    let out = with_profile(&["sub", "-t", "x", "-W", "0.5", "-d"]);
    assert_eq!(out.status.code(), Some(27), "sub: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("sending CONNECT (v4"),
        "{}",
        text(&out.stderr)
    );
    let out = with_profile(&["rr", "-t", "a", "-e", "b", "-n", "-W", "0.5"]);
    assert_eq!(out.status.code(), Some(27), "rr: {}", text(&out.stderr));
    let out = with_profile(&[
        "bench",
        "--scenario",
        "connect",
        "--clients",
        "2",
        "--json",
        "-",
    ]);
    assert_eq!(out.status.code(), Some(0), "bench: {}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bench JSON");
    let address = format!("127.0.0.1:{}", broker.port());
    assert_eq!(report["broker"]["address"], address.as_str());
    // Without --profile, [default]'s address (a dead port) is not bench's broker.
    let out = output(
        mqtk()
            .args(["bench", "--scenario", "connect", "--clients", "2"])
            .env("MQTK_CONFIG", &file),
    );
    assert_eq!(out.status.code(), Some(0), "bench: {}", text(&out.stderr));
}

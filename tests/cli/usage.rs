//! Tests of the command line itself: help text, flag checking, exit codes of stubs,
//! completions and man pages. No broker needed.

// The man page renderer lives with its example, outside the library (no clap_mangen in
// the binary); this test compares its output with man/.
#[path = "../../examples/gen-man/man_pages.rs"]
mod man_pages;

use std::process::Output;

use support::eqnice;
use support::{mqtk, output, text};

/// `mqtk ARGS` run to its end.
fn run(args: &[&str]) -> Output {
    output(mqtk().args(args))
}

/// Runs `mqtk ARGS --help` and checks it succeeds and mentions every flag of `flags`.
fn help_mentions(args: &[&str], flags: &[&str]) {
    let mut all = args.to_vec();
    all.push("--help");
    let out = run(&all);
    assert!(
        out.status.success(),
        "{all:?} failed: {}",
        text(&out.stderr)
    );
    let help = text(&out.stdout);
    for flag in flags {
        assert!(
            help.contains(flag),
            "`mqtk {}` does not mention {flag}:\n{help}",
            all.join(" ")
        );
    }
}

/// Runs `mqtk ARGS`, expects a usage error (status 2, no panic) whose message has `needle`.
fn usage_error(args: &[&str], needle: &str) {
    let out = run(args);
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "`mqtk {}`: {err}",
        args.join(" ")
    );
    assert!(
        err.contains(needle),
        "`mqtk {}` error lacks {needle:?}:\n{err}",
        args.join(" ")
    );
    assert!(
        !err.contains("panicked"),
        "`mqtk {}` panicked:\n{err}",
        args.join(" ")
    );
}

const CONNECT_FLAGS: &[&str] = &[
    "-h, --host",
    "-p, --port",
    "-L, --url",
    "-V, --protocol-version",
    "-i, --id",
    "-I, --id-prefix",
    "-k, --keepalive",
    "-c, --disable-clean-session",
    "-x, --session-expiry",
    "--session-dir",
    "-u, --username",
    "-P, --pw",
    "--will-topic",
    "--will-payload",
    "--will-qos",
    "--will-retain",
    "--cafile",
    "--cert",
    "--key",
    "--insecure",
    "-D, --property",
    "--receive-maximum",
    "--maximum-packet-size",
    "--topic-alias-maximum",
    "-d, --debug",
];

#[test]
fn top_level_help_lists_the_subcommands() {
    help_mentions(&[], &["pub", "sub", "bench", "serve", "completions"]);
}

#[test]
fn pub_help_mentions_its_flags_and_a_pipeline_example() {
    help_mentions(&["pub"], CONNECT_FLAGS);
    help_mentions(
        &["pub"],
        &[
            "-t, --topic",
            "-m, --message",
            "-f, --file",
            "-s, --stdin-file",
            "-l, --stdin-line",
            "-n, --null-message",
            "-q, --qos",
            "-r, --retain",
            "--repeat",
            "--repeat-delay",
            "--user-property",
            "--content-type",
            "--message-expiry",
            "--response-topic",
            "--correlation-data",
            "--payload-format",
            "| mqtk pub -l -t",
        ],
    );
}

#[test]
fn sub_help_mentions_its_flags() {
    help_mentions(&["sub"], CONNECT_FLAGS);
    help_mentions(
        &["sub"],
        &[
            "-t, --topic",
            "-T, --filter-out",
            "-q, --qos",
            "-C, --count",
            "-W, --timeout",
            "-v, --verbose",
            "-F, --format",
            "--json",
            "-N",
            "-R, --no-stale",
            "--retained-only",
            "--remove-retained",
            "--no-reconnect",
            "27",
        ],
    );
}

#[test]
fn bench_help_mentions_its_flags() {
    help_mentions(&["bench"], CONNECT_FLAGS);
    help_mentions(
        &["bench"],
        &[
            "--publishers",
            "--subscribers",
            "-q, --qos",
            "--size",
            "--messages",
            "--duration",
            "--rate",
            "--topic",
            "--sub-topic",
            "--json",
            "--connect-rate",
            "--bind-addresses",
            "--warmup",
            "--inflight",
            "--scenario",
            "--preset",
            "--hdr-log",
            "--shared",
        ],
    );
}

#[test]
fn serve_help_mentions_its_flags() {
    help_mentions(
        &["serve"],
        &[
            "--bind",
            "-p, --port",
            "-v, --verbose",
            "-c, --config",
            "--data-dir",
            "--max-connections",
            "--max-packet-size",
            "--max-inflight",
            "--max-queued",
            "--max-keepalive",
            "--allow-anonymous",
            "--password-file",
            "--acl-file",
            "--tls-port",
            "--cert",
            "--key",
            "--cafile",
            "--require-certificate",
            "--ws-port",
            "listening on mqtt://",
        ],
    );
}

#[test]
fn dash_h_is_the_host_not_help() {
    // `-h` takes a value: alone it is a usage error, not a help screen.
    usage_error(&["pub", "-t", "a", "-m", "b", "-h"], "--host");
}

#[test]
fn qos_3_is_refused_with_a_clear_message() {
    usage_error(&["pub", "-q", "3", "-t", "a", "-m", "x"], "use 0, 1 or 2");
    usage_error(&["sub", "-q", "3", "-t", "a"], "use 0, 1 or 2");
}

#[test]
fn unknown_protocol_version_is_refused() {
    usage_error(&["sub", "-V", "7", "-t", "a"], "use 5 or 311");
    usage_error(
        &["pub", "-V", "mqttv31", "-t", "a", "-m", "x"],
        "3.1 is not supported",
    );
}

#[test]
fn port_must_be_a_number() {
    usage_error(
        &["pub", "-p", "notaport", "-t", "a", "-m", "x"],
        "not a port number",
    );
    usage_error(&["serve", "-p", "70000"], "not a port number");
}

#[test]
fn bad_url_is_refused() {
    usage_error(&["sub", "-L", "localhost:1883"], "not a URL");
    usage_error(&["sub", "-L", "http://h/t"], "unknown scheme");
}

#[test]
fn pub_needs_exactly_one_payload_source() {
    usage_error(&["pub", "-t", "a"], "--message");
    usage_error(&["pub", "-t", "a", "-m", "x", "-n"], "cannot be used with");
}

#[test]
fn bad_durations_and_counts_are_refused() {
    usage_error(&["sub", "-t", "a", "-W", "soon"], "not a duration");
    usage_error(&["sub", "-t", "a", "-C", "0"], "--count");
    usage_error(
        &["bench", "--bind-addresses", "1.2.3.4,nohost"],
        "--bind-addresses",
    );
}

#[test]
fn will_flags_need_a_will_topic() {
    usage_error(
        &["pub", "-t", "a", "-m", "x", "--will-payload", "bye"],
        "--will-topic",
    );
}

#[test]
fn man_pages_in_man_dir_are_up_to_date() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = man_pages::man_pages();
    let names: Vec<&str> = pages.iter().map(|(name, _)| name.as_str()).collect();
    for expected in [
        "mqtk.1",
        "mqtk-pub.1",
        "mqtk-sub.1",
        "mqtk-bench.1",
        "mqtk-serve.1",
    ] {
        assert!(
            names.contains(&expected),
            "no man page {expected} is generated: {names:?}"
        );
    }
    for (name, text) in &pages {
        let on_disk = std::fs::read(dir.join(name)).unwrap_or_default();
        assert!(
            on_disk == *text,
            "man/{name} is out of date with the clap definitions: run scripts/gen-man and commit man/"
        );
    }
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("man/ exists") {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".1") && !names.contains(&name.as_str()) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "man/ has pages for no command {stale:?}: run scripts/gen-man"
    );
}

#[test]
fn man_pages_describe_each_subcommand_and_its_flags() {
    let pages = man_pages::man_pages();
    let page = |name: &str| -> String {
        let (_, text) = pages.iter().find(|(n, _)| n == name).expect("page exists");
        String::from_utf8(text.clone()).expect("roff is UTF-8")
    };
    assert!(page("mqtk.1").contains("mqtk\\-pub(1)"));
    // roff writes `-` as `\-`.
    assert!(page("mqtk-pub.1").contains("\\-\\-stdin\\-line"));
    assert!(page("mqtk-pub.1").contains(".SH EXAMPLES"));
    assert!(page("mqtk-sub.1").contains("\\-\\-retained\\-only"));
    assert!(page("mqtk-bench.1").contains("\\-\\-connect\\-rate"));
    assert!(page("mqtk-serve.1").contains("\\-\\-password\\-file"));
}

#[test]
fn completions_exist_for_every_shell_and_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&["completions", shell]);
        assert!(
            out.status.success(),
            "completions {shell}: {}",
            text(&out.stderr)
        );
        let script = text(&out.stdout);
        for word in [
            "pub",
            "sub",
            "bench",
            "serve",
            "qos",
            "protocol-version",
            "retained-only",
        ] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
}

#[test]
fn completions_for_an_unknown_shell_is_a_usage_error() {
    usage_error(&["completions", "tcsh"], "tcsh");
}

#[test]
fn a_closed_stdout_ends_quietly_with_status_0() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::process::Stdio;
    // A pipe whose read end is already closed: the first write gets EPIPE, as when
    // `| head -1` has exited.
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills both descriptors on success, which we then own.
    let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(rc, 0, "pipe(2) failed");
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read_end);
    let out = mqtk()
        .args(["completions", "bash"])
        .stdout(Stdio::from(write_end))
        .output()
        .expect("cannot run mqtk");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    eqnice!("", text(&out.stderr));
}

#[test]
fn property_flag_needs_cmd_name_and_value() {
    usage_error(
        &[
            "pub",
            "-t",
            "a",
            "-m",
            "x",
            "-D",
            "connect",
            "receive-maximum",
        ],
        "3 values required",
    );
}

#[test]
fn serve_refuses_max_connections_0_which_would_refuse_every_client() {
    usage_error(
        &["serve", "-p", "0", "--max-connections", "0"],
        "--max-connections",
    );
}

#[test]
fn session_expiry_with_mqtt_311_is_refused_not_ignored() {
    // mosquitto_pub refuses -x with -V 311 too; checked before any connection is made.
    let out = run(&[
        "pub", "-V", "311", "-x", "60", "-t", "a", "-m", "x", "-p", "1",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("-x: the session expiry interval is MQTT 5 only"),
        "{err}"
    );
}

//! `mqtk test`: the flags of the conformance checker, turned into a checked
//! `conformance::Config`; `--list`; the run; the table on stdout (colour on a terminal),
//! `--json`, `--junit`; exit status 0, or 1 when a `must` case failed. Must not hold
//! cases or render (that is `conformance`).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::connect_args::ConnectArgs;
use super::exit::Exit;
use super::values::{UrlScheme, VersionArg};
use crate::conformance::report::version_name;
use crate::conformance::runner::Progress;
use crate::conformance::{self, cases, render, Config, Selection};
use crate::net::tls::TlsOptions;
use crate::output;
use crate::protocol::ProtocolVersion;

/// `--help` text above the flags.
pub const LONG_ABOUT: &str = "\
Check a broker against MQTT 3.1.1 and 5.0 and report what it gets wrong.

A capability probe runs first (versions accepted, what the MQTT 5 CONNACK announces, the
largest packet accepted, retained messages, wills, $SYS). Then each case checks one rule,
names its section of the specification and normative statement, and is classified: must
(a failure makes the exit status 1), should, may (reported as supported or not, never a
failure) or config. Results: pass, fail (with what was expected and seen), skip (with the
reason), error (the case could not run). Every case has a time limit; a broker that stops
answering fails the cases left.

The connection flags are those of pub and sub (-h -p -L, -u -P --pw-file, TLS,
--profile); -V takes 5, 311 or both, the default. The config cases run only when named:
--denied-topic (what the ACL refuses) and --restart-cmd (durability across a restart).

Every case uses its own client ids and topics under --topic-prefix and deletes what it
retained, so a run can go against a shared broker without touching other topics. Up to
--jobs cases run at once; the results do not depend on it.";

/// Examples below the flags.
pub const AFTER_HELP: &str = "\
Examples:
  mqtk test                                  check the broker on localhost:1883, both versions
  mqtk test -h broker -V 5 --junit report.xml   MQTT 5 only, a JUnit report for CI
  mqtk test --only qos --only 'retained/*'   two feature groups
  mqtk test --skip keepalive --timeout 5     leave out the slow keep-alive cases
  mqtk test --list                           the cases, their spec references and levels
  mqtk test --profile prod --only qos        the broker, credentials and TLS of [profile.prod]
  mqtk test --denied-topic 'secret/#'        also the ACL cases: a filter the ACL refuses
  mqtk test --restart-cmd 'systemctl restart mosquitto'   also the durability cases
  mqtk test --json - | jq '.cases[] | select(.result == \"fail\")'";

/// The shared connection flags `mqtk test` has no use for: each case makes its own
/// connections (ids, sessions, wills, keep alive, properties), so these are hidden from
/// its help and refused when given (`-k`, which a profile may set, is ignored).
const NOT_FOR_TEST: &[&str] = &[
    "id",
    "keepalive",
    "disable_clean_session",
    "session_expiry",
    "session_dir",
    "will_topic",
    "will_payload",
    "will_qos",
    "will_retain",
    "property",
    "receive_maximum",
    "maximum_packet_size",
    "topic_alias_maximum",
    "debug",
    "no_reconnect",
];

/// `mqtk test`'s flags: the shared connection flags (`-h -p -L -u -P --pw-file`, TLS,
/// `--profile`; `-V` also takes `both`, its default here), then its own.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
#[command(mut_arg("protocol_version", |a| {
    a.help("MQTT versions to check: 5, 311 or both [default: both, or the profile's]")
}))]
#[command(mut_arg("url", |a| a.help("Broker URL: mqtt://[user[:pass]@]host[:port], also mqtts://")))]
#[command(mut_arg("id_prefix", |a| {
    a.help("Start every client id of the run with PREFIX (a random run id and a counter follow)")
}))]
#[command(mut_args(|a| if NOT_FOR_TEST.contains(&a.get_id().as_str()) { a.hide(true) } else { a }))]
pub struct TestArgs {
    /// The connection flags shared with pub, sub, rr and bench.
    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Run only the cases PATTERN matches: an id (qos/qos1-flow), a feature (qos), or a
    /// glob with * (e.g. '*expiry*'); repeatable
    #[arg(long, help_heading = "Options", value_name = "PATTERN")]
    pub only: Vec<String>,

    /// Leave out the cases PATTERN matches (as --only); repeatable
    #[arg(long, help_heading = "Options", value_name = "PATTERN")]
    pub skip: Vec<String>,

    /// List the selected cases with their spec references and levels, run nothing
    #[arg(long, help_heading = "Options")]
    pub list: bool,

    /// Write the report as JSON to FILE (- for stdout; the table then goes to stderr)
    #[arg(long, help_heading = "Options", value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write the report as JUnit XML to FILE
    #[arg(long, help_heading = "Options", value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Time limit of each case in seconds
    #[arg(long, help_heading = "Options", value_name = "SECS", default_value_t = 10.0, value_parser = parse_timeout)]
    pub timeout: f64,

    /// Put every topic of the run under P [default: mqtk-test/RANDOM]
    #[arg(long, help_heading = "Options", value_name = "P")]
    pub topic_prefix: Option<String>,

    /// The largest packet the probe tries, in bytes
    #[arg(long, help_heading = "Options", value_name = "BYTES", default_value_t = 1 << 20)]
    pub probe_max_packet: u32,

    /// A topic filter the broker's ACL refuses this client (subscribe and publish): runs
    /// the ACL cases (skipped without it)
    #[arg(long, help_heading = "Options", value_name = "TOPIC")]
    pub denied_topic: Option<String>,

    /// Run the durability cases: CMD (run by sh -c) restarts the broker, which must keep
    /// retained messages, sessions and queued messages
    #[arg(long, help_heading = "Options", value_name = "CMD")]
    pub restart_cmd: Option<String>,

    /// Run up to N cases at once (1: one at a time; the results do not depend on it)
    #[arg(long, help_heading = "Options", value_name = "N", default_value_t = 8,
          value_parser = clap::builder::TypedValueParser::map(
              clap::value_parser!(u16).range(1..=64), usize::from))]
    pub jobs: usize,

    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

fn parse_timeout(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs.is_finite() && (1.0..=3600.0).contains(&secs) => Ok(secs),
        _ => Err(format!(
            "`{s}` is not a time limit: give seconds from 1 to 3600"
        )),
    }
}

/// Runs `mqtk test`.
pub fn run(args: TestArgs) -> anyhow::Result<()> {
    let config = config(&args)?;
    let registry = cases::all();
    if args.list {
        let selected = conformance::runner::selected(&registry, &config);
        return Ok(output::stdout_bytes(render::list(&selected).as_bytes())?);
    }
    if conformance::runner::selected(&registry, &config).is_empty() {
        return Err(Exit::new(2, "--only/--skip select no case; see mqtk test --list").into());
    }
    for path in [&args.json, &args.junit].into_iter().flatten() {
        check_path(path)?;
    }
    let bar = progress_bar();
    let mut show = |event: Progress<'_>| match event {
        Progress::Probed(n) => {
            bar.set_length(n as u64);
            bar.set_style(
                ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
                    .expect("the template is a valid indicatif template"),
            );
        }
        Progress::Starting(case, version) => {
            bar.set_message(format!("{} ({})", case.id(), version_name(version)));
        }
        Progress::Finished(_) => bar.inc(1),
    };
    let run = conformance::run(config, &registry, &mut show);
    let report = super::connect::block_on(run)?;
    bar.finish_and_clear();
    let caps = &report.capabilities;
    if !matches!(caps.v311, Some(Ok(()))) && !matches!(caps.v5, Some(Ok(()))) {
        let why: Vec<String> = [&caps.v311, &caps.v5]
            .into_iter()
            .filter_map(|state| state.clone().and_then(Result::err))
            .collect();
        anyhow::bail!(
            "{}: no connection accepted: {}",
            report.broker,
            why.join("; ")
        );
    }
    let table = render::table(&report, std::io::stdout().is_terminal());
    match args.json.as_deref() {
        Some(path) if path == Path::new("-") => {
            output::log_line(table.trim_end());
            let json = serde_json::to_string_pretty(&report).context("cannot write the report")?;
            output::stdout_line(json)?;
        }
        Some(path) => {
            output::stdout_bytes(table.as_bytes())?;
            let json = serde_json::to_string_pretty(&report).context("cannot write the report")?;
            std::fs::write(path, json + "\n")
                .with_context(|| format!("cannot write --json {}", path.display()))?;
        }
        None => output::stdout_bytes(table.as_bytes())?,
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, render::junit(&report))
            .with_context(|| format!("cannot write --junit {}", path.display()))?;
    }
    match report.exit_code() {
        0 => Ok(()),
        code => Err(Exit::silent(code).into()),
    }
}

/// A bar on stderr while the run goes (nothing when stderr is not a terminal): the
/// probe first, then one step per case run.
fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template("{elapsed:>4} {spinner} {msg}")
            .expect("the template is a valid indicatif template"),
    );
    bar.set_message("probing the broker");
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// Finds a typo in --json/--junit before a run that takes a minute.
fn check_path(path: &Path) -> anyhow::Result<()> {
    if path == Path::new("-") {
        return Ok(());
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent.filter(|p| !p.is_dir()) {
        return Err(Exit::new(
            2,
            format!(
                "{}: the directory {} does not exist",
                path.display(),
                parent.display()
            ),
        )
        .into());
    }
    Ok(())
}

fn config(args: &TestArgs) -> anyhow::Result<Config> {
    let c = &args.connect;
    refuse_unused_flags(c)?;
    let url = c.url.as_ref();
    if url.is_some_and(|u| matches!(u.scheme, UrlScheme::Ws | UrlScheme::Wss)) {
        return Err(Exit::new(
            2,
            "-L: mqtk test speaks MQTT over TCP or TLS: use mqtt:// or mqtts://",
        )
        .into());
    }
    let tls = c.wants_tls();
    let host = url
        .map(|u| u.host.clone())
        .or_else(|| c.host.clone())
        .unwrap_or_else(|| "localhost".into());
    let port = match url {
        Some(u) => u.port_or_default(),
        None => c.port.unwrap_or(if tls { 8883 } else { 1883 }),
    };
    if port == 0 {
        return Err(Exit::new(2, "-p 0: give the broker's port (1-65535)").into());
    }
    let versions = match c.protocol_version {
        None | Some(VersionArg::Both) => vec![ProtocolVersion::V311, ProtocolVersion::V5],
        Some(VersionArg::One(version)) => vec![version],
    };
    let username = c
        .username
        .clone()
        .or_else(|| url.and_then(|u| u.username.clone()));
    let password = c
        .password
        .clone()
        .or_else(|| url.and_then(|u| u.password.clone()));
    if password.is_some() && username.is_none() && versions.contains(&ProtocolVersion::V311) {
        return Err(Exit::new(
            2,
            "-P: MQTT 3.1.1 needs a user name with a password; add -u USER, or -V 5",
        )
        .into());
    }
    let tls = match tls {
        true => Some(TlsOptions::load(&c.tls_files())?),
        false => None,
    };
    let run = random_alnum(6);
    let id_prefix = c.id_prefix.as_deref().unwrap_or("mqtk");
    Ok(Config {
        host,
        port,
        tls,
        route: c.route()?,
        username,
        password: password.map(Bytes::from),
        versions,
        selection: Selection {
            only: args.only.clone(),
            skip: args.skip.clone(),
        },
        case_timeout: Duration::from_secs_f64(args.timeout),
        topic_prefix: args
            .topic_prefix
            .clone()
            .unwrap_or_else(|| format!("mqtk-test/{run}")),
        id_prefix: format!("{id_prefix}{run}"),
        probe_max_packet: args.probe_max_packet,
        denied_topic: args.denied_topic.clone(),
        restart_cmd: args.restart_cmd.clone(),
        jobs: args.jobs,
    })
}

/// Refuses the connection flags of `NOT_FOR_TEST` that only the command line sets.
fn refuse_unused_flags(c: &ConnectArgs) -> Result<(), Exit> {
    let own = "every case makes its own connections";
    let given = [
        (
            c.id.is_some(),
            "-i",
            "each case uses its own client ids; -I PREFIX sets their prefix",
        ),
        (c.disable_clean_session, "-c", own),
        (c.session_expiry.is_some(), "-x", own),
        (c.session_dir.is_some(), "--session-dir", own),
        (
            c.will_topic.is_some(),
            "--will-topic",
            "the will cases set their own wills",
        ),
        (!c.property.is_empty(), "-D", own),
        (c.receive_maximum.is_some(), "--receive-maximum", own),
        (
            c.maximum_packet_size.is_some(),
            "--maximum-packet-size",
            own,
        ),
        (
            c.topic_alias_maximum.is_some(),
            "--topic-alias-maximum",
            own,
        ),
        (c.debug, "-d", "see --json for what each case sent and saw"),
        (
            c.no_reconnect,
            "--no-reconnect",
            "a case never reconnects on its own",
        ),
    ];
    match given.into_iter().find(|(set, _, _)| *set) {
        Some((_, flag, why)) => Err(Exit::new(
            2,
            format!("mqtk test does not use {flag}: {why}"),
        )),
        None => Ok(()),
    }
}

/// `n` random letters and digits.
fn random_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; n];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: the process id still keeps two runs apart.
        let pid = std::process::id().to_le_bytes();
        bytes
            .iter_mut()
            .zip(pid.iter().cycle())
            .for_each(|(b, p)| *b = *p);
    }
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn parse(args: &[&str]) -> anyhow::Result<Config> {
        let argv = ["mqtk", "test"].iter().chain(args);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Test(test) => config(&test),
            _ => unreachable!("parsed a test command line"),
        }
    }

    #[test]
    fn versions_default_to_both_and_take_one() {
        let both = [ProtocolVersion::V311, ProtocolVersion::V5];
        assert_eq!(parse(&[]).unwrap().versions, both);
        assert_eq!(parse(&["-V", "both"]).unwrap().versions, both);
        assert_eq!(parse(&["-V", "5"]).unwrap().versions, [ProtocolVersion::V5]);
    }

    #[test]
    fn the_shared_connection_flags_apply() {
        let c = parse(&["-L", "mqtt://alice:pw@broker.example:1999", "-I", "ci"]).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("broker.example", 1999));
        assert_eq!(c.username.as_deref(), Some("alice"));
        assert_eq!(c.password.as_deref(), Some(&b"pw"[..]));
        assert!(c.id_prefix.starts_with("ci") && c.tls.is_none());
        assert_eq!(parse(&["-L", "mqtts://h"]).unwrap().port, 8883);
    }

    #[test]
    fn connection_flags_a_case_would_ignore_are_refused() {
        let msg = |args: &[&str]| parse(args).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg(&["-i", "me"]).contains("does not use -i"));
        assert!(msg(&["-c"]).contains("does not use -c"));
        assert!(msg(&["--will-topic", "w"]).contains("--will-topic"));
        assert!(msg(&["-L", "ws://h"]).contains("TCP or TLS"));
    }

    #[test]
    fn ids_are_short_letters_and_digits() {
        let id = random_alnum(6);
        assert_eq!(id.len(), 6);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}

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

use super::exit::Exit;
use super::values::{self, BrokerUrl, UrlScheme};
use crate::conformance::report::version_name;
use crate::conformance::runner::Progress;
use crate::conformance::{self, cases, render, Config, Selection};
use crate::net::tls::{ClientTlsFiles, TlsOptions};
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

Every case uses its own client ids and topics under --topic-prefix and deletes what it
retained, so a run can go against a shared broker without touching other topics. Cases
run one at a time.";

/// Examples below the flags.
pub const AFTER_HELP: &str = "\
Examples:
  mqtk test                                  check the broker on localhost:1883, both versions
  mqtk test -h broker -V 5 --junit report.xml   MQTT 5 only, a JUnit report for CI
  mqtk test --only qos --only 'retained/*'   two feature groups
  mqtk test --skip keepalive --timeout 5     leave out the slow keep-alive cases
  mqtk test --list                           the cases, their spec references and levels
  mqtk test --denied-topic 'secret/#'        also the config cases: a filter the ACL refuses
  mqtk test --json - | jq '.cases[] | select(.result == \"fail\")'";

/// `mqtk test`'s flags.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct TestArgs {
    /// Broker host [default: localhost]
    #[arg(short = 'h', long, value_name = "HOST", help_heading = "Connection")]
    pub host: Option<String>,

    /// Broker port [default: 1883, 8883 with TLS]
    #[arg(short = 'p', long, value_name = "PORT", value_parser = values::parse_port,
          help_heading = "Connection")]
    pub port: Option<u16>,

    /// Broker URL: mqtt://[user[:pass]@]host[:port], also mqtts://
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(short = 'L', long, value_name = "URL", value_parser = values::parse_url,
          conflicts_with_all = ["host", "port"], help_heading = "Connection")]
    pub url: Option<BrokerUrl>,

    /// MQTT versions to check: 5, 311 or both
    #[arg(short = 'V', long, value_name = "VERSION", default_value = "both",
          value_parser = parse_versions, help_heading = "Connection")]
    pub protocol_version: Versions,

    /// User name for every connection
    #[arg(short = 'u', long, value_name = "USER", help_heading = "Connection")]
    pub username: Option<String>,

    /// Password for every connection
    #[arg(
        short = 'P',
        long = "pw",
        value_name = "PASSWORD",
        help_heading = "Connection"
    )]
    pub password: Option<String>,

    /// Trust the CA certificates in FILE (PEM) and connect with TLS
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    pub cafile: Option<PathBuf>,

    /// Client certificate (PEM) for TLS client authentication
    #[arg(
        long,
        value_name = "FILE",
        requires = "key",
        help_heading = "Connection"
    )]
    pub cert: Option<PathBuf>,

    /// Private key (PEM) of --cert
    #[arg(
        long,
        value_name = "FILE",
        requires = "cert",
        help_heading = "Connection"
    )]
    pub key: Option<PathBuf>,

    /// Do not check the broker's certificate or host name (testing only)
    #[arg(long, help_heading = "Connection")]
    pub insecure: bool,

    /// Run only the cases PATTERN matches: an id (qos/qos1-flow), a feature (qos), or a
    /// glob with * (e.g. '*expiry*'); repeatable
    #[arg(long, value_name = "PATTERN")]
    pub only: Vec<String>,

    /// Leave out the cases PATTERN matches (as --only); repeatable
    #[arg(long, value_name = "PATTERN")]
    pub skip: Vec<String>,

    /// List the selected cases with their spec references and levels, run nothing
    #[arg(long)]
    pub list: bool,

    /// Write the report as JSON to FILE (- for stdout; the table then goes to stderr)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write the report as JUnit XML to FILE
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Time limit of each case in seconds
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_timeout)]
    pub timeout: f64,

    /// Put every topic of the run under P [default: mqtk-test/RANDOM]
    #[arg(long, value_name = "P")]
    pub topic_prefix: Option<String>,

    /// The largest packet the probe tries, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub probe_max_packet: u32,

    /// A topic filter the broker's ACL does not let this client subscribe to: runs the
    /// config cases (skipped without it)
    #[arg(long, value_name = "TOPIC")]
    pub denied_topic: Option<String>,

    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// The versions of `-V`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions(pub Vec<ProtocolVersion>);

fn parse_versions(s: &str) -> Result<Versions, String> {
    if s.eq_ignore_ascii_case("both") || s.eq_ignore_ascii_case("all") {
        return Ok(Versions(vec![ProtocolVersion::V311, ProtocolVersion::V5]));
    }
    values::parse_protocol_version(s)
        .map(|v| Versions(vec![v]))
        .map_err(|e| format!("{e}, or both"))
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
    let url = args.url.as_ref();
    if url.is_some_and(|u| matches!(u.scheme, UrlScheme::Ws | UrlScheme::Wss)) {
        return Err(Exit::new(
            2,
            "-L: mqtk test speaks MQTT over TCP or TLS: use mqtt:// or mqtts://",
        )
        .into());
    }
    let tls_flag = args.cafile.is_some() || args.cert.is_some() || args.insecure;
    let tls = url.is_some_and(|u| u.scheme.is_tls()) || tls_flag;
    let host = url
        .map(|u| u.host.clone())
        .or_else(|| args.host.clone())
        .unwrap_or_else(|| "localhost".into());
    let port = match url {
        Some(u) => u.port_or_default(),
        None => args.port.unwrap_or(if tls { 8883 } else { 1883 }),
    };
    if port == 0 {
        return Err(Exit::new(2, "-p 0: give the broker's port (1-65535)").into());
    }
    let username = args
        .username
        .clone()
        .or_else(|| url.and_then(|u| u.username.clone()));
    let password = args
        .password
        .clone()
        .or_else(|| url.and_then(|u| u.password.clone()));
    if password.is_some()
        && username.is_none()
        && args.protocol_version.0.contains(&ProtocolVersion::V311)
    {
        return Err(Exit::new(
            2,
            "-P: MQTT 3.1.1 needs a user name with a password; add -u USER, or -V 5",
        )
        .into());
    }
    let tls = if tls {
        let files = ClientTlsFiles {
            cafile: args.cafile.clone(),
            cert: args.cert.clone(),
            key: args.key.clone(),
            insecure: args.insecure,
            ..ClientTlsFiles::default()
        };
        Some(TlsOptions::load(&files)?)
    } else {
        None
    };
    let run = random_alnum(6);
    Ok(Config {
        host,
        port,
        tls,
        username,
        password: password.map(Bytes::from),
        versions: args.protocol_version.0.clone(),
        selection: Selection {
            only: args.only.clone(),
            skip: args.skip.clone(),
        },
        case_timeout: Duration::from_secs_f64(args.timeout),
        topic_prefix: args
            .topic_prefix
            .clone()
            .unwrap_or_else(|| format!("mqtk-test/{run}")),
        id_prefix: format!("mqtk{run}"),
        probe_max_packet: args.probe_max_packet,
        denied_topic: args.denied_topic.clone(),
    })
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

    #[test]
    fn versions_accept_both_5_and_311() {
        assert_eq!(parse_versions("both").unwrap().0.len(), 2);
        assert_eq!(parse_versions("5").unwrap().0, vec![ProtocolVersion::V5]);
        assert!(parse_versions("3").unwrap_err().contains("or both"));
    }

    #[test]
    fn ids_are_short_letters_and_digits() {
        let id = random_alnum(6);
        assert_eq!(id.len(), 6);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}

//! Profiles and secrets: the config file (`$XDG_CONFIG_HOME/mqtk/config.toml`, or
//! `~/.config/mqtk/config.toml`, or `--config FILE`) with `[default]` and
//! `[profile.NAME]` tables, laid under the command-line flags of `ConnectArgs` (flags win
//! over the profile, the profile over `[default]`), and the password sources (`-P -`,
//! `--pw-file`, `password_env`, `password_file`, `password_command`). Errors name the
//! file, the line and the key. Must not connect, and must never print a password.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use serde::Deserialize;

use super::connect_args::ConnectArgs;
use super::values;

/// One `[default]` or `[profile.NAME]` table. Every key is optional; unknown keys are
/// errors (a typo must not silently drop a setting).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    url: Option<toml::Spanned<String>>,
    host: Option<String>,
    port: Option<u16>,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    password_command: Option<String>,
    cafile: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    insecure: Option<bool>,
    id_prefix: Option<String>,
    protocol_version: Option<toml::Spanned<toml::Value>>,
    keepalive: Option<u16>,
    capath: Option<PathBuf>,
    proxy: Option<toml::Spanned<String>>,
}

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    default: Profile,
    #[serde(default)]
    profile: BTreeMap<String, Profile>,
}

/// A loaded config file: its path and text (for line numbers) and its tables.
#[derive(Debug)]
pub struct Config {
    path: PathBuf,
    text: String,
    file: File,
}

/// Where the config file is looked for when `--config` is not given:
/// `$XDG_CONFIG_HOME/mqtk/config.toml`, else `$HOME/.config/mqtk/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("mqtk").join("config.toml"))
}

impl Config {
    /// Reads and parses `path`. Errors say `PATH:LINE: key `KEY`: WHAT`.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        Config::parse(path, text)
    }

    /// Parses `text` as the config file at `path`.
    pub fn parse(path: &Path, text: String) -> anyhow::Result<Config> {
        let file: File = toml::from_str(&text).map_err(|e| {
            let start = e.span().map(|span| span.start);
            let place = start.map(|at| place(&text, at)).unwrap_or_default();
            let message = e.message().trim_end();
            // serde's type errors do not say which key: the line does.
            let key = start
                .and_then(|at| key_at(&text, at))
                .filter(|key| !message.contains(&format!("`{key}`")))
                .map(|key| format!("key `{key}`: "))
                .unwrap_or_default();
            anyhow!("{}{place}: {key}{message}", path.display())
        })?;
        let config = Config {
            path: path.to_path_buf(),
            text,
            file,
        };
        for (name, profile) in config.tables() {
            config.check(&name, profile)?;
        }
        Ok(config)
    }

    fn tables(&self) -> impl Iterator<Item = (String, &Profile)> {
        std::iter::once(("[default]".to_string(), &self.file.default)).chain(
            self.file
                .profile
                .iter()
                .map(|(name, p)| (format!("[profile.{name}]"), p)),
        )
    }

    /// The checks serde cannot make: values that must parse, keys that exclude each other.
    fn check(&self, table: &str, p: &Profile) -> anyhow::Result<()> {
        let file = self.path.display();
        if let Some(url) = &p.url {
            values::parse_url(url.get_ref()).map_err(|e| {
                anyhow!(
                    "{file}{}: key `url`: {e}",
                    place(&self.text, url.span().start)
                )
            })?;
            if p.host.is_some() || p.port.is_some() {
                bail!(
                    "{file}{}: key `url`: {table} gives `url` and `host`/`port`; keep one of them",
                    place(&self.text, url.span().start)
                );
            }
        }
        if let Some(proxy) = &p.proxy {
            values::parse_proxy(proxy.get_ref()).map_err(|e| {
                anyhow!(
                    "{file}{}: key `proxy`: {e}",
                    place(&self.text, proxy.span().start)
                )
            })?;
        }
        if let Some(version) = &p.protocol_version {
            parse_version(version.get_ref()).map_err(|e| {
                let at = place(&self.text, version.span().start);
                anyhow!("{file}{at}: key `protocol_version`: {e}")
            })?;
        }
        let sources = password_keys(p);
        if sources.len() > 1 {
            bail!(
                "{file}: {table} gives {}: keep one password source",
                sources.join(" and ")
            );
        }
        Ok(())
    }

    /// `[default]` with `[profile.NAME]` laid over it (or `[default]` alone).
    pub fn layer(&self, name: Option<&str>) -> anyhow::Result<Profile> {
        let base = self.file.default.clone();
        let Some(name) = name else {
            return Ok(base);
        };
        let Some(profile) = self.file.profile.get(name) else {
            let known: Vec<_> = self.file.profile.keys().map(String::as_str).collect();
            bail!(
                "--profile {name}: {} has no [profile.{name}] (profiles: {})",
                self.path.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
        };
        Ok(profile.clone().over(base))
    }

    /// The path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// ` line L, column C` of byte `offset` in `text`.
fn place(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!(":{line}:{column}")
}

/// The key of the `KEY = VALUE` line holding byte `offset`, if it is one.
fn key_at(text: &str, offset: usize) -> Option<&str> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('[')).then_some(key)
}

/// `protocol_version = 5`, `= 311` or `= "3.1.1"`: TOML integers and strings both.
fn parse_version(v: &toml::Value) -> Result<crate::protocol::ProtocolVersion, String> {
    match v {
        toml::Value::Integer(n) => values::parse_protocol_version(&n.to_string()),
        toml::Value::String(s) => values::parse_protocol_version(s),
        other => Err(format!(
            "a {} is not a version: write 5 or 311",
            other.type_str()
        )),
    }
}

fn password_keys(p: &Profile) -> Vec<&'static str> {
    [
        (p.password.is_some(), "`password`"),
        (p.password_env.is_some(), "`password_env`"),
        (p.password_file.is_some(), "`password_file`"),
        (p.password_command.is_some(), "`password_command`"),
    ]
    .into_iter()
    .filter_map(|(set, key)| set.then_some(key))
    .collect()
}

impl Profile {
    /// `self` over `base`, key by key. The address (`url` or `host`/`port`) and the
    /// password source are each one setting: a table that gives any part of one
    /// replaces all of it, so `[default] host` never mixes with a profile's `url`.
    fn over(self, base: Profile) -> Profile {
        let own_address = self.url.is_some() || self.host.is_some() || self.port.is_some();
        let own_password = !password_keys(&self).is_empty();
        let (url, host, port) = if own_address {
            (self.url, self.host, self.port)
        } else {
            (base.url, base.host, base.port)
        };
        let (password, password_env, password_file, password_command) = if own_password {
            (
                self.password,
                self.password_env,
                self.password_file,
                self.password_command,
            )
        } else {
            (
                base.password,
                base.password_env,
                base.password_file,
                base.password_command,
            )
        };
        Profile {
            url,
            host,
            port,
            username: self.username.or(base.username),
            password,
            password_env,
            password_file,
            password_command,
            cafile: self.cafile.or(base.cafile),
            cert: self.cert.or(base.cert),
            key: self.key.or(base.key),
            insecure: self.insecure.or(base.insecure),
            id_prefix: self.id_prefix.or(base.id_prefix),
            protocol_version: self.protocol_version.or(base.protocol_version),
            keepalive: self.keepalive.or(base.keepalive),
            capath: self.capath.or(base.capath),
            proxy: self.proxy.or(base.proxy),
        }
    }
}

/// Lays the config file (when there is one) under `args` and resolves the password
/// source, once: `-P -` reads stdin, `--pw-file` a file, and a profile's
/// `password_env`/`password_file`/`password_command` are used only when neither the
/// command line nor the URL gives a password.
///
/// `default_is_remote` is false for `bench`, whose broker without `-h`/`-L`/`-p` is its
/// built-in one: there `[default]` applies only with `--profile` or a broker named on
/// the command line, so a load test never goes to the default broker by accident.
pub fn apply(args: &mut ConnectArgs, default_is_remote: bool) -> anyhow::Result<()> {
    if args.profile_applied {
        return Ok(());
    }
    args.profile_applied = true;
    let config = match (&args.config, default_path()) {
        (Some(path), _) => Some(Config::load(path).context("--config")?),
        (None, Some(path)) if path.exists() => Some(Config::load(&path)?),
        (None, path) => {
            if let Some(name) = &args.profile {
                bail!(
                    "--profile {name}: there is no config file{}; create it or give --config FILE",
                    path.map(|p| format!(" ({})", p.display()))
                        .unwrap_or_default()
                );
            }
            None
        }
    };
    command_line_password(args)?;
    let names_a_broker = args.url.is_some() || args.host.is_some() || args.port.is_some();
    if !default_is_remote && args.profile.is_none() && !names_a_broker {
        return Ok(());
    }
    if let Some(config) = config {
        let layer = config.layer(args.profile.as_deref())?;
        fill(args, &layer, &config)?;
    }
    Ok(())
}

/// `-P -` (stdin) and `--pw-file FILE`: the first line, without its newline.
fn command_line_password(args: &mut ConnectArgs) -> anyhow::Result<()> {
    if args.password.as_deref() == Some("-") {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("-P -: cannot read the password from stdin")?;
        args.password = Some(first_line(&line).to_string());
    } else if let Some(path) = &args.pw_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--pw-file {}: cannot read the file", path.display()))?;
        args.password = Some(first_line(&text).to_string());
    }
    Ok(())
}

fn first_line(text: &str) -> &str {
    let line = text.split('\n').next().unwrap_or_default();
    line.strip_suffix('\r').unwrap_or(line)
}

/// Fills what the command line left unset from `layer`.
fn fill(args: &mut ConnectArgs, layer: &Profile, config: &Config) -> anyhow::Result<()> {
    let file = config.path().display();
    fill_address(args, layer);
    if args.protocol_version.is_none() {
        args.protocol_version = layer
            .protocol_version
            .as_ref()
            .and_then(|v| parse_version(v.get_ref()).ok())
            .map(values::VersionArg::One);
    }
    if args.keepalive.is_none() {
        args.keepalive = layer.keepalive;
    }
    if args.id.is_none() && args.id_prefix.is_none() {
        args.id_prefix.clone_from(&layer.id_prefix);
    }
    let home = |path: &Option<PathBuf>| path.as_deref().map(expand_home);
    if args.cafile.is_none() {
        args.cafile = home(&layer.cafile);
    }
    if args.capath.is_none() {
        args.capath = home(&layer.capath);
    }
    if args.proxy.is_none() && args.unix.is_none() {
        // Checked when the file was loaded.
        args.proxy = layer
            .proxy
            .as_ref()
            .and_then(|p| values::parse_proxy(p.get_ref()).ok());
    }
    if args.cert.is_none() && args.key.is_none() {
        args.cert = home(&layer.cert);
        args.key = home(&layer.key);
    }
    args.insecure |= layer.insecure.unwrap_or(false);
    let url_user = args.url.as_ref().and_then(|u| u.username.clone());
    if args.username.is_none() && url_user.is_none() {
        args.username.clone_from(&layer.username);
    }
    let url_password = args.url.as_ref().is_some_and(|u| u.password.is_some());
    if args.password.is_none() && !url_password {
        args.password =
            layer_password(layer, config).with_context(|| format!("{file}: the password"))?;
    }
    Ok(())
}

/// `-L` replaces the profile's address; `-h` and `-p` replace its host or port only,
/// in its `url` too (so `--profile prod -p 1884` keeps prod's host and TLS).
fn fill_address(args: &mut ConnectArgs, layer: &Profile) {
    if args.url.is_some() {
        return;
    }
    // Checked when the file was loaded.
    let url = layer
        .url
        .as_ref()
        .and_then(|u| values::parse_url(u.get_ref()).ok());
    if let Some(mut url) = url {
        if let Some(host) = args.host.take() {
            url.host = host;
        }
        if let Some(port) = args.port.take() {
            url.port = Some(port);
        }
        args.url = Some(url);
    } else {
        args.host = args.host.take().or_else(|| layer.host.clone());
        args.port = args.port.or(layer.port);
    }
}

/// The password of `layer`'s source, if it has one.
fn layer_password(layer: &Profile, config: &Config) -> anyhow::Result<Option<String>> {
    if let Some(password) = &layer.password {
        warn_if_readable(config.path());
        return Ok(Some(password.clone()));
    }
    if let Some(var) = &layer.password_env {
        let value = std::env::var(var).map_err(|_| {
            anyhow!("key `password_env`: the environment variable {var} is not set")
        })?;
        return Ok(Some(value));
    }
    if let Some(path) = &layer.password_file {
        let path = expand_home(path);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("key `password_file`: cannot read {}", path.display()))?;
        return Ok(Some(first_line(&text).to_string()));
    }
    if let Some(command) = &layer.password_command {
        return run_password_command(command).map(Some);
    }
    Ok(None)
}

/// Runs `password_command` with `sh -c` and takes the first line of its stdout, as
/// `pass show` prints it. Its stderr goes to ours, so a pinentry prompt still works.
fn run_password_command(command: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new("sh")
        .args(["-c", command])
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("key `password_command`: cannot run `{command}`"))?;
    if !out.status.success() {
        bail!(
            "key `password_command`: `{command}` failed ({})",
            out.status
        );
    }
    let text = String::from_utf8(out.stdout).map_err(|_| {
        anyhow!("key `password_command`: `{command}` printed a password that is not UTF-8")
    })?;
    Ok(first_line(&text).to_string())
}

/// `~/x` is `$HOME/x`, as a user writes it in the file.
fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

/// A password in the file is read by whoever can read the file: say so when that is
/// more than its owner (as ssh does for keys).
fn warn_if_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o044 != 0 {
        crate::output::warning(format!(
            "{} holds a password and is readable by others (mode {mode:04o}); \
             run `chmod 600 {}`, or use password_env, password_file or password_command",
            path.display(),
            path.display()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[default]
host = "default.example"
username = "dflt"
keepalive = 30

[profile.prod]
url = "mqtts://prod.example:8884"
password_env = "MQTK_TEST_UNSET_PW"
protocol_version = 311

[profile.lab]
port = 1999
"#;

    fn config(text: &str) -> anyhow::Result<Config> {
        Config::parse(Path::new("/x/config.toml"), text.to_string())
    }

    #[test]
    fn a_profile_lies_over_default_key_by_key_and_replaces_the_address() {
        let c = config(FILE).unwrap();
        let prod = c.layer(Some("prod")).unwrap();
        assert_eq!(prod.url.unwrap().into_inner(), "mqtts://prod.example:8884");
        assert_eq!(
            prod.host, None,
            "the profile's url replaces [default]'s host"
        );
        assert_eq!(prod.username.as_deref(), Some("dflt"));
        assert_eq!(prod.keepalive, Some(30));
        let lab = c.layer(Some("lab")).unwrap();
        assert_eq!((lab.host, lab.port), (None, Some(1999)));
        let none = c.layer(None).unwrap();
        assert_eq!(none.host.as_deref(), Some("default.example"));
    }

    #[test]
    fn an_unknown_profile_lists_the_known_ones() {
        let err = config(FILE).unwrap().layer(Some("stage")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--profile stage: /x/config.toml has no [profile.stage] (profiles: lab, prod)"
        );
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let msg = |text: &str| format!("{:#}", config(text).unwrap_err());
        let typo = msg("[default]\nhost = \"h\"\nusrname = \"u\"\n");
        assert!(
            typo.starts_with("/x/config.toml:3:1: unknown field `usrname`"),
            "{typo}"
        );
        let bad_type = msg("[profile.a]\nport = \"high\"\n");
        assert!(
            bad_type.starts_with("/x/config.toml:2:8: key `port`: invalid type"),
            "{bad_type}"
        );
        let bad_url = msg("\n[profile.a]\nurl = \"broker:1883\"\n");
        assert!(
            bad_url.starts_with("/x/config.toml:3:7: key `url`: "),
            "{bad_url}"
        );
        let bad_version = msg("[default]\nprotocol_version = 4.5\n");
        assert!(
            bad_version.starts_with("/x/config.toml:2:"),
            "{bad_version}"
        );
        let two = msg("[profile.a]\npassword = \"x\"\npassword_env = \"Y\"\n");
        assert!(
            two.contains("[profile.a] gives `password` and `password_env`"),
            "{two}"
        );
        let syntax = msg("[default\n");
        assert!(syntax.starts_with("/x/config.toml:1:"), "{syntax}");
        let bad_proxy = msg("[default]\nproxy = \"socks4://p\"\n");
        assert!(
            bad_proxy.starts_with("/x/config.toml:2:9: key `proxy`: unsupported proxy"),
            "{bad_proxy}"
        );
    }

    #[test]
    fn a_profile_proxy_applies_unless_the_command_line_routes_itself() {
        let c =
            config("[default]\nproxy = \"socks5h://u:p@gw:1081\"\ncapath = \"/etc/ca\"\n").unwrap();
        let layer = c.layer(None).unwrap();
        let mut args = ConnectArgs::default();
        fill(&mut args, &layer, &c).unwrap();
        let proxy = args.proxy.unwrap();
        assert_eq!((proxy.host.as_str(), proxy.port), ("gw", 1081));
        assert_eq!(args.capath.as_deref(), Some(Path::new("/etc/ca")));
        let mut unix = ConnectArgs {
            unix: Some("/run/mqtk.sock".into()),
            ..ConnectArgs::default()
        };
        fill(&mut unix, &layer, &c).unwrap();
        assert!(
            unix.proxy.is_none(),
            "--unix does not go through the profile's proxy"
        );
    }

    #[test]
    fn flags_fill_nothing_they_set_and_dash_p_keeps_the_profile_url_host() {
        let c = config("[default]\nurl = \"mqtts://b.example\"\nkeepalive = 9\nusername = \"u\"\n")
            .unwrap();
        let layer = c.layer(None).unwrap();
        let mut args = ConnectArgs {
            port: Some(1999),
            keepalive: Some(5),
            ..Default::default()
        };
        fill(&mut args, &layer, &c).unwrap();
        let url = args.url.as_ref().unwrap();
        assert_eq!((url.host.as_str(), url.port), ("b.example", Some(1999)));
        assert!(url.scheme.is_tls() && args.port.is_none());
        assert_eq!(
            (args.keepalive, args.username.as_deref()),
            (Some(5), Some("u"))
        );
        let mut args = ConnectArgs {
            url: Some(values::parse_url("mqtt://other").unwrap()),
            ..Default::default()
        };
        fill(&mut args, &layer, &c).unwrap();
        assert_eq!(
            args.url.unwrap().host,
            "other",
            "-L replaces the whole address"
        );
        let c = config("[default]\ncafile = \"~/ca.pem\"\n").unwrap();
        let mut args = ConnectArgs::default();
        fill(&mut args, &c.layer(None).unwrap(), &c).unwrap();
        let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
        assert_eq!(
            args.cafile,
            Some(home.join("ca.pem")),
            "~ is the home directory"
        );
    }

    #[test]
    fn the_first_line_of_a_secret_is_the_password() {
        assert_eq!(first_line("s3cret\n"), "s3cret");
        assert_eq!(first_line("s3cret\r\nignored\n"), "s3cret");
        assert_eq!(first_line("no newline"), "no newline");
    }
}

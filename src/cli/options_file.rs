//! `-o FILE`: options read from a file before the command line, as mosquitto_pub/sub/rr
//! read theirs. One option a line, `-option value` (the value is the rest of the line,
//! spaces included; `-D` splits its words); a line starting with `#` is a comment, blank
//! lines are skipped. The file's options go in front of the command line's, and one the
//! command line also gives (or overrides, like `-L` over `-h`) is dropped, so the command
//! line wins, except for repeatable flags such as `-t`, which add up (mosquitto does the
//! same). Unknown options are errors naming the file and line. Must not print.

use std::ffi::OsString;
use std::path::Path;

use clap::{ArgAction, CommandFactory};

use super::Cli;

/// `argv` with the options of its `-o FILE` put after the subcommand; `argv` itself
/// when there is no `-o`. Errors name the file and line.
pub fn expand(argv: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    let Some(at) = argv.iter().position(|a| a == "-o" || a == "--options-file") else {
        return Ok(argv);
    };
    let Some(path) = argv.get(at + 1) else {
        return Ok(argv); // clap reports the missing value.
    };
    if argv.len() < 2 {
        return Ok(argv);
    }
    let mut command = Cli::command();
    // Built, so that every argument knows how many values it takes.
    command.build();
    let name = argv[1].to_string_lossy().into_owned();
    let Some(sub) = command
        .find_subcommand(&name)
        .filter(|sub| sub.get_arguments().any(|a| a.get_id() == "options_file"))
    else {
        return Ok(argv);
    };
    // `mqtk bench plot … -o FILE.svg`: a nested subcommand's own -o is not this one.
    let nested = argv.get(2).map(|a| a.to_string_lossy());
    if nested.is_some_and(|n| sub.find_subcommand(n.as_ref()).is_some()) {
        return Ok(argv);
    }
    let path = Path::new(path);
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("-o {}: {}", path.display(), e.to_string().to_lowercase()))?;
    let given: Vec<&clap::Arg> = argv[2..]
        .iter()
        .filter_map(|a| find(sub, &a.to_string_lossy()))
        .collect();
    let mut from_file = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let at = || format!("-o {} line {}", path.display(), number + 1);
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let line = line.trim_start();
        let (flag, value) = match line.split_once(' ') {
            Some((flag, value)) => (flag, Some(value)),
            None => (line, None),
        };
        let short_glued = !flag.starts_with("--") && flag.chars().count() > 2;
        let Some(arg) = find(sub, flag).filter(|_| !short_glued) else {
            anyhow::bail!("{}: unknown option '{flag}' for mqtk {name}", at());
        };
        if arg.get_id() == "options_file" {
            anyhow::bail!("{}: -o cannot name another options file", at());
        }
        let repeatable = matches!(arg.get_action(), ArgAction::Append | ArgAction::Count);
        if !repeatable && given.iter().any(|g| overrides(sub, g, arg)) {
            continue;
        }
        from_file.push(OsString::from(flag));
        let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
        match (takes_value, value) {
            (true, Some(value)) if arg.get_num_args().is_some_and(|n| n.max_values() > 1) => {
                from_file.extend(value.split_whitespace().map(OsString::from));
            }
            (true, Some(value)) => from_file.push(OsString::from(value)),
            (true, None) => anyhow::bail!("{}: {flag} needs a value", at()),
            (false, Some(value)) if !value.trim().is_empty() => {
                anyhow::bail!("{}: {flag} takes no value (found '{value}')", at())
            }
            (false, _) => {}
        }
    }
    let mut expanded = argv[..2].to_vec();
    expanded.extend(from_file);
    expanded.extend_from_slice(&argv[2..]);
    Ok(expanded)
}

/// The argument `token` names: `--long`, `--long=value`, `-x` or `-xVALUE`.
fn find<'a>(sub: &'a clap::Command, token: &str) -> Option<&'a clap::Arg> {
    if let Some(long) = token.strip_prefix("--") {
        let long = long.split('=').next().unwrap_or(long);
        return sub.get_arguments().find(|a| {
            a.get_long() == Some(long)
                || a.get_all_aliases()
                    .is_some_and(|names| names.contains(&long))
        });
    }
    let short = token.strip_prefix('-')?.chars().next()?;
    sub.get_arguments().find(|a| a.get_short() == Some(short))
}

/// Whether the command line's `given` replaces the file's `from_file`: the same flag, or
/// one that conflicts with it (`-L` and `-h`).
fn overrides(sub: &clap::Command, given: &clap::Arg, from_file: &clap::Arg) -> bool {
    given.get_id() == from_file.get_id()
        || sub
            .get_arg_conflicts_with(given)
            .iter()
            .any(|c| c.get_id() == from_file.get_id())
        || sub
            .get_arg_conflicts_with(from_file)
            .iter()
            .any(|c| c.get_id() == given.get_id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_with(file: &str, args: &[&str]) -> anyhow::Result<Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("opts");
        std::fs::write(&path, file).unwrap();
        let mut argv: Vec<OsString> = ["mqtk", "sub", "-o"].iter().map(OsString::from).collect();
        argv.push(path.clone().into());
        argv.extend(args.iter().map(OsString::from));
        let out = expand(argv)?;
        Ok(out[2..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .filter(|a| !a.contains("opts"))
            .collect())
    }

    #[test]
    fn a_nested_subcommands_own_dash_o_is_left_to_it() {
        let argv: Vec<OsString> = ["mqtk", "bench", "plot", "a.json", "-o", "cmp.svg"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(expand(argv.clone()).unwrap(), argv);
    }

    #[test]
    fn the_command_line_wins_and_topics_add_up() {
        let file = "# defaults\n-h broker.example\n-p 1884\n-t from/file\n\n-v\n-u alice smith\n-D connect user-property k v\n";
        let out = expand_with(file, &["-p", "1999", "-t", "cli"]).unwrap();
        assert_eq!(
            out,
            [
                "-h",
                "broker.example",
                "-t",
                "from/file",
                "-v",
                "-u",
                "alice smith",
                "-D",
                "connect",
                "user-property",
                "k",
                "v",
                "-o",
                "-p",
                "1999",
                "-t",
                "cli"
            ]
        );
        // -L on the command line replaces the file's -h (they conflict).
        let out = expand_with("-h broker\n", &["-L", "mqtt://other/t"]).unwrap();
        assert!(!out.contains(&"broker".to_string()), "{out:?}");
    }

    #[test]
    fn mistakes_name_the_file_and_line() {
        let err = expand_with("-h x\n--bogus 1\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2: unknown option '--bogus'"), "{err}");
        let err = expand_with("-v yes\n", &[]).unwrap_err().to_string();
        assert!(err.contains("takes no value"), "{err}");
        let err = expand_with("-h\n", &[]).unwrap_err().to_string();
        assert!(err.contains("-h needs a value"), "{err}");
    }
}

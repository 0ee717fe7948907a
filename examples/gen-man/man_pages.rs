//! The man pages rendered from the clap definitions (`mqtk::cli::Cli`) with clap_mangen:
//! `mqtk.1` and one page per subcommand. Written to man/ by this example (run by
//! scripts/gen-man) and compared with man/ by tests/cli.rs, which includes this file;
//! it lives here, outside the library, because the mqtk binary never renders a man page,
//! so clap_mangen is only a dev-dependency. Must not hold any help text of its own.

use clap::CommandFactory;
use mqtk::cli::Cli;

/// Every man page as (file name, roff text): `mqtk.1` and one `mqtk-NAME.1` per visible
/// subcommand. The output is deterministic (no date), so a test can compare it to man/.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages: Vec<(String, Vec<u8>)> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|sub| man_page(sub.clone(), &format!("mqtk-{}", sub.get_name())))
        .collect();
    pages.push(man_page(cmd.clone(), "mqtk"));
    pages.sort();
    pages
}

/// One man page: clap_mangen's sections, but the long help's tables kept as written
/// (`description_roff`), the `after_help` examples as an EXAMPLES section kept as
/// written (no fill: they are command lines), and a SEE ALSO.
fn man_page(cmd: clap::Command, title: &str) -> (String, Vec<u8>) {
    let examples = cmd.get_after_help().map(|h| h.to_string());
    let description = cmd
        .get_long_about()
        .or_else(|| cmd.get_about())
        .map(|h| h.to_string());
    let has_args = cmd.get_arguments().any(|a| !a.is_hide_set());
    let has_subcommands = cmd.get_subcommands().any(|s| !s.is_hide_set());
    let has_version = cmd.get_version().is_some();
    let man = clap_mangen::Man::new(cmd)
        .manual("mqtk manual")
        .source(concat!("mqtk ", env!("CARGO_PKG_VERSION")));
    let mut buf = Vec::new();
    let mut render = || -> std::io::Result<()> {
        man.render_title(&mut buf)?;
        man.render_name_section(&mut buf)?;
        man.render_synopsis_section(&mut buf)?;
        if let Some(text) = &description {
            buf.extend_from_slice(b".SH DESCRIPTION\n");
            buf.extend_from_slice(description_roff(text).as_bytes());
        }
        if has_args {
            man.render_options_section(&mut buf)?;
        }
        if has_subcommands {
            man.render_subcommands_section(&mut buf)?;
        }
        if let Some(text) = &examples {
            buf.extend_from_slice(b".SH EXAMPLES\n.nf\n");
            let body = text.strip_prefix("Examples:\n").unwrap_or(text);
            for line in body.lines() {
                buf.extend_from_slice(roff_line(line.trim_start_matches("  ")).as_bytes());
                buf.push(b'\n');
            }
            buf.extend_from_slice(b".fi\n");
        }
        let see_also = if title == "mqtk" {
            "mqtk-pub(1), mqtk-sub(1), mqtk-bench(1), mqtk-serve(1), mosquitto(8)"
        } else {
            "mqtk(1), mosquitto_pub(1), mosquitto_sub(1), mosquitto(8)"
        };
        buf.extend_from_slice(format!(".SH \"SEE ALSO\"\n{see_also}\n").as_bytes());
        if has_version {
            man.render_version_section(&mut buf)?;
        }
        Ok(())
    };
    render().expect("writing to a Vec<u8> cannot fail");
    (format!("{title}.1"), buf)
}

/// The long help as roff: a blank line starts a paragraph, plain lines are filled, and
/// runs of lines indented by two spaces (the tables of a long help) are kept as written.
fn description_roff(text: &str) -> String {
    let mut out = String::new();
    let mut verbatim = false;
    for line in text.lines() {
        let indented = line.starts_with("  ");
        if indented != verbatim {
            out.push_str(if indented { ".nf\n" } else { ".fi\n" });
            verbatim = indented;
        }
        if line.trim().is_empty() {
            out.push_str(".PP\n");
        } else if indented {
            out.push_str(&roff_line(&line[2..]));
            out.push('\n');
        } else {
            out.push_str(&roff_line(line));
            out.push('\n');
        }
    }
    if verbatim {
        out.push_str(".fi\n");
    }
    out
}

/// Escapes one line of text for roff: backslashes, and a leading `.` or `'` that would
/// read as a request.
fn roff_line(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

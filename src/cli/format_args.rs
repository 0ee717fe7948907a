//! The message output flags that `mqtk sub` and `mqtk rr` share (`-v`, `-F`, `--json`,
//! `--pretty`, `-N`) and the one place they become an `output::message::MessageFormat`.

use anyhow::bail;
use clap::Args;

use crate::output::message::{MessageFormat, Template};

/// How each received message is printed.
#[derive(Debug, Clone, Args)]
pub struct FormatArgs {
    /// Print `topic payload` for each message
    #[arg(short = 'v', long, help_heading = "Output")]
    pub verbose: bool,

    /// Print each message through a mosquitto_sub template (%t %p %q %r %x %I %j …)
    #[arg(short = 'F', long, value_name = "TEMPLATE", help_heading = "Output",
          conflicts_with_all = ["verbose", "json"])]
    pub format: Option<String>,

    /// One JSON object per line: topic, payload (text or base64), qos, retain, received, properties
    #[arg(long, help_heading = "Output", conflicts_with = "verbose")]
    pub json: bool,

    /// Indent the JSON of --json and of -F %j / %J (one object over several lines)
    #[arg(long, help_heading = "Output")]
    pub pretty: bool,

    /// Do not print a newline after each payload
    #[arg(short = 'N', long = "no-newline", help_heading = "Output")]
    pub no_newline: bool,
}

impl FormatArgs {
    /// The output format of --json, -F, -v or none, indented with --pretty.
    pub fn message_format(&self) -> anyhow::Result<MessageFormat> {
        let has_json_template = self
            .format
            .as_deref()
            .is_some_and(|t| t.contains("%j") || t.contains("%J"));
        if self.pretty && !self.json && !has_json_template {
            bail!("--pretty indents JSON: add --json, or -F with %j or %J");
        }
        Ok(if self.json && self.pretty {
            MessageFormat::JsonPretty
        } else if self.json {
            MessageFormat::Json
        } else if let Some(template) = &self.format {
            let template = Template::parse(template).map_err(|e| anyhow::anyhow!("-F: {e}"))?;
            MessageFormat::Template(template.with_pretty_json(self.pretty))
        } else if self.verbose {
            MessageFormat::Verbose
        } else {
            MessageFormat::Payload
        })
    }
}

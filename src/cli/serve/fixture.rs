//! The test-fixture flags of `mqtk serve` turned into broker state: the fault rules of
//! `--fault` and `--faults FILE` (checked at start, with errors naming the rule and the
//! word), `--fault-seed`, `--allow-control`, and the `--trace` writer. Also the SIGHUP
//! reload of `--faults FILE`. Must not print (the caller logs through the broker).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;

use super::args::ServeArgs;
use crate::broker::fault::{rule, Faults, Source};
use crate::broker::trace::{Trace, TraceSink};
use crate::broker::BrokerConfig;
use crate::cli::exit::Exit;

/// Trace payload bytes kept per line when `--trace-payload` is not given.
const TRACE_PAYLOAD: usize = 256;

/// The fault rule set and where its file is, for SIGHUP.
#[derive(Debug, Clone)]
pub struct FaultSetup {
    /// The broker's rules.
    pub faults: Arc<Faults>,
    /// `--faults FILE`.
    pub file: Option<PathBuf>,
}

/// Sets up faults and trace in `config`; the fault setup when fault injection is on.
pub fn apply(args: &ServeArgs, config: &mut BrokerConfig) -> anyhow::Result<Option<FaultSetup>> {
    config.log_json = args.log_format == "json";
    if let Some(path) = &args.trace {
        config.trace = Some(trace(path, args)?);
    }
    let on = !args.faults_given.is_empty() || args.faults_file.is_some() || args.allow_control;
    if !on {
        return Ok(None);
    }
    let mut specs = Vec::new();
    for text in &args.faults_given {
        // A mistake in a flag is a usage error (exit 2), as clap's are.
        specs.push(rule::parse(text).map_err(|e| Exit::new(2, format!("--fault: {e}")))?);
    }
    let seed = args.fault_seed.unwrap_or_else(random_seed);
    let faults = Arc::new(Faults::new(seed, args.allow_control));
    let now = Instant::now();
    faults.add(specs, Source::Flag, now);
    if let Some(file) = &args.faults_file {
        faults.add(read_rules(file)?, Source::File, now);
    }
    config.faults = Some(faults.clone());
    Ok(Some(FaultSetup {
        faults,
        file: args.faults_file.clone(),
    }))
}

impl FaultSetup {
    /// SIGHUP: reads `--faults FILE` again and replaces its rules; on an error the
    /// rules in force stay. The line to log.
    pub fn reload(&self) -> Option<String> {
        let file = self.file.as_ref()?;
        Some(match read_rules(file) {
            Ok(specs) => {
                let n = specs.len();
                self.faults.replace(specs, Source::File, Instant::now());
                format!("Reloaded {n} fault rule(s) from {}.", file.display())
            }
            Err(e) => format!("Fault rules not reloaded, the old ones stay: {e:#}"),
        })
    }
}

fn read_rules(file: &Path) -> anyhow::Result<Vec<rule::RuleSpec>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read --faults {}", file.display()))?;
    Ok(rule::parse_file(&file.display().to_string(), &text)?)
}

fn trace(path: &Path, args: &ServeArgs) -> anyhow::Result<Arc<Trace>> {
    let sink = if path == Path::new("-") {
        TraceSink::Stdout
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open --trace {}", path.display()))?;
        TraceSink::File(file)
    };
    let payload = args.trace_payload.unwrap_or(TRACE_PAYLOAD);
    Trace::start(sink, args.trace_client.clone(), payload)
        .context("cannot start the --trace writer thread")
}

fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    // No entropy is no reason not to serve: the seed is logged either way.
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

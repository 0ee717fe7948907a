//! `Plan`: `mqtk sub`'s flags checked once and turned into what the subscription needs
//! (filters, subscription options, output format, what ends the run). Errors name the
//! flag. Must not connect or print.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{bail, Context};

use super::args::SubscribeArgs;
use crate::output::message::MessageFormat;
use crate::payload::rules::DecodeRules;
use crate::protocol::{topic, Properties, RetainHandling, Subscription};

/// The checked subscribe flags.
pub(super) struct Plan {
    pub subscriptions: Vec<Subscription>,
    pub properties: Properties,
    /// `-U`: filters to unsubscribe from once subscribed.
    pub unsubscribe: Vec<String>,
    pub unsubscribe_properties: Properties,
    /// `-E`, or `-U` with no `-t`: end once the broker has answered.
    pub exit_when_acknowledged: bool,
    pub filter_out: Vec<String>,
    pub count: Option<u64>,
    pub timeout: Option<Duration>,
    pub format: MessageFormat,
    pub decode: DecodeRules,
    pub no_newline: bool,
    pub no_stale: bool,
    pub retained_only: bool,
    pub remove_retained: bool,
    /// `--random-filter`: the chance, in percent, that a message is printed.
    pub print_chance: Option<f64>,
    /// `--message-rate`: counts per second instead of messages.
    pub message_rate: bool,
    /// `-w` on a terminal: one line per topic, updated in place.
    pub watch: bool,
}

impl Plan {
    pub fn from_args(args: &SubscribeArgs) -> anyhow::Result<Plan> {
        let mut filters = args.topic.clone();
        if let Some(topic) = args.connect.url.as_ref().and_then(|u| u.topic.clone()) {
            filters.push(topic);
        }
        if filters.is_empty() && args.unsubscribe.is_empty() {
            bail!("-t: give at least one topic filter to subscribe to (or put it in the URL: -L mqtt://HOST/FILTER, or unsubscribe with -U)");
        }
        check_filters(&filters, "-t")?;
        check_filters(&args.filter_out, "-T")?;
        check_filters(&args.unsubscribe, "-U")?;
        if args.exit_after_subscribe && filters.is_empty() {
            bail!("-E exits once the subscriptions are acknowledged: give them with -t");
        }
        let subscriptions = filters
            .into_iter()
            .map(|filter| Subscription {
                filter,
                qos: args.qos,
                // Our own clearing PUBLISHes must not come back as messages (MQTT 5).
                no_local: args.no_local || args.remove_retained,
                retain_as_published: args.retain_as_published,
                retain_handling: args
                    .retain_handling
                    .unwrap_or(RetainHandling::SendOnSubscribe),
            })
            .collect::<Vec<_>>();
        let command_properties = args.connect.properties()?;
        let mut properties = command_properties.subscribe;
        properties
            .user_properties
            .extend(args.user_property.iter().cloned());
        let schemas = args.schema.schemas()?;
        let decode = DecodeRules::parse(&args.decode, &schemas)
            .map_err(|e| anyhow::anyhow!("--decode: {e}"))?;
        Ok(Plan {
            exit_when_acknowledged: args.exit_after_subscribe || subscriptions.is_empty(),
            subscriptions,
            properties,
            unsubscribe: args.unsubscribe.clone(),
            unsubscribe_properties: command_properties.unsubscribe,
            filter_out: args.filter_out.clone(),
            count: args.count,
            timeout: args.timeout,
            format: args.output.message_format()?,
            decode,
            no_newline: args.output.no_newline,
            no_stale: args.no_stale,
            retained_only: args.retained_only,
            remove_retained: args.remove_retained,
            print_chance: args.random_filter.filter(|&chance| chance < 100.0),
            message_rate: args.message_rate,
            watch: args.watch && watch_possible(),
        })
    }
}

fn check_filters(filters: &[String], flag: &str) -> anyhow::Result<()> {
    for filter in filters {
        topic::validate_topic_filter(filter).with_context(|| format!("{flag} {filter}"))?;
    }
    Ok(())
}

/// `-w` redraws lines with ANSI escapes: only when stdout is a terminal. Elsewhere (a
/// pipe, a file) it says so and prints one line per message as without it.
fn watch_possible() -> bool {
    let terminal = std::io::stdout().is_terminal();
    if !terminal {
        crate::output::note("-w: stdout is not a terminal; printing one line per message");
    }
    terminal
}

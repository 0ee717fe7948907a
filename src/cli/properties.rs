//! MQTT 5 properties from the command line: mosquitto's `-D CMD NAME VALUE` and the
//! dedicated message flags (`--content-type`, `--user-property`, …), checked and sorted
//! into one `Properties` per packet. Must not print; errors name the flag and value.

use anyhow::{anyhow, bail};
use bytes::Bytes;
use clap::Args;

use super::values;
use crate::protocol::codec::MAX_VARINT;
use crate::protocol::Properties;

/// The properties given for each packet a client sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandProperties {
    /// CONNECT.
    pub connect: Properties,
    /// Each PUBLISH.
    pub publish: Properties,
    /// SUBSCRIBE.
    pub subscribe: Properties,
    /// UNSUBSCRIBE.
    pub unsubscribe: Properties,
    /// DISCONNECT.
    pub disconnect: Properties,
    /// The will message of CONNECT.
    pub will: Properties,
}

impl CommandProperties {
    /// Parses the values of every `-D CMD NAME VALUE` (mosquitto's names), as clap
    /// collects them: one flat list, where `user-property` takes two values (KEY VALUE)
    /// and every other property one.
    pub fn from_raw(raw: &[String]) -> anyhow::Result<CommandProperties> {
        let mut props = CommandProperties::default();
        let mut rest = raw;
        while !rest.is_empty() {
            let arity = match rest.get(1) {
                Some(name) if name.eq_ignore_ascii_case("user-property") => 4,
                _ => 3,
            };
            if rest.len() < arity {
                bail!(
                    "-D {}: takes CMD NAME VALUE (user-property: CMD user-property KEY VALUE)",
                    rest.join(" ")
                );
            }
            let (cmd, name, value, value2) = (
                &rest[0],
                &rest[1],
                &rest[2],
                if arity == 4 { Some(&rest[3]) } else { None },
            );
            rest = &rest[arity..];
            let target = match cmd.to_ascii_lowercase().as_str() {
                "connect" => &mut props.connect,
                "publish" => &mut props.publish,
                "subscribe" => &mut props.subscribe,
                "unsubscribe" => &mut props.unsubscribe,
                "disconnect" => &mut props.disconnect,
                "will" => &mut props.will,
                other => bail!(
                    "-D {other}: unknown command, use connect, publish, subscribe, \
                     unsubscribe, disconnect or will"
                ),
            };
            let cmd = cmd.to_ascii_lowercase();
            set_property(target, &cmd, name, value, value2)
                .map_err(|e| anyhow!("-D {cmd} {name}: {e}"))?;
        }
        Ok(props)
    }
}

/// Which packets may carry a property given with `-D` (MQTT 5.0 §2.2.2.2, as far as a
/// client sends it).
fn allowed(name: &str, cmd: &str) -> bool {
    let packets: &[&str] = match name {
        "payload-format-indicator"
        | "message-expiry-interval"
        | "content-type"
        | "response-topic"
        | "correlation-data" => &["publish", "will"],
        "topic-alias" => &["publish"],
        "subscription-identifier" => &["subscribe"],
        "session-expiry-interval" => &["connect", "disconnect"],
        "authentication-method"
        | "authentication-data"
        | "request-problem-information"
        | "request-response-information"
        | "receive-maximum"
        | "topic-alias-maximum"
        | "maximum-packet-size" => &["connect"],
        "will-delay-interval" => &["will"],
        "reason-string" => &["disconnect"],
        "user-property" => &[
            "connect",
            "publish",
            "subscribe",
            "unsubscribe",
            "disconnect",
            "will",
        ],
        _ => &[],
    };
    packets.contains(&cmd)
}

fn set_property(
    p: &mut Properties,
    cmd: &str,
    name: &str,
    value: &str,
    value2: Option<&String>,
) -> anyhow::Result<()> {
    let name = name.to_ascii_lowercase();
    if !is_known(&name) {
        bail!("unknown property (names as in mosquitto_pub, e.g. content-type)");
    }
    if !allowed(&name, cmd) {
        bail!("not allowed in {}", cmd.to_uppercase());
    }
    fn num<T: std::str::FromStr>(value: &str) -> anyhow::Result<T> {
        value
            .parse()
            .map_err(|_| anyhow!("`{value}` is not a number in range"))
    }
    match name.as_str() {
        "user-property" => {
            // from_raw gives user-property its second value.
            let value2 = value2.ok_or_else(|| anyhow!("takes a KEY and a VALUE"))?;
            p.user_properties.push((value.to_string(), value2.clone()));
        }
        "payload-format-indicator" => {
            p.payload_format_indicator =
                Some(values::parse_payload_format(value).map_err(|e| anyhow!(e))?)
        }
        "message-expiry-interval" => p.message_expiry_interval = Some(num(value)?),
        "content-type" => p.content_type = Some(value.to_string()),
        "response-topic" => p.response_topic = Some(value.into()),
        "correlation-data" => p.correlation_data = Some(Bytes::from(value.to_string())),
        "subscription-identifier" => {
            let id: u32 = num(value)?;
            if id == 0 || id > MAX_VARINT {
                bail!("`{value}` is out of range 1-268435455");
            }
            p.subscription_identifiers.push(id)
        }
        "session-expiry-interval" => {
            p.session_expiry_interval =
                Some(values::parse_session_expiry(value).map_err(|e| anyhow!(e))?)
        }
        "authentication-method" => p.authentication_method = Some(value.to_string()),
        "authentication-data" => p.authentication_data = Some(Bytes::from(value.to_string())),
        "request-problem-information" => p.request_problem_information = Some(flag(value)?),
        "request-response-information" => p.request_response_information = Some(flag(value)?),
        "receive-maximum" => p.receive_maximum = Some(nonzero(num(value)?)?),
        "topic-alias-maximum" => p.topic_alias_maximum = Some(num(value)?),
        "topic-alias" => p.topic_alias = Some(nonzero(num(value)?)?),
        "maximum-packet-size" => p.maximum_packet_size = Some(nonzero(num(value)?)?),
        "will-delay-interval" => p.will_delay_interval = Some(num(value)?),
        "reason-string" => p.reason_string = Some(value.to_string()),
        other => bail!("`{other}` cannot be set with -D"),
    }
    Ok(())
}

fn is_known(name: &str) -> bool {
    allowed(name, "connect")
        || allowed(name, "publish")
        || allowed(name, "subscribe")
        || allowed(name, "disconnect")
        || allowed(name, "will")
}

fn flag(value: &str) -> anyhow::Result<u8> {
    match value {
        "0" | "false" => Ok(0),
        "1" | "true" => Ok(1),
        _ => bail!("`{value}` must be 0 or 1"),
    }
}

fn nonzero<T: PartialEq + Default>(n: T) -> anyhow::Result<T> {
    if n == T::default() {
        bail!("0 is not allowed (MQTT 5.0 forbids it)");
    }
    Ok(n)
}

/// MQTT 5 properties of each published message (pub, bench).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "MQTT 5 message properties")]
pub struct MessagePropertyArgs {
    /// User property on each message, KEY=VALUE (repeatable)
    #[arg(long, value_name = "KEY=VALUE", value_parser = values::parse_key_value)]
    pub user_property: Vec<(String, String)>,

    /// Content type of each message, e.g. application/json
    #[arg(long, value_name = "TYPE")]
    pub content_type: Option<String>,

    /// Seconds after which the broker drops an undelivered message
    #[arg(long, value_name = "SECS")]
    pub message_expiry: Option<u32>,

    /// Topic a responder should answer on (request/response)
    #[arg(long, value_name = "TOPIC")]
    pub response_topic: Option<String>,

    /// Correlation data sent along with --response-topic
    #[arg(long, value_name = "DATA")]
    pub correlation_data: Option<String>,

    /// Payload format indicator: 0 (bytes) or 1 (utf8)
    #[arg(long, value_name = "0|1", value_parser = values::parse_payload_format)]
    pub payload_format: Option<u8>,
}

impl MessagePropertyArgs {
    /// Sets the flags given on `publish` (which may already hold `-D publish …`).
    pub fn apply(&self, publish: &mut Properties) {
        publish
            .user_properties
            .extend(self.user_property.iter().cloned());
        if let Some(v) = &self.content_type {
            publish.content_type = Some(v.clone());
        }
        if let Some(v) = self.message_expiry {
            publish.message_expiry_interval = Some(v);
        }
        if let Some(v) = &self.response_topic {
            publish.response_topic = Some(v.as_str().into());
        }
        if let Some(v) = &self.correlation_data {
            publish.correlation_data = Some(Bytes::from(v.clone()));
        }
        if let Some(v) = self.payload_format {
            publish.payload_format_indicator = Some(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(items: &[&[&str]]) -> Vec<String> {
        items
            .iter()
            .flat_map(|v| v.iter().map(|s| s.to_string()))
            .collect()
    }

    #[test]
    fn properties_land_on_their_packets() {
        let props = CommandProperties::from_raw(&raw(&[
            &["connect", "receive-maximum", "10"],
            &["publish", "user-property", "k", "v"],
            &["PUBLISH", "content-type", "text/plain"],
            &["will", "will-delay-interval", "5"],
        ]))
        .unwrap();
        assert_eq!(props.connect.receive_maximum, Some(10));
        assert_eq!(
            props.publish.user_properties,
            vec![("k".to_string(), "v".to_string())]
        );
        assert_eq!(props.publish.content_type.as_deref(), Some("text/plain"));
        assert_eq!(props.will.will_delay_interval, Some(5));
    }

    #[test]
    fn misplaced_or_unknown_properties_are_errors_naming_them() {
        let err =
            CommandProperties::from_raw(&raw(&[&["connect", "content-type", "x"]])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "-D connect content-type: not allowed in CONNECT"
        );
        let err = CommandProperties::from_raw(&raw(&[&["connect", "colour", "x"]])).unwrap_err();
        assert!(err.to_string().contains("unknown property"), "{err}");
        let err = CommandProperties::from_raw(&raw(&[&["connack", "x", "y"]])).unwrap_err();
        assert!(err.to_string().contains("unknown command"), "{err}");
        let err =
            CommandProperties::from_raw(&raw(&[&["connect", "receive-maximum", "0"]])).unwrap_err();
        assert!(err.to_string().contains("0 is not allowed"), "{err}");
        let err =
            CommandProperties::from_raw(&raw(&[&["publish", "user-property", "k"]])).unwrap_err();
        assert!(err.to_string().contains("KEY VALUE"), "{err}");
    }
}

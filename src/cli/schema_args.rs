//! The schema flags that `pub --encode`, `rr` and `sub --decode` share (`--proto`,
//! `--proto-path`, `--message-type`; not the issue's `--message`, which is pub's `-m`),
//! their check (compiling the .proto files once, at start-up) and the `--encode` codec
//! built from them. Must not decode or encode payloads (that is `payload`).

use std::path::PathBuf;

use clap::Args;

use crate::payload::{Codec, EncodeError, Protos, Schemas};

/// Flags of the protobuf codec.
#[derive(Debug, Clone, Args)]
pub struct SchemaArgs {
    /// Protobuf schema: a .proto file, compiled at start-up, no protoc needed (repeatable)
    #[arg(long, value_name = "FILE", help_heading = "Payload codecs")]
    pub proto: Vec<PathBuf>,

    /// Directory where the .proto files' imports are looked up (repeatable)
    #[arg(
        long,
        value_name = "DIR",
        help_heading = "Payload codecs",
        requires = "proto"
    )]
    pub proto_path: Vec<PathBuf>,

    /// Protobuf message type that `protobuf` means (package.Message); `protobuf:TYPE` names another
    #[arg(
        long = "message-type",
        value_name = "TYPE",
        help_heading = "Payload codecs",
        requires = "proto"
    )]
    pub proto_message: Option<String>,
}

impl SchemaArgs {
    /// Compiles the `--proto` files, if any; errors name the file and line.
    pub fn schemas(&self) -> anyhow::Result<Schemas> {
        let protos = if self.proto.is_empty() {
            None
        } else {
            let protos = Protos::compile(&self.proto, &self.proto_path)
                .map_err(|e| anyhow::anyhow!("--proto: {e}"))?;
            if let Some(message) = &self.proto_message {
                protos
                    .message(message)
                    .map_err(|e| anyhow::anyhow!("--message-type: {e}"))?;
            }
            Some(protos)
        };
        Ok(Schemas {
            protos,
            message: self.proto_message.clone(),
        })
    }

    /// `--encode`'s codec (pub, rr): one that writes (`auto` only reads), its schema
    /// compiled.
    pub fn encode_codec(&self, name: &str) -> anyhow::Result<Codec> {
        let schemas = self.schemas()?;
        match Codec::parse(name, &schemas).map_err(|e| anyhow::anyhow!("--encode: {e}"))? {
            Codec::Auto => anyhow::bail!("--encode: {}", EncodeError::Auto),
            codec => Ok(codec),
        }
    }
}

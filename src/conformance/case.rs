//! What a case is: its id, feature group, the specification reference for each version
//! it runs on, how binding the rule is, and the async function that checks it.
//! Must not run cases (that is `runner`) or talk to a broker.

use std::future::Future;
use std::pin::Pin;

use super::ctx::Ctx;
use super::verdict::{Check, Level, Spec};
use crate::protocol::ProtocolVersion;

/// A case's future.
pub type CaseFuture = Pin<Box<dyn Future<Output = Check> + Send>>;

/// One registered case.
#[derive(Clone, Copy)]
pub struct Case {
    /// Short id, unique within its feature: `qos1-flow`.
    pub name: &'static str,
    /// The feature group: `qos`, `retained`, `v5`, …
    pub feature: &'static str,
    /// One sentence: what the broker must do.
    pub title: &'static str,
    /// How binding the rule is.
    pub level: Level,
    /// The MQTT 3.1.1 reference; `None`: the case does not run on 3.1.1.
    pub v311: Option<Spec>,
    /// The MQTT 5.0 reference; `None`: the case does not run on 5.
    pub v5: Option<Spec>,
    /// The check.
    pub run: fn(Ctx) -> CaseFuture,
    /// Runs with no other case at once: it restarts the broker, or its subscriptions
    /// (`#`) would see the other cases' messages and change what they see.
    pub alone: bool,
}

impl Case {
    /// `feature/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.feature, self.name)
    }

    /// The reference for `version`, when the case runs on it.
    pub fn spec(&self, version: ProtocolVersion) -> Option<Spec> {
        match version {
            ProtocolVersion::V311 => self.v311,
            ProtocolVersion::V5 => self.v5,
        }
    }
}

/// Declares a `Case` whose check is the async fn `$run(cx: Ctx) -> Check`.
#[macro_export]
#[doc(hidden)]
macro_rules! conformance_case {
    ($feature:literal, $name:literal, $level:ident, $v311:expr, $v5:expr, $title:literal, $run:path) => {
        $crate::conformance::case::Case {
            name: $name,
            feature: $feature,
            title: $title,
            level: $crate::conformance::verdict::Level::$level,
            v311: $v311,
            v5: $v5,
            run: |cx| Box::pin($run(cx)),
            alone: false,
        }
    };
}

//! Running the cases: every selected case × version, one at a time under the time
//! limit, after the probe; a broker that stopped answering fails the cases left.
//! Must not define cases or render.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::capabilities::Capabilities;
use super::case::Case;
use super::config::Config;
use super::ctx::{ctx, Shared};
use super::probe;
use super::report::{CaseReport, Outcome, Report};
use super::verdict::{Check, Level, Verdict};
use crate::protocol::ProtocolVersion;

/// Every case × version selected, in registry order.
pub fn selected(cases: &[Case], config: &Config) -> Vec<(Case, ProtocolVersion)> {
    let mut out = Vec::new();
    for case in cases {
        for &version in &config.versions {
            if case.spec(version).is_some() && config.selection.selects(&case.id()) {
                out.push((*case, version));
            }
        }
    }
    out
}

/// What `run` reports while it works (for a progress display).
pub enum Progress<'a> {
    /// The probe is done; this many case runs follow.
    Probed(usize),
    /// A case run is about to start.
    Starting(&'a Case, ProtocolVersion),
    /// A case run ended.
    Finished(&'a CaseReport),
}

/// Probes the broker, then runs the selected cases one at a time, telling `progress`.
pub async fn run(config: Config, cases: &[Case], progress: &mut dyn FnMut(Progress<'_>)) -> Report {
    let started = Instant::now();
    let todo = selected(cases, &config);
    let bare = Arc::new(Shared {
        config,
        caps: Capabilities::default(),
        ids: AtomicU32::new(0),
    });
    let versions = bare.config.versions.clone();
    let bound = bare.config.probe_max_packet;
    let caps = probe::probe(&versions, bound, &|version, leaf| ctx(&bare, version, leaf)).await;
    let shared = Arc::new(Shared {
        caps,
        ids: AtomicU32::new(bare.ids.load(Ordering::Relaxed)),
        config: Arc::try_unwrap(bare)
            .ok()
            .expect("the probe's contexts are dropped when it returns")
            .config,
    });
    let mut reports = Vec::new();
    let mut dead: Option<String> = None;
    progress(Progress::Probed(todo.len()));
    for (case, version) in todo {
        progress(Progress::Starting(&case, version));
        let case_started = Instant::now();
        let verdict = match &dead {
            Some(why) => Err(Verdict::Fail(format!(
                "the broker stopped answering: {why}"
            ))),
            None => run_one(&shared, &case, version).await,
        };
        let broke = matches!(&verdict, Err(Verdict::Error(_)))
            || matches!(&verdict, Err(Verdict::Fail(d)) if d.starts_with("time limit"));
        let report = CaseReport::new(&case, version, verdict, case_started.elapsed());
        progress(Progress::Finished(&report));
        reports.push(report);
        if dead.is_none() && broke {
            dead = alive(&shared, version).await.err();
        }
    }
    Report::new(
        &shared.config,
        shared.caps.clone(),
        reports,
        started.elapsed(),
    )
}

async fn run_one(shared: &Arc<Shared>, case: &Case, version: ProtocolVersion) -> Check {
    if let Some(refusal) = shared.caps.refusal(version) {
        return Err(Verdict::Skip(format!("the broker refused {refusal}")));
    }
    let cx = ctx(shared, version, &case.id().replace('/', "."));
    let limit = shared.config.case_timeout;
    let verdict = match tokio::time::timeout(limit, (case.run)(cx)).await {
        Ok(verdict) => verdict,
        Err(_) => Err(Verdict::Fail(format!(
            "time limit: the case did not finish within {} s",
            limit.as_secs_f64()
        ))),
    };
    classify(case.level, verdict)
}

/// A `may` case reports what the broker supports and never fails.
pub fn classify(level: Level, verdict: Check) -> Check {
    match (level, verdict) {
        (Level::May, Err(Verdict::Fail(why))) => {
            Err(Verdict::Skip(format!("not supported: {why}")))
        }
        (_, verdict) => verdict,
    }
}

/// Whether the broker still accepts a connection and answers a PINGREQ.
async fn alive(shared: &Arc<Shared>, version: ProtocolVersion) -> Result<(), String> {
    let cx = ctx(shared, version, "alive");
    let check = async {
        let mut peer = cx.peer().await?;
        peer.send(&crate::protocol::Packet::PingReq).await?;
        peer.expect(cx.arrive(), "PINGRESP", |p| {
            matches!(p, crate::protocol::Packet::PingResp).then_some(())
        })
        .await?;
        peer.disconnect().await;
        Ok::<(), Verdict>(())
    };
    match tokio::time::timeout(Duration::from_secs(10), check).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(Verdict::Fail(why) | Verdict::Error(why) | Verdict::Skip(why))) => Err(why),
        Err(_) => Err("no answer to CONNECT and PINGREQ within 10 s".into()),
    }
}

impl From<Verdict> for Outcome {
    fn from(verdict: Verdict) -> Outcome {
        match verdict {
            Verdict::Fail(_) => Outcome::Fail,
            Verdict::Skip(_) => Outcome::Skip,
            Verdict::Error(_) => Outcome::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_may_case_that_fails_is_reported_as_not_supported() {
        let fail = || Err(Verdict::Fail("no 0x10".into()));
        assert_eq!(
            classify(Level::May, fail()),
            Err(Verdict::Skip("not supported: no 0x10".into()))
        );
        assert_eq!(classify(Level::Must, fail()), fail());
        assert_eq!(classify(Level::Should, fail()), fail());
        assert_eq!(classify(Level::May, Ok(())), Ok(()));
    }
}

//! Running the cases: every selected case × version under the time limit, after the
//! probe, several at once (`Config::jobs`; a case marked `alone`, e.g. one that
//! restarts the broker, by itself); a broker that stopped answering fails the cases
//! left.
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

/// Probes the broker, then runs the selected cases, up to `config.jobs` at once (a case
/// marked `alone` with nothing else running), telling `progress`. The reports keep the
/// registry's order whatever order the cases end in.
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
    progress(Progress::Probed(todo.len()));
    let reports = run_cases(&shared, &todo, progress).await;
    Report::new(
        &shared.config,
        shared.caps.clone(),
        reports,
        started.elapsed(),
    )
}

/// Runs `todo` as `run` says. Cases are tasks, so a slow one (or the liveness check
/// after a broken one) never stalls the timers of the others.
async fn run_cases(
    shared: &Arc<Shared>,
    todo: &[(Case, ProtocolVersion)],
    progress: &mut dyn FnMut(Progress<'_>),
) -> Vec<CaseReport> {
    let jobs = shared.config.jobs.max(1);
    let mut reports: Vec<Option<CaseReport>> = vec![None; todo.len()];
    let mut running = tokio::task::JoinSet::new();
    let mut index_of = std::collections::HashMap::new();
    let (mut next, mut alone_running) = (0, false);
    let mut dead: Option<String> = None;
    while next < todo.len() || !running.is_empty() {
        while next < todo.len() && running.len() < jobs && !alone_running {
            let (case, version) = todo[next];
            if let Some(why) = &dead {
                progress(Progress::Starting(&todo[next].0, version));
                let verdict = Err(Verdict::Fail(format!(
                    "the broker stopped answering: {why}"
                )));
                let report = CaseReport::new(&case, version, verdict, Duration::ZERO);
                progress(Progress::Finished(&report));
                reports[next] = Some(report);
                next += 1;
                continue;
            }
            if case.alone && !running.is_empty() {
                break;
            }
            progress(Progress::Starting(&todo[next].0, version));
            let task_shared = shared.clone();
            let handle = running.spawn(async move {
                let case_started = Instant::now();
                let verdict = run_one(&task_shared, &case, version).await;
                CaseReport::new(&case, version, verdict, case_started.elapsed())
            });
            index_of.insert(handle.id(), next);
            alone_running = case.alone;
            next += 1;
        }
        let Some(joined) = running.join_next_with_id().await else {
            continue;
        };
        alone_running = false;
        let (at, report) = match joined {
            Ok((id, report)) => (index_of[&id], report),
            Err(e) => {
                let at = index_of[&e.id()];
                let (case, version) = todo[at];
                let verdict = Err(Verdict::Error(format!("the case panicked: {e}")));
                (at, CaseReport::new(&case, version, verdict, Duration::ZERO))
            }
        };
        progress(Progress::Finished(&report));
        let broke = report.result == Outcome::Error
            || (report.result == Outcome::Fail && report.detail.starts_with("time limit"));
        if dead.is_none() && broke {
            dead = alive(shared, todo[at].1).await.err();
        }
        reports[at] = Some(report);
    }
    reports
        .into_iter()
        .map(|r| r.expect("every case ran or was failed"))
        .collect()
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

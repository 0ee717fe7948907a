//! `config` cases: behaviour that depends on the broker's configuration, run only when
//! the user names what to use (`--denied-topic`). Must not guess a configuration.

use super::common::Ctx;
use crate::conformance::case::Case;
use crate::conformance::verdict::{ensure, section, Check, Verdict};
use crate::conformance_case as case;
use crate::protocol::{Properties, QoS, Subscription};

pub const CASES: &[Case] = &[case!(
    "config",
    "denied-subscribe",
    Config,
    section("3.9.3"),
    section("3.9.3"),
    "a SUBSCRIBE the ACL refuses gets a SUBACK failure code, and the connection stays usable",
    denied_subscribe
)];

async fn denied_subscribe(cx: Ctx) -> Check {
    let Some(filter) = cx.denied_topic().map(str::to_string) else {
        return Err(Verdict::Skip(
            "needs --denied-topic: a filter the broker's ACL refuses".into(),
        ));
    };
    let mut peer = cx.peer().await?;
    let subs = vec![Subscription::new(&filter, QoS::AtLeastOnce)];
    let ack = peer
        .subscribe_with(subs, Properties::default(), cx.arrive())
        .await?;
    let code = ack.reason_codes.first().copied();
    ensure(code.is_some_and(|c| !c.is_success()), || {
        format!("SUBSCRIBE {filter} (named by --denied-topic) was granted: {code:?}")
    })?;
    peer.subscribe(&cx.topic("after"), QoS::AtLeastOnce, cx.arrive())
        .await
}

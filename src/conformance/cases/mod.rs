//! The case registry (`all`): one file per feature group, their helpers in `common`.
//! Must not run cases (that is `runner`) or print.

mod access;
mod common;
mod connect;
mod durable;
mod keepalive;
mod malformed;
mod publish_reasons;
mod qos;
mod retained;
mod session;
mod topic_alias;
mod topics;
mod v5;
mod will;

use super::case::Case;

/// Every case, grouped by feature, most valuable first within a group.
pub fn all() -> Vec<Case> {
    [
        connect::CASES,
        qos::CASES,
        retained::CASES,
        will::CASES,
        keepalive::CASES,
        session::CASES,
        topics::CASES,
        malformed::CASES,
        v5::CASES,
        topic_alias::CASES,
        publish_reasons::CASES,
        access::CASES,
        durable::CASES,
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use super::common::frame;
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn case_ids_are_unique_and_every_case_has_a_reference() {
        let cases = all();
        let ids: HashSet<String> = cases.iter().map(Case::id).collect();
        assert_eq!(ids.len(), cases.len());
        for case in &cases {
            assert!(case.v311.is_some() || case.v5.is_some(), "{}", case.id());
            assert!(!case.name.contains('/') && !case.feature.contains('/'));
        }
    }

    #[test]
    fn frames_carry_their_remaining_length() {
        assert_eq!(frame(0xC0, &[]), vec![0xC0, 0]);
        assert_eq!(frame(0x30, &[0; 200])[..3], [0x30, 0xC8, 0x01]);
    }
}

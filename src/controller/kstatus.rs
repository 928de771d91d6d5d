//! The phase of a PackageRequest as kstatus reads it: `Ready`, `Reconciling` and `Stalled`, each
//! carrying the generation they describe. One function sets all three together, so no phase can
//! leave them contradicting each other (Ready and Stalled both True, or none in flight while work
//! is).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::PackageRequestStatus;
use crate::api::conditions::{Condition, ConditionStatus, set_condition, types};
use crate::api::package_request::PackageRequestPhase;

/// How a phase reads to kstatus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Work is in flight (or waits on something that will come by itself, such as a retry or an
    /// approver): kstatus `InProgress`.
    Working,
    /// Done and healthy: kstatus `Current`.
    Done,
    /// Cannot progress without a human: kstatus `Failed`.
    Stalled,
}

/// How each phase reads, unless the caller knows better (a `Failed` request that will not be
/// retried is `Stalled`; one that will is `Working`).
pub fn progress_of(phase: PackageRequestPhase) -> Progress {
    use PackageRequestPhase::*;
    match phase {
        Pending | Fetching | Scanning | AwaitingApproval | Publishing | Failed => Progress::Working,
        Published => Progress::Done,
        Rejected | Quarantined => Progress::Stalled,
    }
}

/// Moves `status` to `phase` and sets the three kstatus conditions to match. `reason` is one
/// PascalCase word; `message` says what is happening and, when a human must act, what to do.
pub fn set_phase(
    status: &mut PackageRequestStatus,
    phase: PackageRequestPhase,
    progress: Progress,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Time,
) {
    status.phase = Some(phase);
    status.observed_generation = generation;
    set_progress(
        &mut status.conditions,
        progress,
        reason,
        message,
        generation,
        now,
    );
}

/// Sets `Ready`, `Reconciling` and `Stalled` for `progress`, for any kind.
pub fn set_progress(
    c: &mut Vec<Condition>,
    progress: Progress,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Time,
) {
    let (ready, reconciling, stalled) = match progress {
        Progress::Working => (false, true, false),
        Progress::Done => (true, false, false),
        Progress::Stalled => (false, false, true),
    };
    set_condition(
        c,
        types::READY,
        ConditionStatus::from(ready),
        reason,
        message,
        generation,
        now.clone(),
    );
    set_condition(
        c,
        types::RECONCILING,
        ConditionStatus::from(reconciling),
        reason,
        if reconciling { message } else { "" },
        generation,
        now.clone(),
    );
    set_condition(
        c,
        types::STALLED,
        ConditionStatus::from(stalled),
        reason,
        if stalled { message } else { "" },
        generation,
        now,
    );
}

/// What kstatus computes for an object with these conditions (the rules of
/// `sigs.k8s.io/cli-utils/pkg/kstatus` for custom resources): a stale `observedGeneration` or
/// `Reconciling=True` is `InProgress`, `Stalled=True` is `Failed`, `Ready=True` is `Current`.
pub fn kstatus(generation: Option<i64>, status: &PackageRequestStatus) -> &'static str {
    use crate::api::conditions::is_true;
    if status.observed_generation != generation {
        return "InProgress";
    }
    if is_true(&status.conditions, types::RECONCILING) {
        "InProgress"
    } else if is_true(&status.conditions, types::STALLED) {
        "Failed"
    } else if is_true(&status.conditions, types::READY) {
        "Current"
    } else {
        "InProgress"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn now() -> Time {
        Time(Timestamp::from_second(1_700_000_000).expect("timestamp"))
    }

    #[test]
    fn every_phase_reads_as_kstatus_expects() {
        use PackageRequestPhase::*;
        let expected = [
            (Pending, "InProgress"),
            (Fetching, "InProgress"),
            (Scanning, "InProgress"),
            (AwaitingApproval, "InProgress"),
            (Publishing, "InProgress"),
            (Failed, "InProgress"),
            (Published, "Current"),
            (Rejected, "Failed"),
            (Quarantined, "Failed"),
        ];
        let mut status = PackageRequestStatus::default();
        for (phase, want) in expected {
            set_phase(
                &mut status,
                phase,
                progress_of(phase),
                "Reason",
                "message",
                Some(1),
                now(),
            );
            assert_eq!(kstatus(Some(1), &status), want, "{phase:?}");
            // A newer generation than the status describes is always in progress.
            assert_eq!(kstatus(Some(2), &status), "InProgress", "{phase:?}");
            let trues = status
                .conditions
                .iter()
                .filter(|c| c.status == "True")
                .count();
            assert_eq!(
                trues, 1,
                "exactly one of Ready/Reconciling/Stalled: {phase:?}"
            );
        }
        set_phase(
            &mut status,
            Failed,
            Progress::Stalled,
            "VersionNotFound",
            "no such version",
            Some(1),
            now(),
        );
        assert_eq!(kstatus(Some(1), &status), "Failed");
    }
}

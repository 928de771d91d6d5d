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

/// A request's phase as kstatus reads it: every phase has one reading, except `Failed`, which is
/// in progress while it will be retried and stalled once it will not.
pub fn progress_of(phase: PackageRequestPhase, retrying: bool) -> Progress {
    use PackageRequestPhase::*;
    match phase {
        Failed if retrying => Progress::Working,
        Failed => Progress::Stalled,
        Pending | Fetching | Scanning | AwaitingApproval | Publishing => Progress::Working,
        Published => Progress::Done,
        Rejected | Quarantined => Progress::Stalled,
    }
}

/// Moves `status` to `phase` and sets the three kstatus conditions to match (a `Failed` phase
/// here is final; [`set_retrying`] is the one that will be tried again). `reason` is one
/// PascalCase word; `message` says what is happening and, when a human must act, what to do.
pub fn set_phase(
    status: &mut PackageRequestStatus,
    phase: PackageRequestPhase,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Time,
) {
    set(status, phase, false, reason, message, generation, now);
}

/// `Failed`, with a retry to come: kstatus reads it as in progress.
pub fn set_retrying(
    status: &mut PackageRequestStatus,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Time,
) {
    set(
        status,
        PackageRequestPhase::Failed,
        true,
        reason,
        message,
        generation,
        now,
    );
}

fn set(
    status: &mut PackageRequestStatus,
    phase: PackageRequestPhase,
    retrying: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Time,
) {
    status.phase = Some(phase);
    status.observed_generation = generation;
    set_progress(
        &mut status.conditions,
        progress_of(phase, retrying),
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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    /// What kstatus computes for an object with these conditions (the rules of
    /// `sigs.k8s.io/cli-utils/pkg/kstatus` for custom resources): a stale `observedGeneration` or
    /// `Reconciling=True` is `InProgress`, `Stalled=True` is `Failed`, `Ready=True` is `Current`.
    fn kstatus(generation: Option<i64>, status: &PackageRequestStatus) -> &'static str {
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
            if phase == Failed {
                set_retrying(&mut status, "Reason", "message", Some(1), now());
            } else {
                set_phase(&mut status, phase, "Reason", "message", Some(1), now());
            }
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
            "VersionNotFound",
            "no such version",
            Some(1),
            now(),
        );
        assert_eq!(kstatus(Some(1), &status), "Failed");
    }
}

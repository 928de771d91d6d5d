//! Status conditions shared by every kind, as kstatus, `kubectl wait`, Flux and Argo CD read them.
//!
//! `Ready` is True when the object is done and healthy; `Reconciling` is True while work is in
//! flight; `Stalled` is True when progress needs a human. Each kind adds its own beside them
//! (`Approved`/`Denied` on a request, `Drifted` on a domain).

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The kstatus condition types and airlock's own.
pub mod types {
    pub const READY: &str = "Ready";
    pub const RECONCILING: &str = "Reconciling";
    pub const STALLED: &str = "Stalled";
    pub const APPROVED: &str = "Approved";
    pub const DENIED: &str = "Denied";
    pub const DRIFTED: &str = "Drifted";
}

/// A condition's `status` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

impl From<bool> for ConditionStatus {
    fn from(b: bool) -> Self {
        if b {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

/// Sets the condition of `type_` in `conditions`, adding it when absent.
///
/// `lastTransitionTime` moves only when `status` flips, as the Kubernetes API conventions require:
/// a reason or message change is not a transition. Returns whether anything changed, so a caller
/// can skip a status write that would change nothing.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Time,
) -> bool {
    let message = message.into();
    let status = status.as_str();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            let changed = c.status != status
                || c.reason != reason
                || c.message != message
                || c.observed_generation != observed_generation;
            if c.status != status {
                c.last_transition_time = now;
                c.status = status.to_string();
            }
            c.reason = reason.to_string();
            c.message = message;
            c.observed_generation = observed_generation;
            changed
        }
        None => {
            conditions.push(Condition {
                type_: type_.to_string(),
                status: status.to_string(),
                reason: reason.to_string(),
                message,
                observed_generation,
                last_transition_time: now,
            });
            true
        }
    }
}

/// The condition of `type_`, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of `type_` is present with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn t(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).expect("valid timestamp"))
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let mut cs = Vec::new();
        assert!(set_condition(
            &mut cs,
            types::READY,
            ConditionStatus::False,
            "Fetching",
            "downloading",
            Some(1),
            t(100)
        ));
        assert_eq!(cs[0].last_transition_time, t(100));

        // Same status, new reason and message: a change, but not a transition.
        assert!(set_condition(
            &mut cs,
            types::READY,
            ConditionStatus::False,
            "Scanning",
            "scanning 3 files",
            Some(1),
            t(200)
        ));
        assert_eq!(cs[0].last_transition_time, t(100));
        assert_eq!(cs[0].reason, "Scanning");

        // Nothing differs: no change reported, nothing moves.
        assert!(!set_condition(
            &mut cs,
            types::READY,
            ConditionStatus::False,
            "Scanning",
            "scanning 3 files",
            Some(1),
            t(250)
        ));
        assert_eq!(cs[0].last_transition_time, t(100));

        // Status flips: the transition time moves.
        assert!(set_condition(
            &mut cs,
            types::READY,
            ConditionStatus::True,
            "Published",
            "published",
            Some(1),
            t(300)
        ));
        assert_eq!(cs[0].last_transition_time, t(300));
        assert!(is_true(&cs, types::READY));
        assert_eq!(cs.len(), 1);

        set_condition(
            &mut cs,
            types::STALLED,
            ConditionStatus::False,
            "Progressing",
            "",
            Some(1),
            t(300),
        );
        assert_eq!(cs.len(), 2);
        assert!(!is_true(&cs, types::STALLED));
    }
}

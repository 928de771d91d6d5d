//! Status for `ScanPolicy`: whether the policy means what it says (Ready when valid), and which of
//! its exceptions have expired. Requests read policies from the cache whatever this says; the
//! status is for the people and tools (`kubectl wait`, Argo CD, Flux) that watch policies.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;

use super::Shared;
use super::error::Error;
use super::kstatus::Progress;
use super::report::{Judged, Tracked};
use crate::api::ScanPolicy;
use crate::api::package_request::Severity;
use crate::api::scan_policy::ScanPolicySpec;
use crate::scan::license::spdx_for;

/// The longest a reconcile waits for the next exception to expire: clocks drift, and a policy
/// with none to expire is still looked at now and then.
const LONGEST_WAIT: Duration = Duration::from_secs(3600);

/// What the controller makes of a policy.
#[derive(Debug, PartialEq)]
pub struct Judgement {
    pub progress: Progress,
    pub reason: &'static str,
    pub message: String,
    /// The ids of exceptions past their `expires`.
    pub expired: Vec<String>,
    /// When the next exception in force expires, from now.
    pub next_expiry: Option<Duration>,
}

/// Judges `spec` at `now`: the mistakes a schema cannot catch, each naming the field and the fix,
/// and the exceptions that no longer apply.
pub fn judge(spec: &ScanPolicySpec, now: Timestamp) -> Judgement {
    let mut problems = Vec::new();
    let a = &spec.advisories;
    if a.review_severity > a.deny_severity {
        problems.push(format!(
            "spec.advisories.reviewSeverity ({}) is above denySeverity ({}), so nothing is ever held for review: set reviewSeverity at or below denySeverity",
            severity_word(a.review_severity),
            severity_word(a.deny_severity)
        ));
    }
    let h = &spec.heuristics;
    if h.review_score > h.deny_score {
        problems.push(format!(
            "spec.heuristics.reviewScore ({}) is above denyScore ({}), so nothing is ever held for review: set reviewScore at or below denyScore",
            h.review_score, h.deny_score
        ));
    }
    let l = &spec.licenses;
    for (list, ids) in [("allow", &l.allow), ("deny", &l.deny)] {
        for (i, id) in ids.iter().enumerate() {
            // A licence's text is read as the SPDX id it names, so a list entry that names one
            // in other words never matches. Names SPDX does not know (`LicenseRef-…`, a
            // vendor's own) are compared as written, and may.
            if let Some(known) = spdx_for(id)
                && !known.eq_ignore_ascii_case(id)
            {
                problems.push(format!(
                    "spec.licenses.{list}[{i}] {id:?} is not an SPDX id, so it never matches: write {known:?}"
                ));
            }
        }
    }
    for (i, id) in l.allow.iter().enumerate() {
        if l.deny.iter().any(|d| d.eq_ignore_ascii_case(id)) {
            problems.push(format!(
                "spec.licenses.allow[{i}] {id:?} is also on the deny list, where it is denied: remove it from one of them"
            ));
        }
    }
    let mut expired = Vec::new();
    let mut next_expiry: Option<Duration> = None;
    for e in &spec.exceptions {
        if e.expires.0 <= now {
            expired.push(e.id.clone());
        } else {
            let left = e.expires.0.duration_since(now).unsigned_abs();
            next_expiry = Some(next_expiry.map_or(left, |n| n.min(left)));
        }
    }
    if !problems.is_empty() {
        return Judgement {
            progress: Progress::Stalled,
            reason: "InvalidPolicy",
            message: problems.join("; "),
            expired,
            next_expiry,
        };
    }
    let in_force = spec.exceptions.len() - expired.len();
    let mut message = format!(
        "the policy is valid; {in_force} exception{} in force",
        if in_force == 1 { "" } else { "s" }
    );
    if !expired.is_empty() {
        message.push_str(&format!(
            "; expired, no longer applied: {} (remove them, or renew with a later expires)",
            expired.join(", ")
        ));
    }
    Judgement {
        progress: Progress::Done,
        reason: if expired.is_empty() {
            "Valid"
        } else {
            "ExceptionsExpired"
        },
        message,
        expired,
        next_expiry,
    }
}

/// A severity as the spec spells it (`high`).
fn severity_word(s: Severity) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{s:?}"))
}

pub fn error_policy(_: Arc<ScanPolicy>, err: &Error, _: Arc<Shared>) -> Action {
    if err.is_conflict() {
        return Action::requeue(Duration::from_millis(500));
    }
    tracing::warn!(error = %err, "policy status not written");
    Action::requeue(Duration::from_secs(10))
}

pub async fn reconcile(policy: Arc<ScanPolicy>, ctx: Arc<Shared>) -> Result<Action, Error> {
    let _measure = ctx.metrics.count_and_measure("ScanPolicy");
    let judgement = judge(&policy.spec, Timestamp::now());
    let judged = Judged {
        progress: judgement.progress,
        reason: judgement.reason,
        message: &judgement.message,
    };
    let api: Api<ScanPolicy> = Api::all(ctx.client.clone());
    let mut t = Tracked::new(&api, &ctx, (*policy).clone());
    let status = t.status();
    status.phase = Some(
        match judgement.progress {
            Progress::Stalled => "Invalid",
            _ => "Active",
        }
        .into(),
    );
    status.expired_exceptions = judgement.expired.clone();
    // A valid policy is what everyone expects: only news is told.
    let event = (judgement.reason != "Valid").then(|| judged.event_type());
    t.settle(&judged, "Validate", event).await?;
    tracing::debug!(policy = %policy.name_any(), reason = judgement.reason, "policy judged");
    // Looked at again when the next exception expires, so its expiry shows when it happens.
    Ok(Action::requeue(
        judgement.next_expiry.map_or(LONGEST_WAIT, |d| {
            (d + Duration::from_secs(1)).min(LONGEST_WAIT)
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> ScanPolicySpec {
        serde_json::from_value(json).expect("spec")
    }

    fn now() -> Timestamp {
        "2026-12-01T12:00:00Z".parse().expect("time")
    }

    #[test]
    fn a_default_policy_is_valid() {
        let j = judge(&spec(serde_json::json!({})), now());
        assert_eq!((j.progress, j.reason), (Progress::Done, "Valid"));
        assert_eq!(j.next_expiry, None);
    }

    #[test]
    fn expired_exceptions_are_listed_and_the_next_expiry_is_awaited() {
        let j = judge(
            &spec(serde_json::json!({"exceptions": [
                {"id": "PYSEC-2024-1", "reason": "r", "expires": "2026-11-01T00:00:00Z"},
                {"id": "GHSA-aaaa-bbbb-cccc", "reason": "r", "expires": "2026-12-01T13:00:00Z"},
                {"id": "CVE-2025-2", "reason": "r", "expires": "2027-01-01T00:00:00Z"},
            ]})),
            now(),
        );
        assert_eq!(
            (j.progress, j.reason),
            (Progress::Done, "ExceptionsExpired")
        );
        assert_eq!(j.expired, ["PYSEC-2024-1"]);
        assert_eq!(j.next_expiry, Some(Duration::from_secs(3600)));
        assert!(
            j.message.contains("2 exceptions in force") && j.message.contains("PYSEC-2024-1"),
            "{}",
            j.message
        );
    }

    #[test]
    fn mistakes_a_schema_cannot_see_stall_naming_the_field() {
        let j = judge(
            &spec(serde_json::json!({
                "advisories": {"denySeverity": "medium", "reviewSeverity": "high"},
                "heuristics": {"denyScore": 3, "reviewScore": 5},
                "licenses": {"allow": ["mit", "Apache2", "NotALicence", "GPL-3.0-only"], "deny": ["GPL-3.0-only"]},
            })),
            now(),
        );
        assert_eq!((j.progress, j.reason), (Progress::Stalled, "InvalidPolicy"));
        for fine in ["\"mit\"", "NotALicence"] {
            assert!(!j.message.contains(fine), "{fine}: {}", j.message);
        }
        for part in [
            "spec.advisories.reviewSeverity (high) is above denySeverity (medium)",
            "spec.heuristics.reviewScore (5) is above denyScore (3)",
            "spec.licenses.allow[1] \"Apache2\" is not an SPDX id, so it never matches: write \"Apache-2.0\"",
            "spec.licenses.allow[3] \"GPL-3.0-only\" is also on the deny list",
        ] {
            assert!(j.message.contains(part), "{part}: {}", j.message);
        }
    }
}

//! Approve: the scan's verdict, or a person's, becomes the request's decision — `Denied` (an
//! end), `AwaitingApproval` (until `airlock approve` or `airlock deny`), or `Approved` (on to
//! publishing). `Approved` and `Denied` are set once and never both.

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::super::error::Error;
use super::admit::Found;
use super::work::Work;
use super::{MAX_LISTED_FINDINGS, Step, now};
use crate::api::PackageRequestStatus;
use crate::api::conditions::{ConditionStatus, find_condition, set_condition, types};
use crate::api::package_request::{
    Decision, FindingCounts, FindingSummary, PackageRequestPhase as Phase, Severity, Verdict,
};
use crate::scan::decide;
use crate::scan::package::PackageReport;

/// A person's denial ends the request before anything is fetched or scanned again.
pub async fn unless_denied(w: &mut Work<'_>, found: &Found) -> Result<Step<()>, Error> {
    let status = w.status().clone();
    let Some((who, why)) = by_user(&status, types::DENIED) else {
        return Ok(Step::Next(()));
    };
    let earlier = status.decision.as_ref();
    let decision = Decision {
        verdict: Verdict::Denied,
        decided_by: "Approver".into(),
        policy: found
            .policy
            .as_ref()
            .map(|p| p.name_any())
            .unwrap_or_default(),
        approver: who.clone(),
        reason: why.clone(),
        findings: earlier.map(|d| d.findings.clone()).unwrap_or_default(),
        finding_counts: earlier
            .map(|d| d.finding_counts.clone())
            .unwrap_or_default(),
        decided_at: Some(now()),
    };
    w.status().decision = Some(decision);
    let message = format!(
        "denied by {}: {why}; nothing was published",
        who.as_deref().unwrap_or("an approver")
    );
    w.phase(Phase::Rejected, "Denied", &message);
    if w.save().await? {
        w.event(EventType::Warning, "Denied", "Decide", message)
            .await;
    }
    Ok(Step::End(Action::await_change()))
}

/// Records what the scan decided; goes on only when the request is approved.
pub async fn decide(
    w: &mut Work<'_>,
    policy: &str,
    report: &PackageReport,
) -> Result<Step<()>, Error> {
    let approved_by = by_user(w.status(), types::APPROVED);
    match (report.ruling.verdict, approved_by) {
        (Verdict::Denied, approved_by) => denied(w, policy, report, approved_by.is_some()).await,
        (Verdict::AwaitingApproval, None) => awaiting(w, policy, report).await,
        (verdict, approved_by) => {
            approved(w, policy, report, verdict, approved_by).await?;
            Ok(Step::Next(()))
        }
    }
}

/// Denied by the policy. A person's approval already given stays: the denial shows in the phase.
async fn denied(
    w: &mut Work<'_>,
    policy: &str,
    report: &PackageReport,
    approved_by_user: bool,
) -> Result<Step<()>, Error> {
    let decision = status_decision(Verdict::Denied, policy, &report.ruling, &report.findings);
    let top = decision
        .findings
        .first()
        .map(|f| {
            format!(
                " ({} {:?}{}{})",
                f.rule,
                f.severity,
                f.file
                    .as_deref()
                    .map(|x| format!(" in {x}"))
                    .unwrap_or_default(),
                f.line.map(|l| format!(":{l}")).unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let message = format!(
        "policy {policy} denied {}: {}{top}; nothing was published",
        w.label(),
        report.ruling.reason
    );
    w.status().decision = Some(decision);
    if !approved_by_user {
        let generation = w.generation();
        set_condition(
            &mut w.status().conditions,
            types::DENIED,
            ConditionStatus::True,
            "PolicyDenied",
            message.clone(),
            generation,
            now(),
        );
    }
    w.phase(Phase::Rejected, "Denied", &message);
    w.status().failures = None;
    if w.save().await? {
        w.event(EventType::Warning, "Denied", "Decide", message)
            .await;
    }
    Ok(Step::End(Action::await_change()))
}

/// The policy asks a person; the message says how to answer.
async fn awaiting(
    w: &mut Work<'_>,
    policy: &str,
    report: &PackageReport,
) -> Result<Step<()>, Error> {
    let decision = status_decision(
        Verdict::AwaitingApproval,
        policy,
        &report.ruling,
        &report.findings,
    );
    let (name, ns) = (w.obj.name_any(), w.obj.namespace().unwrap_or_default());
    let message = format!(
        "policy {policy} asks a human: {}. Review status.decision, then `airlock approve {name} -n {ns} --reason TEXT` or `airlock deny {name} -n {ns} --reason TEXT`",
        report.ruling.reason
    );
    w.status().decision = Some(decision);
    w.status().failures = None;
    w.phase(Phase::AwaitingApproval, "AwaitingApproval", &message);
    if w.save().await? && w.found_phase != Some(Phase::AwaitingApproval) {
        w.event(EventType::Normal, "ApprovalRequired", "Decide", message)
            .await;
    }
    Ok(Step::End(Action::await_change()))
}

/// Approved, by the policy or by the person it asked.
async fn approved(
    w: &mut Work<'_>,
    policy: &str,
    report: &PackageReport,
    verdict: Verdict,
    approved_by: Option<(Option<String>, String)>,
) -> Result<(), Error> {
    let mut decision = status_decision(Verdict::Approved, policy, &report.ruling, &report.findings);
    let generation = w.generation();
    let message = match (&approved_by, verdict) {
        (Some((who, why)), Verdict::AwaitingApproval) => {
            decision.decided_by = "Approver".into();
            decision.approver = who.clone();
            decision.reason = why.clone();
            format!(
                "approved by {}: {why}",
                who.as_deref().unwrap_or("an approver")
            )
        }
        _ => {
            let message = format!("policy {policy} approved: {}", report.ruling.reason);
            if approved_by.is_none() {
                set_condition(
                    &mut w.status().conditions,
                    types::APPROVED,
                    ConditionStatus::True,
                    "PolicyApproved",
                    message.clone(),
                    generation,
                    now(),
                );
            }
            message
        }
    };
    w.status().decision = Some(decision);
    w.save().await?;
    w.event(EventType::Normal, "Approved", "Decide", message)
        .await;
    Ok(())
}

fn counts(findings: &[FindingSummary]) -> FindingCounts {
    let mut c = FindingCounts::default();
    for f in findings {
        match f.severity {
            Severity::Critical => c.critical += 1,
            Severity::High => c.high += 1,
            Severity::Medium => c.medium += 1,
            Severity::Low => c.low += 1,
            Severity::Info => c.info += 1,
        }
    }
    c
}

/// The decision as status keeps it: the deciding findings first, capped.
fn status_decision(
    verdict: Verdict,
    policy: &str,
    scan: &decide::Ruling,
    all: &[FindingSummary],
) -> Decision {
    let mut listed: Vec<FindingSummary> = scan.deciding.clone();
    for f in all {
        if listed.len() >= MAX_LISTED_FINDINGS {
            break;
        }
        if !listed.contains(f) {
            listed.push(f.clone());
        }
    }
    listed.truncate(MAX_LISTED_FINDINGS);
    Decision {
        verdict,
        decided_by: "Policy".into(),
        policy: policy.to_string(),
        approver: None,
        reason: scan.reason.clone(),
        findings: listed,
        finding_counts: counts(all),
        decided_at: Some(now()),
    }
}

/// Who decided by hand and why, when a person gave the `type_` (`Approved`/`Denied`) decision:
/// from the `review` record `airlock approve` writes. A condition set by other means (an editor
/// of the status) names no one, and its message is the reason.
pub(super) fn by_user(
    status: &PackageRequestStatus,
    type_: &str,
) -> Option<(Option<String>, String)> {
    let condition = find_condition(&status.conditions, type_)
        .filter(|c| c.status == "True" && c.reason.ends_with("ByUser"))?;
    let verdict = if type_ == types::APPROVED {
        Verdict::Approved
    } else {
        Verdict::Denied
    };
    Some(match &status.review {
        Some(review) if review.verdict == verdict => {
            (Some(review.by.clone()), review.reason.clone())
        }
        _ => (None, condition.message.clone()),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::testing::{Harness, PATH, policy, ready, repository, request};
    use super::*;
    use crate::api::package_request::Ecosystem;

    fn report(verdict: Verdict, reason: &str, findings: Vec<FindingSummary>) -> PackageReport {
        PackageReport {
            ecosystem: Ecosystem::Pypi,
            name: "tidy".into(),
            version: "1.0.0".into(),
            license: None,
            files: Vec::new(),
            findings: findings.clone(),
            ruling: decide::Ruling {
                verdict,
                reason: reason.into(),
                deciding: findings,
                excepted: Vec::new(),
                heuristic_score: 0,
            },
            scan_millis: 1,
        }
    }

    fn finding(rule: &str, severity: Severity) -> FindingSummary {
        FindingSummary {
            rule: rule.into(),
            severity,
            file: Some("setup.py".into()),
            line: Some(3),
            evidence: None,
        }
    }

    fn harness(status: Value) -> Harness {
        Harness::new(request(status), vec![repository(&["*"])], vec![policy()])
    }

    fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
        status["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
            .unwrap_or(&Value::Null)
    }

    #[tokio::test]
    async fn a_policy_denial_rejects_naming_the_deciding_finding() {
        let h = harness(json!({"observedGeneration": 1}));
        let mut w = h.work();
        let r = report(
            Verdict::Denied,
            "MAL-2026-1 marks it malicious",
            vec![finding("MAL-2026-1", Severity::Critical)],
        );
        let step = decide(&mut w, "default", &r).await.expect("decide");
        assert!(matches!(step, Step::End(a) if a == Action::await_change()));
        let writes = h.fake.status_writes();
        let last = writes.last().expect("a status write");
        assert_eq!(last["status"]["phase"], "Rejected");
        assert_eq!(condition(last, "Denied")["reason"], "PolicyDenied");
        let (_, _, message) = ready(last);
        assert!(
            message.contains("(MAL-2026-1 Critical in setup.py:3); nothing was published"),
            "{message}"
        );
        assert_eq!(h.fake.event_reasons(), ["Denied"]);
    }

    /// Findings that need a person: the request waits, saying how to answer; a person's
    /// approval then lets it on, recorded as theirs.
    #[tokio::test]
    async fn a_review_waits_for_a_person_whose_approval_lets_it_on() {
        let h = harness(json!({"observedGeneration": 1}));
        let r = report(
            Verdict::AwaitingApproval,
            "an install script",
            vec![finding("heuristics.install-script", Severity::Medium)],
        );
        let mut w = h.work();
        let step = decide(&mut w, "default", &r).await.expect("decide");
        assert!(matches!(step, Step::End(_)));
        let writes = h.fake.status_writes();
        let last = writes.last().expect("a status write");
        assert_eq!(last["status"]["phase"], "AwaitingApproval");
        let (_, _, message) = ready(last);
        assert!(
            message.contains("`airlock approve tidy -n team-a --reason TEXT`"),
            "{message}"
        );
        assert_eq!(h.fake.event_reasons(), ["ApprovalRequired"]);

        let mut status: crate::api::PackageRequestStatus =
            serde_json::from_value(h.fake.get(PATH).expect("stored")["status"].clone())
                .expect("status");
        crate::approval::record(&mut status, true, "alice", "reviewed", Some(1), now());
        let mut stored = h.fake.get(PATH).expect("stored");
        stored["status"] = serde_json::to_value(&status).expect("status");
        h.fake.put(PATH, stored);
        let mut w = h.work();
        let step = decide(&mut w, "default", &r).await.expect("decide");
        assert!(matches!(step, Step::Next(())));
        let writes = h.fake.status_writes();
        let last = writes.last().expect("a status write");
        assert_eq!(last["status"]["decision"]["decidedBy"], "Approver");
        assert_eq!(last["status"]["decision"]["approver"], "alice");
        assert_eq!(condition(last, "Approved")["reason"], "ApprovedByUser");
        assert_eq!(condition(last, "Denied"), &Value::Null, "never both");
    }

    /// A person's approval given before a policy denial stays; the denial shows in the phase,
    /// and `Denied` is not set beside `Approved`.
    #[tokio::test]
    async fn a_denial_after_a_persons_approval_never_sets_both() {
        let mut status = crate::api::PackageRequestStatus::default();
        crate::approval::record(&mut status, true, "alice", "reviewed", Some(1), now());
        let h = harness(serde_json::to_value(&status).expect("status"));
        let mut w = h.work();
        let r = report(Verdict::Denied, "a critical advisory", Vec::new());
        decide(&mut w, "default", &r).await.expect("decide");
        let writes = h.fake.status_writes();
        let last = writes.last().expect("a status write");
        assert_eq!(last["status"]["phase"], "Rejected");
        assert_eq!(condition(last, "Approved")["status"], "True");
        assert_eq!(condition(last, "Denied"), &Value::Null);
    }
}

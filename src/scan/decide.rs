//! Decide: a `ScanPolicy` turns findings into Approved, Denied or AwaitingApproval, recording the
//! findings that decided it. Exceptions set findings aside until they expire.

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use super::advisories::Match;
use super::heuristics::weight;
use crate::api::package_request::Verdict;
use crate::api::package_request::{Ecosystem, Severity};
use crate::api::scan_policy::{ApprovalMode, ScanPolicySpec};
use crate::package::normalize_pypi_name;
use crate::pipeline::unpack::Finding;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Excepted {
    pub finding: Finding,
    pub exception: String,
}

/// What a policy made of a scan's findings: the verdict and the findings behind it. The
/// controller records it in a request's `status.decision` (with who decided, which may then be a
/// person); `airlock scan` prints it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ruling {
    pub verdict: Verdict,
    /// One sentence a human can act on.
    pub reason: String,
    /// The findings that decided it.
    pub deciding: Vec<Finding>,
    /// Findings set aside by an unexpired exception, with its reason.
    pub excepted: Vec<Excepted>,
    pub heuristic_score: u32,
}

/// An advisory as a finding: the rule is the advisory id; malicious records say so first.
pub fn advisory_finding(m: &Match) -> Finding {
    let mut evidence = if m.malicious {
        format!("malicious package: {}", m.summary)
    } else {
        m.summary.clone()
    };
    if !m.aliases.is_empty() {
        evidence.push_str(&format!(" [aliases: {}]", m.aliases.join(", ")));
    }
    if !m.fixed.is_empty() {
        evidence.push_str(&format!(" [fixed in: {}]", m.fixed.join(", ")));
    }
    if !m.malicious {
        evidence.push_str(&format!(" [severity: {}]", m.severity_source));
    }
    Finding {
        rule: m.id.clone(),
        severity: m.severity,
        file: None,
        line: None,
        evidence: Some(evidence),
    }
}

/// The rule of the finding every decision made without advisory data carries.
pub const ADVISORIES_UNAVAILABLE: &str = "advisories.unavailable";

/// `advisories.unavailable`: nothing loaded speaks for `ecosystem`, so known vulnerabilities and
/// malicious-package records were not checked. Medium when the policy requires the data (it
/// holds the package), informational when it does not.
pub fn advisories_unavailable(ecosystem: Ecosystem, policy: &ScanPolicySpec) -> Finding {
    Finding {
        rule: ADVISORIES_UNAVAILABLE.into(),
        severity: if policy.advisories.required {
            Severity::Medium
        } else {
            Severity::Info
        },
        file: None,
        line: None,
        evidence: Some(format!(
            "no {} advisory data is loaded: known vulnerabilities and malicious-package records were not checked",
            crate::scan::advisories::osv_name(ecosystem)
        )),
    }
}

/// `release.too-new` when the release is younger than the policy's cool-down.
pub fn release_age(
    upload_time: Option<&str>,
    policy: &ScanPolicySpec,
    now: Timestamp,
) -> Option<Finding> {
    let minimum = policy.minimum_release_age.as_ref()?;
    let minimum: std::time::Duration = (*minimum).into();
    let uploaded: Timestamp = upload_time?.parse().ok()?;
    let age = now.duration_since(uploaded);
    let minimum_signed = k8s_openapi::jiff::SignedDuration::try_from(minimum).ok()?;
    (age < minimum_signed).then(|| Finding {
        rule: "release.too-new".into(),
        severity: Severity::Medium,
        file: None,
        line: None,
        evidence: Some(format!(
            "released {uploaded}; the policy waits {}h before admitting a release (until {})",
            minimum.as_secs() / 3600,
            uploaded
                .checked_add(minimum_signed)
                .map(|t| t.to_string())
                .unwrap_or_default()
        )),
    })
}

enum Kind {
    NoAdvisories,
    Archive,
    Heuristic,
    License,
    Age,
    Advisory { malicious: bool },
}

fn kind(f: &Finding) -> Kind {
    let r = f.rule.as_str();
    if r == ADVISORIES_UNAVAILABLE {
        Kind::NoAdvisories
    } else if r.starts_with("archive.") {
        Kind::Archive
    } else if r.starts_with("heuristics.") {
        Kind::Heuristic
    } else if r.starts_with("license.") {
        Kind::License
    } else if r.starts_with("release.") {
        Kind::Age
    } else {
        Kind::Advisory {
            malicious: f
                .evidence
                .as_deref()
                .is_some_and(|e| e.starts_with("malicious package")),
        }
    }
}

/// The ids a finding answers to: its rule and, for advisories, its aliases.
fn ids(f: &Finding) -> Vec<&str> {
    let mut out = vec![f.rule.as_str()];
    if let Some(aliases) = f
        .evidence
        .as_deref()
        .and_then(|e| e.split("[aliases: ").nth(1))
        .and_then(|a| a.split(']').next())
    {
        out.extend(aliases.split(", "));
    }
    out
}

fn same_package(ecosystem: Ecosystem, a: &str, b: &str) -> bool {
    match ecosystem {
        Ecosystem::Pypi => normalize_pypi_name(a) == normalize_pypi_name(b),
        Ecosystem::Npm => a == b,
    }
}

/// What the advisory data alone says of a published version now: the re-check of a request and
/// of what a repository keeps. `None` while the data does not cover the ecosystem.
pub fn advisories_now(
    db: &super::advisories::AdvisoryDb,
    policy: &ScanPolicySpec,
    ecosystem: Ecosystem,
    package: &str,
    version: &str,
    now: Timestamp,
) -> Option<Ruling> {
    if !db.covers(ecosystem) {
        return None;
    }
    let findings: Vec<Finding> = db
        .matches(ecosystem, package, version)
        .iter()
        .map(advisory_finding)
        .collect();
    Some(decide(&findings, policy, ecosystem, package, now))
}

impl Ruling {
    /// The first five deciding findings as `rule (Severity)`, for an event or a condition.
    pub fn deciding_list(&self) -> String {
        let listed: Vec<String> = self
            .deciding
            .iter()
            .take(5)
            .map(|f| format!("{} ({:?})", f.rule, f.severity))
            .collect();
        listed.join(", ")
    }
}

pub fn decide(
    findings: &[Finding],
    policy: &ScanPolicySpec,
    ecosystem: Ecosystem,
    package: &str,
    now: Timestamp,
) -> Ruling {
    let mut active = Vec::new();
    let mut excepted = Vec::new();
    for f in findings {
        let exception = policy.exceptions.iter().find(|x| {
            x.expires.0 > now
                && ids(f).iter().any(|id| id.eq_ignore_ascii_case(&x.id))
                && (x.packages.is_empty()
                    || x.packages
                        .iter()
                        .any(|p| same_package(ecosystem, p, package)))
        });
        match exception {
            Some(x) => excepted.push(Excepted {
                finding: f.clone(),
                exception: format!("{} (until {})", x.reason, x.expires.0),
            }),
            None => active.push(f.clone()),
        }
    }
    // Each rule counts once, at its most severe finding: one benign pattern repeated across a
    // package's files is one signal, not many.
    let mut by_rule: std::collections::BTreeMap<&str, u32> = std::collections::BTreeMap::new();
    for f in active.iter().filter(|f| matches!(kind(f), Kind::Heuristic)) {
        let w = by_rule.entry(f.rule.as_str()).or_default();
        *w = (*w).max(weight(f.severity));
    }
    let score: u32 = by_rule.values().sum();
    let rules = &policy.advisories;
    let denying: Vec<Finding> = active
        .iter()
        .filter(|f| match kind(f) {
            Kind::Advisory { malicious: true } => rules.deny_malicious,
            Kind::Advisory { malicious: false } => f.severity >= rules.deny_severity,
            Kind::Archive | Kind::License => f.severity >= Severity::High,
            Kind::Heuristic => {
                score >= policy.heuristics.deny_score && f.severity >= Severity::Medium
            }
            Kind::Age | Kind::NoAdvisories => false,
        })
        .cloned()
        .collect();
    let unchecked = active
        .iter()
        .find(|f| matches!(kind(f), Kind::NoAdvisories))
        .cloned();
    let decision = |verdict, reason: String, deciding: Vec<Finding>| Ruling {
        verdict,
        reason,
        deciding,
        excepted: excepted.clone(),
        heuristic_score: score,
    };
    if !denying.is_empty() {
        let first = &denying[0];
        let why = match kind(first) {
            Kind::Advisory { malicious: true } => {
                format!("{} marks the package as malicious", first.rule)
            }
            Kind::Advisory { .. } => format!(
                "{} is {:?}, at or above the policy's denySeverity {:?}",
                first.rule, first.severity, rules.deny_severity
            ),
            Kind::Heuristic => format!(
                "heuristic score {score} reaches the policy's denyScore {} ({})",
                policy.heuristics.deny_score, first.rule
            ),
            _ => format!(
                "{}: {}",
                first.rule,
                first.evidence.clone().unwrap_or_default()
            ),
        };
        let more = if denying.len() > 1 {
            format!(" (and {} more)", denying.len() - 1)
        } else {
            String::new()
        };
        return decision(
            Verdict::Denied,
            format!("{why}{more}; an exception in the ScanPolicy can accept a reviewed risk"),
            denying,
        );
    }
    if let Some(f) = unchecked.as_ref().filter(|_| rules.required) {
        let reason = format!(
            "{}; the policy requires advisory data (spec.advisories.required), so this waits for it: the controller re-decides when it loads, or a human may approve",
            f.evidence.clone().unwrap_or_default()
        );
        return decision(Verdict::AwaitingApproval, reason, vec![f.clone()]);
    }
    let hold: Vec<Finding> = active
        .iter()
        .filter(|f| matches!(kind(f), Kind::Age))
        .cloned()
        .collect();
    if !hold.is_empty() {
        let reason = format!(
            "cool-down: {}",
            hold[0].evidence.clone().unwrap_or_default()
        );
        return decision(Verdict::AwaitingApproval, reason, hold);
    }
    let reviewing: Vec<Finding> = active
        .iter()
        .filter(|f| match kind(f) {
            Kind::Advisory { .. } => f.severity >= rules.review_severity,
            Kind::Archive | Kind::License => f.severity >= Severity::Medium,
            Kind::Heuristic => {
                score >= policy.heuristics.review_score && f.severity >= Severity::Low
            }
            Kind::Age | Kind::NoAdvisories => false,
        })
        .cloned()
        .collect();
    // Said in every decision made without the data, including the approvals.
    let unchecked_note = if unchecked.is_some() {
        "; approved WITHOUT advisory data (the policy sets spec.advisories.required: false): known vulnerabilities were not checked"
    } else {
        ""
    };
    match policy.approval_mode {
        ApprovalMode::Always => decision(
            Verdict::AwaitingApproval,
            "the policy asks a human to approve every request".into(),
            reviewing,
        ),
        ApprovalMode::OnFindings if !reviewing.is_empty() => {
            let list: Vec<&str> = reviewing.iter().map(|f| f.rule.as_str()).take(5).collect();
            decision(
                Verdict::AwaitingApproval,
                format!("findings need a human decision: {}", list.join(", ")),
                reviewing,
            )
        }
        _ => decision(
            Verdict::Approved,
            if active.is_empty() {
                "no findings".into()
            } else {
                format!(
                    "{} finding(s), none at the policy's thresholds{unchecked_note}",
                    active.len()
                )
            },
            vec![],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(v: serde_json::Value) -> ScanPolicySpec {
        serde_json::from_value(v).expect("policy")
    }

    fn f(rule: &str, severity: Severity) -> Finding {
        Finding {
            rule: rule.into(),
            severity,
            file: None,
            line: None,
            evidence: Some("e [aliases: CVE-2023-1]".into()),
        }
    }

    fn now() -> Timestamp {
        "2026-06-01T00:00:00Z".parse().expect("time")
    }

    #[test]
    fn thresholds_modes_and_exceptions() {
        let p = policy(json!({}));
        let d = |fs: &[Finding], p: &ScanPolicySpec| {
            decide(fs, p, Ecosystem::Pypi, "Demo_Pkg", now()).verdict
        };
        assert_eq!(d(&[], &p), Verdict::Approved);
        assert_eq!(d(&[f("PYSEC-1", Severity::High)], &p), Verdict::Denied);
        assert_eq!(
            d(&[f("PYSEC-1", Severity::Medium)], &p),
            Verdict::AwaitingApproval
        );
        assert_eq!(d(&[f("PYSEC-1", Severity::Low)], &p), Verdict::Approved);
        assert_eq!(
            d(
                &[
                    f("heuristics.x", Severity::High),
                    f("heuristics.y", Severity::High)
                ],
                &p
            ),
            Verdict::Denied,
            "score 10"
        );
        assert_eq!(
            d(&[f("heuristics.x", Severity::Medium)], &p),
            Verdict::AwaitingApproval,
            "score 2"
        );
        assert_eq!(
            d(&[f("archive.bomb", Severity::Critical)], &p),
            Verdict::Denied
        );
        let auto = policy(json!({"approvalMode": "Automatic"}));
        assert_eq!(
            d(&[f("PYSEC-1", Severity::Medium)], &auto),
            Verdict::Approved
        );
        assert_eq!(
            d(&[], &policy(json!({"approvalMode": "Always"}))),
            Verdict::AwaitingApproval
        );
        let mal = Finding {
            evidence: Some("malicious package: steals tokens".into()),
            ..f("MAL-2024-1", Severity::Critical)
        };
        assert_eq!(d(&[mal], &auto), Verdict::Denied);

        // An exception by alias for this package, unexpired: set aside, recorded.
        let with = policy(
            json!({"exceptions": [{"id": "CVE-2023-1", "packages": ["demo-pkg"], "reason": "not reachable", "expires": "2027-01-01T00:00:00Z"}]}),
        );
        let dec = decide(
            &[f("PYSEC-1", Severity::High)],
            &with,
            Ecosystem::Pypi,
            "Demo_Pkg",
            now(),
        );
        assert_eq!(dec.verdict, Verdict::Approved);
        assert_eq!(dec.excepted.len(), 1);
        let expired = policy(
            json!({"exceptions": [{"id": "PYSEC-1", "reason": "old", "expires": "2026-01-01T00:00:00Z"}]}),
        );
        assert_eq!(
            d(&[f("PYSEC-1", Severity::High)], &expired),
            Verdict::Denied
        );
        let other = policy(
            json!({"exceptions": [{"id": "PYSEC-1", "packages": ["other"], "reason": "x", "expires": "2027-01-01T00:00:00Z"}]}),
        );
        assert_eq!(d(&[f("PYSEC-1", Severity::High)], &other), Verdict::Denied);
    }

    #[test]
    fn fresh_releases_wait_for_the_cool_down() {
        let p = policy(json!({"minimumReleaseAge": "72h"}));
        let young = release_age(Some("2026-05-30T12:00:00Z"), &p, now()).expect("too new");
        assert_eq!(
            decide(&[young], &p, Ecosystem::Npm, "x", now()).verdict,
            Verdict::AwaitingApproval
        );
        assert!(release_age(Some("2026-05-01T00:00:00Z"), &p, now()).is_none());
        assert!(release_age(Some("2026-05-30T12:00:00Z"), &policy(json!({})), now()).is_none());
    }
}

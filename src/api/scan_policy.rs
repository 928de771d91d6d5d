//! `ScanPolicy`: what blocks, what needs a human, what passes.
//!
//! A policy is chosen by the repository (`PackageRepository.spec.policyRef`), never by the
//! requester, so nobody can pick a laxer policy for their own request.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use kube::core::Duration;
use serde::{Deserialize, Serialize};

use super::conditions::Condition;
use super::package_request::Severity;
use super::patterns;

/// When a human must decide.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ApprovalMode {
    /// The policy decides alone: anything not denied is approved.
    Automatic,
    /// A human decides when there are findings at or above the review thresholds.
    #[default]
    OnFindings,
    /// A human decides every request the policy does not deny.
    Always,
}

/// What to do with a licence.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum LicenseAction {
    Allow,
    #[default]
    Review,
    Deny,
}

/// The decision policy for everything published into the repositories that reference it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[kube(
    group = "airlock.dev",
    version = "v1alpha1",
    kind = "ScanPolicy",
    plural = "scanpolicies",
    category = "airlock",
    status = "ScanPolicyStatus",
    printcolumn = r#"{"name": "Approval", "type": "string", "jsonPath": ".spec.approvalMode"}"#,
    printcolumn = r#"{"name": "Deny At", "type": "string", "jsonPath": ".spec.advisories.denySeverity"}"#,
    printcolumn = r#"{"name": "Min Age", "type": "string", "jsonPath": ".spec.minimumReleaseAge"}"#,
    printcolumn = r#"{"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ScanPolicySpec {
    /// When a human must approve: `Automatic`, `OnFindings` (default) or `Always`.
    #[serde(default)]
    pub approval_mode: ApprovalMode,

    /// Known advisories (OSV: GHSA, PYSEC, CVE) and malicious-package records (MAL).
    #[serde(default)]
    pub advisories: AdvisoryRules,

    /// Heuristic findings from reading the package contents.
    #[serde(default)]
    pub heuristics: HeuristicRules,

    /// Licences, as SPDX ids.
    #[serde(default)]
    pub licenses: LicenseRules,

    /// A cool-down: versions uploaded more recently than this wait (`AwaitingApproval` under
    /// `OnFindings`/`Always`, denied under `Automatic`). Most malicious releases are found and
    /// pulled within days. A Go duration such as `72h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::DURATION))]
    pub minimum_release_age: Option<Duration>,

    /// Accepted risks: an advisory or rule id that no longer counts until it expires.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub exceptions: Vec<PolicyException>,

    /// How often published packages are re-checked against new advisory data (default `24h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::DURATION))]
    pub rescan_interval: Option<Duration>,
}

/// Thresholds for advisory findings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdvisoryRules {
    /// Advisories at or above this severity deny the request (default `high`).
    #[serde(default = "default_advisory_deny")]
    pub deny_severity: Severity,
    /// Advisories at or above this severity (and below `denySeverity`) need a human under
    /// `OnFindings` (default `medium`).
    #[serde(default = "default_advisory_review")]
    pub review_severity: Severity,
    /// Deny packages an advisory marks malicious (`MAL-` records, CWE-506). Default true; turning it
    /// off only sends them to a human.
    #[serde(default = "default_true")]
    pub deny_malicious: bool,
    /// Whether a package may pass without advisory data for its ecosystem (none loaded yet, or
    /// none configured). Default true: it is held for review (`AwaitingApproval`), whatever the
    /// approval mode, until the data arrives. False approves it, saying nothing was checked.
    #[serde(default = "default_true")]
    pub required: bool,
}

impl Default for AdvisoryRules {
    fn default() -> Self {
        Self {
            deny_severity: default_advisory_deny(),
            review_severity: default_advisory_review(),
            deny_malicious: true,
            required: true,
        }
    }
}

/// Thresholds for heuristic findings, as a score: each finding adds its severity's weight
/// (critical 10, high 5, medium 2, low 1, info 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeuristicRules {
    /// A score at or above this denies (default 10: one critical finding or two high ones).
    #[serde(default = "default_heuristic_deny")]
    #[schemars(range(min = 1))]
    pub deny_score: u32,
    /// A score at or above this (and below `denyScore`) needs a human under `OnFindings`
    /// (default 2).
    #[serde(default = "default_heuristic_review")]
    #[schemars(range(min = 1))]
    pub review_score: u32,
}

impl Default for HeuristicRules {
    fn default() -> Self {
        Self {
            deny_score: default_heuristic_deny(),
            review_score: default_heuristic_review(),
        }
    }
}

/// Licence allow and deny lists.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LicenseRules {
    /// SPDX ids that pass. When non-empty, any other licence takes `otherwise`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(pattern(patterns::SPDX_ID)))]
    pub allow: Vec<String>,
    /// SPDX ids that deny.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(pattern(patterns::SPDX_ID)))]
    pub deny: Vec<String>,
    /// What a licence on neither list, or none at all, gets (default `Review`).
    #[serde(default)]
    pub otherwise: LicenseAction,
}

/// An accepted risk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyException {
    /// The advisory id (`GHSA-…`, `PYSEC-…`, `CVE-…`) or rule id (`heuristics.install-script`).
    #[schemars(length(min = 1, max = 128), pattern(patterns::EXCEPTION_ID))]
    pub id: String,
    /// Limit the exception to these package names; every package when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// Why the risk is accepted, and by whom.
    #[schemars(length(min = 1, max = 1024))]
    pub reason: String,
    /// After this time the exception no longer applies.
    pub expires: Time,
}

/// What the controller observed of a policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanPolicyStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Exceptions that have expired and no longer apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expired_exceptions: Vec<String>,
}

fn default_advisory_deny() -> Severity {
    Severity::High
}
fn default_advisory_review() -> Severity {
    Severity::Medium
}
fn default_heuristic_deny() -> u32 {
    10
}
fn default_heuristic_review() -> u32 {
    2
}
fn default_true() -> bool {
    true
}

//! `PackageRequest`: one package at one pinned version from one ecosystem, into one repository.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::conditions::Condition;
use super::patterns;

/// A package ecosystem airlock can take packages from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    /// The Python Package Index, through the Simple API (PEP 691).
    Pypi,
    /// The npm registry.
    Npm,
}

impl Ecosystem {
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Pypi => "pypi",
            Ecosystem::Npm => "npm",
        }
    }
}

impl std::fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to bring one package version into a private repository.
///
/// The spec is immutable: a different version, file set or repository is a new request, so the
/// record of what was asked for, scanned and approved can never be rewritten after the fact.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "airlock.dev",
    version = "v1alpha1",
    kind = "PackageRequest",
    plural = "packagerequests",
    shortname = "pkgreq",
    category = "airlock",
    namespaced,
    status = "PackageRequestStatus",
    printcolumn = r#"{"name": "Ecosystem", "type": "string", "jsonPath": ".spec.ecosystem"}"#,
    printcolumn = r#"{"name": "Package", "type": "string", "jsonPath": ".spec.name"}"#,
    printcolumn = r#"{"name": "Version", "type": "string", "jsonPath": ".spec.version"}"#,
    printcolumn = r#"{"name": "Repository", "type": "string", "jsonPath": ".spec.repositoryRef", "priority": 1}"#,
    printcolumn = r#"{"name": "Phase", "type": "string", "jsonPath": ".status.phase"}"#,
    printcolumn = r#"{"name": "Verdict", "type": "string", "jsonPath": ".status.decision.verdict"}"#,
    printcolumn = r#"{"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status", "priority": 1}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self == oldSelf").message("spec is immutable: create a new PackageRequest for a different package, version, file set or repository").reason(Reason::FieldValueForbidden))]
#[x_kube(validation = Rule::new("self.ecosystem != 'npm' || self.name.matches('^(@[a-z0-9~-][a-z0-9._~-]*/)?[a-z0-9~-][a-z0-9._~-]*$')").message("npm package names are lower case, URL-safe, optionally scoped as @scope/name").field_path(".name"))]
#[x_kube(validation = Rule::new("self.ecosystem != 'pypi' || self.name.matches('^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$')").message("PyPI project names are letters, digits and . _ - (no @scope/: that is npm)").field_path(".name"))]
// The version rule is CEL rather than a schema `pattern` so that a range is answered with what to
// do, not with the regular expression (the same one as `patterns::EXACT_VERSION`, written
// without backslashes so it needs no escaping in CEL; a unit test holds the two together).
#[x_kube(validation = Rule::new("self.version.matches('^v?[0-9]+([.][0-9]+)*((a|b|rc|alpha|beta|c|pre|preview)[0-9]*)?([.]?(post|rev|r)[0-9]*)?([.]?dev[0-9]*)?([+][A-Za-z0-9]+([.-][A-Za-z0-9]+)*)?$|^(0|[1-9][0-9]*)[.](0|[1-9][0-9]*)[.](0|[1-9][0-9]*)(-[0-9A-Za-z-]+([.][0-9A-Za-z-]+)*)?([+][0-9A-Za-z-]+([.][0-9A-Za-z-]+)*)?$')").message("pin an exact version, e.g. 1.16.0 (PyPI) or 22.10.1 (npm): ranges such as >=1.0 or ^1.2, wildcards such as 1.x and tags such as latest are refused, so a request always means the same files").field_path(".version"))]
#[serde(rename_all = "camelCase")]
pub struct PackageRequestSpec {
    /// Where the package comes from: `pypi` or `npm`.
    pub ecosystem: Ecosystem,

    /// The package name as the ecosystem spells it (`scikit-learn`, `@types/node`).
    #[schemars(length(min = 1, max = 214), pattern(patterns::PACKAGE_NAME))]
    pub name: String,

    /// One exact version (`1.5.2`, `22.10.1`). Ranges, wildcards and tags such as `latest` are
    /// refused: a request must always mean the same files.
    #[schemars(length(min = 1, max = 128))]
    pub version: String,

    /// The `PackageRepository` to publish into. Its `policyRef` decides; the requester does not
    /// choose the policy.
    #[schemars(length(min = 1, max = 253), pattern(patterns::K8S_NAME))]
    pub repository_ref: String,

    /// Filename globs selecting which of the version's files to bring in (`*cp311*manylinux*x86_64*`,
    /// `*.tar.gz`). All files of the version when omitted. Whatever is published has been scanned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(min = 1, max = 256), pattern(patterns::FILE_GLOB))
    )]
    pub files: Vec<String>,

    /// Why the package is needed; shown to approvers and kept with the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub justification: Option<String>,
}

/// Where a request is in its life. `Published`, `Rejected` and `Quarantined` are where it rests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum PackageRequestPhase {
    Pending,
    Fetching,
    Scanning,
    AwaitingApproval,
    Publishing,
    Published,
    Rejected,
    Failed,
    Quarantined,
}

/// What was decided about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Verdict {
    Approved,
    Denied,
    AwaitingApproval,
}

/// How severe a finding is.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// One verified file of the requested version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedFile {
    pub filename: String,
    /// The upstream URL it was downloaded from.
    pub url: String,
    pub size: u64,
    /// Hex sha256 of the bytes, checked against the registry's digest.
    pub sha256: String,
    /// npm's Subresource Integrity digest (`sha512-…`), when the registry gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_time: Option<Time>,
    /// True when the registry marks the file (or version) yanked or deprecated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub yanked: bool,
}

/// A finding as status shows it: enough to act on, small enough to keep status small.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingSummary {
    /// The rule or advisory id (`heuristics.install-script`, `GHSA-…`, `MAL-…`).
    pub rule: String,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

/// How many findings there were of each severity (all of them, not just those listed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingCounts {
    #[serde(default)]
    pub critical: u32,
    #[serde(default)]
    pub high: u32,
    #[serde(default)]
    pub medium: u32,
    #[serde(default)]
    pub low: u32,
    #[serde(default)]
    pub info: u32,
}

/// The decision on a request and what decided it. Set once, never undone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub verdict: Verdict,
    /// `Policy` when the ScanPolicy decided alone, `Approver` when a human did.
    pub decided_by: String,
    /// The ScanPolicy that judged the findings.
    pub policy: String,
    /// Who approved or denied by hand, from their Kubernetes identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
    /// Why: the policy's words, or the approver's `--reason`.
    pub reason: String,
    /// The findings that decided it (at most 20; `findingCounts` counts them all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<FindingSummary>,
    #[serde(default)]
    pub finding_counts: FindingCounts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Time>,
}

/// A person's decision, as `airlock approve` or `airlock deny` recorded it: who and why kept as
/// fields, so nothing has to be read back out of a condition's message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    /// `Approved` or `Denied`.
    pub verdict: Verdict,
    /// The Kubernetes identity that decided.
    pub by: String,
    /// Their `--reason`.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Time>,
}

/// Where the approved files were published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Publication {
    /// The PackageRepository published into.
    pub repository: String,
    /// What a client points at to install it (an index or registry URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The file names published, each verified and scanned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<Time>,
}

/// What the controller observed and did for a request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageRequestStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PackageRequestPhase>,
    /// `Ready`, `Reconciling`, `Stalled`, `Approved`, `Denied`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Yanked or deprecated upstream, as the registry says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_warning: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<VerifiedFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// A person's approval or denial, once given (with the `Approved` or `Denied` condition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publication: Option<Publication>,
    /// When the files were last scanned (the periodic re-scan moves it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_time: Option<Time>,
    /// The last `airlock.dev/reconcile-requested-at` value the controller acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// Consecutive failed attempts, for back-off; reset on progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
}

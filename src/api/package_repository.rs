//! `PackageRepository`: where approved packages go, which policy judges them, who may publish.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::conditions::Condition;
use super::patterns;

/// A private repository approved packages are published into.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "airlock.dev",
    version = "v1alpha1",
    kind = "PackageRepository",
    plural = "packagerepositories",
    shortname = "pkgrepo",
    category = "airlock",
    status = "PackageRepositoryStatus",
    printcolumn = r#"{"name": "Type", "type": "string", "jsonPath": ".status.type"}"#,
    printcolumn = r#"{"name": "Policy", "type": "string", "jsonPath": ".spec.policyRef"}"#,
    printcolumn = r#"{"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("has(self.codeArtifact) != has(self.builtin)").message("set exactly one of spec.codeArtifact or spec.builtin"))]
#[x_kube(validation = Rule::new("!self.blockUpstream || !has(self.builtin)").message("spec.blockUpstream applies to CodeArtifact only (the built-in repository has no upstream): remove it or set it to false").field_path(".blockUpstream"))]
#[serde(rename_all = "camelCase")]
pub struct PackageRepositorySpec {
    /// Publish into an AWS CodeArtifact repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_artifact: Option<CodeArtifactTarget>,

    /// Publish into airlock's own index, served as a PEP 503/691 index and an npm registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<BuiltinTarget>,

    /// The ScanPolicy that judges every package published into this repository.
    #[schemars(length(min = 1, max = 253), pattern(patterns::K8S_NAME))]
    pub policy_ref: String,

    /// After publishing a package, set its CodeArtifact origin controls to `publish=ALLOW,
    /// upstream=BLOCK`, so no unscanned version of it can arrive through an upstream.
    #[serde(default)]
    pub block_upstream: bool,

    /// Namespaces whose PackageRequests may publish here; `*` for all. Empty means none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(pattern(patterns::NAMESPACE_OR_STAR)))]
    pub allowed_namespaces: Vec<String>,

    /// What deleting a PackageRequest does to what it published.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Unlist a published version when a later advisory quarantines it.
    #[serde(default)]
    pub unlist_on_quarantine: bool,
}

/// An AWS CodeArtifact repository.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CodeArtifactTarget {
    #[schemars(pattern(patterns::AWS_REGION))]
    pub region: String,
    #[schemars(pattern(patterns::CODEARTIFACT_DOMAIN))]
    pub domain: String,
    /// The account that owns the domain, when it is not the controller's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::AWS_ACCOUNT_ID))]
    pub domain_owner: Option<String>,
    #[schemars(pattern(patterns::CODEARTIFACT_REPOSITORY))]
    pub repository: String,
}

/// airlock's built-in repository. It has no settings yet; its presence selects it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BuiltinTarget {}

/// What happens to a published version when its PackageRequest is deleted (CodeArtifact's
/// package version statuses).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum DeletionPolicy {
    /// Leave it installable.
    #[default]
    Retain,
    /// Take it out of the index and version lists; its files still download by direct URL.
    Unlist,
    /// Take it out of the index and refuse downloads; the bytes are kept, so it can return.
    Archive,
    /// Delete its files for good.
    Dispose,
}

/// What the controller observed of a repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageRepositoryStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// `CodeArtifact` or `Builtin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "type")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The PyPI index URL clients install from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pypi_endpoint: Option<String>,
    /// The npm registry URL clients install from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npm_endpoint: Option<String>,
}

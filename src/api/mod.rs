//! The public API: airlock's four custom resources in group `airlock.dev`, version `v1alpha1`.
//!
//! These types are what users write manifests against and what `crds/` is generated from, so a
//! rename here is a breaking change for every GitOps repository that uses airlock.

pub mod conditions;
pub mod package_repository;
pub mod package_request;
pub mod patterns;
pub mod sagemaker_domain;
pub mod scan_policy;

pub use conditions::{Condition, ConditionStatus, set_condition};
pub use package_repository::{PackageRepository, PackageRepositorySpec, PackageRepositoryStatus};
pub use package_request::{PackageRequest, PackageRequestSpec, PackageRequestStatus};
pub use sagemaker_domain::{SageMakerDomain, SageMakerDomainSpec, SageMakerDomainStatus};
pub use scan_policy::{ScanPolicy, ScanPolicySpec, ScanPolicyStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The API group of every airlock kind.
pub const GROUP: &str = "airlock.dev";
/// The one served and stored version.
pub const VERSION: &str = "v1alpha1";
/// The category `kubectl get airlock` lists.
pub const CATEGORY: &str = "airlock";

/// Every CustomResourceDefinition airlock owns, in a stable order (the order of `crds/`).
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        PackageRequest::crd(),
        PackageRepository::crd(),
        ScanPolicy::crd(),
        SageMakerDomain::crd(),
    ]
}

/// The file name under `crds/` for a CRD: `<plural>.<group>.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// A CRD rendered as the YAML `airlock crd` prints and `crds/` holds.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_saphyr::SerializeError> {
    serde_saphyr::to_string(crd)
}

/// Every CRD as one multi-document YAML stream.
pub fn all_crds_yaml() -> Result<String, serde_saphyr::SerializeError> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&crd_yaml(&crd)?);
    }
    Ok(out)
}

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
/// Set to any new value (Flux's convention: the time, RFC 3339) to have the controller reconcile
/// the object now; it echoes the value in `status.lastHandledReconcileAt` once it has.
pub const RECONCILE_REQUESTED_AT: &str = "airlock.dev/reconcile-requested-at";

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
    // Keys sorted everywhere, so the output does not depend on whether some dependency turned on
    // serde_json's `preserve_order` (test builds do): `crds/` must be byte-for-byte reproducible.
    match serde_json::to_value(crd) {
        Ok(v) => serde_saphyr::to_string(&sorted(v)),
        Err(_) => serde_saphyr::to_string(crd),
    }
}

fn sorted(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut entries: Vec<(String, serde_json::Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(sorted).collect())
        }
        other => other,
    }
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

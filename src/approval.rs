//! `airlock approve` / `airlock deny`: a human's decision on a PackageRequest, the cert-manager
//! way — an `Approved` or `Denied` condition set once, never both, never undone, recording who
//! (the kubeconfig identity) and why. It needs `patch` on `packagerequests/status` (the
//! `airlock-approver` ClusterRole in `deploy/`).

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use serde_json::json;

use crate::api::conditions::{ConditionStatus, set_condition, types};
use crate::api::package_request::{Review, Verdict};
use crate::api::{PackageRequest, PackageRequestStatus};

/// The field manager the decision is written with, so its ownership shows in `managedFields`.
pub const FIELD_MANAGER: &str = "airlock-approve";

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error(
        "PackageRequest {namespace}/{name} was already {verdict}: {message}. Decisions are final; create a new PackageRequest to decide again"
    )]
    AlreadyDecided {
        namespace: String,
        name: String,
        verdict: &'static str,
        message: String,
    },
    #[error("PackageRequest {namespace}/{name} does not exist")]
    NotFound { namespace: String, name: String },
    #[error("PackageRequest {namespace}/{name} changed while deciding; run the command again")]
    Changed { namespace: String, name: String },
    #[error("--reason is required: say why, so the decision can be audited")]
    NoReason,
    #[error(
        "{who} may not decide on PackageRequests in {namespace}: that takes get and patch on packagerequests/status, which the airlock-approver ClusterRole grants (deploy/rbac-users.yaml). Ask a cluster administrator to bind it, e.g. `kubectl create rolebinding airlock-approver --clusterrole=airlock-approver --user={who} -n {namespace}`"
    )]
    Forbidden { who: String, namespace: String },
    #[error("cannot reach the cluster: {0}")]
    Kube(String),
}

/// Who the API server says we are (a SelfSubjectReview), since that is who it lets decide; where
/// a server has no such API, the kubeconfig context's user name.
pub async fn identity(client: &kube::Client) -> String {
    let reviews: Api<SelfSubjectReview> = Api::all(client.clone());
    reviews
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .ok()
        .and_then(|r| r.status?.user_info?.username)
        .filter(|u| !u.is_empty())
        .unwrap_or_else(kubeconfig_user)
}

fn kubeconfig_user() -> String {
    Kubeconfig::read()
        .ok()
        .and_then(|k| {
            let current = k.current_context.clone()?;
            k.contexts
                .iter()
                .find(|c| c.name == current)
                .and_then(|c| c.context.as_ref())
                .map(|c| c.user.clone().unwrap_or_default())
        })
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Writes a person's decision into `status`: the `Approved` (or `Denied`) condition, and who and
/// why as the `review` record the controller reads.
pub fn record(
    status: &mut PackageRequestStatus,
    approve: bool,
    who: &str,
    reason: &str,
    generation: Option<i64>,
    now: Time,
) {
    let (kind, reason_word, verb, verdict) = if approve {
        (
            types::APPROVED,
            "ApprovedByUser",
            "approved",
            Verdict::Approved,
        )
    } else {
        (types::DENIED, "DeniedByUser", "denied", Verdict::Denied)
    };
    set_condition(
        &mut status.conditions,
        kind,
        ConditionStatus::True,
        reason_word,
        format!("{verb} by {who}: {reason}"),
        generation,
        now.clone(),
    );
    status.review = Some(Review {
        verdict,
        by: who.into(),
        reason: reason.into(),
        decided_at: Some(now),
    });
}

/// Sets `Approved` (or `Denied`) on the request, once.
pub async fn decide(
    client: kube::Client,
    namespace: &str,
    name: &str,
    approve: bool,
    reason: &str,
    who: &str,
) -> Result<PackageRequest, ApprovalError> {
    if reason.trim().is_empty() {
        return Err(ApprovalError::NoReason);
    }
    let api: Api<PackageRequest> = Api::namespaced(client, namespace);
    let current = match api.get_status(name).await {
        Ok(r) => r,
        Err(kube::Error::Api(e)) if e.code == 404 => {
            return Err(ApprovalError::NotFound {
                namespace: namespace.into(),
                name: name.into(),
            });
        }
        Err(kube::Error::Api(e)) if e.code == 403 => {
            return Err(ApprovalError::Forbidden {
                who: who.into(),
                namespace: namespace.into(),
            });
        }
        Err(e) => return Err(ApprovalError::Kube(e.to_string())),
    };
    let mut status: PackageRequestStatus = current.status.clone().unwrap_or_default();
    for (kind, verdict) in [(types::APPROVED, "approved"), (types::DENIED, "denied")] {
        if let Some(c) = status
            .conditions
            .iter()
            .find(|c| c.type_ == kind && c.status == "True")
        {
            return Err(ApprovalError::AlreadyDecided {
                namespace: namespace.into(),
                name: name.into(),
                verdict,
                message: c.message.clone(),
            });
        }
    }
    record(
        &mut status,
        approve,
        who,
        reason,
        current.metadata.generation,
        Time(k8s_openapi::jiff::Timestamp::now()),
    );
    // A merge patch carrying the resourceVersion it was computed from: if anything (another
    // approver, the controller) wrote meanwhile, the API server answers 409 and nothing is lost.
    let patch = json!({
        "metadata": {"resourceVersion": current.metadata.resource_version},
        "status": {"conditions": status.conditions, "review": status.review},
    });
    match api
        .patch_status(
            name,
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..PatchParams::default()
            },
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(r) => Ok(r),
        Err(kube::Error::Api(e)) if e.code == 409 => Err(ApprovalError::Changed {
            namespace: namespace.into(),
            name: name.into(),
        }),
        Err(kube::Error::Api(e)) if e.code == 403 => Err(ApprovalError::Forbidden {
            who: who.into(),
            namespace: namespace.into(),
        }),
        Err(e) => Err(ApprovalError::Kube(e.to_string())),
    }
}

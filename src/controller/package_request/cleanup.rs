//! Deletion: the repository's deletion policy applied to what the request published — unless
//! another live request still holds the same version, whose deletion then applies it.

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use super::super::error::Error;
use super::Context;
use super::caches_ready;
use super::work::Work;
use crate::api::PackageRequest;
use crate::api::package_repository::DeletionPolicy;

/// Deletion: applies the repository's deletion policy to what the request published.
pub async fn cleanup(
    req: &PackageRequest,
    ctx: &Context,
    api: &Api<PackageRequest>,
) -> Result<Action, Error> {
    let mut w = Work::new(api, ctx, req.clone());
    let Some(publication) = req.status.as_ref().and_then(|s| s.publication.clone()) else {
        return Ok(Action::await_change());
    };
    if !caches_ready(ctx).await {
        return Err(Error::Retry {
            reason: "CachesNotSynced",
            message: "the repository cache is not synced yet".into(),
            failures: 1,
        });
    }
    let Some(repo) = ctx
        .repositories
        .get(&ObjectRef::new(&publication.repository))
    else {
        w.event(
            EventType::Warning,
            "RepositoryNotFound",
            "Delete",
            format!(
                "PackageRepository {} no longer exists; its deletion policy cannot be applied, so what was published stays",
                publication.repository
            ),
        )
        .await;
        return Ok(Action::await_change());
    };
    let policy = repo.spec.deletion_policy;
    if policy != DeletionPolicy::Retain
        && deferred(&w, req, &publication.repository, policy).await?
    {
        return Ok(Action::await_change());
    }
    match ctx
        .targets
        .withdraw(
            &repo,
            req.spec.ecosystem,
            &req.spec.name,
            &req.spec.version,
            policy,
        )
        .await
    {
        Ok(done) => {
            w.event(EventType::Normal, "DeletionPolicyApplied", "Delete", done)
                .await;
            Ok(Action::await_change())
        }
        Err(e) => {
            let message = format!(
                "applying deletion policy {policy:?} failed: {e}; the request stays until it succeeds"
            );
            w.event(
                EventType::Warning,
                "DeletionPolicyFailed",
                "Delete",
                message.clone(),
            )
            .await;
            Err(Error::Retry {
                reason: "DeletionPolicyFailed",
                message,
                failures: w.count_failure().await,
            })
        }
    }
}

/// Whether another team's live request for the same version still needs the files: a deletion
/// policy is the last holder's to apply. Says so in an event.
async fn deferred(
    w: &Work<'_>,
    req: &PackageRequest,
    repository: &str,
    policy: DeletionPolicy,
) -> Result<bool, Error> {
    let holders = other_holders(w.ctx, req, repository).await?;
    if holders.is_empty() {
        return Ok(false);
    }
    w.event(
        EventType::Normal,
        "DeletionPolicyDeferred",
        "Delete",
        format!(
            "{} {} stays in {repository}: {} still hold(s) it; {policy:?} applies when the last request for this version is deleted",
            req.spec.name,
            req.spec.version,
            holders.join(", ")
        ),
    )
    .await;
    Ok(true)
}

/// The other live (not deleting) requests, in any namespace, for the same package version in
/// the same repository, as `namespace/name`. Read from the API server, not a cache: a request
/// created a moment ago counts.
async fn other_holders(
    ctx: &Context,
    req: &PackageRequest,
    repository: &str,
) -> Result<Vec<String>, Error> {
    let key = |r: &PackageRequest| {
        super::super::holdings::key(r.spec.ecosystem, &r.spec.name, &r.spec.version)
    };
    let all = Api::<PackageRequest>::all(ctx.client.clone())
        .list(&kube::api::ListParams::default())
        .await
        .map_err(Error::Kube)?;
    Ok(all
        .items
        .iter()
        .filter(|r| r.metadata.uid != req.metadata.uid)
        .filter(|r| r.metadata.deletion_timestamp.is_none())
        .filter(|r| r.spec.repository_ref == repository && key(r) == key(req))
        .map(|r| format!("{}/{}", r.namespace().unwrap_or_default(), r.name_any()))
        .collect())
}

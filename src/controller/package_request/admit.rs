//! The first steps: find the request's repository and policy, leave settled requests alone (a
//! published one goes to its re-check), and admit the rest — the repository exists and allows
//! the namespace, its policy exists — into a pipeline slot.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use super::super::error::Error;
use super::super::fairness::Slot;
use super::work::{Work, unless_deleted};
use super::{DEFAULT_RESCAN, Step, recheck};
use crate::api::package_request::PackageRequestPhase as Phase;
use crate::api::{PackageRepository, ScanPolicy};

/// The repository and policy as the caches have them, either possibly missing.
pub struct Found {
    pub repo: Option<Arc<PackageRepository>>,
    pub policy: Option<Arc<ScanPolicy>>,
}

/// A request that may go through the pipeline, with where it goes and what judges it.
pub struct Admitted {
    pub repo: Arc<PackageRepository>,
    pub policy: Arc<ScanPolicy>,
}

/// Looks the repository and policy up, and ends here for a request already settled: rejected or
/// quarantined ones wait for a change, a published one is re-checked when due.
pub async fn look_up(w: &mut Work<'_>) -> Result<Step<Found>, Error> {
    let ctx = w.ctx;
    let repo = ctx
        .repositories
        .get(&ObjectRef::new(&w.obj.spec.repository_ref));
    let policy = repo
        .as_ref()
        .and_then(|r| ctx.policies.get(&ObjectRef::new(&r.spec.policy_ref)));
    // `airlock reconcile` (or anyone setting the annotation): acknowledged in status, and a
    // published version is re-checked now rather than when due.
    let requested = super::super::reconcile_requested(&w.obj.metadata);
    let forced = requested.is_some() && requested != w.status().last_handled_reconcile_at;
    if forced {
        w.status().last_handled_reconcile_at = requested;
    }
    match w.found_phase {
        Some(Phase::Rejected) | Some(Phase::Quarantined) => {
            w.save().await?;
            Ok(Step::End(Action::await_change()))
        }
        Some(Phase::Published) => match (repo, policy) {
            (Some(repo), Some(policy)) => recheck::recheck(w, &repo, &policy, forced)
                .await
                .map(Step::End),
            _ => {
                w.save().await?;
                Ok(Step::End(Action::requeue(DEFAULT_RESCAN)))
            }
        },
        _ => Ok(Step::Next(Found { repo, policy })),
    }
}

/// Admits the request, or stalls naming what is missing and how to fix it.
pub async fn admit(w: &mut Work<'_>, found: Found) -> Result<Step<Admitted>, Error> {
    let ns = w.obj.namespace().unwrap_or_default();
    let Some(repo) = found.repo else {
        let message = format!(
            "PackageRepository {:?} does not exist; create it or fix spec.repositoryRef (a new request, since the spec is immutable)",
            w.obj.spec.repository_ref
        );
        return w.stall("RepositoryNotFound", &message).await.map(Step::End);
    };
    if !namespace_allowed(&repo, &ns) {
        let allowed = if repo.spec.allowed_namespaces.is_empty() {
            "no namespace".to_string()
        } else {
            repo.spec.allowed_namespaces.join(", ")
        };
        let message = format!(
            "PackageRepository {} does not allow namespace {ns} (it allows: {allowed}); ask its owner to add {ns} to spec.allowedNamespaces, or request into a repository that allows {ns}",
            repo.name_any()
        );
        return w
            .stall("NamespaceNotAllowed", &message)
            .await
            .map(Step::End);
    }
    let Some(policy) = found.policy else {
        let message = format!(
            "ScanPolicy {:?}, named by PackageRepository {}'s spec.policyRef, does not exist; create it",
            repo.spec.policy_ref,
            repo.name_any()
        );
        return w.stall("PolicyNotFound", &message).await.map(Step::End);
    };
    let generation = w.generation();
    if w.found_phase.is_none() || w.status().observed_generation != generation {
        w.phase(
            Phase::Pending,
            "Pending",
            "accepted; waiting for a pipeline slot",
        );
        if w.save().await? {
            let note = format!(
                "{} into {} (policy {})",
                w.label(),
                repo.name_any(),
                policy.name_any()
            );
            w.event(EventType::Normal, "Accepted", "Accept", note).await;
        }
    }
    Ok(Step::Next(Admitted { repo, policy }))
}

/// A pipeline slot for the request's ecosystem. A deletion does not wait for one: the work is
/// dropped and the next reconcile runs the finalizer.
pub async fn slot<'c>(w: &Work<'c>) -> Step<Slot<'c>> {
    let ctx = w.ctx;
    match unless_deleted(ctx, &w.obj, ctx.slots.acquire(w.obj.spec.ecosystem)).await {
        Some(slot) => Step::Next(slot),
        None => Step::End(Action::requeue(Duration::from_millis(10))),
    }
}

fn namespace_allowed(repo: &PackageRepository, ns: &str) -> bool {
    repo.spec
        .allowed_namespaces
        .iter()
        .any(|n| n == "*" || n == ns)
}

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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::approve;
    use super::super::testing::{Harness, policy, ready, repository, request};
    use super::*;

    /// Runs the first steps (look up, a person's denial, admit) on the stored request; whether
    /// it was admitted, or the action it ended with.
    async fn first_steps(h: &Harness) -> Result<bool, Action> {
        let mut w = h.work();
        let found = match look_up(&mut w).await.expect("look up") {
            Step::Next(f) => f,
            Step::End(a) => return Err(a),
        };
        match approve::unless_denied(&mut w, &found)
            .await
            .expect("denial")
        {
            Step::Next(()) => {}
            Step::End(a) => return Err(a),
        }
        match admit(&mut w, found).await.expect("admit") {
            Step::Next(_) => Ok(true),
            Step::End(a) => Err(a),
        }
    }
    #[tokio::test]
    async fn a_missing_repository_stalls_naming_it() {
        let h = Harness::new(request(Value::Null), vec![], vec![policy()]);
        let fake = &h.fake;
        let ended = first_steps(&h).await;
        assert_eq!(ended, Err(Action::await_change()));
        let writes = fake.status_writes();
        let last = writes.last().expect("a status write");
        assert_eq!(last["status"]["phase"], "Failed");
        let (status, reason, message) = ready(last);
        assert_eq!((status, reason), ("False", "RepositoryNotFound"));
        assert!(
            message.contains("PackageRepository \"local\" does not exist"),
            "{message}"
        );
        assert_eq!(fake.event_reasons(), ["RepositoryNotFound"]);
    }

    #[tokio::test]
    async fn a_namespace_the_repository_does_not_allow_stalls_naming_both() {
        let h = Harness::new(
            request(Value::Null),
            vec![repository(&["team-b"])],
            vec![policy()],
        );
        let fake = &h.fake;
        let ended = first_steps(&h).await;
        assert_eq!(ended, Err(Action::await_change()));
        let writes = fake.status_writes();
        let (_, reason, message) = ready(writes.last().expect("a status write"));
        assert_eq!(reason, "NamespaceNotAllowed");
        assert!(
            message.contains("does not allow namespace team-a (it allows: team-b)"),
            "{message}"
        );
    }

    /// Admitted once: Pending with an Accepted event; admitted again, nothing is rewritten.
    #[tokio::test]
    async fn an_admitted_request_is_pending_once() {
        let h = Harness::new(
            request(Value::Null),
            vec![repository(&["*"])],
            vec![policy()],
        );
        let fake = &h.fake;
        assert_eq!(first_steps(&h).await, Ok(true));
        let writes = fake.status_writes();
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0]["status"]["phase"], "Pending");
        assert_eq!(writes[0]["status"]["observedGeneration"], 1);
        assert_eq!(fake.event_reasons(), ["Accepted"]);
        assert_eq!(first_steps(&h).await, Ok(true));
        assert_eq!(
            fake.status_writes().len(),
            1,
            "nothing changed, nothing written"
        );
        assert_eq!(fake.event_reasons(), ["Accepted"]);
    }

    #[tokio::test]
    async fn a_settled_request_is_left_alone() {
        let h = Harness::new(
            request(json!({"phase": "Rejected", "observedGeneration": 1})),
            vec![repository(&["*"])],
            vec![policy()],
        );
        let fake = &h.fake;
        let ended = first_steps(&h).await;
        assert_eq!(ended, Err(Action::await_change()));
        assert!(fake.status_writes().is_empty());
        assert!(fake.event_reasons().is_empty());
    }

    /// A person's denial ends the request with their name and reason, before anything else.
    #[tokio::test]
    async fn a_denial_by_a_person_rejects_with_who_and_why() {
        let mut status = crate::api::PackageRequestStatus::default();
        crate::approval::record(
            &mut status,
            false,
            "oidc: bob",
            "typosquat",
            Some(1),
            super::super::now(),
        );
        let status = serde_json::to_value(&status).expect("status");
        let h = Harness::new(request(status), vec![repository(&["*"])], vec![policy()]);
        let fake = &h.fake;
        let ended = first_steps(&h).await;
        assert_eq!(ended, Err(Action::await_change()));
        let writes = fake.status_writes();
        let last = writes.last().expect("a status write");
        assert_eq!(last["status"]["phase"], "Rejected");
        assert_eq!(last["status"]["decision"]["approver"], "oidc: bob");
        assert_eq!(last["status"]["decision"]["reason"], "typosquat");
        assert_eq!(last["status"]["decision"]["decidedBy"], "Approver");
        assert_eq!(fake.event_reasons(), ["Denied"]);
    }
}

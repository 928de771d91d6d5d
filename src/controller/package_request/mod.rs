//! Reconcile for `PackageRequest`: resolve, fetch, scan, decide, publish — each step recorded in
//! status before the next begins, so a controller killed anywhere resumes where it stopped, and
//! every step idempotent, so resuming never publishes twice.
//!
//! [`apply`] is the list of steps, one module each: [`admit`] (look up the repository and policy,
//! leave settled requests alone, admit the rest into a pipeline slot), [`fetch`], [`scan`],
//! [`approve`] (the policy's or a person's decision) and [`publish`]; a published version goes to
//! [`recheck`] instead. Deletion is [`cleanup`]. Each step returns a [`Step`]: go on with what it
//! produced, or end this reconcile with an action (a requeue, or a wait for a change once done or
//! stalled). [`work`] holds the request as the steps share it.

mod admit;
mod approve;
mod cleanup;
mod fetch;
mod publish;
mod recheck;
mod scan;
#[cfg(test)]
mod testing;
mod work;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::Store;
use tracing::Instrument;

use super::error::Error;
use super::{Shared, Step};
use crate::api::PackageRequest;
use crate::api::conditions::types;
use work::Work;

/// Held on every request until the repository's deletion policy has been applied.
pub const FINALIZER: &str = "airlock.dev/deletion-policy";
/// Status lists at most this many findings; `findingCounts` counts them all.
pub const MAX_LISTED_FINDINGS: usize = 20;
/// Re-checked against advisories this often when the policy does not say.
pub(super) const DEFAULT_RESCAN: Duration = Duration::from_secs(24 * 3600);

/// What makes a request worth reconciling again: its spec, its finalizers and deletion, and an
/// approver's decision — not the controller's own progress writes.
pub fn trigger_hash(r: &PackageRequest) -> Option<u64> {
    let mut h = DefaultHasher::new();
    super::hash_lifecycle(&r.metadata, &mut h);
    if let Some(s) = &r.status {
        for c in &s.conditions {
            if c.type_ == types::APPROVED || c.type_ == types::DENIED {
                (&c.type_, &c.status, &c.reason).hash(&mut h);
            }
        }
    }
    Some(h.finish())
}

/// What the request controller reads and holds: the intake, the advisory data, the publishing
/// targets, the caches of repositories, policies and requests, and the pipeline's slots.
pub struct Context {
    pub shared: Shared,
    pub resolver: crate::pipeline::resolve::Resolver,
    pub fetcher: crate::pipeline::fetch::Fetcher,
    pub advisories: super::advisories::AdvisorySource,
    pub targets: Arc<crate::publish::target::Targets>,
    pub repositories: Store<crate::api::PackageRepository>,
    pub policies: Store<crate::api::ScanPolicy>,
    /// The requests as the watch sees them: how a reconcile in flight learns of a deletion.
    pub requests: Store<PackageRequest>,
    pub slots: super::fairness::Slots,
    pub limits: crate::pipeline::unpack::Limits,
    #[cfg(feature = "dev")]
    pub fault: Option<String>,
}

impl std::ops::Deref for Context {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// Back-off after `failures` failed attempts: 5 s doubling to at most 5 minutes.
pub fn backoff(failures: u32) -> Duration {
    let secs = 5u64.saturating_mul(1 << failures.saturating_sub(1).min(6));
    Duration::from_secs(secs.min(300))
}

pub fn error_policy(req: Arc<PackageRequest>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.error(err.reason());
    match err {
        // Someone wrote meanwhile (an approver, or our own write racing the cache): read again.
        e if e.is_conflict() => Action::requeue(Duration::from_millis(500)),
        Error::Retry { .. } | Error::Finalizer(_) => {
            let wait = backoff(err.failures().max(1));
            tracing::warn!(namespace = req.namespace().unwrap_or_default(), request = %req.name_any(), error = %err, retry_in = ?wait, "reconcile failed");
            Action::requeue(wait)
        }
        _ => {
            tracing::warn!(namespace = req.namespace().unwrap_or_default(), request = %req.name_any(), error = %err, "reconcile failed");
            Action::requeue(Duration::from_secs(5))
        }
    }
}

pub async fn reconcile(req: Arc<PackageRequest>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _measure = ctx.metrics.count_and_measure("PackageRequest");
    let ns = req.namespace().ok_or(Error::NoNamespace)?;
    let name = req.name_any();
    let api = Api::<PackageRequest>::namespaced(ctx.client.clone(), &ns);
    let span = tracing::info_span!("reconcile", namespace = %ns, request = %name);
    async {
        finalizer(&api, FINALIZER, req, |event| async {
            match event {
                FinalizerEvent::Apply(r) => apply(&r, &ctx, &api).await,
                FinalizerEvent::Cleanup(r) => cleanup::cleanup(&r, &ctx, &api).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)))
    }
    .instrument(span)
    .await
}

fn now() -> Time {
    Time(Timestamp::now())
}

async fn apply(
    cached: &PackageRequest,
    ctx: &Context,
    api: &Api<PackageRequest>,
) -> Result<Action, Error> {
    // The cache can lag the controller's own last write; decisions are made on the live object.
    let fresh = api.get_status(&cached.name_any()).await?;
    let mut w = Work::new(api, ctx, fresh);
    if !caches_ready(ctx).await {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let found = step!(admit::look_up(&mut w).await?);
    step!(approve::unless_denied(&mut w, &found).await?);
    let admitted = step!(admit::admit(&mut w, found).await?);
    let _slot = step!(admit::slot(&w).await);
    let fetched = step!(fetch::fetch(&mut w).await?);
    if let Some(report) = step!(scan::scan(&mut w, &admitted.policy, &fetched).await?) {
        let policy = admitted.policy.name_any();
        step!(approve::decide(&mut w, &policy, &report).await?);
    }
    publish::publish(&mut w, &admitted, &fetched).await
}

/// Whether the repository and policy caches have synced. Bounded: the caches are fed by the
/// controller's own streams, which stop during shutdown, so an unbounded wait could hang it.
async fn caches_ready(ctx: &Context) -> bool {
    let both = async {
        let _ = ctx.repositories.wait_until_ready().await;
        let _ = ctx.policies.wait_until_ready().await;
    };
    tokio::time::timeout(Duration::from_secs(5), both)
        .await
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::super::kstatus::set_phase;
    use super::approve::by_user;
    use super::*;
    use crate::api::PackageRequestStatus;
    use crate::api::conditions::{ConditionStatus, set_condition, types};
    use crate::api::package_request::PackageRequestPhase as Phase;

    #[test]
    fn backoff_doubles_to_five_minutes() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    /// Who and why come from the fields `airlock approve` writes, whatever they contain.
    #[test]
    fn an_approver_and_reason_are_read_as_written() {
        let mut status = PackageRequestStatus::default();
        crate::approval::record(
            &mut status,
            true,
            "oidc: alice",
            "reviewed: the install script is benign",
            Some(1),
            now(),
        );
        assert_eq!(
            by_user(&status, types::APPROVED),
            Some((
                Some("oidc: alice".into()),
                "reviewed: the install script is benign".into()
            ))
        );
        assert_eq!(by_user(&status, types::DENIED), None);
        let mut denied = PackageRequestStatus::default();
        crate::approval::record(&mut denied, false, "bob", "typosquat", Some(1), now());
        assert_eq!(
            by_user(&denied, types::DENIED),
            Some((Some("bob".into()), "typosquat".into()))
        );
    }

    #[test]
    fn own_progress_writes_do_not_trigger_but_decisions_do() {
        let mut r: PackageRequest = serde_json::from_value(serde_json::json!({
            "apiVersion": "airlock.dev/v1alpha1", "kind": "PackageRequest",
            "metadata": {"name": "x", "namespace": "n", "generation": 1},
            "spec": {"ecosystem": "pypi", "name": "x", "version": "1", "repositoryRef": "r"},
        }))
        .expect("request");
        let before = trigger_hash(&r);
        let mut status = PackageRequestStatus::default();
        set_phase(&mut status, Phase::Scanning, "Scanning", "", Some(1), now());
        r.status = Some(status.clone());
        assert_eq!(trigger_hash(&r), before);
        set_condition(
            &mut status.conditions,
            types::APPROVED,
            ConditionStatus::True,
            "ApprovedByUser",
            "approved by a: b",
            Some(1),
            now(),
        );
        r.status = Some(status);
        assert_ne!(trigger_hash(&r), before);
    }
}

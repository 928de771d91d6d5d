//! Reconcile for `PackageRequest`: resolve, fetch, scan, decide, publish — each step recorded in
//! status before the next begins, so a controller killed anywhere resumes where it stopped, and
//! every step idempotent, so resuming never publishes twice.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::Instrument;

use super::Context;
use super::error::Error;
use super::kstatus::{set_phase, set_retrying};
use super::target::PublishFile;
use crate::api::conditions::{ConditionStatus, find_condition, set_condition, types};
use crate::api::package_repository::DeletionPolicy;
use crate::api::package_request::{
    Decision, FindingCounts, FindingSummary, PackageRequestPhase as Phase, Publication, Severity,
    Verdict, VerifiedFile,
};
use crate::api::{PackageRepository, PackageRequest, PackageRequestStatus, ScanPolicy};
use crate::pipeline::package::PackageRef;
use crate::pipeline::resolve::{ResolveError, ResolvedPackage};
use crate::scan::decide::{self, Verdict as ScanVerdict};
use crate::scan::package::{LocalFile, Subject};

/// Held on every request until the repository's deletion policy has been applied.
pub const FINALIZER: &str = "airlock.dev/deletion-policy";
/// Status lists at most this many findings; `findingCounts` counts them all.
pub const MAX_LISTED_FINDINGS: usize = 20;
/// Re-checked against advisories this often when the policy does not say.
const DEFAULT_RESCAN: Duration = Duration::from_secs(24 * 3600);

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
    ctx.metrics.reconciled();
    let ns = req.namespace().ok_or(Error::NoNamespace)?;
    let name = req.name_any();
    let api = Api::<PackageRequest>::namespaced(ctx.client.clone(), &ns);
    let span = tracing::info_span!("reconcile", namespace = %ns, request = %name);
    async {
        finalizer(&api, FINALIZER, req, |event| async {
            match event {
                FinalizerEvent::Apply(r) => apply(&r, &ctx, &api).await,
                FinalizerEvent::Cleanup(r) => cleanup(&r, &ctx, &api).await,
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

/// The request being worked on: its latest known state, written back as the work moves on.
struct Work<'a> {
    api: &'a Api<PackageRequest>,
    ctx: &'a Context,
    obj: PackageRequest,
    /// The status as last written (or read), to skip writes that change nothing.
    saved: PackageRequestStatus,
    reference: k8s_openapi::api::core::v1::ObjectReference,
}

impl<'a> Work<'a> {
    fn new(api: &'a Api<PackageRequest>, ctx: &'a Context, obj: PackageRequest) -> Work<'a> {
        let saved = obj.status.clone().unwrap_or_default();
        let reference = obj.object_ref(&());
        Work {
            api,
            ctx,
            obj,
            saved,
            reference,
        }
    }

    fn status(&mut self) -> &mut PackageRequestStatus {
        self.obj.status.get_or_insert_with(Default::default)
    }

    fn generation(&self) -> Option<i64> {
        self.obj.metadata.generation
    }

    fn label(&self) -> String {
        format!(
            "{}:{} {}",
            self.obj.spec.ecosystem, self.obj.spec.name, self.obj.spec.version
        )
    }

    fn phase(&mut self, phase: Phase, reason: &str, message: &str) {
        let generation = self.generation();
        set_phase(self.status(), phase, reason, message, generation, now());
    }

    /// Writes status when it changed, guarded by the resourceVersion it was computed from: a
    /// write that raced an approver's fails with 409 and the reconcile starts again.
    async fn save(&mut self) -> Result<bool, Error> {
        if self.obj.status.as_ref() == Some(&self.saved) {
            return Ok(false);
        }
        self.obj = super::write_status(self.api, &self.obj).await?;
        self.saved = self.obj.status.clone().unwrap_or_default();
        Ok(true)
    }

    async fn event(&self, type_: EventType, reason: &str, action: &str, note: String) {
        super::record(self.ctx, &self.reference, type_, reason, action, note).await;
    }

    /// Counts one more consecutive failure in status (what the back-off doubles on) and returns
    /// the count; a failure to save it only shortens the next wait.
    async fn count_failure(&mut self) -> u32 {
        let failures = self.status().failures.unwrap_or(0) + 1;
        self.status().failures = Some(failures);
        if let Err(e) = self.save().await {
            tracing::debug!(error = %e, "could not record the failure count");
        }
        failures
    }

    /// Records a failure: retried with back-off when `retryable`, else `Stalled` with the reason.
    async fn fail(
        &mut self,
        retryable: bool,
        reason: &'static str,
        message: String,
    ) -> Result<Action, Error> {
        self.ctx.metrics.error(reason);
        let failures = self.status().failures.unwrap_or(0) + 1;
        self.status().failures = Some(failures);
        if retryable {
            let wait = backoff(failures);
            let text = format!(
                "attempt {failures} failed: {message}; retrying in {}s",
                wait.as_secs()
            );
            let generation = self.generation();
            set_retrying(self.status(), reason, &text, generation, now());
            self.save().await?;
            self.event(EventType::Warning, reason, "Retry", text).await;
            Err(Error::Retry {
                reason,
                message,
                failures,
            })
        } else {
            self.stall(reason, &message).await
        }
    }

    /// `Stalled`: nothing will change until a human does something; the message says what.
    async fn stall(&mut self, reason: &'static str, message: &str) -> Result<Action, Error> {
        self.phase(Phase::Failed, reason, message);
        if self.save().await? {
            self.ctx.metrics.error(reason);
            self.event(EventType::Warning, reason, "Stall", message.to_string())
                .await;
        }
        Ok(Action::await_change())
    }
}

fn resolve_reason(e: &ResolveError) -> &'static str {
    match e {
        ResolveError::PackageNotFound { .. } => "PackageNotFound",
        ResolveError::VersionNotFound { .. } => "VersionNotFound",
        ResolveError::NoFileMatches { .. } => "NoFileMatches",
        ResolveError::NothingScannable { .. } => "NothingScannable",
        ResolveError::BadDocument { .. } => "BadRegistryDocument",
        ResolveError::Http(_) => "RegistryUnavailable",
    }
}

fn namespace_allowed(repo: &PackageRepository, ns: &str) -> bool {
    repo.spec
        .allowed_namespaces
        .iter()
        .any(|n| n == "*" || n == ns)
}

fn counts(findings: &[FindingSummary]) -> FindingCounts {
    let mut c = FindingCounts::default();
    for f in findings {
        match f.severity {
            Severity::Critical => c.critical += 1,
            Severity::High => c.high += 1,
            Severity::Medium => c.medium += 1,
            Severity::Low => c.low += 1,
            Severity::Info => c.info += 1,
        }
    }
    c
}

/// The decision as status keeps it: the deciding findings first, capped.
fn status_decision(
    verdict: Verdict,
    policy: &str,
    scan: &decide::Decision,
    all: &[FindingSummary],
) -> Decision {
    let mut listed: Vec<FindingSummary> = scan.deciding.clone();
    for f in all {
        if listed.len() >= MAX_LISTED_FINDINGS {
            break;
        }
        if !listed.contains(f) {
            listed.push(f.clone());
        }
    }
    listed.truncate(MAX_LISTED_FINDINGS);
    Decision {
        verdict,
        decided_by: "Policy".into(),
        policy: policy.to_string(),
        approver: None,
        reason: scan.reason.clone(),
        findings: listed,
        finding_counts: counts(all),
        decided_at: Some(now()),
    }
}

/// Who decided by hand and why, when a person gave the `type_` (`Approved`/`Denied`) decision:
/// from the `review` record `airlock approve` writes. A condition set by other means (an editor
/// of the status) names no one, and its message is the reason.
fn by_user(status: &PackageRequestStatus, type_: &str) -> Option<(Option<String>, String)> {
    let condition = find_condition(&status.conditions, type_)
        .filter(|c| c.status == "True" && c.reason.ends_with("ByUser"))?;
    let verdict = if type_ == types::APPROVED {
        Verdict::Approved
    } else {
        Verdict::Denied
    };
    Some(match &status.review {
        Some(review) if review.verdict == verdict => {
            (Some(review.by.clone()), review.reason.clone())
        }
        _ => (None, condition.message.clone()),
    })
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

async fn apply(
    cached: &PackageRequest,
    ctx: &Context,
    api: &Api<PackageRequest>,
) -> Result<Action, Error> {
    // The cache can lag the controller's own last write; decisions are made on the live object.
    let fresh = api.get_status(&cached.name_any()).await?;
    let ns = fresh.namespace().unwrap_or_default();
    let mut w = Work::new(api, ctx, fresh);
    let status = w.status().clone();
    let spec = w.obj.spec.clone();
    if !caches_ready(ctx).await {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let repo = ctx.repositories.get(&ObjectRef::new(&spec.repository_ref));
    let policy = repo
        .as_ref()
        .and_then(|r| ctx.policies.get(&ObjectRef::new(&r.spec.policy_ref)));

    // `airlock reconcile` (or anyone setting the annotation): acknowledged in status, and a
    // published version is re-checked now rather than when due.
    let requested = super::reconcile_requested(&w.obj.metadata);
    let forced = requested.is_some() && requested != status.last_handled_reconcile_at;
    if forced {
        w.status().last_handled_reconcile_at = requested;
    }
    match status.phase {
        Some(Phase::Rejected) | Some(Phase::Quarantined) => {
            w.save().await?;
            return Ok(Action::await_change());
        }
        Some(Phase::Published) => {
            return match (repo, policy) {
                (Some(repo), Some(policy)) => recheck(w, &repo, &policy, forced).await,
                _ => {
                    w.save().await?;
                    Ok(Action::requeue(DEFAULT_RESCAN))
                }
            };
        }
        _ => {}
    }
    if let Some((who, why)) = by_user(&status, types::DENIED) {
        let decision = Decision {
            verdict: Verdict::Denied,
            decided_by: "Approver".into(),
            policy: policy.as_ref().map(|p| p.name_any()).unwrap_or_default(),
            approver: who.clone(),
            reason: why.clone(),
            findings: status
                .decision
                .as_ref()
                .map(|d| d.findings.clone())
                .unwrap_or_default(),
            finding_counts: status
                .decision
                .as_ref()
                .map(|d| d.finding_counts.clone())
                .unwrap_or_default(),
            decided_at: Some(now()),
        };
        w.status().decision = Some(decision);
        let message = format!(
            "denied by {}: {why}; nothing was published",
            who.as_deref().unwrap_or("an approver")
        );
        w.phase(Phase::Rejected, "Denied", &message);
        if w.save().await? {
            w.event(EventType::Warning, "Denied", "Decide", message)
                .await;
        }
        return Ok(Action::await_change());
    }

    let Some(repo) = repo else {
        return w
            .stall(
                "RepositoryNotFound",
                &format!(
                    "PackageRepository {:?} does not exist; create it or fix spec.repositoryRef (a new request, since the spec is immutable)",
                    spec.repository_ref
                ),
            )
            .await;
    };
    if !namespace_allowed(&repo, &ns) {
        let allowed = if repo.spec.allowed_namespaces.is_empty() {
            "no namespace".to_string()
        } else {
            repo.spec.allowed_namespaces.join(", ")
        };
        return w
            .stall(
                "NamespaceNotAllowed",
                &format!(
                    "PackageRepository {} does not allow namespace {ns} (it allows: {allowed}); ask its owner to add {ns} to spec.allowedNamespaces, or request into a repository that allows {ns}",
                    repo.name_any()
                ),
            )
            .await;
    }
    let Some(policy) = policy else {
        return w
            .stall(
                "PolicyNotFound",
                &format!(
                    "ScanPolicy {:?}, named by PackageRepository {}'s spec.policyRef, does not exist; create it",
                    repo.spec.policy_ref,
                    repo.name_any()
                ),
            )
            .await;
    };

    if status.phase.is_none() || status.observed_generation != w.generation() {
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
    // A deletion does not wait for a download in flight (or for a slot): the work is dropped
    // and the next reconcile runs the finalizer.
    let Some(_slot) = unless_deleted(ctx, &w.obj, ctx.slots.acquire(spec.ecosystem)).await else {
        return Ok(Action::requeue(Duration::from_millis(10)));
    };

    // Fetch: resolve the version's files and download them, verified, into the cache.
    let first_fetch = status.files.is_empty();
    w.phase(
        Phase::Fetching,
        "Fetching",
        &format!("resolving and downloading {}", w.label()),
    );
    w.save().await?;
    let package = PackageRef {
        ecosystem: spec.ecosystem,
        name: spec.name.clone(),
        version: spec.version.clone(),
    };
    let resolving = unless_deleted(ctx, &w.obj, ctx.resolver.resolve(&package, &spec.files));
    let Some(resolved) = resolving.await else {
        return Ok(Action::requeue(Duration::from_millis(10)));
    };
    let resolved: ResolvedPackage = match resolved {
        Ok(r) => r,
        Err(e) => {
            return w
                .fail(e.retryable(), resolve_reason(&e), e.to_string())
                .await;
        }
    };
    let mut local = Vec::new();
    let mut verified = Vec::new();
    for f in &resolved.files {
        let Some(fetched) = unless_deleted(ctx, &w.obj, ctx.fetcher.fetch(f)).await else {
            tracing::info!(file = %f.filename, "the request is being deleted: the download stops");
            return Ok(Action::requeue(Duration::from_millis(10)));
        };
        let fetched = match fetched {
            Ok(x) => x,
            Err(e) => {
                let reason = match e {
                    crate::pipeline::fetch::FetchError::DigestMismatch { .. } => "DigestMismatch",
                    _ => "DownloadFailed",
                };
                return w.fail(e.retryable(), reason, e.to_string()).await;
            }
        };
        verified.push(VerifiedFile {
            filename: f.filename.clone(),
            url: f.url.to_string(),
            size: fetched.size,
            sha256: fetched.sha256.clone(),
            integrity: f
                .digests
                .sha512
                .as_deref()
                .map(crate::pipeline::resolve::sha512_integrity),
            upload_time: f
                .upload_time
                .as_deref()
                .and_then(|t| t.parse::<Timestamp>().ok())
                .map(Time),
            yanked: f.yanked.is_some(),
        });
        local.push((
            LocalFile {
                filename: f.filename.clone(),
                path: fetched.path,
                kind: f.kind,
                sha256: Some(fetched.sha256),
                upload_time: f.upload_time.clone(),
            },
            f.requires_python.clone(),
        ));
    }
    {
        let s = w.status();
        s.files = verified;
        s.upstream_warning = resolved.warning.clone();
    }
    if first_fetch {
        let bytes: u64 = w.status().files.iter().map(|f| f.size).sum();
        let note = format!(
            "downloaded and verified {} file(s), {bytes} bytes, against the registry's digests",
            local.len()
        );
        w.event(EventType::Normal, "Fetched", "Fetch", note).await;
    }

    // Scan and decide, unless a decision to publish is already recorded (a restart after it).
    let already_approved = status
        .decision
        .as_ref()
        .is_some_and(|d| d.verdict == Verdict::Approved);
    if !already_approved {
        w.phase(
            Phase::Scanning,
            "Scanning",
            &format!(
                "scanning {} file(s) with policy {}",
                local.len(),
                policy.name_any()
            ),
        );
        w.save().await?;
        let started = Instant::now();
        let db = ctx.advisories.current().await;
        let policy_spec = policy.spec.clone();
        let files: Vec<LocalFile> = local.iter().map(|(f, _)| f.clone()).collect();
        let (ecosystem, name, version) = (
            spec.ecosystem,
            resolved.name.clone(),
            resolved.version.clone(),
        );
        let metadata = resolved.metadata.clone();
        let limits = ctx.limits.clone();
        let report = tokio::task::spawn_blocking(move || {
            crate::scan::package::scan(
                &Subject {
                    ecosystem,
                    name: &name,
                    version: &version,
                    metadata: &metadata,
                    files: &files,
                },
                &[db.as_ref()],
                &policy_spec,
                &limits,
                Timestamp::now(),
            )
        })
        .await;
        let report = match report {
            Ok(r) => r,
            Err(e) => return w.fail(true, "ScannerCrashed", e.to_string()).await,
        };
        ctx.metrics.scanned(started.elapsed());
        w.status().last_scan_time = Some(now());
        let approved_by = by_user(&status, types::APPROVED);
        let policy_name = policy.name_any();
        match report.decision.verdict {
            ScanVerdict::Denied => {
                let decision = status_decision(
                    Verdict::Denied,
                    &policy_name,
                    &report.decision,
                    &report.findings,
                );
                let top = decision
                    .findings
                    .first()
                    .map(|f| {
                        format!(
                            " ({} {:?}{}{})",
                            f.rule,
                            f.severity,
                            f.file
                                .as_deref()
                                .map(|x| format!(" in {x}"))
                                .unwrap_or_default(),
                            f.line.map(|l| format!(":{l}")).unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                let message = format!(
                    "policy {policy_name} denied {}: {}{top}; nothing was published",
                    w.label(),
                    report.decision.reason
                );
                w.status().decision = Some(decision);
                // Never both: a human approval already given stays, and the denial shows in phase.
                if approved_by.is_none() {
                    let generation = w.generation();
                    set_condition(
                        &mut w.status().conditions,
                        types::DENIED,
                        ConditionStatus::True,
                        "PolicyDenied",
                        message.clone(),
                        generation,
                        now(),
                    );
                }
                w.phase(Phase::Rejected, "Denied", &message);
                w.status().failures = None;
                if w.save().await? {
                    w.event(EventType::Warning, "Denied", "Decide", message)
                        .await;
                }
                return Ok(Action::await_change());
            }
            ScanVerdict::AwaitingApproval if approved_by.is_none() => {
                let decision = status_decision(
                    Verdict::AwaitingApproval,
                    &policy_name,
                    &report.decision,
                    &report.findings,
                );
                let name = w.obj.name_any();
                let message = format!(
                    "policy {policy_name} asks a human: {}. Review status.decision, then `airlock approve {name} -n {ns} --reason TEXT` or `airlock deny {name} -n {ns} --reason TEXT`",
                    report.decision.reason
                );
                w.status().decision = Some(decision);
                w.status().failures = None;
                w.phase(Phase::AwaitingApproval, "AwaitingApproval", &message);
                if w.save().await? && status.phase != Some(Phase::AwaitingApproval) {
                    w.event(EventType::Normal, "ApprovalRequired", "Decide", message)
                        .await;
                }
                return Ok(Action::await_change());
            }
            verdict => {
                let mut decision = status_decision(
                    Verdict::Approved,
                    &policy_name,
                    &report.decision,
                    &report.findings,
                );
                let generation = w.generation();
                let message = match (&approved_by, verdict) {
                    (Some((who, why)), ScanVerdict::AwaitingApproval) => {
                        decision.decided_by = "Approver".into();
                        decision.approver = who.clone();
                        decision.reason = why.clone();
                        format!(
                            "approved by {}: {why}",
                            who.as_deref().unwrap_or("an approver")
                        )
                    }
                    _ => {
                        let message =
                            format!("policy {policy_name} approved: {}", report.decision.reason);
                        if approved_by.is_none() {
                            set_condition(
                                &mut w.status().conditions,
                                types::APPROVED,
                                ConditionStatus::True,
                                "PolicyApproved",
                                message.clone(),
                                generation,
                                now(),
                            );
                        }
                        message
                    }
                };
                w.status().decision = Some(decision);
                w.save().await?;
                w.event(EventType::Normal, "Approved", "Decide", message)
                    .await;
            }
        }
    }

    // Publish. Every target is idempotent, so a restart that finds `Publishing` publishes again
    // and finds the files already there.
    w.phase(
        Phase::Publishing,
        "Publishing",
        &format!(
            "publishing {} file(s) into {}",
            local.len(),
            repo.name_any()
        ),
    );
    w.save().await?;
    let started = Instant::now();
    let files: Vec<PublishFile> = local
        .iter()
        .map(|(f, requires_python)| PublishFile {
            path: f.path.clone(),
            filename: f.filename.clone(),
            kind: f.kind,
            requires_python: requires_python.clone(),
        })
        .collect();
    let published = match ctx
        .targets
        .publish(
            &repo,
            spec.ecosystem,
            &resolved.name,
            &resolved.version,
            &files,
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return w.fail(e.retryable, "PublishFailed", e.message).await,
    };
    #[cfg(feature = "dev")]
    if ctx.fault.as_deref() == Some("exit-after-publish") {
        tracing::error!("fault injection: exiting after publishing, before recording it");
        std::process::exit(86);
    }
    ctx.metrics.published(started.elapsed());
    let endpoint = published.endpoint.clone();
    w.status().publication = Some(Publication {
        repository: repo.name_any(),
        endpoint: endpoint.clone(),
        files: files.iter().map(|f| f.filename.clone()).collect(),
        published_at: Some(now()),
    });
    w.status().failures = None;
    let message = format!(
        "{} published into {}{} ({} new file(s), {} already there)",
        w.label(),
        repo.name_any(),
        endpoint
            .as_deref()
            .map(|e| format!("; install from {e}"))
            .unwrap_or_default(),
        published.created,
        files.len() - published.created
    );
    w.phase(Phase::Published, "Published", &message);
    w.save().await?;
    w.event(EventType::Normal, "Published", "Publish", message)
        .await;
    Ok(Action::requeue(rescan_interval(&policy)))
}

/// Runs `work` unless the request is marked for deletion first (as the watch sees it); `None`
/// then, and `work` is dropped — a download stops where it is.
async fn unless_deleted<T>(
    ctx: &Context,
    req: &PackageRequest,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    let key = ObjectRef::from_obj(req);
    let deleting = async {
        loop {
            if ctx
                .requests
                .get(&key)
                .is_some_and(|r| r.metadata.deletion_timestamp.is_some())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    tokio::select! {
        v = work => Some(v),
        () = deleting => None,
    }
}

fn rescan_interval(policy: &ScanPolicy) -> Duration {
    policy
        .spec
        .rescan_interval
        .as_ref()
        .map(|d| Duration::from(*d))
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_RESCAN)
}

/// A published version, re-checked against the current advisory data when its re-scan interval
/// has passed: quarantined (and unlisted, if the repository says so) when the policy would now
/// deny it.
async fn recheck(
    mut w: Work<'_>,
    repo: &PackageRepository,
    policy: &ScanPolicy,
    forced: bool,
) -> Result<Action, Error> {
    let interval = rescan_interval(policy);
    let last = w
        .status()
        .last_scan_time
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let due = last
        .checked_add(k8s_openapi::jiff::SignedDuration::try_from(interval).unwrap_or_default())
        .unwrap_or(last);
    let now_ts = Timestamp::now();
    if now_ts < due && !forced {
        let wait = now_ts.duration_until(due);
        return Ok(Action::requeue(
            Duration::try_from(wait)
                .unwrap_or(interval)
                .max(Duration::from_millis(100)),
        ));
    }
    let ctx = w.ctx;
    let db = ctx.advisories.current().await;
    let spec = w.obj.spec.clone();
    let Some(verdict) = decide::advisories_now(
        &db,
        &policy.spec,
        spec.ecosystem,
        &spec.name,
        &spec.version,
        now_ts,
    ) else {
        // Nothing to re-check against yet; the data's arrival reconciles every request.
        w.save().await?;
        return Ok(Action::requeue(interval));
    };
    w.status().last_scan_time = Some(now());
    if verdict.verdict != ScanVerdict::Denied {
        w.save().await?;
        return Ok(Action::requeue(interval));
    }
    let mut message = format!(
        "a new advisory affects {}: {}; {}",
        w.label(),
        verdict.deciding_list(),
        verdict.reason
    );
    if repo.spec.unlist_on_quarantine {
        match ctx
            .targets
            .withdraw(
                repo,
                spec.ecosystem,
                &spec.name,
                &spec.version,
                crate::api::package_repository::DeletionPolicy::Unlist,
            )
            .await
        {
            Ok(done) => message.push_str(&format!("; {done}")),
            Err(e) => {
                if e.retryable {
                    return Err(Error::Retry {
                        reason: "UnlistFailed",
                        message: e.message,
                        failures: w.count_failure().await,
                    });
                }
                message.push_str(&format!("; unlisting failed: {e}"));
            }
        }
    } else {
        message.push_str(&format!(
            "; still installable from {} (set spec.unlistOnQuarantine to unlist)",
            repo.name_any()
        ));
    }
    w.phase(Phase::Quarantined, "Quarantined", &message);
    if w.save().await? {
        w.event(EventType::Warning, "Quarantined", "Rescan", message)
            .await;
    }
    Ok(Action::await_change())
}

/// Deletion: applies the repository's deletion policy to what the request published.
async fn cleanup(
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
    // Another team's live request for the same version still needs the files: a deletion
    // policy is the last holder's to apply.
    if policy != DeletionPolicy::Retain {
        let holders = other_holders(ctx, req, &publication.repository).await?;
        if !holders.is_empty() {
            w.event(
                EventType::Normal,
                "DeletionPolicyDeferred",
                "Delete",
                format!(
                    "{} {} stays in {}: {} still hold(s) it; {policy:?} applies when the last request for this version is deleted",
                    req.spec.name,
                    req.spec.version,
                    publication.repository,
                    holders.join(", ")
                ),
            )
            .await;
            return Ok(Action::await_change());
        }
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

/// The other live (not deleting) requests, in any namespace, for the same package version in
/// the same repository, as `namespace/name`. Read from the API server, not a cache: a request
/// created a moment ago counts.
async fn other_holders(
    ctx: &Context,
    req: &PackageRequest,
    repository: &str,
) -> Result<Vec<String>, Error> {
    let key =
        |r: &PackageRequest| super::holdings::key(r.spec.ecosystem, &r.spec.name, &r.spec.version);
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

#[cfg(test)]
mod tests {
    use super::*;

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

//! Reconcile for `SageMakerDomain`: describe the domain, compare it with the declared network and
//! encryption, correct in place what `UpdateDomain` can correct (under `Enforce`), and report
//! precisely what it cannot. In sync, a resync costs exactly one `DescribeDomain`.

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Resource, ResourceExt};
use tracing::Instrument;

use super::error::Error;
use super::kstatus::Progress;
use super::report::{Judged, Tracked};
use super::{Shared, Step};
use crate::api::conditions::{ConditionStatus, set_condition, types};
use crate::api::sagemaker_domain::{
    DomainDeletionPolicy, ManagementPolicy, SageMakerDomain, SageMakerDomainSpec,
    SageMakerDomainStatus,
};
use crate::aws::sagemaker::{DomainView, Domains, SageMakerError};

mod drift;
use drift::describe as describe_drift;
use drift::{Drift, correction, diff};

/// Held until the deletion policy has been applied.
pub const FINALIZER: &str = "airlock.dev/domain-deletion-policy";
/// Seconds between `lastSyncTime` writes when nothing else changed.
const LAST_SYNC_REFRESH: i64 = 60;
/// How often a domain SageMaker is changing is looked at again.
const POLL: Duration = Duration::from_secs(2);

/// SageMaker clients by region.
pub type SageMakerClients = crate::aws::Regional<Domains>;

/// What the domain controller reads: SageMaker clients by region and the default resync.
pub struct Context {
    pub shared: Shared,
    pub sagemaker: SageMakerClients,
    /// How often a domain is compared with AWS when its spec does not say.
    pub default_resync: Duration,
}

impl std::ops::Deref for Context {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// The SageMaker clients the domain reconcile uses.
pub fn sagemaker_clients(aws: super::AwsSettings) -> SageMakerClients {
    crate::aws::Regional::new(aws, |config| {
        Domains::new(aws_sdk_sagemaker::Client::new(config))
    })
}

/// Spec, finalizers and deletion trigger a reconcile; the controller's own status writes do not
/// (they would double the AWS calls of every resync).
pub fn trigger_hash(d: &SageMakerDomain) -> Option<u64> {
    let mut h = DefaultHasher::new();
    super::hash_lifecycle(&d.metadata, &mut h);
    Some(h.finish())
}

pub fn error_policy(d: Arc<SageMakerDomain>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.error(err.reason());
    tracing::warn!(namespace = d.namespace().unwrap_or_default(), domain = %d.name_any(), error = %err, "reconcile failed");
    if err.is_conflict() {
        Action::requeue(Duration::from_millis(500))
    } else {
        Action::requeue(Duration::from_secs(10))
    }
}

pub async fn reconcile(d: Arc<SageMakerDomain>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _measure = ctx.metrics.count_and_measure("SageMakerDomain");
    let ns = d.namespace().ok_or(Error::NoNamespace)?;
    let api = Api::<SageMakerDomain>::namespaced(ctx.client.clone(), &ns);
    let span = tracing::info_span!("reconcile", namespace = %ns, domain = %d.name_any());
    async {
        finalizer(&api, FINALIZER, d, |event| async {
            match event {
                FinalizerEvent::Apply(d) => apply(&d, &ctx, &api).await,
                FinalizerEvent::Cleanup(d) => cleanup(&d, &ctx).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)))
    }
    .instrument(span)
    .await
}

/// The domain being worked on: [`Tracked`] with the domain's phase words, skipping writes that
/// only move `lastSyncTime` ([`only_sync_time_moved`]).
struct Work<'a> {
    tracked: Tracked<'a, SageMakerDomain>,
    ctx: &'a Context,
}

impl<'a> std::ops::Deref for Work<'a> {
    type Target = Tracked<'a, SageMakerDomain>;
    fn deref(&self) -> &Self::Target {
        &self.tracked
    }
}

impl std::ops::DerefMut for Work<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tracked
    }
}

impl Work<'_> {
    fn progress(&mut self, phase: &str, progress: Progress, reason: &str, message: &str) {
        self.status().phase = Some(phase.into());
        self.judge(&Judged {
            progress,
            reason,
            message,
        });
    }

    /// A phase change, with an event when it is new.
    async fn settle(
        &mut self,
        phase: &str,
        progress: Progress,
        reason: &str,
        message: &str,
        event: Option<EventType>,
    ) -> Result<(), Error> {
        self.status().phase = Some(phase.into());
        let judged = Judged {
            progress,
            reason,
            message,
        };
        self.tracked.settle(&judged, phase, event).await
    }
}

/// A resync that found nothing new moves only lastSyncTime: written at most once a minute, so
/// short resync periods do not turn into a status write per resync.
fn only_sync_time_moved(current: &SageMakerDomainStatus, saved: &SageMakerDomainStatus) -> bool {
    let mut same = current.clone();
    same.last_sync_time = saved.last_sync_time.clone();
    let fresh = saved.last_sync_time.as_ref().is_some_and(|t| {
        Timestamp::now().duration_since(t.0) < SignedDuration::from_secs(LAST_SYNC_REFRESH)
    });
    same == *saved && fresh
}

/// With `create: true` and no domain yet: the domain of the declared name if one is there (a
/// restart after `CreateDomain` adopts it, never creates twice), or a new one.
async fn create_or_adopt(
    w: &mut Work<'_>,
    sm: &Domains,
    spec: &SageMakerDomainSpec,
    resync: Duration,
) -> Result<Step<String>, Error> {
    let new = match drift::new_domain(spec) {
        Ok(new) => new,
        Err(msg) => {
            w.settle(
                "Failed",
                Progress::Stalled,
                "InvalidSpec",
                &msg,
                Some(EventType::Warning),
            )
            .await?;
            return Ok(Step::End(Action::await_change()));
        }
    };
    let name = new.name.clone();
    match sm.find_by_name(&name).await {
        Ok(Some(id)) => {
            w.status().domain_id = Some(id.clone());
            w.save().await?;
            return Ok(Step::Next(id));
        }
        Ok(None) => {}
        Err(e) => return aws_failure(w, e, resync).await.map(Step::End),
    }
    let id = match sm.create(&new).await {
        Ok(id) => id,
        Err(e) => return aws_failure(w, e, resync).await.map(Step::End),
    };
    w.status().domain_id = Some(id.clone());
    w.progress(
        "Creating",
        Progress::Working,
        "Creating",
        &format!("created domain {id} ({name}); waiting for it to be InService"),
    );
    w.save().await?;
    w.event(
        EventType::Normal,
        "Created",
        "Create",
        format!("created SageMaker domain {id} ({name}) in {}", spec.region),
    )
    .await;
    Ok(Step::End(Action::requeue(POLL)))
}

fn resync_of(spec: &SageMakerDomainSpec, ctx: &Context) -> Duration {
    spec.resync_period
        .map(Duration::from)
        .filter(|d| !d.is_zero())
        .unwrap_or(ctx.default_resync)
}

async fn apply(
    d: &SageMakerDomain,
    ctx: &Context,
    api: &Api<SageMakerDomain>,
) -> Result<Action, Error> {
    let mut w = Work {
        tracked: Tracked::new(api, &ctx.shared, d.clone()).skipping(only_sync_time_moved),
        ctx,
    };
    let spec = d.spec.clone();
    // A requested reconcile is this one: acknowledged with the status it writes.
    let requested = super::reconcile_requested(&d.metadata);
    if requested.is_some() {
        w.status().last_handled_reconcile_at = requested;
    }
    let resync = resync_of(&spec, ctx);
    let sm = ctx.sagemaker.get(&spec.region).await;
    let known = spec.domain_id.clone().or(w.status().domain_id.clone());

    let id = match known {
        Some(id) => id,
        None => step!(create_or_adopt(&mut w, &sm, &spec, resync).await?),
    };

    let view = step!(describe(&mut w, &sm, &spec, &id, resync).await?);
    let drift = diff(&spec, &view);
    record_drift(&mut w, &drift);
    let (correctable, immutable): (Vec<Drift>, Vec<Drift>) =
        drift.into_iter().partition(|d| d.field.correctable());
    if spec.management_policy == ManagementPolicy::Enforce && !correctable.is_empty() {
        step!(correct(&mut w, &sm, &spec, &view, &correctable, resync).await?);
    }
    report(&mut w, &view, &correctable, &immutable, resync).await
}

/// Describe: the domain as SageMaker has it, recorded in status. Ends here while SageMaker is
/// changing it, when it failed, or when it is gone (re-created only when airlock created it).
async fn describe(
    w: &mut Work<'_>,
    sm: &Domains,
    spec: &SageMakerDomainSpec,
    id: &str,
    resync: Duration,
) -> Result<Step<DomainView>, Error> {
    let view = match sm.describe(id).await {
        Ok(v) => v,
        Err(SageMakerError::NotFound { .. }) => {
            return not_found(w, spec, id, resync).await.map(Step::End);
        }
        Err(e) => return aws_failure(w, e, resync).await.map(Step::End),
    };

    {
        let s = w.status();
        s.domain_id = Some(view.id.clone());
        s.domain_arn = view.arn.clone();
        s.url = view.url.clone();
        s.domain_status = Some(view.status.clone());
        s.app_network_access_type = view.network.clone();
        s.last_sync_time = Some(Time(Timestamp::now()));
    }
    match view.status.as_str() {
        "Pending" | "Updating" | "Deleting" => {
            let msg = format!(
                "domain {id} is {}; waiting for SageMaker to finish",
                view.status
            );
            w.settle(
                &view.status,
                Progress::Working,
                &format!("Domain{}", view.status),
                &msg,
                None,
            )
            .await?;
            return Ok(Step::End(Action::requeue(POLL)));
        }
        "Failed" | "Update_Failed" | "Delete_Failed" => {
            let msg = format!(
                "SageMaker reports domain {id} as {}; look at its FailureReason in the console, fix the cause, then touch this resource",
                view.status
            );
            w.settle(
                "Failed",
                Progress::Stalled,
                "DomainFailed",
                &msg,
                Some(EventType::Warning),
            )
            .await?;
            return Ok(Step::End(Action::requeue(resync)));
        }
        _ => {}
    }

    Ok(Step::Next(view))
}

/// The domain is gone: created again when airlock created it, else stalled saying so.
async fn not_found(
    w: &mut Work<'_>,
    spec: &SageMakerDomainSpec,
    id: &str,
    resync: Duration,
) -> Result<Action, Error> {
    if spec.create && spec.domain_id.is_none() {
        w.status().domain_id = None;
        let msg = format!(
            "domain {id} no longer exists; spec.create is true, so a new one is being created"
        );
        w.settle(
            "Creating",
            Progress::Working,
            "DomainNotFound",
            &msg,
            Some(EventType::Warning),
        )
        .await?;
        return Ok(Action::requeue(Duration::from_millis(100)));
    }
    let msg = format!(
        "domain {id} does not exist in {} (deleted out of band?). airlock does not recreate a domain it adopted: recreate it and set spec.domainId, or delete this SageMakerDomain",
        spec.region
    );
    {
        let generation = w.obj.metadata.generation;
        let s = w.status();
        s.domain_status = Some("NotFound".into());
        s.in_sync = Some(false);
        s.last_sync_time = Some(Time(Timestamp::now()));
        set_condition(
            &mut s.conditions,
            types::DRIFTED,
            ConditionStatus::Unknown,
            "DomainNotFound",
            msg.clone(),
            generation,
            Time(Timestamp::now()),
        );
    }
    w.settle(
        "NotFound",
        Progress::Stalled,
        "DomainNotFound",
        &msg,
        Some(EventType::Warning),
    )
    .await?;
    Ok(Action::requeue(resync))
}

/// Diff: every declared field against the domain, recorded as `status.drift` and `Drifted`.
fn record_drift(w: &mut Work<'_>, drift: &[Drift]) {
    let generation = w.obj.metadata.generation;
    {
        let s = w.status();
        s.in_sync = Some(drift.is_empty());
        s.drift = drift.iter().map(Drift::record).collect();
        let (status, reason, message) = if drift.is_empty() {
            (
                ConditionStatus::False,
                "InSync",
                "every declared field matches".to_string(),
            )
        } else {
            (
                ConditionStatus::True,
                "DriftDetected",
                describe_drift(drift),
            )
        };
        set_condition(
            &mut s.conditions,
            types::DRIFTED,
            status,
            reason,
            message,
            generation,
            Time(Timestamp::now()),
        );
    }
}

/// Correct: under `Enforce`, the one `UpdateDomain` that puts the correctable fields back —
/// after the apps that would block a network change have stopped.
async fn correct(
    w: &mut Work<'_>,
    sm: &Domains,
    spec: &SageMakerDomainSpec,
    view: &DomainView,
    correctable: &[Drift],
    resync: Duration,
) -> Result<Step<()>, Error> {
    let id = view.id.as_str();
    let update = correction(spec, view, correctable);
    // A network change while apps run is refused; ask first, so the wait names them.
    let blocked = if update.network.is_some() || update.subnet_ids.is_some() {
        sm.running_apps(id).await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let result = if blocked.is_empty() {
        sm.update(id, &update).await
    } else {
        Err(SageMakerError::InUse {
            action: "UpdateDomain",
            message: format!("{} app(s) running", blocked.len()),
        })
    };
    match result {
        Ok(()) => {
            let msg = format!("correcting {}", describe_drift(correctable));
            w.status().domain_status = Some("Updating".into());
            w.status().last_correction = Some(crate::api::sagemaker_domain::Correction {
                time: Time(Timestamp::now()),
                fields: correctable.iter().map(Drift::record).collect(),
            });
            w.progress("Updating", Progress::Working, "CorrectingDrift", &msg);
            w.save().await?;
            // One event per field, each its own series: the events API folds events with the
            // same reason and action into one, keeping the first one's note.
            for d in correctable {
                w.event(
                    EventType::Normal,
                    "DriftCorrected",
                    &format!("Update {}", d.field.path()),
                    format!(
                        "{}: set back to {} (was {}, changed outside airlock)",
                        d.field.path(),
                        d.declared,
                        d.actual
                    ),
                )
                .await;
            }
            Ok(Step::End(Action::requeue(POLL)))
        }
        Err(SageMakerError::InUse { message, .. }) => {
            // AWS refuses a network change while apps run: wait for them, saying which.
            // The check's list, or — when AWS refused what the check let through (an app
            // started in between) — a fresh one.
            let apps = if blocked.is_empty() {
                sm.running_apps(id).await.unwrap_or_default()
            } else {
                blocked
            };
            let msg = if apps.is_empty() {
                format!("waiting to correct drift: {message}")
            } else {
                format!(
                    "waiting for {} app(s) to stop before changing the network ({}): {}",
                    apps.len(),
                    apps.join(", "),
                    describe_drift(correctable)
                )
            };
            w.settle(
                "Waiting",
                Progress::Working,
                "AppsInService",
                &msg,
                Some(EventType::Normal),
            )
            .await?;
            Ok(Step::End(Action::requeue(Duration::from_secs(5))))
        }
        Err(e) => aws_failure(w, e, resync).await.map(Step::End),
    }
}

/// Report: what is left — drift AWS cannot change in place, drift only observed, or none.
async fn report(
    w: &mut Work<'_>,
    view: &DomainView,
    correctable: &[Drift],
    immutable: &[Drift],
    resync: Duration,
) -> Result<Action, Error> {
    let id = &view.id;
    if !immutable.is_empty() {
        let msg = format!(
            "{}. AWS cannot change {} in place: the domain must be replaced (create a new domain with the declared settings and move users to it)",
            describe_drift(immutable),
            if immutable.len() == 1 {
                "this field"
            } else {
                "these fields"
            }
        );
        w.settle(
            "Drifted",
            Progress::Stalled,
            "ImmutableFieldDrift",
            &msg,
            Some(EventType::Warning),
        )
        .await?;
    } else if !correctable.is_empty() {
        let msg = format!(
            "managementPolicy is Observe, so nothing is changed: {}",
            describe_drift(correctable)
        );
        w.settle(
            "Drifted",
            Progress::Stalled,
            "DriftObserved",
            &msg,
            Some(EventType::Warning),
        )
        .await?;
    } else {
        let msg = format!(
            "domain {id} matches the declared network and encryption ({})",
            view.network.as_deref().unwrap_or("")
        );
        w.settle(
            "InSync",
            Progress::Done,
            "InSync",
            &msg,
            Some(EventType::Normal),
        )
        .await?;
    }
    Ok(Action::requeue(resync))
}

/// An AWS failure: retried with `Reconciling` when it may pass, `Stalled` when a human must act
/// (access denied, a request AWS refuses).
async fn aws_failure(
    w: &mut Work<'_>,
    e: SageMakerError,
    resync: Duration,
) -> Result<Action, Error> {
    w.ctx.metrics.error(e.reason());
    let msg = e.to_string();
    if e.retryable() {
        w.settle(
            "Retrying",
            Progress::Working,
            e.reason(),
            &msg,
            Some(EventType::Warning),
        )
        .await?;
        Ok(Action::requeue(Duration::from_secs(15)))
    } else {
        w.settle(
            "Failed",
            Progress::Stalled,
            e.reason(),
            &msg,
            Some(EventType::Warning),
        )
        .await?;
        Ok(Action::requeue(resync))
    }
}

async fn cleanup(d: &SageMakerDomain, ctx: &Context) -> Result<Action, Error> {
    let id = d
        .spec
        .domain_id
        .clone()
        .or(d.status.as_ref().and_then(|s| s.domain_id.clone()));
    let reference = d.object_ref(&());
    let note = match (d.spec.deletion_policy, id) {
        (DomainDeletionPolicy::Delete, Some(id)) => {
            let sm = ctx.sagemaker.get(&d.spec.region).await;
            match sm.delete(&id).await {
                Ok(()) | Err(SageMakerError::NotFound { .. }) => {
                    format!("deleted SageMaker domain {id} (deletionPolicy Delete)")
                }
                Err(e) => return Err(e.into()),
            }
        }
        (_, Some(id)) => format!("SageMaker domain {id} left as it is (deletionPolicy Retain)"),
        (_, None) => "no domain was ever created or adopted".into(),
    };
    super::record(
        ctx,
        &reference,
        EventType::Normal,
        "DeletionPolicyApplied",
        "Delete",
        note,
    )
    .await;
    Ok(Action::await_change())
}

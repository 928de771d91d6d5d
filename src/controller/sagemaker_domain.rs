//! Reconcile for `SageMakerDomain`: describe the domain, compare it with the declared network and
//! encryption, correct in place what `UpdateDomain` can correct (under `Enforce`), and report
//! precisely what it cannot. In sync, a resync costs exactly one `DescribeDomain`.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
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
use tokio::sync::Mutex;
use tracing::Instrument;

use super::Context;
use super::error::Error;
use super::kstatus::{Progress, set_progress};
use crate::api::conditions::{ConditionStatus, set_condition, types};
use crate::api::sagemaker_domain::{
    AppNetworkAccessType, DomainDeletionPolicy, FieldDrift, ManagementPolicy, SageMakerDomain,
    SageMakerDomainSpec, SageMakerDomainStatus,
};
use crate::aws::sagemaker::{DomainUpdate, DomainView, Domains, NewDomain, SageMakerError};

/// Held until the deletion policy has been applied.
pub const FINALIZER: &str = "airlock.dev/domain-deletion-policy";
/// Seconds between `lastSyncTime` writes when nothing else changed.
const LAST_SYNC_REFRESH: i64 = 60;
/// How often a domain SageMaker is changing is looked at again.
const POLL: Duration = Duration::from_secs(2);

/// SageMaker clients by region.
pub struct SageMakerClients {
    aws: super::AwsSettings,
    clients: Mutex<HashMap<String, Arc<Domains>>>,
}

impl SageMakerClients {
    pub fn new(aws: super::AwsSettings) -> SageMakerClients {
        SageMakerClients {
            aws,
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(&self, region: &str) -> Arc<Domains> {
        let mut map = self.clients.lock().await;
        if let Some(c) = map.get(region) {
            return c.clone();
        }
        let config = self.aws.sdk_config(region).await;
        let c = Arc::new(Domains::new(aws_sdk_sagemaker::Client::new(&config)));
        map.insert(region.to_string(), c.clone());
        c
    }
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
    ctx.metrics.reconciled();
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

/// The KMS key id of a key id or key ARN (`arn:aws:kms:…:key/ID`), for comparing the two forms.
fn key_id(k: &str) -> &str {
    k.rsplit_once(":key/").map(|(_, id)| id).unwrap_or(k)
}

fn list(v: &[String]) -> String {
    format!("[{}]", v.join(", "))
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
}

fn network_name(n: AppNetworkAccessType) -> &'static str {
    match n {
        AppNetworkAccessType::VpcOnly => "VpcOnly",
        AppNetworkAccessType::PublicInternetOnly => "PublicInternetOnly",
    }
}

/// Every declared field whose actual value differs. Fields the spec leaves out are not compared.
pub fn diff(spec: &SageMakerDomainSpec, actual: &DomainView) -> Vec<FieldDrift> {
    let mut out = Vec::new();
    let mut push = |field: &str, declared: String, actual: String, correctable: bool| {
        out.push(FieldDrift {
            field: field.into(),
            declared,
            actual,
            correctable,
        })
    };
    let n = &spec.network;
    let declared = network_name(n.app_network_access_type);
    let actual_net = actual.network.as_deref().unwrap_or("PublicInternetOnly");
    if declared != actual_net {
        push(
            "network.appNetworkAccessType",
            declared.into(),
            actual_net.into(),
            true,
        );
    }
    if let Some(vpc) = &n.vpc_id
        && actual.vpc_id.as_deref() != Some(vpc.as_str())
    {
        push(
            "network.vpcId",
            vpc.clone(),
            actual.vpc_id.clone().unwrap_or_default(),
            false,
        );
    }
    let sets = [
        ("network.subnetIds", &n.subnet_ids, &actual.subnet_ids),
        (
            "network.securityGroupIds",
            &n.security_group_ids,
            &actual.security_group_ids,
        ),
        (
            "network.defaultUserSecurityGroupIds",
            &n.default_user_security_group_ids,
            &actual.user_security_groups,
        ),
        (
            "network.defaultSpaceSecurityGroupIds",
            &n.default_space_security_group_ids,
            &actual.space_security_groups,
        ),
    ];
    for (field, declared, actual) in sets {
        if !declared.is_empty() && !same_set(declared, actual) {
            push(field, list(declared), list(actual), true);
        }
    }
    if let Some(key) = spec.encryption.as_ref().and_then(|e| e.kms_key_id.as_ref()) {
        let actual_key = actual.kms_key_id.clone().unwrap_or_default();
        if key_id(key) != key_id(&actual_key) {
            push(
                "encryption.kmsKeyId",
                key.clone(),
                if actual_key.is_empty() {
                    "(none: AWS managed key)".into()
                } else {
                    actual_key
                },
                false,
            );
        } else if let Some(efs) = &actual.efs_kms_key_id
            && key_id(efs) != key_id(key)
        {
            push(
                "encryption.kmsKeyId (home EFS volume)",
                key.clone(),
                efs.clone(),
                false,
            );
        }
    }
    out
}

/// The `UpdateDomain` call that corrects the correctable drift: switching to `VpcOnly` carries the
/// subnets and the VPC, as AWS requires them in the same call.
pub fn correction(
    spec: &SageMakerDomainSpec,
    actual: &DomainView,
    drift: &[FieldDrift],
) -> DomainUpdate {
    let n = &spec.network;
    let mut u = DomainUpdate::default();
    for d in drift.iter().filter(|d| d.correctable) {
        match d.field.as_str() {
            "network.appNetworkAccessType" => {
                u.network = Some(network_name(n.app_network_access_type).into());
                if n.app_network_access_type == AppNetworkAccessType::VpcOnly {
                    u.vpc_id = n.vpc_id.clone().or_else(|| actual.vpc_id.clone());
                    u.subnet_ids = Some(if n.subnet_ids.is_empty() {
                        actual.subnet_ids.clone()
                    } else {
                        n.subnet_ids.clone()
                    });
                }
            }
            "network.subnetIds" => u.subnet_ids = Some(n.subnet_ids.clone()),
            "network.securityGroupIds" => u.security_group_ids = Some(n.security_group_ids.clone()),
            "network.defaultUserSecurityGroupIds" => {
                u.user_security_groups = Some(n.default_user_security_group_ids.clone())
            }
            "network.defaultSpaceSecurityGroupIds" => {
                u.space_security_groups = Some(n.default_space_security_group_ids.clone())
            }
            _ => {}
        }
    }
    u
}

fn describe_drift(drift: &[FieldDrift]) -> String {
    drift
        .iter()
        .map(|d| format!("{}: declared {}, actual {}", d.field, d.declared, d.actual))
        .collect::<Vec<_>>()
        .join("; ")
}

struct Work<'a> {
    api: &'a Api<SageMakerDomain>,
    ctx: &'a Context,
    obj: SageMakerDomain,
    saved: SageMakerDomainStatus,
}

impl Work<'_> {
    fn status(&mut self) -> &mut SageMakerDomainStatus {
        self.obj.status.get_or_insert_with(Default::default)
    }

    fn progress(&mut self, phase: &str, progress: Progress, reason: &str, message: &str) {
        let generation = self.obj.metadata.generation;
        let s = self.status();
        s.phase = Some(phase.into());
        s.observed_generation = generation;
        set_progress(
            &mut s.conditions,
            progress,
            reason,
            message,
            generation,
            Time(Timestamp::now()),
        );
    }

    async fn save(&mut self) -> Result<bool, Error> {
        if self.obj.status.as_ref() == Some(&self.saved) {
            return Ok(false);
        }
        // A resync that found nothing new moves only lastSyncTime: written at most once a minute,
        // so short resync periods do not turn into a status write per resync.
        if let Some(current) = &self.obj.status {
            let mut same = current.clone();
            same.last_sync_time = self.saved.last_sync_time.clone();
            let fresh = self.saved.last_sync_time.as_ref().is_some_and(|t| {
                Timestamp::now().duration_since(t.0) < SignedDuration::from_secs(LAST_SYNC_REFRESH)
            });
            if same == self.saved && fresh {
                return Ok(false);
            }
        }
        self.obj = super::write_status(self.api, &self.obj).await?;
        self.saved = self.obj.status.clone().unwrap_or_default();
        Ok(true)
    }

    async fn event(&self, type_: EventType, reason: &str, action: &str, note: String) {
        super::record(
            self.ctx,
            &self.obj.object_ref(&()),
            type_,
            reason,
            action,
            note,
        )
        .await;
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
        let before = self.status().conditions.clone();
        self.progress(phase, progress, reason, message);
        let changed_reason = before
            .iter()
            .find(|c| c.type_ == types::READY)
            .is_none_or(|c| c.reason != reason);
        self.save().await?;
        if let Some(t) = event
            && changed_reason
        {
            self.event(t, reason, phase, message.to_string()).await;
        }
        Ok(())
    }
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
        api,
        ctx,
        obj: d.clone(),
        saved: d.status.clone().unwrap_or_default(),
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
        None => {
            // create: true (admission guarantees it). A domain of that name already there (a
            // restart after CreateDomain) is adopted, never created twice.
            let name = spec.domain_name.clone().unwrap_or_default();
            match sm.find_by_name(&name).await {
                Ok(Some(id)) => {
                    w.status().domain_id = Some(id.clone());
                    w.save().await?;
                    id
                }
                Ok(None) => {
                    let new = NewDomain {
                        name: name.clone(),
                        network: network_name(spec.network.app_network_access_type).into(),
                        vpc_id: spec.network.vpc_id.clone().unwrap_or_default(),
                        subnet_ids: spec.network.subnet_ids.clone(),
                        security_group_ids: spec.network.security_group_ids.clone(),
                        user_security_groups: spec.network.default_user_security_group_ids.clone(),
                        space_security_groups: spec
                            .network
                            .default_space_security_group_ids
                            .clone(),
                        kms_key_id: spec.encryption.as_ref().and_then(|e| e.kms_key_id.clone()),
                        execution_role: spec.execution_role_arn.clone().unwrap_or_default(),
                        sso: spec.auth_mode == crate::api::sagemaker_domain::AuthMode::Sso,
                    };
                    match sm.create(&new).await {
                        Ok(id) => {
                            w.status().domain_id = Some(id.clone());
                            w.progress(
                                "Creating",
                                Progress::Working,
                                "Creating",
                                &format!(
                                    "created domain {id} ({name}); waiting for it to be InService"
                                ),
                            );
                            w.save().await?;
                            w.event(
                                EventType::Normal,
                                "Created",
                                "Create",
                                format!(
                                    "created SageMaker domain {id} ({name}) in {}",
                                    spec.region
                                ),
                            )
                            .await;
                            return Ok(Action::requeue(POLL));
                        }
                        Err(e) => return aws_failure(&mut w, e, resync).await,
                    }
                }
                Err(e) => return aws_failure(&mut w, e, resync).await,
            }
        }
    };

    let view = match sm.describe(&id).await {
        Ok(v) => v,
        Err(SageMakerError::NotFound { .. }) => {
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
            return Ok(Action::requeue(resync));
        }
        Err(e) => return aws_failure(&mut w, e, resync).await,
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
            return Ok(Action::requeue(POLL));
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
            return Ok(Action::requeue(resync));
        }
        _ => {}
    }

    let drift = diff(&spec, &view);
    let generation = w.obj.metadata.generation;
    {
        let s = w.status();
        s.in_sync = Some(drift.is_empty());
        s.drift = drift.clone();
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
                describe_drift(&drift),
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
    let immutable: Vec<FieldDrift> = drift.iter().filter(|d| !d.correctable).cloned().collect();
    let correctable: Vec<FieldDrift> = drift.iter().filter(|d| d.correctable).cloned().collect();

    if spec.management_policy == ManagementPolicy::Enforce && !correctable.is_empty() {
        let update = correction(&spec, &view, &correctable);
        // A network change while apps run is refused; ask first, so the wait names them.
        let blocked = if update.network.is_some() || update.subnet_ids.is_some() {
            sm.running_apps(&id).await.unwrap_or_default()
        } else {
            Vec::new()
        };
        let result = if blocked.is_empty() {
            sm.update(&id, &update).await
        } else {
            Err(SageMakerError::InUse {
                action: "UpdateDomain",
                message: format!("{} app(s) running", blocked.len()),
            })
        };
        match result {
            Ok(()) => {
                let msg = format!("correcting {}", describe_drift(&correctable));
                w.status().domain_status = Some("Updating".into());
                w.status().last_correction = Some(crate::api::sagemaker_domain::Correction {
                    time: Time(Timestamp::now()),
                    fields: correctable.clone(),
                });
                w.progress("Updating", Progress::Working, "CorrectingDrift", &msg);
                w.save().await?;
                // One event per field, each its own series: the events API folds events with the
                // same reason and action into one, keeping the first one's note.
                for d in &correctable {
                    w.event(
                        EventType::Normal,
                        "DriftCorrected",
                        &format!("Update {}", d.field),
                        format!(
                            "{}: set back to {} (was {}, changed outside airlock)",
                            d.field, d.declared, d.actual
                        ),
                    )
                    .await;
                }
                return Ok(Action::requeue(POLL));
            }
            Err(SageMakerError::InUse { message, .. }) => {
                // AWS refuses a network change while apps run: wait for them, saying which.
                // The check's list, or — when AWS refused what the check let through (an app
                // started in between) — a fresh one.
                let apps = if blocked.is_empty() {
                    sm.running_apps(&id).await.unwrap_or_default()
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
                        describe_drift(&correctable)
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
                return Ok(Action::requeue(Duration::from_secs(5)));
            }
            Err(e) => return aws_failure(&mut w, e, resync).await,
        }
    }

    if !immutable.is_empty() {
        let msg = format!(
            "{}. AWS cannot change {} in place: the domain must be replaced (create a new domain with the declared settings and move users to it)",
            describe_drift(&immutable),
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
            describe_drift(&correctable)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SageMakerDomainSpec {
        serde_json::from_value(serde_json::json!({
            "domainId": "d-abcdefghijkl", "region": "us-east-1",
            "network": {"appNetworkAccessType": "VpcOnly", "vpcId": "vpc-1",
                        "subnetIds": ["subnet-1", "subnet-2"], "securityGroupIds": ["sg-1"]},
            "encryption": {"kmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/k1"},
        }))
        .expect("spec")
    }

    fn view() -> DomainView {
        DomainView {
            id: "d-abcdefghijkl".into(),
            status: "InService".into(),
            network: Some("VpcOnly".into()),
            vpc_id: Some("vpc-1".into()),
            subnet_ids: vec!["subnet-2".into(), "subnet-1".into()],
            security_group_ids: vec!["sg-1".into()],
            kms_key_id: Some("k1".into()),
            ..DomainView::default()
        }
    }

    #[test]
    fn in_sync_when_only_order_or_key_form_differ() {
        assert!(diff(&spec(), &view()).is_empty());
    }

    #[test]
    fn switching_back_to_vpc_only_carries_the_subnets_and_the_vpc() {
        let mut v = view();
        v.network = Some("PublicInternetOnly".into());
        v.security_group_ids.push("sg-extra".into());
        let d = diff(&spec(), &v);
        assert_eq!(
            d.iter().map(|d| d.field.as_str()).collect::<Vec<_>>(),
            ["network.appNetworkAccessType", "network.securityGroupIds"]
        );
        assert!(d.iter().all(|d| d.correctable));
        let u = correction(&spec(), &v, &d);
        assert_eq!(u.network.as_deref(), Some("VpcOnly"));
        assert_eq!(
            u.vpc_id.as_deref(),
            Some("vpc-1"),
            "AWS requires the VPC with the switch"
        );
        assert_eq!(
            u.subnet_ids,
            Some(vec!["subnet-1".to_string(), "subnet-2".to_string()])
        );
        assert_eq!(u.security_group_ids, Some(vec!["sg-1".to_string()]));
    }

    #[test]
    fn kms_key_and_vpc_drift_cannot_be_corrected() {
        let mut v = view();
        v.kms_key_id = Some("arn:aws:kms:us-east-1:111122223333:key/k2".into());
        v.vpc_id = Some("vpc-9".into());
        let d = diff(&spec(), &v);
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| !d.correctable));
        assert!(correction(&spec(), &v, &d).is_empty());
        let text = describe_drift(&d);
        assert!(text.contains("key/k1") && text.contains("key/k2"), "{text}");
    }
}

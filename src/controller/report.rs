//! Writing what a status controller judged and telling of a change with one event, for the kinds
//! whose whole status is one judgement (repositories and policies): the kstatus conditions with
//! the generation they describe, a write only when something changed, and an event only when the
//! `Ready` reason moved.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::Api;
use kube::runtime::events::EventType;

use super::Shared;
use super::error::Error;
use super::kstatus::{Progress, set_progress};
use crate::api::conditions::{Condition, types};

/// What a controller concluded: how kstatus reads it, one PascalCase reason word, and a message a
/// person can act on.
pub struct Judged<'a> {
    pub progress: Progress,
    pub reason: &'a str,
    pub message: &'a str,
}

/// The `Ready` reason in `conditions`: what the object was last judged.
pub fn ready_reason(conditions: &[Condition]) -> Option<String> {
    conditions
        .iter()
        .find(|c| c.type_ == types::READY)
        .map(|c| c.reason.clone())
}

/// Sets the kstatus conditions and `observedGeneration` for `judged`.
pub fn set_judged(
    conditions: &mut Vec<Condition>,
    observed_generation: &mut Option<i64>,
    judged: &Judged<'_>,
    generation: Option<i64>,
) {
    *observed_generation = generation;
    set_progress(
        conditions,
        judged.progress,
        judged.reason,
        judged.message,
        generation,
        Time(Timestamp::now()),
    );
}

/// Writes the status of the cluster-scoped `obj` when it `changed`, and records an event
/// (`Normal` when done, `Warning` otherwise) when the `Ready` reason moved from `was` — except
/// into `quiet`, the healthy reason a new object reaches without news.
pub async fn write_and_record<K>(
    ctx: &Shared,
    obj: &K,
    changed: bool,
    was: Option<&str>,
    judged: &Judged<'_>,
    action: &str,
    quiet: Option<&str>,
) -> Result<(), Error>
where
    K: Resource<DynamicType = (), Scope = kube::core::ClusterResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    if !changed {
        return Ok(());
    }
    let api: Api<K> = Api::all(ctx.client.clone());
    super::write_status(&api, obj).await?;
    if was != Some(judged.reason) && quiet != Some(judged.reason) {
        let type_ = match judged.progress {
            Progress::Done => EventType::Normal,
            Progress::Working | Progress::Stalled => EventType::Warning,
        };
        super::record(
            ctx,
            &obj.object_ref(&()),
            type_,
            judged.reason,
            action,
            judged.message.to_string(),
        )
        .await;
    }
    Ok(())
}

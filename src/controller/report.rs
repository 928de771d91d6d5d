//! The one way every kind reports: an object being worked on whose status is written back only
//! when it changed (guarded by the resourceVersion it was read at), kstatus conditions set from
//! one judgement with the generation they describe, and an event when the `Ready` reason moves.
//! Requests and domains wrap it with their own phases; repositories and policies use it as is.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::Api;
use kube::core::object::HasStatus;
use kube::runtime::events::EventType;

use super::Shared;
use super::error::Error;
use super::kstatus::{Progress, set_progress};
use crate::api::conditions::{Condition, types};
use crate::api::{
    PackageRepositoryStatus, PackageRequestStatus, SageMakerDomainStatus, ScanPolicyStatus,
};

/// What a controller concluded: how kstatus reads it, one PascalCase reason word, and a message a
/// person can act on.
pub struct Judged<'a> {
    pub progress: Progress,
    pub reason: &'a str,
    pub message: &'a str,
}

impl Judged<'_> {
    /// `Normal` when done, `Warning` while retrying or stalled.
    pub fn event_type(&self) -> EventType {
        match self.progress {
            Progress::Done => EventType::Normal,
            Progress::Working | Progress::Stalled => EventType::Warning,
        }
    }
}

/// A status with kstatus conditions.
pub trait Conditions {
    fn conditions(&mut self) -> &mut Vec<Condition>;
    fn observed_generation(&mut self) -> &mut Option<i64>;
}

macro_rules! conditions {
    ($($status:ty),*) => {$(
        impl Conditions for $status {
            fn conditions(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
            fn observed_generation(&mut self) -> &mut Option<i64> {
                &mut self.observed_generation
            }
        }
    )*};
}
conditions!(
    PackageRequestStatus,
    SageMakerDomainStatus,
    PackageRepositoryStatus,
    ScanPolicyStatus
);

/// The `Ready` reason in `conditions`: what the object was last judged.
pub fn ready_reason(conditions: &[Condition]) -> Option<String> {
    conditions
        .iter()
        .find(|c| c.type_ == types::READY)
        .map(|c| c.reason.clone())
}

/// An object being worked on: its latest known state, and the status as last written.
pub struct Tracked<'a, K: HasStatus> {
    api: &'a Api<K>,
    shared: &'a Shared,
    pub obj: K,
    saved: K::Status,
    reference: ObjectReference,
    /// Whether a changed status is still not worth a write (compared with the saved one).
    negligible: fn(&K::Status, &K::Status) -> bool,
}

impl<'a, K> Tracked<'a, K>
where
    K: Resource<DynamicType = ()>
        + HasStatus
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::Status: Clone + Default + PartialEq + Conditions,
{
    pub fn new(api: &'a Api<K>, shared: &'a Shared, obj: K) -> Tracked<'a, K> {
        let saved = obj.status().cloned().unwrap_or_default();
        let reference = obj.object_ref(&());
        Tracked {
            api,
            shared,
            obj,
            saved,
            reference,
            negligible: |_, _| false,
        }
    }

    /// Skips writes whose change `negligible(current, saved)` says is not worth one.
    pub fn skipping(mut self, negligible: fn(&K::Status, &K::Status) -> bool) -> Self {
        self.negligible = negligible;
        self
    }

    pub fn status(&mut self) -> &mut K::Status {
        self.obj.status_mut().get_or_insert_with(Default::default)
    }

    /// The status as last written (or as read, before any write).
    pub fn saved(&self) -> &K::Status {
        &self.saved
    }

    pub fn generation(&self) -> Option<i64> {
        self.obj.meta().generation
    }

    /// Sets the kstatus conditions and `observedGeneration` for `judged`.
    pub fn judge(&mut self, judged: &Judged<'_>) {
        let generation = self.generation();
        let status = self.status();
        *status.observed_generation() = generation;
        set_progress(
            status.conditions(),
            judged.progress,
            judged.reason,
            judged.message,
            generation,
            Time(Timestamp::now()),
        );
    }

    /// Writes status when it changed, guarded by the resourceVersion it was computed from: a
    /// write that raced another writer fails with 409 and the reconcile starts again.
    pub async fn save(&mut self) -> Result<bool, Error> {
        match self.obj.status() {
            Some(current) if current == &self.saved || (self.negligible)(current, &self.saved) => {
                return Ok(false);
            }
            _ => {}
        }
        self.obj = super::write_status(self.api, &self.obj).await?;
        self.saved = self.obj.status().cloned().unwrap_or_default();
        Ok(true)
    }

    pub async fn event(&self, type_: EventType, reason: &str, action: &str, note: String) {
        super::record(self.shared, &self.reference, type_, reason, action, note).await;
    }

    /// Judges, saves, and records an event of `event`'s type when the `Ready` reason moved.
    pub async fn settle(
        &mut self,
        judged: &Judged<'_>,
        action: &str,
        event: Option<EventType>,
    ) -> Result<(), Error> {
        let was = ready_reason(self.status().conditions());
        self.judge(judged);
        self.save().await?;
        if let Some(type_) = event
            && was.as_deref() != Some(judged.reason)
        {
            self.event(type_, judged.reason, action, judged.message.to_string())
                .await;
        }
        Ok(())
    }
}

//! The request being worked on, as every step sees it: its latest state, written back only when
//! it changed, with the events, failures and stalls that go with it.

use std::time::Duration;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use super::super::error::Error;
use super::super::kstatus::{set_phase, set_retrying};
use super::super::report::Tracked;
use super::Context;
use super::{backoff, now};
use crate::api::PackageRequest;
use crate::api::package_request::PackageRequestPhase as Phase;

/// The request being worked on: its latest known state, written back as the work moves on.
pub struct Work<'a> {
    tracked: Tracked<'a, PackageRequest>,
    pub ctx: &'a Context,
    /// The phase the reconcile found, before its steps moved it.
    pub found_phase: Option<Phase>,
}

impl<'a> std::ops::Deref for Work<'a> {
    type Target = Tracked<'a, PackageRequest>;
    fn deref(&self) -> &Self::Target {
        &self.tracked
    }
}

impl std::ops::DerefMut for Work<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tracked
    }
}

impl<'a> Work<'a> {
    pub fn new(api: &'a Api<PackageRequest>, ctx: &'a Context, obj: PackageRequest) -> Work<'a> {
        let found_phase = obj.status.as_ref().and_then(|s| s.phase);
        Work {
            tracked: Tracked::new(api, &ctx.shared, obj),
            ctx,
            found_phase,
        }
    }

    pub fn label(&self) -> String {
        format!(
            "{}:{} {}",
            self.obj.spec.ecosystem, self.obj.spec.name, self.obj.spec.version
        )
    }

    pub fn phase(&mut self, phase: Phase, reason: &str, message: &str) {
        let generation = self.generation();
        set_phase(self.status(), phase, reason, message, generation, now());
    }

    /// Counts one more consecutive failure in status (what the back-off doubles on) and returns
    /// the count; a failure to save it only shortens the next wait.
    pub async fn count_failure(&mut self) -> u32 {
        let failures = self.status().failures.unwrap_or(0) + 1;
        self.status().failures = Some(failures);
        if let Err(e) = self.save().await {
            tracing::debug!(error = %e, "could not record the failure count");
        }
        failures
    }

    /// Records a failure: retried with back-off when `retryable`, else `Stalled` with the reason.
    pub async fn fail(
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
    pub async fn stall(&mut self, reason: &'static str, message: &str) -> Result<Action, Error> {
        self.phase(Phase::Failed, reason, message);
        if self.save().await? {
            self.ctx.metrics.error(reason);
            self.event(EventType::Warning, reason, "Stall", message.to_string())
                .await;
        }
        Ok(Action::await_change())
    }
}

/// Runs `work` unless the request is marked for deletion first (as the watch sees it); `None`
/// then, and `work` is dropped — a download stops where it is.
pub async fn unless_deleted<T>(
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

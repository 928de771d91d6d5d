//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it:
//! a candidate takes the lease when it is free or when its holder has not renewed it for a whole
//! lease duration, measured on the candidate's own clock from when it last saw the record change
//! (so clock skew between replicas does not matter). Every write carries the resourceVersion it
//! was computed from, so two candidates can never both win: one gets `409 Conflict`.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::Mutex;

pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub retry_period: Duration,
    observed: Mutex<Option<Observed>>,
}

/// The holder and renew time last seen, and when this candidate saw them change.
struct Observed {
    holder: Option<String>,
    renew: Option<MicroTime>,
    at: Instant,
}

impl LeaderElection {
    pub fn new(
        api: Api<Lease>,
        name: &str,
        identity: &str,
        lease_duration: Duration,
        retry_period: Duration,
    ) -> LeaderElection {
        LeaderElection {
            api,
            name: name.to_string(),
            identity: identity.to_string(),
            lease_duration,
            retry_period,
            observed: Mutex::new(None),
        }
    }

    fn spec(&self, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.lease_duration.as_secs().max(1) as i32),
            acquire_time: Some(acquired.unwrap_or_else(|| now.clone())),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Takes or renews the lease; whether this candidate holds it afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(0, None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let ours = holder.as_deref() == Some(self.identity.as_str());
        if !ours && holder.is_some() {
            let mut observed = self.observed.lock().await;
            let changed = observed
                .as_ref()
                .is_none_or(|o| o.holder != holder || o.renew != spec.renew_time);
            if changed {
                *observed = Some(Observed {
                    holder: holder.clone(),
                    renew: spec.renew_time.clone(),
                    at: Instant::now(),
                });
            }
            let duration = spec
                .lease_duration_seconds
                .map(|s| Duration::from_secs(s.max(1) as u64))
                .unwrap_or(self.lease_duration);
            let expired = observed
                .as_ref()
                .is_some_and(|o| o.at.elapsed() >= duration);
            if !expired {
                return Ok(false);
            }
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
        let acquired = if ours { spec.acquire_time } else { None };
        lease.spec = Some(self.spec(transitions, acquired));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Waits until this candidate holds the lease, or `stop` resolves (then `false`).
    pub async fn acquire(&self, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return true,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, lease = %self.name, "cannot read or write the leader lease; retrying")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.retry_period) => {}
                _ = stop.changed() => return false,
            }
            if *stop.borrow() {
                return false;
            }
        }
    }

    /// Renews until a renewal has failed for a whole lease duration (then someone else may hold
    /// it: returns, and the caller must stop acting) or `stop` resolves.
    pub async fn hold(&self, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
        let mut last_renewed = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.retry_period) => {}
                _ = stop.changed() => return true,
            }
            if *stop.borrow() {
                return true;
            }
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewed = Instant::now(),
                Ok(false) => {
                    tracing::error!(lease = %self.name, "the leader lease was taken by another replica");
                    return false;
                }
                Err(e) => {
                    tracing::warn!(error = %e, lease = %self.name, "cannot renew the leader lease");
                    // Give up before the lease could expire on the others' clocks.
                    if last_renewed.elapsed() + self.retry_period >= self.lease_duration {
                        return false;
                    }
                }
            }
        }
    }

    /// Hands the lease back on shutdown, so a standby replica takes over at its next retry instead
    /// of waiting out the lease.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        if let Err(e) = self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            tracing::warn!(error = %e, "could not release the leader lease; the next leader waits for it to expire");
        }
    }
}

//! Re-check: a published version against the advisory data as it is now, when its policy's
//! re-scan interval has passed (or `airlock reconcile` asks). A version the policy would now deny
//! is quarantined, and unlisted where the repository says so.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::super::error::Error;
use super::work::Work;
use super::{DEFAULT_RESCAN, now};
use crate::api::package_request::{PackageRequestPhase as Phase, Verdict};
use crate::api::{PackageRepository, ScanPolicy};
use crate::scan::decide;

pub fn rescan_interval(policy: &ScanPolicy) -> Duration {
    policy
        .spec
        .rescan_interval
        .as_ref()
        .map(|d| Duration::from(*d))
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_RESCAN)
}

/// How long until the next re-check is due, `None` when it is due now.
fn not_due(w: &mut Work<'_>, interval: Duration, now: Timestamp) -> Option<Duration> {
    let last = w
        .status()
        .last_scan_time
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let due = last
        .checked_add(k8s_openapi::jiff::SignedDuration::try_from(interval).unwrap_or_default())
        .unwrap_or(last);
    (now < due).then(|| {
        Duration::try_from(now.duration_until(due))
            .unwrap_or(interval)
            .max(Duration::from_millis(100))
    })
}

/// A published version, re-checked against the current advisory data when its re-scan interval
/// has passed: quarantined (and unlisted, if the repository says so) when the policy would now
/// deny it.
pub async fn recheck(
    w: &mut Work<'_>,
    repo: &PackageRepository,
    policy: &ScanPolicy,
    forced: bool,
) -> Result<Action, Error> {
    let interval = rescan_interval(policy);
    let now_ts = Timestamp::now();
    if let Some(wait) = not_due(w, interval, now_ts)
        && !forced
    {
        return Ok(Action::requeue(wait));
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
    if verdict.verdict != Verdict::Denied {
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

//! Publish: the verified, approved files into the repository. Every target is idempotent, so a
//! restart that finds `Publishing` publishes again and finds the files already there.

use std::time::Instant;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::super::error::Error;
use super::admit::Admitted;
use super::fetch::Fetched;
use super::now;
use super::recheck::rescan_interval;
use super::work::Work;
use crate::api::package_request::{PackageRequestPhase as Phase, Publication};

pub async fn publish(
    w: &mut Work<'_>,
    admitted: &Admitted,
    fetched: &Fetched,
) -> Result<Action, Error> {
    let ctx = w.ctx;
    let repo = &admitted.repo;
    let files = &fetched.files;
    w.phase(
        Phase::Publishing,
        "Publishing",
        &format!(
            "publishing {} file(s) into {}",
            files.len(),
            repo.name_any()
        ),
    );
    w.save().await?;
    let started = Instant::now();
    let resolved = &fetched.resolved;
    let published = match ctx
        .targets
        .publish(
            repo,
            w.obj.spec.ecosystem,
            &resolved.name,
            &resolved.version,
            files,
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
    Ok(Action::requeue(rescan_interval(&admitted.policy)))
}

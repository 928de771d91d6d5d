//! Fetch: resolve the version's files and download them, verified against the registry's digests,
//! into the cache; `status.files` records each.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::super::error::Error;
use super::Step;
use super::work::{Work, unless_deleted};
use crate::api::package_request::{PackageRequestPhase as Phase, VerifiedFile};
use crate::package::PackageRef;
use crate::pipeline::fetch::{FetchError, FetchedFile};
use crate::pipeline::resolve::{ResolveError, ResolvedFile, ResolvedPackage};
use crate::scan::package::LocalFile;

/// The version as resolved, and its files on local disk: what the scan reads and the publish
/// uploads.
pub struct Fetched {
    pub resolved: ResolvedPackage,
    pub files: Vec<LocalFile>,
}

pub async fn fetch(w: &mut Work<'_>) -> Result<Step<Fetched>, Error> {
    let ctx = w.ctx;
    let spec = w.obj.spec.clone();
    let first_fetch = w.status().files.is_empty();
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
        return Ok(Step::End(Action::requeue(Duration::from_millis(10))));
    };
    let resolved = match resolved {
        Ok(r) => r,
        Err(e) => {
            let (retryable, reason) = (e.retryable(), resolve_reason(&e));
            return w
                .fail(retryable, reason, e.to_string())
                .await
                .map(Step::End);
        }
    };
    let mut files = Vec::new();
    let mut verified = Vec::new();
    for f in &resolved.files {
        let Some(fetched) = unless_deleted(ctx, &w.obj, ctx.fetcher.fetch(f)).await else {
            tracing::info!(file = %f.filename, "the request is being deleted: the download stops");
            return Ok(Step::End(Action::requeue(Duration::from_millis(10))));
        };
        let fetched = match fetched {
            Ok(x) => x,
            Err(e) => {
                let reason = match e {
                    FetchError::DigestMismatch { .. } => "DigestMismatch",
                    _ => "DownloadFailed",
                };
                return w
                    .fail(e.retryable(), reason, e.to_string())
                    .await
                    .map(Step::End);
            }
        };
        verified.push(verified_file(f, &fetched));
        files.push(LocalFile::fetched(f, fetched));
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
            files.len()
        );
        w.event(EventType::Normal, "Fetched", "Fetch", note).await;
    }
    Ok(Step::Next(Fetched { resolved, files }))
}

/// The file as `status.files` records it: where it came from, its size and digests.
fn verified_file(f: &ResolvedFile, fetched: &FetchedFile) -> VerifiedFile {
    VerifiedFile {
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

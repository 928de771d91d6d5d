//! Scan: every file against the current advisory data, the content heuristics and the licence
//! rules, off the async threads. Skipped when a decision to publish is already recorded (a
//! restart after it), so a resumed request never waits on a second scan.

use std::time::Instant;

use kube::ResourceExt;

use super::super::error::Error;
use super::fetch::Fetched;
use super::work::Work;
use super::{Step, now};
use crate::api::ScanPolicy;
use crate::api::package_request::{PackageRequestPhase as Phase, Verdict};
use crate::scan::package::{OwnedSubject, PackageReport, scan_blocking};

/// The scan's report, or `None` when the request is already approved.
pub async fn scan(
    w: &mut Work<'_>,
    policy: &ScanPolicy,
    fetched: &Fetched,
) -> Result<Step<Option<PackageReport>>, Error> {
    let already_approved = w
        .status()
        .decision
        .as_ref()
        .is_some_and(|d| d.verdict == Verdict::Approved);
    if already_approved {
        return Ok(Step::Next(None));
    }
    let ctx = w.ctx;
    w.phase(
        Phase::Scanning,
        "Scanning",
        &format!(
            "scanning {} file(s) with policy {}",
            fetched.files.len(),
            policy.name_any()
        ),
    );
    w.save().await?;
    let started = Instant::now();
    let subject = OwnedSubject {
        ecosystem: w.obj.spec.ecosystem,
        name: fetched.resolved.name.clone(),
        version: fetched.resolved.version.clone(),
        metadata: fetched.resolved.metadata.clone(),
        files: fetched.files.clone(),
    };
    let databases = vec![ctx.advisories.current().await];
    let report = scan_blocking(subject, databases, policy.spec.clone(), ctx.limits.clone()).await;
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            return w
                .fail(true, "ScannerCrashed", e.to_string())
                .await
                .map(Step::End);
        }
    };
    ctx.metrics.scanned(started.elapsed());
    w.status().last_scan_time = Some(now());
    Ok(Step::Next(Some(report)))
}

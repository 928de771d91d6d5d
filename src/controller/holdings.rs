//! What a repository holds that no live request stands for — versions published under `Retain`
//! whose requests were deleted, in the built-in repository or a CodeArtifact one — re-checked
//! against the advisory data whenever it changes (and once after start, so a restart on the same
//! data re-checks too). A version a repository's policy would now deny is quarantined: unlisted
//! when a denying repository sets `unlistOnQuarantine`, and reported (a `Quarantined` event) on
//! each denying PackageRepository either way. Every built-in PackageRepository is a view of the
//! one store the controller serves, so the strictest of them acts; a CodeArtifact repository is
//! listed through ListPackages and ListPackageVersions (its `Published` versions). A version that
//! still has a request is that request's to re-check (`package_request::recheck`), not this one's.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tokio::sync::watch;

use super::package_request::Context;
use crate::api::package_repository::DeletionPolicy;
use crate::api::package_request::Ecosystem;
use crate::api::package_request::Verdict;
use crate::api::{PackageRepository, PackageRequest};
use crate::package::normalize_pypi_name;
use crate::scan::advisories::AdvisoryDb;
use crate::scan::decide;

pub(super) type Key = (Ecosystem, String, String);

/// Which package version a name and version mean: PyPI names in their normal form.
pub(super) fn key(ecosystem: Ecosystem, name: &str, version: &str) -> Key {
    let name = match ecosystem {
        Ecosystem::Pypi => normalize_pypi_name(name),
        Ecosystem::Npm => name.to_string(),
    };
    (ecosystem, name, version.to_string())
}

/// Re-checks the holdings on every change of the advisory data, until `stop`.
pub async fn keep_checked(ctx: Arc<Context>, mut stop: watch::Receiver<bool>) {
    let mut changes = ctx.advisories.subscribe();
    // Versions already reported and left installable (no `unlistOnQuarantine`): said once.
    let mut reported: HashSet<(String, Key)> = HashSet::new();
    loop {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            let _ = ctx.repositories.wait_until_ready().await;
            let _ = ctx.policies.wait_until_ready().await;
        })
        .await;
        if let Err(e) = check_once(&ctx, &mut reported).await {
            tracing::warn!(error = %e, "re-checking what the built-in repositories hold failed; trying again on the next advisory change");
        }
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn check_once(ctx: &Context, reported: &mut HashSet<(String, Key)>) -> Result<(), String> {
    let repos = ctx.repositories.state();
    let requests = Api::<PackageRequest>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    let live: Vec<&PackageRequest> = requests
        .items
        .iter()
        .filter(|r| r.metadata.deletion_timestamp.is_none())
        .collect();
    let db = ctx.advisories.current().await;
    // Every built-in PackageRepository is a view of the one store the controller serves, so they
    // are judged together; each CodeArtifact repository holds its own.
    let builtin: Vec<PackageRepository> = repos
        .iter()
        .filter(|r| r.spec.builtin.is_some())
        .map(|r| (**r).clone())
        .collect();
    if let Some(store) = builtin
        .first()
        .and_then(|first| ctx.targets.builtin(&first.name_any()).ok())
        .map(|b| b.store.clone())
    {
        let listed = tokio::task::spawn_blocking(move || store.listed_versions())
            .await
            .map_err(|e| e.to_string())?;
        let held = Held {
            repos: &builtin,
            place: "the built-in repository".to_string(),
            listed,
        };
        judge(ctx, &db, &live, held, reported).await;
    }
    for repo in repos.iter().filter(|r| r.spec.code_artifact.is_some()) {
        let listed = match ctx.targets.codeartifact_versions(repo).await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(repository = %repo.name_any(), error = %e, "could not list what a CodeArtifact repository holds; trying again on the next advisory change");
                continue;
            }
        };
        let place = repo
            .spec
            .code_artifact
            .as_ref()
            .map(|ca| format!("CodeArtifact {}/{}", ca.domain, ca.repository))
            .unwrap_or_default();
        let repos = [(**repo).clone()];
        let held = Held {
            repos: &repos,
            place,
            listed,
        };
        judge(ctx, &db, &live, held, reported).await;
    }
    Ok(())
}

/// What one place serves, and the PackageRepositories that are views of it.
struct Held<'a> {
    repos: &'a [PackageRepository],
    /// Where, for the event: "the built-in repository", "CodeArtifact domain/repository".
    place: String,
    listed: Vec<(Ecosystem, String, String)>,
}

/// Judges every listed version no live request stands for by each repository's policy: each
/// that denies it is told, and the strictest action among them is taken.
async fn judge(
    ctx: &Context,
    db: &AdvisoryDb,
    live: &[&PackageRequest],
    held: Held<'_>,
    reported: &mut HashSet<(String, Key)>,
) {
    let names: HashSet<String> = held.repos.iter().map(|r| r.name_any()).collect();
    let requested: HashSet<Key> = live
        .iter()
        .filter(|r| names.contains(&r.spec.repository_ref))
        .map(|r| key(r.spec.ecosystem, &r.spec.name, &r.spec.version))
        .collect();
    let now = Timestamp::now();
    for (ecosystem, name, version) in held.listed {
        let k = key(ecosystem, &name, &version);
        if requested.contains(&k) || db.matches(ecosystem, &name, &version).is_empty() {
            continue;
        }
        let denying: Vec<_> = held
            .repos
            .iter()
            .filter_map(|repo| {
                let policy = ctx.policies.get(&ObjectRef::new(&repo.spec.policy_ref))?;
                let verdict =
                    decide::advisories_now(db, &policy.spec, ecosystem, &name, &version, now)?;
                (verdict.verdict == Verdict::Denied).then_some((repo, policy, verdict))
            })
            .collect();
        if denying.is_empty() {
            continue;
        }
        let unlisting = denying.iter().find(|(r, _, _)| r.spec.unlist_on_quarantine);
        let outcome = match unlisting {
            Some((repo, _, _)) => match ctx
                .targets
                .withdraw(repo, ecosystem, &name, &version, DeletionPolicy::Unlist)
                .await
            {
                Ok(done) => done,
                Err(e) => {
                    tracing::warn!(error = %e, package = %name, version = %version, "could not unlist a quarantined version");
                    continue;
                }
            },
            None => "still installable (set spec.unlistOnQuarantine to unlist)".to_string(),
        };
        for (repo, policy, verdict) in &denying {
            let repo_name = repo.name_any();
            if unlisting.is_none() && !reported.insert((repo_name.clone(), k.clone())) {
                continue;
            }
            let message = format!(
                "{name} {version}, kept in {} after its request was deleted, is now denied by {repo_name}'s policy {}: {}; {outcome}",
                held.place,
                policy.name_any(),
                verdict.deciding_list()
            );
            super::record(
                ctx,
                &repo.object_ref(&()),
                EventType::Warning,
                "Quarantined",
                "Rescan",
                message,
            )
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pypi_names_are_compared_in_normal_form() {
        assert_eq!(
            key(Ecosystem::Pypi, "Demo_Pkg", "1.0"),
            key(Ecosystem::Pypi, "demo-pkg", "1.0")
        );
        assert_ne!(
            key(Ecosystem::Npm, "Demo", "1.0"),
            key(Ecosystem::Npm, "demo", "1.0")
        );
    }
}

//! Where a repository's packages go: the built-in store or a CodeArtifact repository, behind one
//! publish / withdraw interface so reconcile does not care which.

use std::sync::Arc;

use aws_sdk_codeartifact::types::{PackageFormat, PackageVersionStatus};

use super::codeartifact::{PublishError, Publisher, Repository};
use crate::api::PackageRepository;
use crate::api::package_repository::DeletionPolicy;
use crate::api::package_request::Ecosystem;
use crate::package::file::FileKind;
use crate::publish::builtin::store::{Published, Store, StoreError, Withdrawal};
use crate::publish::upload::{Outcome, package_json};
use crate::scan::package::LocalFile;

/// What a publish did.
pub struct Delivery {
    /// What clients install from.
    pub endpoint: Option<String>,
    /// Files newly written (the rest were already there, identical).
    pub created: usize,
}

/// Where clients install a repository's packages from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Endpoints {
    pub pypi: Option<String>,
    pub npm: Option<String>,
}

/// Why a publish or withdrawal failed, and whether trying again can help.
#[derive(Debug)]
pub struct TargetError {
    pub message: String,
    pub retryable: bool,
}

impl TargetError {
    fn permanent(message: String) -> TargetError {
        TargetError {
            message,
            retryable: false,
        }
    }

    /// A blocking task that panicked or was cancelled: the work itself may well succeed next time.
    fn task(what: &str, e: tokio::task::JoinError) -> TargetError {
        TargetError {
            message: format!("the {what} task failed: {e}"),
            retryable: true,
        }
    }
}

impl From<PublishError> for TargetError {
    fn from(e: PublishError) -> TargetError {
        TargetError {
            retryable: e.retryable(),
            message: e.to_string(),
        }
    }
}

impl From<StoreError> for TargetError {
    fn from(e: StoreError) -> TargetError {
        TargetError {
            retryable: matches!(e, StoreError::Io { .. }),
            message: e.to_string(),
        }
    }
}

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The built-in store and its public URLs, and CodeArtifact clients by region.
pub struct Targets {
    pub builtin: Option<Builtin>,
    publishers: crate::aws::Regional<Publisher>,
}

pub struct Builtin {
    pub store: Arc<Store>,
    /// Where the store is served, for `status.publication.endpoint`.
    pub base_url: Option<String>,
}

impl Builtin {
    /// The URL an ecosystem's client installs from, when the store is served.
    pub fn endpoint(&self, ecosystem: Ecosystem) -> Option<String> {
        self.base_url.as_ref().map(|base| match ecosystem {
            Ecosystem::Pypi => format!("{base}/simple/"),
            Ecosystem::Npm => format!("{base}/npm/"),
        })
    }

    /// Hashes and copies `files` into the store: blocking file I/O, so off the async threads.
    async fn publish(
        &self,
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
        files: &[LocalFile],
    ) -> Result<Delivery, TargetError> {
        let store = self.store.clone();
        let (name, version, files) = (name.to_string(), version.to_string(), files.to_vec());
        let created = tokio::task::spawn_blocking(move || -> Result<usize, TargetError> {
            let mut created = 0;
            for file in &files {
                let published = match ecosystem {
                    Ecosystem::Pypi => store.publish_pypi(
                        &name,
                        &version,
                        &file.filename,
                        &file.path,
                        file.requires_python.as_deref(),
                    )?,
                    Ecosystem::Npm => {
                        let manifest = package_json(&file.path, &file.filename)
                            .map_err(|e| TargetError::permanent(e.to_string()))?;
                        store.publish_npm(&manifest, &file.path)?
                    }
                };
                created += usize::from(published == Published::Created);
            }
            Ok(created)
        })
        .await
        .map_err(|e| TargetError::task("publishing", e))??;
        Ok(Delivery {
            endpoint: self.endpoint(ecosystem),
            created,
        })
    }

    async fn withdraw(
        &self,
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
        how: Withdrawal,
    ) -> Result<(), TargetError> {
        let store = self.store.clone();
        let (name, version) = (name.to_string(), version.to_string());
        tokio::task::spawn_blocking(move || store.withdraw(ecosystem, &name, &version, how))
            .await
            .map_err(|e| TargetError::task("withdrawal", e))?
            .map(|_| ())
            .map_err(|e| TargetError {
                message: e.to_string(),
                retryable: true,
            })
    }
}

fn format_of(ecosystem: Ecosystem) -> PackageFormat {
    match ecosystem {
        Ecosystem::Pypi => PackageFormat::Pypi,
        Ecosystem::Npm => PackageFormat::Npm,
    }
}

impl Targets {
    pub fn new(builtin: Option<Builtin>, aws: crate::aws::ClientSettings) -> Targets {
        Targets {
            builtin,
            publishers: crate::aws::Regional::new(aws, |config| {
                Publisher::new(aws_sdk_codeartifact::Client::new(config))
            }),
        }
    }

    pub fn builtin(&self, repo: &str) -> Result<&Builtin, TargetError> {
        self.builtin.as_ref().ok_or_else(|| {
            TargetError::permanent(format!(
                "PackageRepository {repo} is built-in, but this controller runs without the built-in repository; start it with --data-dir (where the repository is kept) and --builtin-addr (where it is served)"
            ))
        })
    }

    /// The client for a CodeArtifact repository's region and the repository it names; `None`
    /// when the repository is not a CodeArtifact one.
    async fn codeartifact(&self, repo: &PackageRepository) -> Option<(Arc<Publisher>, Repository)> {
        let ca = repo.spec.code_artifact.as_ref()?;
        let target = Repository {
            domain: ca.domain.clone(),
            domain_owner: ca.domain_owner.clone(),
            repository: ca.repository.clone(),
        };
        Some((self.publishers.get(&ca.region).await, target))
    }

    /// [`Targets::codeartifact`] for a repository that must be one or the other.
    async fn require_codeartifact(
        &self,
        repo: &PackageRepository,
    ) -> Result<(Arc<Publisher>, Repository), TargetError> {
        self.codeartifact(repo).await.ok_or_else(|| {
            TargetError::permanent(format!(
                "PackageRepository {} has neither spec.codeArtifact nor spec.builtin",
                kube::ResourceExt::name_any(repo)
            ))
        })
    }

    /// Publishes `files` of `name` `version` into `repo`. Idempotent: files already there,
    /// identical, count as published; a different file under the same name is an error.
    pub async fn publish(
        &self,
        repo: &PackageRepository,
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
        files: &[LocalFile],
    ) -> Result<Delivery, TargetError> {
        if repo.spec.builtin.is_some() {
            let builtin = self.builtin(&kube::ResourceExt::name_any(repo))?;
            return builtin.publish(ecosystem, name, version, files).await;
        }
        let (publisher, target) = self.require_codeartifact(repo).await?;
        // A version withdrawn earlier (a deleted request's Unlist, a quarantine) comes back by a
        // status change, not an upload.
        let held: Vec<(&std::path::Path, &str)> = files
            .iter()
            .map(|f| (f.path.as_path(), f.filename.as_str()))
            .collect();
        let restored = publisher
            .restore(&target, format_of(ecosystem), name, version, &held)
            .await?;
        let outcomes = match ecosystem {
            _ if restored => vec![Outcome::AlreadyPresent; files.len()],
            Ecosystem::Pypi => {
                let list: Vec<(&std::path::Path, &str, FileKind)> = files
                    .iter()
                    .map(|f| (f.path.as_path(), f.filename.as_str(), f.kind))
                    .collect();
                publisher
                    .publish_pypi(&target, name, version, &list)
                    .await?
            }
            Ecosystem::Npm => {
                let mut outcomes = Vec::new();
                for f in files {
                    outcomes.push(publisher.publish_npm(&target, &f.path, &f.filename).await?);
                }
                outcomes
            }
        };
        if repo.spec.block_upstream {
            publisher
                .block_upstream(&target, format_of(ecosystem), name)
                .await?;
        }
        let endpoint = publisher
            .endpoint(&target, format_of(ecosystem))
            .await
            .ok()
            .map(|u| u.to_string());
        Ok(Delivery {
            endpoint,
            created: outcomes
                .iter()
                .filter(|o| **o == Outcome::Published)
                .count(),
        })
    }

    /// The URLs clients install from: the PyPI index and the npm registry. For CodeArtifact this
    /// asks `GetRepositoryEndpoint`, so it also proves the repository is there and reachable with
    /// the controller's credentials.
    pub async fn endpoints(&self, repo: &PackageRepository) -> Result<Endpoints, TargetError> {
        if repo.spec.builtin.is_some() {
            let builtin = self.builtin(&kube::ResourceExt::name_any(repo))?;
            return Ok(Endpoints {
                pypi: builtin.endpoint(Ecosystem::Pypi),
                npm: builtin.endpoint(Ecosystem::Npm),
            });
        }
        let (publisher, target) = self.require_codeartifact(repo).await?;
        let pypi = publisher.endpoint(&target, PackageFormat::Pypi).await?;
        let npm = publisher.endpoint(&target, PackageFormat::Npm).await?;
        Ok(Endpoints {
            pypi: Some(format!("{pypi}simple/")),
            npm: Some(npm.to_string()),
        })
    }

    /// What a CodeArtifact repository serves now: `(ecosystem, name, version)` of every
    /// `Published` PyPI and npm version.
    pub async fn codeartifact_versions(
        &self,
        repo: &PackageRepository,
    ) -> Result<Vec<(Ecosystem, String, String)>, TargetError> {
        let Some((publisher, target)) = self.codeartifact(repo).await else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for ecosystem in [Ecosystem::Pypi, Ecosystem::Npm] {
            let versions = publisher
                .published_versions(&target, format_of(ecosystem))
                .await?;
            out.extend(versions.into_iter().map(|(n, v)| (ecosystem, n, v)));
        }
        Ok(out)
    }

    /// Applies `policy` to a published version: what deleting its request, or quarantining it,
    /// does. Returns a sentence for the event.
    pub async fn withdraw(
        &self,
        repo: &PackageRepository,
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
        policy: DeletionPolicy,
    ) -> Result<String, TargetError> {
        let repo_name = kube::ResourceExt::name_any(repo);
        let how = match policy {
            DeletionPolicy::Retain => {
                return Ok(format!("{name} {version} stays in {repo_name} (Retain)"));
            }
            DeletionPolicy::Unlist => Withdrawal::Unlist,
            DeletionPolicy::Archive => Withdrawal::Archive,
            DeletionPolicy::Dispose => Withdrawal::Dispose,
        };
        if repo.spec.builtin.is_some() {
            self.builtin(&repo_name)?
                .withdraw(ecosystem, name, version, how)
                .await?;
            let done = match how {
                Withdrawal::Unlist => "taken out of the index; its files still download by URL",
                Withdrawal::Archive => "archived: out of the index and no longer downloadable",
                Withdrawal::Dispose => "disposed: out of the index and its files deleted",
                Withdrawal::Relist => "listed again",
            };
            return Ok(format!(
                "{name} {version} in {repo_name} {done} ({policy:?})"
            ));
        }
        let Some((publisher, target)) = self.codeartifact(repo).await else {
            return Ok(String::new());
        };
        let format = format_of(ecosystem);
        match how {
            Withdrawal::Dispose => publisher.dispose(&target, format, name, version).await?,
            Withdrawal::Unlist | Withdrawal::Archive | Withdrawal::Relist => {
                let status = match how {
                    Withdrawal::Unlist => PackageVersionStatus::Unlisted,
                    Withdrawal::Relist => PackageVersionStatus::Published,
                    _ => PackageVersionStatus::Archived,
                };
                publisher
                    .set_status(&target, format, name, version, status)
                    .await?
            }
        }
        Ok(format!(
            "{name} {version} in CodeArtifact {}/{}: {policy:?}",
            target.domain, target.repository
        ))
    }
}

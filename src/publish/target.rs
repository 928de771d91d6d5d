//! Where a repository's packages go: the built-in store or a CodeArtifact repository, behind one
//! publish / withdraw interface so reconcile does not care which.

use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_codeartifact::types::{PackageFormat, PackageVersionStatus};

use super::codeartifact::{Publisher, Repository};
use crate::api::PackageRepository;
use crate::api::package_repository::DeletionPolicy;
use crate::api::package_request::Ecosystem;
use crate::pipeline::resolve::FileKind;
use crate::publish::builtin::store::{Published, Store, Withdrawal};
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

    async fn publisher(&self, region: &str) -> Arc<Publisher> {
        self.publishers.get(region).await
    }

    pub fn builtin(&self, repo: &str) -> Result<&Builtin, TargetError> {
        self.builtin.as_ref().ok_or_else(|| TargetError {
            message: format!(
                "PackageRepository {repo} is built-in, but this controller runs without the built-in repository; start it with --data-dir (where the repository is kept) and --builtin-addr (where it is served)"
            ),
            retryable: false,
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
        let repo_name = kube::ResourceExt::name_any(repo);
        if repo.spec.builtin.is_some() {
            let builtin = self.builtin(&repo_name)?;
            let store = builtin.store.clone();
            let (name, version) = (name.to_string(), version.to_string());
            let files: Vec<(PathBuf, String, Option<String>)> = files
                .iter()
                .map(|f| {
                    (
                        f.path.clone(),
                        f.filename.clone(),
                        f.requires_python.clone(),
                    )
                })
                .collect();
            // Hashing and copying into the store is blocking file I/O.
            let created = tokio::task::spawn_blocking(move || -> Result<usize, TargetError> {
                let mut created = 0;
                for (path, filename, requires_python) in &files {
                    let published = match ecosystem {
                        Ecosystem::Pypi => store.publish_pypi(
                            &name,
                            &version,
                            filename,
                            path,
                            requires_python.as_deref(),
                        ),
                        Ecosystem::Npm => {
                            let manifest =
                                package_json(path, filename).map_err(|e| TargetError {
                                    message: e.to_string(),
                                    retryable: false,
                                })?;
                            store.publish_npm(&manifest, path)
                        }
                    }
                    .map_err(|e| TargetError {
                        retryable: matches!(
                            e,
                            crate::publish::builtin::store::StoreError::Io { .. }
                        ),
                        message: e.to_string(),
                    })?;
                    created += usize::from(published == Published::Created);
                }
                Ok(created)
            })
            .await
            .map_err(|e| TargetError {
                message: format!("the publishing task failed: {e}"),
                retryable: true,
            })??;
            let endpoint = builtin.base_url.as_ref().map(|base| match ecosystem {
                Ecosystem::Pypi => format!("{base}/simple/"),
                Ecosystem::Npm => format!("{base}/npm/"),
            });
            return Ok(Delivery { endpoint, created });
        }
        let Some(ca) = &repo.spec.code_artifact else {
            return Err(TargetError {
                message: format!(
                    "PackageRepository {repo_name} has neither spec.codeArtifact nor spec.builtin"
                ),
                retryable: false,
            });
        };
        let publisher = self.publisher(&ca.region).await;
        let target = Repository {
            domain: ca.domain.clone(),
            domain_owner: ca.domain_owner.clone(),
            repository: ca.repository.clone(),
        };
        let aws = |e: super::codeartifact::PublishError| TargetError {
            retryable: e.retryable(),
            message: e.to_string(),
        };
        // A version withdrawn earlier (a deleted request's Unlist, a quarantine) comes back by a
        // status change, not an upload.
        let held: Vec<(&std::path::Path, &str)> = files
            .iter()
            .map(|f| (f.path.as_path(), f.filename.as_str()))
            .collect();
        let restored = publisher
            .restore(&target, format_of(ecosystem), name, version, &held)
            .await
            .map_err(aws)?;
        let outcomes = match ecosystem {
            _ if restored => vec![Outcome::AlreadyPresent; files.len()],
            Ecosystem::Pypi => {
                let list: Vec<(&std::path::Path, &str, FileKind)> = files
                    .iter()
                    .map(|f| (f.path.as_path(), f.filename.as_str(), f.kind))
                    .collect();
                publisher
                    .publish_pypi(&target, name, version, &list)
                    .await
                    .map_err(aws)?
            }
            Ecosystem::Npm => {
                let mut outcomes = Vec::new();
                for f in files {
                    outcomes.push(
                        publisher
                            .publish_npm(&target, &f.path, &f.filename)
                            .await
                            .map_err(aws)?,
                    );
                }
                outcomes
            }
        };
        if repo.spec.block_upstream {
            publisher
                .block_upstream(&target, format_of(ecosystem), name)
                .await
                .map_err(aws)?;
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
        let repo_name = kube::ResourceExt::name_any(repo);
        if repo.spec.builtin.is_some() {
            let builtin = self.builtin(&repo_name)?;
            return Ok(Endpoints {
                pypi: builtin.base_url.as_ref().map(|b| format!("{b}/simple/")),
                npm: builtin.base_url.as_ref().map(|b| format!("{b}/npm/")),
            });
        }
        let Some(ca) = &repo.spec.code_artifact else {
            return Err(TargetError {
                message: format!(
                    "PackageRepository {repo_name} has neither spec.codeArtifact nor spec.builtin"
                ),
                retryable: false,
            });
        };
        let publisher = self.publisher(&ca.region).await;
        let target = Repository {
            domain: ca.domain.clone(),
            domain_owner: ca.domain_owner.clone(),
            repository: ca.repository.clone(),
        };
        let mut urls = Vec::new();
        for format in [PackageFormat::Pypi, PackageFormat::Npm] {
            let url = publisher
                .endpoint(&target, format)
                .await
                .map_err(|e| TargetError {
                    retryable: e.retryable(),
                    message: e.to_string(),
                })?;
            urls.push(url.to_string());
        }
        let mut urls = urls.into_iter();
        let pypi = urls.next().map(|u| format!("{u}simple/"));
        Ok(Endpoints {
            pypi,
            npm: urls.next(),
        })
    }

    /// What a CodeArtifact repository serves now: `(ecosystem, name, version)` of every
    /// `Published` PyPI and npm version.
    pub async fn codeartifact_versions(
        &self,
        repo: &PackageRepository,
    ) -> Result<Vec<(Ecosystem, String, String)>, TargetError> {
        let Some(ca) = &repo.spec.code_artifact else {
            return Ok(Vec::new());
        };
        let publisher = self.publisher(&ca.region).await;
        let target = Repository {
            domain: ca.domain.clone(),
            domain_owner: ca.domain_owner.clone(),
            repository: ca.repository.clone(),
        };
        let mut out = Vec::new();
        for ecosystem in [Ecosystem::Pypi, Ecosystem::Npm] {
            let versions = publisher
                .published_versions(&target, format_of(ecosystem))
                .await
                .map_err(|e| TargetError {
                    retryable: e.retryable(),
                    message: e.to_string(),
                })?;
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
        if policy == DeletionPolicy::Retain {
            return Ok(format!("{name} {version} stays in {repo_name} (Retain)"));
        }
        if repo.spec.builtin.is_some() {
            let store = self.builtin(&repo_name)?.store.clone();
            let (n, v) = (name.to_string(), version.to_string());
            let how = match policy {
                DeletionPolicy::Unlist => Withdrawal::Unlist,
                DeletionPolicy::Archive => Withdrawal::Archive,
                DeletionPolicy::Dispose => Withdrawal::Dispose,
                DeletionPolicy::Retain => {
                    return Ok(format!("{name} {version} stays in {repo_name} (Retain)"));
                }
            };
            tokio::task::spawn_blocking(move || store.withdraw(ecosystem, &n, &v, how))
                .await
                .map_err(|e| TargetError {
                    message: format!("the withdrawal task failed: {e}"),
                    retryable: true,
                })?
                .map_err(|e| TargetError {
                    message: e.to_string(),
                    retryable: true,
                })?;
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
        let Some(ca) = &repo.spec.code_artifact else {
            return Ok(String::new());
        };
        let publisher = self.publisher(&ca.region).await;
        let target = Repository {
            domain: ca.domain.clone(),
            domain_owner: ca.domain_owner.clone(),
            repository: ca.repository.clone(),
        };
        let format = format_of(ecosystem);
        let result = match policy {
            DeletionPolicy::Retain => Ok(()),
            DeletionPolicy::Unlist | DeletionPolicy::Archive => {
                let status = if policy == DeletionPolicy::Unlist {
                    PackageVersionStatus::Unlisted
                } else {
                    PackageVersionStatus::Archived
                };
                publisher
                    .set_status(&target, format, name, version, status)
                    .await
            }
            DeletionPolicy::Dispose => publisher.dispose(&target, format, name, version).await,
        };
        result.map_err(|e| TargetError {
            retryable: e.retryable(),
            message: e.to_string(),
        })?;
        Ok(format!(
            "{name} {version} in CodeArtifact {}/{}: {policy:?}",
            ca.domain, ca.repository
        ))
    }
}

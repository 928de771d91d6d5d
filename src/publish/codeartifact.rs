//! Publishing into AWS CodeArtifact: an authorization token (cached per domain until shortly
//! before it expires, never logged), the repository endpoint per format, the upload in the
//! ecosystem's own protocol ([`crate::publish::upload`]), then package origin controls so no
//! unscanned version can arrive through an upstream, and the deletion policy on removal.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_sdk_codeartifact::Client;
use aws_sdk_codeartifact::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_codeartifact::types::{
    AllowPublish, AllowUpstream, HashAlgorithm, PackageFormat, PackageOriginRestrictions,
    PackageVersionStatus,
};
use url::Url;

use crate::net::client::{HttpClient, HttpConfig, host_of};
use crate::package::file::FileKind;
use crate::publish::upload::npm::{self as npm_upload, NpmTarget};
use crate::publish::upload::pypi::{self as pypi_upload, Distribution, PypiTarget};
use crate::publish::upload::{Outcome, Secret, UploadError};

/// A token is renewed this long before it expires, so no upload starts with a dying one.
const RENEW_BEFORE: Duration = Duration::from_secs(15 * 60);
/// Tokens are asked for with this lifetime (AWS allows 900 to 43200 seconds).
const TOKEN_SECONDS: i64 = 12 * 3600;

/// Which repository, in which domain.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Repository {
    pub domain: String,
    pub domain_owner: Option<String>,
    pub repository: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(
        "CodeArtifact denied {action} on {resource}: grant the controller's role codeartifact:{action}{extra}"
    )]
    AccessDenied {
        action: &'static str,
        resource: String,
        extra: &'static str,
    },
    #[error(
        "CodeArtifact {action}: {resource} was not found; check the PackageRepository's domain, owner and repository"
    )]
    NotFound {
        action: &'static str,
        resource: String,
    },
    #[error("CodeArtifact {action} failed: {code}: {message}")]
    Aws {
        action: &'static str,
        code: String,
        message: String,
        /// Throttling and 5xx (after the SDK's own retries): worth another attempt later.
        retryable: bool,
    },
    #[error(transparent)]
    Upload(#[from] UploadError),
    #[error("CodeArtifact returned an unusable {what}: {detail}")]
    Bad { what: &'static str, detail: String },
}

impl PublishError {
    pub fn retryable(&self) -> bool {
        match self {
            PublishError::Aws { retryable, .. } => *retryable,
            PublishError::Upload(e) => e.retryable(),
            _ => false,
        }
    }
}

fn classify<E, R>(action: &'static str, resource: String, e: SdkError<E, R>) -> PublishError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.code().unwrap_or("") {
        "AccessDeniedException" => PublishError::AccessDenied {
            action,
            resource,
            extra: if action == "GetAuthorizationToken" {
                " and sts:GetServiceBearerToken"
            } else {
                ""
            },
        },
        "ResourceNotFoundException" => PublishError::NotFound { action, resource },
        _ => {
            let f = crate::aws::failure(&e);
            PublishError::Aws {
                action,
                code: f.code,
                message: f.message,
                retryable: f.retryable,
            }
        }
    }
}

/// Tokens by (domain, owner), with their expiry.
type TokenCache = HashMap<(String, Option<String>), (Secret, SystemTime)>;

pub struct Publisher {
    client: Client,
    tokens: Mutex<TokenCache>,
    http_config: HttpConfig,
}

fn sha256_file(path: &std::path::Path) -> Result<String, PublishError> {
    let mut f = std::fs::File::open(path).map_err(|e| PublishError::Bad {
        what: "file",
        detail: format!("{}: {e}", path.display()),
    })?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).map_err(|e| PublishError::Bad {
            what: "file",
            detail: e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(hex::encode(ctx.finish().as_ref()))
}

/// CodeArtifact's (namespace, package) for a package name: npm scopes are namespaces.
/// The namespace and name CodeArtifact's API takes: npm's scope split off; a PyPI name in its
/// PEP 503 normal form, as CodeArtifact stores it and requires in API calls (`PyYAML` is
/// `pyyaml`, `Demo_Pkg` is `demo-pkg`) — else an origin control or status change would miss it.
fn package_parts<'a>(
    format: &PackageFormat,
    package: &'a str,
) -> (Option<&'a str>, std::borrow::Cow<'a, str>) {
    match format {
        PackageFormat::Npm => {
            let (scope, name) = npm_parts(package);
            (scope, std::borrow::Cow::Borrowed(name))
        }
        PackageFormat::Pypi => (
            None,
            std::borrow::Cow::Owned(crate::package::normalize_pypi_name(package)),
        ),
        _ => (None, std::borrow::Cow::Borrowed(package)),
    }
}

/// npm namespace and bare name: `@scope/name` → (`scope`, `name`).
fn npm_parts(name: &str) -> (Option<&str>, &str) {
    match name.strip_prefix('@').and_then(|n| n.split_once('/')) {
        Some((scope, bare)) => (Some(scope), bare),
        None => (None, name),
    }
}

impl Publisher {
    pub fn new(client: Client) -> Publisher {
        Publisher {
            client,
            tokens: Mutex::new(HashMap::new()),
            http_config: HttpConfig::default(),
        }
    }

    /// The domain's authorization token, from the cache while it has 15 minutes left.
    pub async fn token(&self, repo: &Repository) -> Result<Secret, PublishError> {
        let key = (repo.domain.clone(), repo.domain_owner.clone());
        if let Some((token, expires)) = self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            && *expires > SystemTime::now() + RENEW_BEFORE
        {
            return Ok(token.clone());
        }
        let out = self
            .client
            .get_authorization_token()
            .domain(&repo.domain)
            .set_domain_owner(repo.domain_owner.clone())
            .duration_seconds(TOKEN_SECONDS)
            .send()
            .await
            .map_err(|e| {
                classify(
                    "GetAuthorizationToken",
                    format!("domain {}", repo.domain),
                    e,
                )
            })?;
        let token = Secret::new(out.authorization_token().unwrap_or_default());
        let expires = out
            .expiration()
            .and_then(|t| SystemTime::try_from(*t).ok())
            .unwrap_or_else(|| SystemTime::now() + Duration::from_secs(TOKEN_SECONDS as u64));
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (token.clone(), expires));
        Ok(token)
    }

    pub async fn endpoint(
        &self,
        repo: &Repository,
        format: PackageFormat,
    ) -> Result<Url, PublishError> {
        let out = self
            .client
            .get_repository_endpoint()
            .domain(&repo.domain)
            .set_domain_owner(repo.domain_owner.clone())
            .repository(&repo.repository)
            .format(format)
            .send()
            .await
            .map_err(|e| {
                classify(
                    "GetRepositoryEndpoint",
                    format!("repository {}/{}", repo.domain, repo.repository),
                    e,
                )
            })?;
        let text = out.repository_endpoint().unwrap_or_default();
        let text = if text.ends_with('/') {
            text.to_string()
        } else {
            format!("{text}/")
        };
        Url::parse(&text).map_err(|e| PublishError::Bad {
            what: "repository endpoint",
            detail: format!("{text:?}: {e}"),
        })
    }

    fn http_for(&self, endpoint: &Url) -> Result<HttpClient, PublishError> {
        HttpClient::new(
            host_of(endpoint).into_iter().collect(),
            self.http_config.clone(),
        )
        .map_err(|e| PublishError::Bad {
            what: "HTTP client",
            detail: e,
        })
    }

    /// Runs `upload` with the domain's token; a token revoked or expired early (401) is renewed
    /// once.
    async fn with_token<T, F, Fut>(
        &self,
        repo: &Repository,
        mut upload: F,
    ) -> Result<T, PublishError>
    where
        F: FnMut(Secret) -> Fut,
        Fut: std::future::Future<Output = Result<T, UploadError>>,
    {
        let mut renewed = false;
        loop {
            match upload(self.token(repo).await?).await {
                Err(UploadError::Unauthorized { .. }) if !renewed => {
                    self.forget_token(repo);
                    renewed = true;
                }
                other => return Ok(other?),
            }
        }
    }

    fn forget_token(&self, repo: &Repository) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(repo.domain.clone(), repo.domain_owner.clone()));
    }

    /// The SHA-256 of each asset of a version, by asset name (`ListPackageVersionAssets`); empty
    /// when the version does not exist yet.
    pub async fn asset_digests(
        &self,
        repo: &Repository,
        format: PackageFormat,
        namespace: Option<&str>,
        package: &str,
        version: &str,
    ) -> Result<HashMap<String, String>, PublishError> {
        let out = self
            .client
            .list_package_version_assets()
            .domain(&repo.domain)
            .set_domain_owner(repo.domain_owner.clone())
            .repository(&repo.repository)
            .format(format)
            .set_namespace(namespace.map(str::to_string))
            .package(package)
            .package_version(version)
            .send()
            .await;
        match out {
            Ok(o) => Ok(o
                .assets()
                .iter()
                .map(|a| {
                    let sha = a
                        .hashes()
                        .and_then(|h| h.get(&HashAlgorithm::Sha256))
                        .cloned()
                        .unwrap_or_default();
                    (a.name().to_string(), sha.to_ascii_lowercase())
                })
                .collect()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(HashMap::new()),
            Err(e) => Err(classify(
                "ListPackageVersionAssets",
                format!("{package} {version}"),
                e,
            )),
        }
    }

    /// A version's status (`DescribePackageVersion`); `None` when CodeArtifact has no such version.
    pub async fn version_status(
        &self,
        repo: &Repository,
        format: PackageFormat,
        package: &str,
        version: &str,
    ) -> Result<Option<PackageVersionStatus>, PublishError> {
        let (namespace, name) = package_parts(&format, package);
        let out = self
            .client
            .describe_package_version()
            .domain(&repo.domain)
            .set_domain_owner(repo.domain_owner.clone())
            .repository(&repo.repository)
            .format(format)
            .set_namespace(namespace.map(str::to_string))
            .package(name.as_ref())
            .package_version(version)
            .send()
            .await;
        match out {
            Ok(o) => Ok(o.package_version().and_then(|v| v.status().cloned())),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(classify(
                "DescribePackageVersion",
                format!("{package} {version}"),
                e,
            )),
        }
    }

    /// Makes a version that a deletion policy or a quarantine withdrew (`Unlisted`, `Archived`)
    /// installable again, when a request for it is approved anew: CodeArtifact keeps the
    /// version and refuses a second upload of it (npm) or leaves its status as it was (PyPI),
    /// so only a status change brings it back. The files must be the ones approved now; a
    /// `Disposed` version has no files left and cannot come back under the same number.
    pub async fn restore(
        &self,
        repo: &Repository,
        format: PackageFormat,
        package: &str,
        version: &str,
        files: &[(&std::path::Path, &str)],
    ) -> Result<bool, PublishError> {
        let status = self
            .version_status(repo, format.clone(), package, version)
            .await?;
        match status {
            Some(PackageVersionStatus::Unlisted) | Some(PackageVersionStatus::Archived) => {}
            Some(PackageVersionStatus::Disposed) => {
                return Err(PublishError::Aws {
                    action: "PublishPackageVersion",
                    code: "Disposed".into(),
                    message: format!(
                        "{package} {version} was disposed in {}/{}: its files are deleted and CodeArtifact keeps the version number, so it cannot be published again; request another version",
                        repo.domain, repo.repository
                    ),
                    retryable: false,
                });
            }
            _ => return Ok(false),
        }
        let (namespace, name) = package_parts(&format, package);
        let held = self
            .asset_digests(repo, format.clone(), namespace, &name, version)
            .await?;
        for (path, filename) in files {
            let ours = sha256_file(path)?;
            // npm's single asset is named by CodeArtifact, not by the tarball's file name.
            let found = held
                .get(*filename)
                .or_else(|| (held.len() == 1).then(|| held.values().next()).flatten());
            match found {
                Some(found) if *found == ours => {}
                Some(found) => {
                    return Err(Self::conflict(repo, filename.to_string(), found, ours));
                }
                None => return Ok(false),
            }
        }
        self.set_status(
            repo,
            format,
            package,
            version,
            PackageVersionStatus::Published,
        )
        .await?;
        Ok(true)
    }

    fn conflict(repo: &Repository, what: String, existing: &str, new: String) -> PublishError {
        UploadError::Conflict {
            what,
            repository: format!("{}/{}", repo.domain, repo.repository),
            algorithm: "sha256",
            existing: existing.to_string(),
            new,
        }
        .into()
    }

    /// Uploads the files of one PyPI version (wheels and sdist). Files CodeArtifact already
    /// holds with the same SHA-256 are not sent again; a different one is a conflict.
    pub async fn publish_pypi(
        &self,
        repo: &Repository,
        name: &str,
        version: &str,
        files: &[(&std::path::Path, &str, FileKind)],
    ) -> Result<Vec<Outcome>, PublishError> {
        let normal = crate::package::normalize_pypi_name(name);
        let existing = self
            .asset_digests(repo, PackageFormat::Pypi, None, &normal, version)
            .await?;
        let endpoint = self.endpoint(repo, PackageFormat::Pypi).await?;
        let http = self.http_for(&endpoint)?;
        let simple_url = endpoint.join("simple/").map_err(|e| PublishError::Bad {
            what: "repository endpoint",
            detail: e.to_string(),
        })?;
        let mut outcomes = Vec::new();
        for (path, filename, kind) in files {
            if let Some(found) = existing.get(*filename) {
                let ours = sha256_file(path)?;
                if *found != ours {
                    return Err(Self::conflict(repo, filename.to_string(), found, ours));
                }
                outcomes.push(Outcome::AlreadyPresent);
                continue;
            }
            let dist = Distribution {
                path,
                filename,
                kind: *kind,
            };
            let (http, dist) = (&http, &dist);
            let outcome = self
                .with_token(repo, |token| {
                    let target = PypiTarget {
                        upload_url: endpoint.clone(),
                        simple_url: simple_url.clone(),
                        username: "aws".into(),
                        password: token,
                    };
                    async move { pypi_upload::upload(http, &target, dist).await }
                })
                .await?;
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// Publishes one npm version from its tarball.
    pub async fn publish_npm(
        &self,
        repo: &Repository,
        tarball: &std::path::Path,
        filename: &str,
    ) -> Result<Outcome, PublishError> {
        let endpoint = self.endpoint(repo, PackageFormat::Npm).await?;
        let http = &self.http_for(&endpoint)?;
        self.with_token(repo, |token| {
            let target = NpmTarget {
                registry: endpoint.clone(),
                token,
            };
            async move { npm_upload::publish(http, &target, tarball, filename).await }
        })
        .await
    }

    /// The `Dispose` deletion policy: the version's assets are deleted, its record kept.
    pub async fn dispose(
        &self,
        repo: &Repository,
        format: PackageFormat,
        package: &str,
        version: &str,
    ) -> Result<(), PublishError> {
        let (namespace, name) = package_parts(&format, package);
        self.client
            .dispose_package_versions()
            .domain(&repo.domain)
            .set_domain_owner(repo.domain_owner.clone())
            .repository(&repo.repository)
            .format(format)
            .set_namespace(namespace.map(str::to_string))
            .package(name)
            .versions(version)
            .send()
            .await
            .map_err(|e| classify("DisposePackageVersions", format!("{package} {version}"), e))?;
        Ok(())
    }

    /// `publish=ALLOW, upstream=BLOCK`: only what airlock publishes can be this package's versions.
    pub async fn block_upstream(
        &self,
        repo: &Repository,
        format: PackageFormat,
        package: &str,
    ) -> Result<(), PublishError> {
        let (namespace, name) = package_parts(&format, package);
        let restrictions = PackageOriginRestrictions::builder()
            .publish(AllowPublish::Allow)
            .upstream(AllowUpstream::Block)
            .build()
            .map_err(|e| PublishError::Bad {
                what: "origin restrictions",
                detail: e.to_string(),
            })?;
        self.client
            .put_package_origin_configuration()
            .domain(&repo.domain)
            .set_domain_owner(repo.domain_owner.clone())
            .repository(&repo.repository)
            .format(format)
            .set_namespace(namespace.map(str::to_string))
            .package(name)
            .restrictions(restrictions)
            .send()
            .await
            .map_err(|e| {
                classify(
                    "PutPackageOriginConfiguration",
                    format!("package {package}"),
                    e,
                )
            })?;
        Ok(())
    }

    /// Every version of `format` that clients can install from `repo` now (status `Published`),
    /// as `(package, version)` with npm scopes joined back (`@scope/name`): what a rescan of
    /// the repository's holdings judges. ListPackages, then ListPackageVersions per package,
    /// each followed through its pages.
    pub async fn published_versions(
        &self,
        repo: &Repository,
        format: PackageFormat,
    ) -> Result<Vec<(String, String)>, PublishError> {
        let resource = || format!("{}/{}", repo.domain, repo.repository);
        let mut packages = self
            .client
            .list_packages()
            .domain(&repo.domain)
            .set_domain_owner(repo.domain_owner.clone())
            .repository(&repo.repository)
            .format(format.clone())
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(summary) = packages.next().await {
            let summary = summary.map_err(|e| classify("ListPackages", resource(), e))?;
            let Some(package) = summary.package() else {
                continue;
            };
            let namespace = summary.namespace().filter(|n| !n.is_empty());
            let full = match namespace {
                Some(ns) if format == PackageFormat::Npm => format!("@{ns}/{package}"),
                _ => package.to_string(),
            };
            let mut versions = self
                .client
                .list_package_versions()
                .domain(&repo.domain)
                .set_domain_owner(repo.domain_owner.clone())
                .repository(&repo.repository)
                .format(format.clone())
                .set_namespace(namespace.map(str::to_string))
                .package(package)
                .status(PackageVersionStatus::Published)
                .into_paginator()
                .items()
                .send();
            while let Some(v) = versions.next().await {
                let v = v.map_err(|e| classify("ListPackageVersions", full.clone(), e))?;
                if *v.status() == PackageVersionStatus::Published {
                    out.push((full.clone(), v.version().to_string()));
                }
            }
        }
        Ok(out)
    }

    /// The `Unlist` / `Archive` deletion policies (`Retain` does nothing; `Dispose` is
    /// [`Publisher::dispose`]).
    pub async fn set_status(
        &self,
        repo: &Repository,
        format: PackageFormat,
        package: &str,
        version: &str,
        status: PackageVersionStatus,
    ) -> Result<(), PublishError> {
        let (namespace, name) = package_parts(&format, package);
        let out = self
            .client
            .update_package_versions_status()
            .domain(&repo.domain)
            .set_domain_owner(repo.domain_owner.clone())
            .repository(&repo.repository)
            .format(format)
            .set_namespace(namespace.map(str::to_string))
            .package(name)
            .versions(version)
            .target_status(status)
            .send()
            .await
            .map_err(|e| {
                classify(
                    "UpdatePackageVersionsStatus",
                    format!("{package} {version}"),
                    e,
                )
            })?;
        if let Some(failed) = out.failed_versions().and_then(|f| f.get(version)) {
            return Err(PublishError::Aws {
                action: "UpdatePackageVersionsStatus",
                code: failed
                    .error_code()
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default(),
                message: failed.error_message().unwrap_or_default().to_string(),
                retryable: false,
            });
        }
        Ok(())
    }
}

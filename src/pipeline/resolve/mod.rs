//! Resolve: from a package reference to the exact files of that version, with the digests,
//! upload times and metadata the later steps need. PyPI through the Simple API's JSON form
//! (PEP 691), npm through the registry's package document.

mod core_metadata;
pub mod glob;
mod npm;
mod pypi;

use std::collections::BTreeMap;

use serde::Serialize;
use url::Url;

use crate::api::package_request::Ecosystem;
use crate::net::client::{HttpClient, HttpError, host_of};
use crate::package::PackageRef;
use crate::package::file::{Digests, FileKind};

pub use core_metadata::CoreMetadata;
pub use npm::document_path as npm_document_path;
pub use npm::sha512_integrity;
pub use pypi::parse_filename as parse_pypi_filename;

/// Where packages come from. Mirrors and test registries change the URLs; every host a file may
/// be downloaded from must be listed (the index's own host always is).
#[derive(Clone, Debug)]
pub struct Registries {
    /// The PEP 691 Simple API root, e.g. `https://pypi.org/simple/`.
    pub pypi_index: Url,
    /// Hosts PyPI files may come from besides the index's own.
    pub pypi_file_hosts: Vec<String>,
    /// The npm registry root, e.g. `https://registry.npmjs.org/`.
    pub npm_registry: Url,
    pub npm_file_hosts: Vec<String>,
}

impl Default for Registries {
    fn default() -> Self {
        Self {
            pypi_index: Url::parse("https://pypi.org/simple/").expect("static URL"),
            pypi_file_hosts: vec!["files.pythonhosted.org".into()],
            npm_registry: Url::parse("https://registry.npmjs.org/").expect("static URL"),
            npm_file_hosts: vec![],
        }
    }
}

impl Registries {
    /// Every host the pipeline may reach.
    pub fn allowed_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = [host_of(&self.pypi_index), host_of(&self.npm_registry)]
            .into_iter()
            .flatten()
            .collect();
        hosts.extend(self.pypi_file_hosts.iter().cloned());
        hosts.extend(self.npm_file_hosts.iter().cloned());
        hosts.sort();
        hosts.dedup();
        hosts
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedFile {
    pub filename: String,
    pub url: Url,
    pub kind: FileKind,
    pub size: Option<u64>,
    pub digests: Digests,
    /// RFC 3339, as the registry reports it.
    pub upload_time: Option<String>,
    /// The yank reason (empty when none was given), if the file is yanked.
    pub yanked: Option<String>,
    pub requires_python: Option<String>,
    /// PEP 658 metadata file of a wheel, with its sha256.
    #[serde(skip)]
    pub core_metadata: Option<(Url, Option<String>)>,
}

/// What the registry says about the version, for the licence, dependency and install-script
/// checks and for npm manifest-confusion detection.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageMetadata {
    /// SPDX expression (or the free text the package declares).
    pub license: Option<String>,
    pub dependencies: Vec<String>,
    /// npm lifecycle scripts from the registry document (`preinstall`, `install`, `postinstall`).
    pub install_scripts: BTreeMap<String, String>,
    /// npm: the version's registry document, to compare with the tarball's `package.json`.
    #[serde(skip)]
    pub registry_manifest: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SkippedFile {
    pub filename: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedPackage {
    pub ecosystem: Ecosystem,
    /// The name as the registry spells it.
    pub name: String,
    /// The version as the registry spells it.
    pub version: String,
    pub files: Vec<ResolvedFile>,
    /// Files of the version that will not be scanned or published, and why.
    pub skipped: Vec<SkippedFile>,
    pub metadata: PackageMetadata,
    /// npm `deprecated` message, or a note that every file is yanked.
    pub warning: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{ecosystem} package {name:?} does not exist at {registry}; check the spelling")]
    PackageNotFound {
        ecosystem: &'static str,
        name: String,
        registry: String,
    },
    #[error("{name} has no version {version}{}", closest_hint(.available))]
    VersionNotFound {
        name: String,
        version: String,
        available: Vec<String>,
    },
    #[error("no file of {name} {version} matches {globs:?}; the version has: {}", .available.join(", "))]
    NoFileMatches {
        name: String,
        version: String,
        globs: Vec<String>,
        available: Vec<String>,
    },
    #[error("{name} {version} has no file airlock can scan{}", skipped_hint(.skipped))]
    NothingScannable {
        name: String,
        version: String,
        skipped: Vec<SkippedFile>,
    },
    #[error("the registry answered {url} with a document airlock cannot read: {reason}")]
    BadDocument { url: String, reason: String },
    #[error(transparent)]
    Http(#[from] HttpError),
}

impl ResolveError {
    /// Whether retrying later could help (a registry outage) or not (a name that does not exist).
    pub fn retryable(&self) -> bool {
        matches!(self, ResolveError::Http(e) if e.retryable())
    }
}

fn closest_hint(available: &[String]) -> String {
    if available.is_empty() {
        String::new()
    } else {
        format!(
            "; the newest it has are {}",
            available
                .iter()
                .rev()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn skipped_hint(skipped: &[SkippedFile]) -> String {
    if skipped.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = skipped
            .iter()
            .map(|s| format!("{} ({})", s.filename, s.reason))
            .collect();
        format!(": {}", list.join(", "))
    }
}

/// The resolver: the registries and the HTTP client to reach them.
#[derive(Clone)]
pub struct Resolver {
    pub http: HttpClient,
    pub registries: Registries,
}

/// Registry documents can be large (numpy's Simple page lists thousands of files); this bounds
/// what one may cost in memory.
pub const MAX_DOCUMENT_BYTES: u64 = 64 << 20;

impl Resolver {
    pub fn new(http: HttpClient, registries: Registries) -> Self {
        Self { http, registries }
    }

    /// The files of `package` (all of them, or those matching `globs`), their digests and the
    /// version's metadata.
    pub async fn resolve(
        &self,
        package: &PackageRef,
        globs: &[String],
    ) -> Result<ResolvedPackage, ResolveError> {
        let mut resolved = match package.ecosystem {
            Ecosystem::Pypi => pypi::resolve(self, package).await?,
            Ecosystem::Npm => npm::resolve(self, package).await?,
        };
        if !globs.is_empty() {
            let available: Vec<String> =
                resolved.files.iter().map(|f| f.filename.clone()).collect();
            resolved
                .files
                .retain(|f| globs.iter().any(|g| glob::matches(g, &f.filename)));
            if resolved.files.is_empty() {
                return Err(ResolveError::NoFileMatches {
                    name: resolved.name,
                    version: resolved.version,
                    globs: globs.to_vec(),
                    available,
                });
            }
        }
        if resolved.files.is_empty() {
            return Err(ResolveError::NothingScannable {
                name: resolved.name,
                version: resolved.version,
                skipped: resolved.skipped,
            });
        }
        Ok(resolved)
    }
}

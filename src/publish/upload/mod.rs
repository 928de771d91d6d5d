//! Publishing into a repository in its ecosystem's own protocol: the PyPI legacy upload API as
//! twine speaks it ([`pypi`]), and the npm publish document ([`npm`]). CodeArtifact, pypiserver
//! and verdaccio all speak these. Both are idempotent: the identical file already there is
//! success, a different one is a conflict naming both digests.

pub mod blake2b;
pub mod npm;
pub mod pypi;

use std::fmt;
use std::io::Read;
use std::path::Path;

use crate::net::client::HttpError;
use crate::pipeline::resolve::CoreMetadata;
use crate::pipeline::unpack::{self, Limits};

/// A credential: shown as `***` in every `Debug` and `Display`, so it cannot reach a log line,
/// an error or a status by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Published,
    /// The identical file or version was already there.
    AlreadyPresent,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(
        "{what} already exists in {repository} with {algorithm} {existing}, but airlock's verified file is {new}; published files are never overwritten: find out who published the other one"
    )]
    Conflict {
        what: String,
        repository: String,
        algorithm: &'static str,
        existing: String,
        new: String,
    },
    #[error(
        "{repository} refused the credentials ({status}); check the token and that it may publish to this repository"
    )]
    Unauthorized { repository: String, status: u16 },
    #[error("{repository} refused {what} ({status}): {message}")]
    Refused {
        repository: String,
        what: String,
        status: u16,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Http(#[from] HttpError),
}

impl UploadError {
    /// Whether trying again later can help.
    pub fn retryable(&self) -> bool {
        matches!(self, UploadError::Http(e) if e.retryable())
    }
}

/// The first readable part of an answer body, for an error message.
fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(300)]);
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A top-level file of a distribution (`*.dist-info/METADATA`, `*/PKG-INFO`,
/// `package/package.json`), read through the bounded unpacker.
fn read_member(
    path: &Path,
    filename: &str,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<u8>, UploadError> {
    let mut found = None;
    let report = unpack::unpack_path(path, filename, &Limits::default(), &mut |entry, content| {
        if found.is_none() && entry.path.matches('/').count() == 1 && wanted(&entry.path) {
            let mut buf = Vec::new();
            content.take(4 << 20).read_to_end(&mut buf)?;
            found = Some(buf);
        }
        Ok(())
    })
    .map_err(|e| UploadError::Invalid(format!("{filename}: {e}")))?;
    found.ok_or_else(|| {
        UploadError::Invalid(format!(
            "{filename}: no metadata file inside ({} entries read{})",
            report.entries,
            if report.complete {
                ""
            } else {
                ", reading stopped early"
            }
        ))
    })
}

/// The core metadata of a wheel or sdist.
pub fn core_metadata(path: &Path, filename: &str) -> Result<CoreMetadata, UploadError> {
    let bytes = read_member(path, filename, |p| {
        p.ends_with(".dist-info/METADATA") || p.ends_with("/PKG-INFO")
    })?;
    Ok(CoreMetadata::parse(&String::from_utf8_lossy(&bytes)))
}

/// The `package.json` of an npm tarball.
pub fn package_json(path: &Path, filename: &str) -> Result<serde_json::Value, UploadError> {
    let bytes = read_member(path, filename, |p| p.ends_with("/package.json"))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| UploadError::Invalid(format!("{filename}: package.json is not JSON: {e}")))
}

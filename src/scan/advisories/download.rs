//! osv.dev's per-ecosystem exports (`{base}/PyPI/all.zip`, `{base}/npm/all.zip`), kept in a
//! directory: fetched with conditional requests (the last answer's `ETag` and `Last-Modified`),
//! bounded in size and time, verified before use, and swapped in with one rename, so a reader
//! sees the previous export or the new one, never half of either. A refresh that fails keeps the
//! previous copy.
//!
//! Verified means: as long as the server declared, every zip entry's CRC-32 right (the unpacker
//! checks it), at least one record of the ecosystem, and most records readable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use url::Url;

use super::{AdvisoryDb, osv_name};
use crate::api::package_request::Ecosystem;
use crate::net::client::{Failure, HttpClient, HttpConfig, HttpError};

/// Where osv.dev publishes its exports.
pub const DEFAULT_BASE: &str = "https://osv-vulnerabilities.storage.googleapis.com/";
/// An export larger than this is not one (npm's, the largest, is about a tenth of it).
pub const MAX_EXPORT_BYTES: u64 = 2 << 30;
/// The longest one download may take, however steadily the bytes arrive.
pub const DOWNLOAD_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// The ecosystems airlock keeps exports for.
pub const ECOSYSTEMS: [Ecosystem; 2] = [Ecosystem::Pypi, Ecosystem::Npm];

/// The directory name osv.dev uses for an ecosystem.
/// What the last successful download was, kept beside the export for the next conditional
/// request.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Validators {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    pub sha256: String,
    pub bytes: u64,
    pub records: usize,
}

#[derive(Debug, PartialEq)]
pub enum Refreshed {
    /// The server said 304: the copy we hold is current.
    Unchanged,
    /// A new export, verified and in place.
    Updated { records: usize, bytes: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("downloading the {ecosystem} advisories: {source}")]
    Http {
        ecosystem: &'static str,
        #[source]
        source: HttpError,
    },
    #[error(
        "downloading the {ecosystem} advisories from {url} took longer than {}s; the previous copy stays in use",
        DOWNLOAD_DEADLINE.as_secs()
    )]
    Deadline {
        ecosystem: &'static str,
        url: String,
    },
    #[error(
        "the {ecosystem} advisory export from {url} is not valid: {reason}; the previous copy stays in use"
    )]
    Invalid {
        ecosystem: &'static str,
        url: String,
        reason: String,
    },
    #[error("writing the {ecosystem} advisories to {path}: {source}")]
    Io {
        ecosystem: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The exports of one base URL, kept in one directory.
pub struct Exports {
    base: Url,
    dir: PathBuf,
    http: HttpClient,
}

impl Exports {
    /// Downloads from `base` (which must end in `/`) into `dir`; only `base`'s host is reached.
    pub fn new(base: Url, dir: PathBuf) -> Result<Exports, String> {
        let host = crate::net::client::host_of(&base)
            .ok_or_else(|| format!("--advisories-url {base}: not an http(s) URL with a host"))?;
        let http = HttpClient::new(vec![host], HttpConfig::default())?;
        Ok(Exports { base, dir, http })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Where the export of `ecosystem` is kept (it may not exist yet).
    pub fn path(&self, ecosystem: Ecosystem) -> PathBuf {
        self.dir.join(osv_name(ecosystem)).join("all.zip")
    }

    fn validators_path(&self, ecosystem: Ecosystem) -> PathBuf {
        self.dir.join(osv_name(ecosystem)).join("all.zip.json")
    }

    /// The validators of the copy held, if there is one.
    pub fn validators(&self, ecosystem: Ecosystem) -> Option<Validators> {
        if !self.path(ecosystem).is_file() {
            return None;
        }
        let text = std::fs::read(self.validators_path(ecosystem)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn url(&self, ecosystem: Ecosystem) -> Result<Url, DownloadError> {
        self.base
            .join(&format!("{}/all.zip", osv_name(ecosystem)))
            .map_err(|e| DownloadError::Invalid {
                ecosystem: osv_name(ecosystem),
                url: self.base.to_string(),
                reason: e.to_string(),
            })
    }

    /// Brings the export of `ecosystem` up to date.
    pub async fn refresh(&self, ecosystem: Ecosystem) -> Result<Refreshed, DownloadError> {
        let name = osv_name(ecosystem);
        let url = self.url(ecosystem)?;
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| DownloadError::Io {
                ecosystem: name,
                path,
                source,
            }
        };
        let folder = self.dir.join(name);
        tokio::fs::create_dir_all(&folder)
            .await
            .map_err(io(&folder))?;
        let held = self.validators(ecosystem);
        let mut conditions = Vec::new();
        if let Some(v) = &held {
            if let Some(etag) = v
                .etag
                .as_deref()
                .and_then(|e| HeaderValue::from_str(e).ok())
            {
                conditions.push((header::IF_NONE_MATCH, etag));
            }
            if let Some(lm) = v
                .last_modified
                .as_deref()
                .and_then(|e| HeaderValue::from_str(e).ok())
            {
                conditions.push((header::IF_MODIFIED_SINCE, lm));
            }
        }
        let tmp = folder.join(format!(".all.zip.{}.partial", std::process::id()));
        let download = self.http.retrying(|| async {
            let _ = tokio::fs::remove_file(&tmp).await;
            self.download_once(&url, &conditions, &tmp).await
        });
        let fetched = match tokio::time::timeout(DOWNLOAD_DEADLINE, download).await {
            Err(_) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(DownloadError::Deadline {
                    ecosystem: name,
                    url: url.to_string(),
                });
            }
            Ok(Err(source)) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(DownloadError::Http {
                    ecosystem: name,
                    source,
                });
            }
            Ok(Ok(None)) => return Ok(Refreshed::Unchanged),
            Ok(Ok(Some(f))) => f,
        };
        let checked = tmp.clone();
        let verdict = tokio::task::spawn_blocking(move || verify(&checked, ecosystem)).await;
        let records = match verdict {
            Ok(Ok(records)) => records,
            Ok(Err(reason)) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(DownloadError::Invalid {
                    ecosystem: name,
                    url: url.to_string(),
                    reason,
                });
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(DownloadError::Invalid {
                    ecosystem: name,
                    url: url.to_string(),
                    reason: format!("reading it crashed: {e}"),
                });
            }
        };
        // The export first, then its validators: a crash between the two costs one needless
        // download, never a 304 for a copy we do not hold.
        let target = self.path(ecosystem);
        tokio::fs::rename(&tmp, &target)
            .await
            .map_err(io(&target))?;
        let validators = Validators { records, ..fetched };
        let vpath = self.validators_path(ecosystem);
        let vtmp = folder.join(format!(".all.zip.json.{}.partial", std::process::id()));
        let text = serde_json::to_vec_pretty(&validators).unwrap_or_default();
        tokio::fs::write(&vtmp, text).await.map_err(io(&vtmp))?;
        tokio::fs::rename(&vtmp, &vpath).await.map_err(io(&vpath))?;
        Ok(Refreshed::Updated {
            records,
            bytes: validators.bytes,
        })
    }

    /// One GET: `None` on 304, else the body written to `tmp` (synced) and its validators.
    async fn download_once(
        &self,
        url: &Url,
        conditions: &[(header::HeaderName, HeaderValue)],
        tmp: &Path,
    ) -> Result<Option<Validators>, Failure> {
        let resp = self
            .http
            .get_with(url, "application/zip", conditions)
            .await?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        let text = |h: header::HeaderName| {
            resp.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = text(header::ETAG);
        let last_modified = text(header::LAST_MODIFIED);
        let declared = text(header::CONTENT_LENGTH).and_then(|l| l.parse::<u64>().ok());
        let body_error = |reason: String| -> Failure {
            HttpError::Body {
                url: url.to_string(),
                reason,
            }
            .into()
        };
        if declared.is_some_and(|d| d > MAX_EXPORT_BYTES) {
            return Err(HttpError::TooLarge {
                url: url.to_string(),
                limit: MAX_EXPORT_BYTES,
                declared,
            }
            .into());
        }
        let mut file = tokio::fs::File::create(tmp)
            .await
            .map_err(|e| body_error(format!("cannot create {}: {e}", tmp.display())))?;
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        let mut bytes = 0u64;
        let mut body = resp.into_body();
        while let Some(chunk) = self.http.next_chunk(&mut body, url).await? {
            bytes += chunk.len() as u64;
            if bytes > MAX_EXPORT_BYTES {
                return Err(HttpError::TooLarge {
                    url: url.to_string(),
                    limit: MAX_EXPORT_BYTES,
                    declared,
                }
                .into());
            }
            digest.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| body_error(format!("cannot write {}: {e}", tmp.display())))?;
        }
        if let Some(d) = declared.filter(|d| *d != bytes) {
            return Err(body_error(format!(
                "the body ended after {bytes} of the {d} bytes declared"
            )));
        }
        file.sync_all()
            .await
            .map_err(|e| body_error(format!("cannot sync {}: {e}", tmp.display())))?;
        Ok(Some(Validators {
            etag,
            last_modified,
            sha256: hex::encode(digest.finish().as_ref()),
            bytes,
            records: 0,
        }))
    }
}

/// Reads the whole export as the scanner will: the number of records, or why it is not one.
fn verify(path: &Path, ecosystem: Ecosystem) -> Result<usize, String> {
    let mut db = AdvisoryDb::default();
    db.load_zip(path)
        .map_err(|e| format!("not a readable zip: {e}"))?;
    let origin = path.display().to_string();
    if let Some((_, why)) = db.skipped.iter().find(|(o, _)| *o == origin) {
        return Err(format!("the archive is damaged ({why})"));
    }
    if !db.covers(ecosystem) {
        return Err(format!(
            "it holds no {} record ({} record(s) of other ecosystems)",
            osv_name(ecosystem),
            db.records
        ));
    }
    let unreadable = db.skipped.len();
    if unreadable > db.records {
        return Err(format!(
            "{unreadable} of its {} JSON files are not OSV records",
            unreadable + db.records
        ));
    }
    Ok(db.records)
}

//! Fetch: download a resolved file to the content-addressed cache, streamed to disk, its digests
//! checked while the bytes arrive. A file that does not match what the registry promised never
//! enters the cache and leaves nothing behind.

use std::path::PathBuf;

use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY, SHA256, SHA512};
use tokio::io::AsyncWriteExt;

use super::cache::Cache;
use super::resolve::ResolvedFile;
use crate::net::client::{Failure, HttpClient, HttpError};

/// The sha256 of `bytes`, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&SHA256, bytes).as_ref())
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "{filename}: {algorithm} digest mismatch: the registry says {expected}, the download is {actual}; the file was discarded (a tampered mirror, a broken proxy, or a registry that changed the file)"
    )]
    DigestMismatch {
        filename: String,
        algorithm: &'static str,
        expected: String,
        actual: String,
    },
    #[error(
        "{filename}: the registry gives no sha256 or sha512 digest, so the download cannot be verified; airlock refuses unverifiable files"
    )]
    NoDigest { filename: String },
    #[error("{filename}: {source}")]
    Http {
        filename: String,
        #[source]
        source: HttpError,
    },
    #[error("{filename}: writing to the cache at {path} failed: {reason}")]
    Cache {
        filename: String,
        path: String,
        reason: String,
    },
}

impl FetchError {
    pub fn retryable(&self) -> bool {
        match self {
            FetchError::Http { source, .. } => source.retryable(),
            FetchError::Cache { .. } => true,
            _ => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FetchedFile {
    pub filename: String,
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// Whether the cache already held it (no download).
    pub cached: bool,
}

/// Downloads into the cache.
#[derive(Clone)]
pub struct Fetcher {
    pub http: HttpClient,
    pub cache: Cache,
    /// No single file may be larger (default 1 GiB; the largest wheels on PyPI are a few hundred MB).
    pub max_file_bytes: u64,
    /// How long one download may take in all, retries included.
    pub deadline: Deadline,
}

/// The time one download may take: `base`, plus the file's size at `min_bytes_per_sec`. The
/// read timeout alone lets a server that trickles a byte a minute hold a pipeline slot forever.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Deadline {
    pub base: std::time::Duration,
    pub min_bytes_per_sec: u64,
}

impl Default for Deadline {
    fn default() -> Self {
        Self {
            base: std::time::Duration::from_secs(120),
            min_bytes_per_sec: 512 << 10,
        }
    }
}

impl Deadline {
    /// For a file of `size` bytes (the registry's word; `unknown` when it gives none).
    pub fn for_size(&self, size: Option<u64>, unknown: u64) -> std::time::Duration {
        let bytes = size.unwrap_or(unknown);
        self.base + std::time::Duration::from_secs(bytes / self.min_bytes_per_sec.max(1))
    }
}

struct Hashes {
    sha256: Context,
    sha512: Option<Context>,
    sha1: Option<Context>,
}

impl Fetcher {
    pub fn new(http: HttpClient, cache: Cache) -> Self {
        Self {
            http,
            cache,
            max_file_bytes: 1 << 30,
            deadline: Deadline::default(),
        }
    }

    /// The file on local disk, verified: from the cache when it holds it, else downloaded.
    pub async fn fetch(&self, file: &ResolvedFile) -> Result<FetchedFile, FetchError> {
        let d = &file.digests;
        if d.sha256.is_none() && d.sha512.is_none() {
            return Err(FetchError::NoDigest {
                filename: file.filename.clone(),
            });
        }
        let known = d.sha256.clone().or_else(|| {
            d.sha512
                .as_deref()
                .and_then(|s| self.cache.sha256_for_sha512(s))
        });
        if let Some(sha256) = known
            && let Some(path) = self.cache.get(&sha256)
        {
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            return Ok(FetchedFile {
                filename: file.filename.clone(),
                path,
                sha256,
                size,
                cached: true,
            });
        }
        if let Some(size) = file.size.filter(|s| *s > self.max_file_bytes) {
            return Err(FetchError::Http {
                filename: file.filename.clone(),
                source: HttpError::TooLarge {
                    url: file.url.to_string(),
                    limit: self.max_file_bytes,
                    declared: Some(size),
                },
            });
        }
        let tmp = self.cache.temp_path();
        let limit = self.deadline.for_size(file.size, self.max_file_bytes);
        let result = match tokio::time::timeout(limit, self.download(file, &tmp)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Http {
                filename: file.filename.clone(),
                source: HttpError::Timeout {
                    url: file.url.to_string(),
                    what: "the whole download, by the deadline for its size",
                    secs: limit.as_secs(),
                },
            }),
        };
        let (hashes, size) = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        let sha256 = hex::encode(hashes.sha256.finish().as_ref());
        let sha512 = hashes.sha512.map(|c| hex::encode(c.finish().as_ref()));
        let sha1 = hashes.sha1.map(|c| hex::encode(c.finish().as_ref()));
        let checks = [
            ("sha256", &d.sha256, Some(&sha256)),
            ("sha512", &d.sha512, sha512.as_ref()),
            ("sha1", &d.sha1, sha1.as_ref()),
        ];
        for (algorithm, expected, actual) in checks {
            if let (Some(expected), Some(actual)) = (expected, actual)
                && !expected.eq_ignore_ascii_case(actual)
            {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(FetchError::DigestMismatch {
                    filename: file.filename.clone(),
                    algorithm,
                    expected: expected.clone(),
                    actual: actual.clone(),
                });
            }
        }
        let path = self
            .cache
            .insert(&tmp, &sha256, sha512.as_deref())
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                FetchError::Cache {
                    filename: file.filename.clone(),
                    path: self.cache.root().display().to_string(),
                    reason: e.to_string(),
                }
            })?;
        Ok(FetchedFile {
            filename: file.filename.clone(),
            path,
            sha256,
            size,
            cached: false,
        })
    }

    /// Streams the file to `tmp` (restarting on a retried failure), hashing as it goes.
    async fn download(
        &self,
        file: &ResolvedFile,
        tmp: &std::path::Path,
    ) -> Result<(Hashes, u64), FetchError> {
        let filename = &file.filename;
        let cache_error = |e: std::io::Error| {
            Failure::from(HttpError::Body {
                url: file.url.to_string(),
                reason: format!("writing {}: {e}", tmp.display()),
            })
        };
        self.http
            .retrying(|| async {
                let resp = self.http.get(&file.url, "application/octet-stream").await?;
                let declared = resp
                    .headers()
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                if let Some(len) = declared.filter(|l| *l > self.max_file_bytes) {
                    return Err(HttpError::TooLarge {
                        url: file.url.to_string(),
                        limit: self.max_file_bytes,
                        declared: Some(len),
                    }
                    .into());
                }
                let mut out = tokio::fs::File::create(tmp).await.map_err(cache_error)?;
                let mut hashes = Hashes {
                    sha256: Context::new(&SHA256),
                    sha512: file.digests.sha512.as_ref().map(|_| Context::new(&SHA512)),
                    sha1: file
                        .digests
                        .sha1
                        .as_ref()
                        .map(|_| Context::new(&SHA1_FOR_LEGACY_USE_ONLY)),
                };
                let mut size = 0u64;
                let mut body = resp.into_body();
                while let Some(chunk) = self.http.next_chunk(&mut body, &file.url).await? {
                    size += chunk.len() as u64;
                    if size > self.max_file_bytes {
                        return Err(HttpError::TooLarge {
                            url: file.url.to_string(),
                            limit: self.max_file_bytes,
                            declared,
                        }
                        .into());
                    }
                    hashes.sha256.update(&chunk);
                    if let Some(c) = hashes.sha512.as_mut() {
                        c.update(&chunk);
                    }
                    if let Some(c) = hashes.sha1.as_mut() {
                        c.update(&chunk);
                    }
                    out.write_all(&chunk).await.map_err(cache_error)?;
                }
                if let Some(len) = declared.filter(|l| *l != size) {
                    return Err(HttpError::Body {
                        url: file.url.to_string(),
                        reason: format!("the body ended after {size} of {len} bytes"),
                    }
                    .into());
                }
                out.flush().await.map_err(cache_error)?;
                out.sync_all().await.map_err(cache_error)?;
                Ok((hashes, size))
            })
            .await
            .map_err(|source| FetchError::Http {
                filename: filename.clone(),
                source,
            })
    }
}

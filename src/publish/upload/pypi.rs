//! The PyPI legacy upload API, field for field as twine sends it: a `multipart/form-data` POST
//! with `:action=file_upload`, `protocol_version=1`, the core metadata, the digests and the file,
//! authenticated with HTTP Basic (CodeArtifact: user `aws`, the authorization token as password).

use std::path::Path;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use url::Url;

use super::blake2b::blake2b_256_hex;
use super::{Outcome, Secret, UploadError, core_metadata, snippet};
use crate::net::client::HttpClient;
use crate::package::file::FileKind;
use crate::package::normalize_pypi_name;

/// Where and as whom to upload.
#[derive(Clone, Debug)]
pub struct PypiTarget {
    /// The upload URL (twine's `--repository-url`).
    pub upload_url: Url,
    /// The simple index of the same repository, to check what is already there.
    pub simple_url: Url,
    pub username: String,
    pub password: Secret,
}

/// One distribution file to publish.
pub struct Distribution<'a> {
    pub path: &'a Path,
    pub filename: &'a str,
    pub kind: FileKind,
}

fn basic(target: &PypiTarget) -> Result<HeaderValue, UploadError> {
    let raw = format!("{}:{}", target.username, target.password.expose());
    let mut v = HeaderValue::from_str(&format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))
    .map_err(|_| UploadError::Invalid("the credentials cannot be sent in a header".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

/// `multipart/form-data` with text fields and one file part.
struct Multipart {
    boundary: String,
    body: Vec<u8>,
}

impl Multipart {
    fn new() -> Multipart {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Multipart {
            boundary: format!("airlock-{n:x}"),
            body: Vec::new(),
        }
    }

    fn field(&mut self, name: &str, value: &str) {
        self.body.extend_from_slice(
            format!(
                "--{}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n",
                self.boundary
            )
            .as_bytes(),
        );
    }

    fn file(&mut self, name: &str, filename: &str, data: &[u8]) {
        self.body.extend_from_slice(
            format!(
                "--{}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                self.boundary
            )
            .as_bytes(),
        );
        self.body.extend_from_slice(data);
        self.body.extend_from_slice(b"\r\n");
    }

    fn finish(mut self) -> (String, Vec<u8>) {
        self.body
            .extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        (
            format!("multipart/form-data; boundary={}", self.boundary),
            self.body,
        )
    }
}

/// The sha256 of `filename` as the repository's simple index lists it, if it lists it.
async fn existing_sha256(
    http: &HttpClient,
    target: &PypiTarget,
    project: &str,
    filename: &str,
) -> Result<Option<Option<String>>, UploadError> {
    let url = target
        .simple_url
        .join(&format!("{}/", normalize_pypi_name(project)))
        .map_err(|e| UploadError::Invalid(e.to_string()))?;
    let auth = basic(target)?;
    let (status, body) = http
        .exchange(
            Method::GET,
            &url,
            &[
                (header::AUTHORIZATION, auth),
                (header::ACCEPT, HeaderValue::from_static("text/html")),
            ],
            Bytes::new(),
            16 << 20,
        )
        .await?;
    // Not found, or sent elsewhere (pypiserver redirects unknown projects to its fallback
    // index): not in this repository.
    if status == StatusCode::NOT_FOUND || status.is_redirection() {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(UploadError::Refused {
            repository: target.simple_url.to_string(),
            what: format!("the index page of {project}"),
            status: status.as_u16(),
            message: snippet(&body),
        });
    }
    let page = String::from_utf8_lossy(&body);
    // Anchors look like <a href="…/FILENAME#sha256=HEX" …>FILENAME</a>.
    for anchor in page.split("<a ").skip(1) {
        let Some(href) = anchor
            .split("href=\"")
            .nth(1)
            .and_then(|h| h.split('"').next())
        else {
            continue;
        };
        let (link, fragment) = href.split_once('#').unwrap_or((href, ""));
        if link.rsplit('/').next() == Some(filename) {
            return Ok(Some(
                fragment
                    .strip_prefix("sha256=")
                    .map(str::to_ascii_lowercase),
            ));
        }
    }
    Ok(None)
}

/// Uploads one file; the identical file already there is [`Outcome::AlreadyPresent`].
pub async fn upload(
    http: &HttpClient,
    target: &PypiTarget,
    dist: &Distribution<'_>,
) -> Result<Outcome, UploadError> {
    let bytes = std::fs::read(dist.path)
        .map_err(|e| UploadError::Invalid(format!("{}: {e}", dist.path.display())))?;
    let sha256 = crate::pipeline::fetch::sha256_hex(&bytes);
    let meta = core_metadata(dist.path, dist.filename)?;
    let name = meta.name.clone().ok_or_else(|| {
        UploadError::Invalid(format!("{}: the metadata has no Name", dist.filename))
    })?;
    let version = meta.version.clone().ok_or_else(|| {
        UploadError::Invalid(format!("{}: the metadata has no Version", dist.filename))
    })?;
    let check = |existing: Option<Option<String>>| -> Result<Option<Outcome>, UploadError> {
        match existing {
            None => Ok(None),
            Some(Some(found)) if found == sha256 => Ok(Some(Outcome::AlreadyPresent)),
            Some(found) => Err(UploadError::Conflict {
                what: dist.filename.to_string(),
                repository: target.upload_url.to_string(),
                algorithm: "sha256",
                existing: found.unwrap_or_else(|| "(not listed)".into()),
                new: sha256.clone(),
            }),
        }
    };
    if let Some(done) = check(existing_sha256(http, target, &name, dist.filename).await?)? {
        return Ok(done);
    }
    let (filetype, pyversion) = match dist.kind {
        FileKind::Wheel => (
            "bdist_wheel",
            // name-version(-build)?-PYTHON-abi-platform.whl
            dist.filename
                .trim_end_matches(".whl")
                .rsplit('-')
                .nth(2)
                .unwrap_or("py3")
                .to_string(),
        ),
        _ => ("sdist", "source".to_string()),
    };
    let mut form = Multipart::new();
    form.field(":action", "file_upload");
    form.field("protocol_version", "1");
    form.field(
        "metadata_version",
        meta.metadata_version.as_deref().unwrap_or("2.1"),
    );
    form.field("name", &name);
    form.field("version", &version);
    form.field("filetype", filetype);
    form.field("pyversion", &pyversion);
    if let Some(s) = &meta.summary {
        form.field("summary", s);
    }
    if let Some(l) = meta.license_expression.as_ref().or(meta.license.as_ref()) {
        form.field("license", l);
    }
    if let Some(r) = &meta.requires_python {
        form.field("requires_python", r);
    }
    for c in &meta.classifiers {
        form.field("classifiers", c);
    }
    for r in &meta.requires_dist {
        form.field("requires_dist", r);
    }
    form.field("sha256_digest", &sha256);
    form.field("blake2_256_digest", &blake2b_256_hex(&bytes));
    form.file("content", dist.filename, &bytes);
    let (content_type, body) = form.finish();
    let headers = [
        (header::AUTHORIZATION, basic(target)?),
        (
            header::CONTENT_TYPE,
            HeaderValue::from_str(&content_type)
                .map_err(|e| UploadError::Invalid(e.to_string()))?,
        ),
    ];
    let (status, answer) = http
        .exchange(
            Method::POST,
            &target.upload_url,
            &headers,
            Bytes::from(body),
            64 << 10,
        )
        .await?;
    match status.as_u16() {
        200..=299 => Ok(Outcome::Published),
        401 | 403 => Err(UploadError::Unauthorized {
            repository: target.upload_url.to_string(),
            status: status.as_u16(),
        }),
        // Someone published the same file meanwhile: identical is fine, different is a conflict.
        400 | 409 => match check(existing_sha256(http, target, &name, dist.filename).await?)? {
            Some(done) => Ok(done),
            None => Err(UploadError::Refused {
                repository: target.upload_url.to_string(),
                what: dist.filename.to_string(),
                status: status.as_u16(),
                message: snippet(&answer),
            }),
        },
        s => Err(UploadError::Refused {
            repository: target.upload_url.to_string(),
            what: dist.filename.to_string(),
            status: s,
            message: snippet(&answer),
        }),
    }
}

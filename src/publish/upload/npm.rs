//! The npm publish document: `PUT /NAME` (scoped names as `@scope%2fname`) with the version's
//! manifest, its `dist` digests and the original tarball bytes in `_attachments`, authenticated
//! with a bearer token — what `npm publish` sends, and what CodeArtifact and verdaccio accept.

use std::path::Path;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};
use url::Url;

use super::{Outcome, Secret, UploadError, package_json, snippet};
use crate::net::client::HttpClient;
use crate::pipeline::resolve::npm_document_path;

#[derive(Clone, Debug)]
pub struct NpmTarget {
    /// The registry root, ending in `/`.
    pub registry: Url,
    pub token: Secret,
}

fn bearer(target: &NpmTarget) -> Result<HeaderValue, UploadError> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", target.token.expose()))
        .map_err(|_| UploadError::Invalid("the token cannot be sent in a header".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

/// The integrity the registry records for `name@version`, if it has that version.
async fn existing_integrity(
    http: &HttpClient,
    target: &NpmTarget,
    name: &str,
    version: &str,
) -> Result<Option<String>, UploadError> {
    let url = target
        .registry
        .join(&npm_document_path(name))
        .map_err(|e| UploadError::Invalid(e.to_string()))?;
    let headers = [
        (header::AUTHORIZATION, bearer(target)?),
        (header::ACCEPT, HeaderValue::from_static("application/json")),
    ];
    let (status, body) = http
        .exchange(Method::GET, &url, &headers, Bytes::new(), 64 << 20)
        .await?;
    if status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(UploadError::Refused {
            repository: target.registry.to_string(),
            what: format!("the package document of {name}"),
            status: status.as_u16(),
            message: snippet(&body),
        });
    }
    let doc: Value = serde_json::from_slice(&body).map_err(|e| {
        UploadError::Invalid(format!("{name}: the registry's document is not JSON: {e}"))
    })?;
    Ok(doc["versions"][version]["dist"]["integrity"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            doc["versions"]
                .get(version)
                .map(|_| "(none recorded)".to_string())
        }))
}

/// Publishes the tarball at `path` as the version its own `package.json` names.
pub async fn publish(
    http: &HttpClient,
    target: &NpmTarget,
    path: &Path,
    filename: &str,
) -> Result<Outcome, UploadError> {
    let bytes = std::fs::read(path)
        .map_err(|e| UploadError::Invalid(format!("{}: {e}", path.display())))?;
    let manifest = package_json(path, filename)?;
    let name = manifest["name"]
        .as_str()
        .ok_or_else(|| UploadError::Invalid(format!("{filename}: package.json has no name")))?
        .to_string();
    let version = manifest["version"]
        .as_str()
        .ok_or_else(|| UploadError::Invalid(format!("{filename}: package.json has no version")))?
        .to_string();
    let sha512 = ring::digest::digest(&ring::digest::SHA512, &bytes);
    let integrity = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha512.as_ref())
    );
    let shasum =
        hex::encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &bytes).as_ref());
    let check = |existing: Option<String>| -> Result<Option<Outcome>, UploadError> {
        match existing {
            None => Ok(None),
            Some(found) if found == integrity => Ok(Some(Outcome::AlreadyPresent)),
            Some(found) => Err(UploadError::Conflict {
                what: format!("{name}@{version}"),
                repository: target.registry.to_string(),
                algorithm: "integrity",
                existing: found,
                new: integrity.clone(),
            }),
        }
    };
    if let Some(done) = check(existing_integrity(http, target, &name, &version).await?)? {
        return Ok(done);
    }
    let attachment = format!("{name}-{version}.tgz");
    let bare = name.rsplit('/').next().unwrap_or(&name);
    let mut version_doc = manifest.clone();
    version_doc["_id"] = json!(format!("{name}@{version}"));
    version_doc["dist"] = json!({
        "integrity": integrity,
        "shasum": shasum,
        "tarball": format!("{}{}/-/{bare}-{version}.tgz", target.registry, name),
    });
    let doc = json!({
        "_id": name,
        "name": name,
        "description": manifest.get("description").cloned().unwrap_or(Value::Null),
        "dist-tags": {"latest": version},
        "versions": {version.clone(): version_doc},
        "access": if name.starts_with('@') { json!("restricted") } else { Value::Null },
        "_attachments": {
            attachment: {
                "content_type": "application/octet-stream",
                "data": base64::engine::general_purpose::STANDARD.encode(&bytes),
                "length": bytes.len(),
            }
        },
    });
    let url = target
        .registry
        .join(&npm_document_path(&name))
        .map_err(|e| UploadError::Invalid(e.to_string()))?;
    let headers = [
        (header::AUTHORIZATION, bearer(target)?),
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ),
        (
            header::HeaderName::from_static("npm-command"),
            HeaderValue::from_static("publish"),
        ),
    ];
    let body = serde_json::to_vec(&doc).map_err(|e| UploadError::Invalid(e.to_string()))?;
    let (status, answer) = http
        .exchange(Method::PUT, &url, &headers, Bytes::from(body), 64 << 10)
        .await?;
    match status.as_u16() {
        200..=299 => Ok(Outcome::Published),
        401 => Err(UploadError::Unauthorized {
            repository: target.registry.to_string(),
            status: 401,
        }),
        403 | 409 => match check(existing_integrity(http, target, &name, &version).await?)? {
            Some(done) => Ok(done),
            None if status == StatusCode::FORBIDDEN => Err(UploadError::Unauthorized {
                repository: target.registry.to_string(),
                status: 403,
            }),
            None => Err(UploadError::Refused {
                repository: target.registry.to_string(),
                what: format!("{name}@{version}"),
                status: status.as_u16(),
                message: snippet(&answer),
            }),
        },
        s => Err(UploadError::Refused {
            repository: target.registry.to_string(),
            what: format!("{name}@{version}"),
            status: s,
            message: snippet(&answer),
        }),
    }
}

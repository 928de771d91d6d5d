//! The emulator's repository endpoints (`/repo/DOMAIN/REPOSITORY/pypi/` and `…/npm/`): uploads
//! in each ecosystem's protocol, and reads, all behind the authorization tokens the emulator
//! issued — CodeArtifact answers 401 without one.

use std::io::Write;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::{Emulator, MAX_BODY, multipart};
use crate::net::server::Body;
use crate::package::version::pep440::Version;
use crate::publish::builtin::server::read;
use crate::publish::builtin::store::{Published, Store, StoreError};

fn plain(status: StatusCode, message: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{message}\n"))).boxed());
    *r.status_mut() = status;
    r
}

fn json_response(status: StatusCode, v: Value) -> Response<Body> {
    crate::net::server::respond(
        status,
        "application/json",
        serde_json::to_vec(&v).unwrap_or_default(),
    )
}

/// The token in `Authorization: Basic aws:TOKEN` or `Bearer TOKEN`.
fn token_of<B>(req: &Request<B>) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(t) = value.strip_prefix("Bearer ") {
        return Some(t.trim().to_string());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.strip_prefix("Basic ")?.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, token) = text.split_once(':')?;
    (user == "aws").then(|| token.to_string())
}

/// The assets of a stored PyPI or npm version, in `ListPackageVersionAssets` shape.
pub(super) fn assets(store: &Store, format: &str, name: &str, version: &str) -> Vec<Value> {
    match format {
        "pypi" => {
            let wanted = Version::parse(version).ok();
            store
                .pypi_project(&crate::package::normalize_pypi_name(name))
                .ok()
                .flatten()
                .map(|p| {
                    p.files
                        .iter()
                        .filter(|f| Version::parse(&f.version).ok() == wanted && wanted.is_some())
                        .map(|f| json!({"name": f.filename, "size": f.size, "hashes": {"SHA-256": f.sha256}}))
                        .collect()
                })
                .unwrap_or_default()
        }
        "npm" => store
            .npm_package(name)
            .ok()
            .flatten()
            .and_then(|p| p.versions.get(version).cloned())
            .map(|v| vec![json!({"name": "package.tgz", "size": v.size, "hashes": {"SHA-256": v.sha256, "SHA-1": v.shasum}})])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The versions stored for a PyPI or npm package.
/// A PyPI or npm version's status as the store keeps it (so it survives a restart): `Archived`
/// when every file is archived, `Unlisted` when every file is out of the index, else
/// `Published`; `None` when the store has no such version.
pub(super) fn stored_status(
    store: &Store,
    format: &str,
    name: &str,
    version: &str,
) -> Option<&'static str> {
    let states: Vec<(bool, bool)> = match format {
        "pypi" => {
            let wanted = Version::parse(version).ok()?;
            store
                .pypi_project(&crate::package::normalize_pypi_name(name))
                .ok()
                .flatten()?
                .files
                .iter()
                .filter(|f| Version::parse(&f.version).ok().as_ref() == Some(&wanted))
                .map(|f| (f.unlisted, f.archived))
                .collect()
        }
        "npm" => store
            .npm_package(name)
            .ok()
            .flatten()?
            .versions
            .get(version)
            .map(|v| vec![(v.unlisted, v.archived)])?,
        _ => return None,
    };
    if states.is_empty() {
        None
    } else if states.iter().all(|(_, archived)| *archived) {
        Some("Archived")
    } else if states.iter().all(|(unlisted, _)| *unlisted) {
        Some("Unlisted")
    } else {
        Some("Published")
    }
}

pub(super) fn versions(store: &Store, format: &str, name: &str) -> Vec<String> {
    match format {
        "pypi" => store
            .pypi_project(&crate::package::normalize_pypi_name(name))
            .ok()
            .flatten()
            .map(|p| p.files.iter().map(|f| f.version.clone()).collect())
            .unwrap_or_default(),
        "npm" => store
            .npm_package(name)
            .ok()
            .flatten()
            .map(|p| p.versions.keys().cloned().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn temp_file(bytes: &[u8]) -> std::io::Result<std::path::PathBuf> {
    let path = std::env::temp_dir().join(format!(
        "airlock-emulator-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let mut f = std::fs::File::create(&path)?;
    f.write_all(bytes)?;
    Ok(path)
}

pub(super) async fn handle(emu: &Emulator, req: Request<Incoming>, rest: &str) -> Response<Body> {
    let mut parts = rest.splitn(4, '/');
    let (domain, repository, format) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let tail = parts.next().unwrap_or("").to_string();
    let Some(store) = emu.repository_store(domain, repository) else {
        return plain(StatusCode::NOT_FOUND, "no such repository");
    };
    let authorized = token_of(&req)
        .and_then(|t| emu.token_domain(&t))
        .is_some_and(|d| d == domain);
    if !authorized {
        let mut r = plain(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: a valid CodeArtifact authorization token is required",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"codeartifact\""),
        );
        return r;
    }
    let base = format!("{}/repo/{domain}/{repository}", emu.base());
    match (req.method().clone(), format) {
        (Method::POST, "pypi") if tail.is_empty() => {
            let disposed = |name: &str, version: &str| {
                emu.is_disposed(domain, repository, "pypi", name, version)
            };
            pypi_upload(&store, req, disposed).await
        }
        (Method::GET | Method::HEAD, "pypi") => {
            read(&store, &req, &format!("/{tail}"), &format!("{base}/pypi")).await
        }
        (Method::PUT, "npm") => npm_publish(&store, req).await,
        (Method::GET | Method::HEAD, "npm") => {
            read(&store, &req, &format!("/npm/{tail}"), &base).await
        }
        (m, f) => plain(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{m} is not served for {f} endpoints"),
        ),
    }
}

async fn body_of(req: Request<Incoming>) -> Result<(http::request::Parts, Bytes), Response<Body>> {
    let (parts, body) = req.into_parts();
    match body.collect().await.map(|b| b.to_bytes()) {
        Ok(b) if b.len() <= MAX_BODY => Ok((parts, b)),
        Ok(_) => Err(plain(StatusCode::PAYLOAD_TOO_LARGE, "too large")),
        Err(e) => Err(plain(
            StatusCode::BAD_REQUEST,
            &format!("could not read the body: {e}"),
        )),
    }
}

fn stored(result: Result<Published, StoreError>, conflict_status: StatusCode) -> Response<Body> {
    match result {
        Ok(_) => plain(StatusCode::OK, "OK"),
        Err(StoreError::Conflict { .. }) => plain(conflict_status, "File already exists"),
        Err(StoreError::Invalid(m)) => plain(StatusCode::BAD_REQUEST, &m),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// The legacy upload API, as twine and airlock send it.
async fn pypi_upload(
    store: &Arc<Store>,
    req: Request<Incoming>,
    disposed: impl Fn(&str, &str) -> bool,
) -> Response<Body> {
    let (parts, body) = match body_of(req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(form) = multipart::parse(content_type, &body) else {
        return plain(StatusCode::BAD_REQUEST, "expected multipart/form-data");
    };
    if form.field(":action") != Some("file_upload") {
        return plain(StatusCode::BAD_REQUEST, "unsupported :action");
    }
    let (Some(name), Some(version), Some((filename, content))) = (
        form.field("name"),
        form.field("version"),
        form.file("content"),
    ) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "name, version and content are required",
        );
    };
    let sha256 = crate::pipeline::fetch::sha256_hex(content);
    if let Some(declared) = form.field("sha256_digest")
        && !declared.eq_ignore_ascii_case(&sha256)
    {
        return plain(
            StatusCode::BAD_REQUEST,
            "sha256_digest does not match the file",
        );
    }
    // An upload never changes a version's status: a withdrawn one (Unlisted, Archived) comes
    // back through UpdatePackageVersionsStatus only, a Disposed one not at all.
    let normal = crate::package::normalize_pypi_name(name);
    let status = if disposed(&normal, version) {
        Some("Disposed")
    } else {
        stored_status(store, "pypi", &normal, version).filter(|s| *s != "Published")
    };
    if let Some(status) = status {
        return plain(
            StatusCode::CONFLICT,
            &format!(
                "{normal} {version} is {status} in this repository; an upload cannot change a version's status (UpdatePackageVersionsStatus can, except for Disposed)"
            ),
        );
    }
    let path = match temp_file(content) {
        Ok(p) => p,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let result = store.publish_pypi(
        name,
        version,
        filename,
        &path,
        form.field("requires_python"),
    );
    let _ = std::fs::remove_file(&path);
    stored(result, StatusCode::CONFLICT)
}

/// The npm publish document: one version, its tarball in `_attachments`.
async fn npm_publish(store: &Arc<Store>, req: Request<Incoming>) -> Response<Body> {
    let (_, body) = match body_of(req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "the publish document is not JSON"}),
        );
    };
    let Some((version, manifest)) = doc["versions"].as_object().and_then(|v| v.iter().next())
    else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "no version to publish"}),
        );
    };
    let Some(data) = doc["_attachments"]
        .as_object()
        .and_then(|a| a.values().next())
        .and_then(|a| a["data"].as_str())
    else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "no tarball attached"}),
        );
    };
    let Ok(tarball) = base64::engine::general_purpose::STANDARD.decode(data) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "the attachment is not base64"}),
        );
    };
    let integrity = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD
            .encode(ring::digest::digest(&ring::digest::SHA512, &tarball).as_ref())
    );
    if manifest["dist"]["integrity"]
        .as_str()
        .is_some_and(|i| i != integrity)
    {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "dist.integrity does not match the attachment"}),
        );
    }
    let mut clean = manifest.clone();
    if let Some(m) = clean.as_object_mut() {
        m.remove("dist");
        m.remove("_id");
    }
    clean["version"] = json!(version);
    let path = match temp_file(&tarball) {
        Ok(p) => p,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    // npm, and CodeArtifact's npm endpoint, never take a version twice — whatever its status
    // and bytes: a withdrawn version comes back by a status change (UpdatePackageVersionsStatus).
    let existing = clean["name"]
        .as_str()
        .zip(clean["version"].as_str())
        .and_then(|(n, v)| {
            store
                .npm_package(n)
                .ok()
                .flatten()
                .filter(|p| p.versions.contains_key(v))
                .map(|_| format!("{n}@{v}"))
        });
    if let Some(existing) = existing {
        let _ = std::fs::remove_file(&path);
        return json_response(
            StatusCode::FORBIDDEN,
            json!({"error": format!("You cannot publish over the previously published versions: {existing}")}),
        );
    }
    let result = store.publish_npm(&clean, &path);
    let _ = std::fs::remove_file(&path);
    match result {
        Ok(_) => json_response(StatusCode::CREATED, json!({"ok": true})),
        Err(StoreError::Conflict { .. }) => json_response(
            StatusCode::FORBIDDEN,
            json!({"error": "You cannot publish over the previously published versions"}),
        ),
        Err(e) => json_response(StatusCode::BAD_REQUEST, json!({"error": e.to_string()})),
    }
}

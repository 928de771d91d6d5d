//! The built-in repository over HTTP: the PyPI Simple API (PEP 503 HTML and PEP 691 JSON, with
//! hashes) under `/simple/`, files under `/files/SHA256/NAME`, and the npm registry read API
//! (package documents and tarballs) under `/npm/`. `pip install --index-url http://HOST/simple/`
//! and `npm install --registry http://HOST/npm/` work against it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use super::store::{NpmPackage, PypiProject, Store};
use crate::net::server::Body;
use crate::package::normalize_pypi_name;

pub const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";

/// A running built-in repository server.
pub struct RepositoryServer {
    pub addr: SocketAddr,
    pub store: Arc<Store>,
}

impl RepositoryServer {
    /// Serves on `addr`, naming itself `http://ADDR` in the URLs it writes (redirects, npm
    /// tarballs).
    pub async fn start(addr: SocketAddr, store: Arc<Store>) -> std::io::Result<RepositoryServer> {
        Self::start_at(addr, store, None).await
    }

    /// Serves on `addr`, naming itself `base` (the URL clients reach it at, e.g. its Service) in
    /// the URLs it writes; never the request's `Host`, which the client chooses.
    pub async fn start_at(
        addr: SocketAddr,
        store: Arc<Store>,
        base: Option<String>,
    ) -> std::io::Result<RepositoryServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let base: Arc<str> = base
            .map(|b| b.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{addr}"))
            .into();
        let served = store.clone();
        crate::net::server::spawn(listener, move |req| {
            let store = served.clone();
            let base = base.clone();
            async move { Ok::<_, Infallible>(handle(&store, req, &base).await) }
        });
        Ok(RepositoryServer { addr, store })
    }

    pub fn pypi_index_url(&self) -> String {
        format!("http://{}/simple/", self.addr)
    }

    pub fn npm_registry_url(&self) -> String {
        format!("http://{}/npm/", self.addr)
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    crate::net::server::respond(status, "text/plain; charset=utf-8", body.into())
}

fn typed(content_type: &'static str, body: Vec<u8>) -> Response<Body> {
    crate::net::server::respond(StatusCode::OK, content_type, body)
}

/// A storage failure: the detail (with the data directory's paths) goes to the log, the
/// client gets a message that reveals nothing of the server's file system.
fn internal_error(e: &crate::publish::builtin::store::StoreError) -> Response<Body> {
    tracing::error!(error = %e, "the built-in repository could not read its index");
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the repository could not read its index; the server's log says why\n",
    )
}

fn not_found(what: &str) -> Response<Body> {
    text(
        StatusCode::NOT_FOUND,
        format!("{what} is not in this repository\n"),
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn handle(store: &Store, req: Request<Incoming>, base: &str) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "this repository is read-only over HTTP; airlock publishes into it\n",
        );
    }
    read(store, &req, req.uri().path(), base).await
}

/// Answers a read of `path` (`/simple/…`, `/files/…`, `/npm/…`) for a repository served under
/// `base` (absolute, no trailing slash): used by this server and by the CodeArtifact emulator's
/// repository endpoints.
pub async fn read<B>(store: &Store, req: &Request<B>, path: &str, base: &str) -> Response<Body> {
    let wants_json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains(SIMPLE_JSON));
    let path = path.to_string();
    if path == "/simple/" || path == "/simple" {
        return simple_root(store, wants_json);
    }
    if let Some(rest) = path.strip_prefix("/simple/") {
        let name = rest.trim_end_matches('/');
        let normalized = normalize_pypi_name(name);
        if normalized != name || !rest.ends_with('/') {
            let mut r = text(StatusCode::MOVED_PERMANENTLY, "");
            if let Ok(v) = header::HeaderValue::from_str(&format!("{base}/simple/{normalized}/")) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return r;
        }
        return match store.pypi_project(&normalized) {
            Ok(Some(p)) if p.files.iter().any(|f| !f.unlisted) => simple_project(&p, wants_json),
            Ok(_) => not_found(&format!("project {normalized:?}")),
            Err(e) => internal_error(&e),
        };
    }
    if let Some(rest) = path.strip_prefix("/files/") {
        let sha256 = rest.split('/').next().unwrap_or("");
        return match store.blob(sha256) {
            Some(p) => file(&p).await,
            None => not_found("that file"),
        };
    }
    if let Some(rest) = path.strip_prefix("/npm/") {
        let decoded = crate::net::server::percent_decode(rest);
        if let Some((name, tarball)) = decoded.split_once("/-/") {
            return match store.npm_package(name) {
                Ok(Some(p)) => match p
                    .versions
                    .iter()
                    .find(|(v, _)| tarball_name(name, v) == tarball)
                {
                    Some((_, v)) => match store.blob(&v.sha256) {
                        Some(path) => file(&path).await,
                        None => not_found("that tarball"),
                    },
                    None => not_found(&format!("tarball {tarball:?}")),
                },
                Ok(None) => not_found(&format!("package {name:?}")),
                Err(e) => internal_error(&e),
            };
        }
        return match store.npm_package(&decoded) {
            Ok(Some(p)) if p.versions.values().any(|v| !v.unlisted) => typed(
                "application/json",
                serde_json::to_vec(&npm_document(&p, base)).unwrap_or_default(),
            ),
            Ok(_) => {
                let mut r = typed("application/json", br#"{"error":"Not found"}"#.to_vec());
                *r.status_mut() = StatusCode::NOT_FOUND;
                r
            }
            Err(e) => internal_error(&e),
        };
    }
    not_found(&path)
}

fn simple_root(store: &Store, json: bool) -> Response<Body> {
    let projects = store.pypi_projects();
    if json {
        let doc = json!({"meta": {"api-version": "1.1"}, "projects": projects.iter().map(|p| json!({"name": p})).collect::<Vec<_>>()});
        return typed(SIMPLE_JSON, serde_json::to_vec(&doc).unwrap_or_default());
    }
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Simple index</title></head><body>\n",
    );
    for p in projects {
        html.push_str(&format!("<a href=\"{0}/\">{0}</a><br/>\n", html_escape(&p)));
    }
    html.push_str("</body></html>\n");
    typed("text/html; charset=utf-8", html.into_bytes())
}

fn simple_project(p: &PypiProject, json: bool) -> Response<Body> {
    let files: Vec<_> = p.files.iter().filter(|f| !f.unlisted).collect();
    if json {
        let mut versions: Vec<&str> = files.iter().map(|f| f.version.as_str()).collect();
        versions.sort();
        versions.dedup();
        let doc = json!({
            "meta": {"api-version": "1.1"},
            "name": p.name,
            "versions": versions,
            "files": files.iter().map(|f| {
                let mut e = json!({
                    "filename": f.filename,
                    "url": format!("../../files/{}/{}", f.sha256, f.filename),
                    "hashes": {"sha256": f.sha256},
                    "size": f.size,
                    "upload-time": f.upload_time,
                    "yanked": false,
                });
                if let Some(rp) = &f.requires_python {
                    e["requires-python"] = json!(rp);
                }
                e
            }).collect::<Vec<Value>>(),
        });
        return typed(SIMPLE_JSON, serde_json::to_vec(&doc).unwrap_or_default());
    }
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Links for {0}</title></head><body><h1>Links for {0}</h1>\n",
        html_escape(&p.name)
    );
    for f in files {
        let rp = f
            .requires_python
            .as_ref()
            .map(|r| format!(" data-requires-python=\"{}\"", html_escape(r)))
            .unwrap_or_default();
        html.push_str(&format!(
            "<a href=\"../../files/{sha}/{name}#sha256={sha}\"{rp}>{name}</a><br/>\n",
            sha = f.sha256,
            name = html_escape(&f.filename)
        ));
    }
    html.push_str("</body></html>\n");
    typed("text/html; charset=utf-8", html.into_bytes())
}

/// The tarball file name npm's own registry uses: `NAME-VERSION.tgz`, the scope left out.
pub fn tarball_name(name: &str, version: &str) -> String {
    format!("{}-{version}.tgz", name.rsplit('/').next().unwrap_or(name))
}

fn npm_document(p: &NpmPackage, base: &str) -> Value {
    let listed: Vec<_> = p.versions.iter().filter(|(_, v)| !v.unlisted).collect();
    let mut versions = serde_json::Map::new();
    let mut time = serde_json::Map::new();
    for (version, v) in &listed {
        let mut doc = v.manifest.clone();
        doc["dist"] = json!({
            "tarball": format!("{base}/npm/{}/-/{}", p.name, tarball_name(&p.name, version)),
            "integrity": v.integrity,
            "shasum": v.shasum,
        });
        versions.insert((*version).clone(), doc);
        time.insert((*version).clone(), json!(v.published));
    }
    let latest = listed
        .iter()
        .filter_map(|(v, _)| {
            crate::package::version::parse_npm(v)
                .filter(|s| s.pre.is_empty())
                .map(|s| (s, (*v).clone()))
        })
        .max_by(|a, b| a.0.cmp_precedence(&b.0))
        .map(|(_, v)| v)
        .or_else(|| listed.last().map(|(v, _)| (*v).clone()));
    json!({
        "name": p.name,
        "dist-tags": latest.map(|l| json!({"latest": l})).unwrap_or_else(|| json!({})),
        "versions": versions,
        "time": time,
    })
}

/// Streams a stored file in 256 KiB pieces.
async fn file(path: &std::path::Path) -> Response<Body> {
    let Ok(f) = tokio::fs::File::open(path).await else {
        return not_found("that file");
    };
    let len = f.metadata().await.map(|m| m.len()).ok();
    let stream = futures::stream::unfold(f, |mut f| async move {
        let mut buf = vec![0u8; 256 << 10];
        match f.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, Infallible>(Frame::data(Bytes::from(buf))), f))
            }
        }
    });
    let mut r = Response::new(StreamBody::new(stream).boxed());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(len) = len
        && let Ok(v) = header::HeaderValue::from_str(&len.to_string())
    {
        r.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    r
}

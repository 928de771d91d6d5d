//! A fixture registry on 127.0.0.1 speaking the PyPI Simple API (PEP 691 JSON, PEP 658 metadata)
//! and the npm registry API, serving packages the tests build, with faults on demand: 503s
//! before success, a body that stalls, bytes that differ from the advertised digest, redirects.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub use airlock::pipeline::fetch::sha256_hex;

pub fn sha512_sri(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA512, data);
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(d.as_ref())
    )
}

pub fn sha1_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data).as_ref())
}

/// How a file is served.
#[derive(Clone, Default)]
pub struct Fault {
    /// Answer 503 this many times first.
    pub fail_first: u32,
    /// Send this many bytes, then stall without ending the body.
    pub stall_after: Option<usize>,
    /// Serve these bytes instead of the real ones (the digest stays the real one's).
    pub tampered: Option<Vec<u8>>,
    /// Answer 302 to this URL.
    pub redirect: Option<String>,
    /// Send the body one byte at a time, this long apart: never stalled, never done.
    pub trickle: Option<Duration>,
}

#[derive(Default)]
struct State {
    /// path → (content type, bytes, fault)
    routes: HashMap<String, (String, Vec<u8>, Fault)>,
    hits: HashMap<String, u32>,
}

#[derive(Clone)]
pub struct FixtureRegistry {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    pypi_files: Arc<Mutex<HashMap<String, Vec<Value>>>>,
    npm_docs: Arc<Mutex<HashMap<String, Value>>>,
}

type Body = BoxBody<Bytes, Infallible>;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

impl FixtureRegistry {
    pub async fn start() -> FixtureRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let reg = FixtureRegistry {
            addr,
            state: Arc::default(),
            pypi_files: Arc::default(),
            npm_docs: Arc::default(),
        };
        let serving = reg.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let reg = serving.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let reg = reg.clone();
                        async move { Ok::<_, Infallible>(reg.answer(req)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        reg
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn hits(&self, path: &str) -> u32 {
        self.state
            .lock()
            .expect("lock")
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn route(&self, path: &str, content_type: &str, body: Vec<u8>, fault: Fault) {
        self.state
            .lock()
            .expect("lock")
            .routes
            .insert(path.to_string(), (content_type.to_string(), body, fault));
        self.refresh();
    }

    /// Adds a PyPI file to project `name`'s page, served at `/files/FILENAME`.
    pub fn add_pypi_file(
        &self,
        project: &str,
        filename: &str,
        data: Vec<u8>,
        fault: Fault,
        extra: Value,
    ) {
        let mut entry = json!({
            "filename": filename,
            "url": format!("../../files/{filename}"),
            "hashes": {"sha256": sha256_hex(&data)},
            "size": data.len(),
            "upload-time": "2024-09-01T12:00:00.000000Z",
            "yanked": false,
        });
        if let (Some(e), Some(x)) = (entry.as_object_mut(), extra.as_object()) {
            for (k, v) in x {
                e.insert(k.clone(), v.clone());
            }
        }
        self.pypi_files
            .lock()
            .expect("lock")
            .entry(project.to_string())
            .or_default()
            .push(entry);
        self.route(
            &format!("/files/{filename}"),
            "application/octet-stream",
            data,
            fault,
        );
    }

    /// Adds a wheel with PEP 658 metadata.
    pub fn add_wheel_with_metadata(
        &self,
        project: &str,
        filename: &str,
        data: Vec<u8>,
        metadata: &str,
    ) {
        self.route(
            &format!("/files/{filename}.metadata"),
            "text/plain",
            metadata.as_bytes().to_vec(),
            Fault::default(),
        );
        self.add_pypi_file(
            project,
            filename,
            data,
            Fault::default(),
            json!({"core-metadata": {"sha256": sha256_hex(metadata.as_bytes())}}),
        );
    }

    /// Adds an npm version, its tarball served at `/npm-files/FILENAME`.
    pub fn add_npm_version(
        &self,
        name: &str,
        version: &str,
        tarball: Vec<u8>,
        fault: Fault,
        extra: Value,
    ) {
        let filename = format!("{}-{version}.tgz", name.rsplit('/').next().unwrap_or(name));
        let mut vdoc = json!({
            "name": name, "version": version,
            "license": "MIT",
            "dist": {
                "tarball": format!("{}/npm-files/{filename}", self.base()),
                "integrity": sha512_sri(&tarball),
                "shasum": sha1_hex(&tarball),
            },
        });
        if let (Some(e), Some(x)) = (vdoc.as_object_mut(), extra.as_object()) {
            for (k, v) in x {
                e.insert(k.clone(), v.clone());
            }
        }
        {
            let mut docs = self.npm_docs.lock().expect("lock");
            let doc = docs.entry(name.to_string()).or_insert_with(
                || json!({"name": name, "versions": {}, "time": {}, "dist-tags": {}}),
            );
            doc["versions"][version] = vdoc;
            doc["time"][version] = json!("2024-09-01T12:00:00.000Z");
            doc["dist-tags"]["latest"] = json!(version);
        }
        self.route(
            &format!("/npm-files/{filename}"),
            "application/octet-stream",
            tarball,
            fault,
        );
    }

    /// Rebuilds the index documents from the files added so far.
    fn refresh(&self) {
        let pages: Vec<(String, Vec<u8>)> = self
            .pypi_files
            .lock()
            .expect("lock")
            .iter()
            .map(|(project, files)| {
                let page = json!({"meta": {"api-version": "1.1"}, "name": project, "files": files, "versions": []});
                (format!("/simple/{project}/"), serde_json::to_vec(&page).expect("json"))
            })
            .collect();
        let docs: Vec<(String, Vec<u8>)> = self
            .npm_docs
            .lock()
            .expect("lock")
            .iter()
            .map(|(name, doc)| {
                (
                    format!("/npm/{}", name.replace('/', "%2f")),
                    serde_json::to_vec(doc).expect("json"),
                )
            })
            .collect();
        let mut st = self.state.lock().expect("lock");
        for (path, body) in pages {
            st.routes.insert(
                path,
                (
                    "application/vnd.pypi.simple.v1+json".into(),
                    body,
                    Fault::default(),
                ),
            );
        }
        for (path, body) in docs {
            st.routes
                .insert(path, ("application/json".into(), body, Fault::default()));
        }
    }

    fn answer(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let mut st = self.state.lock().expect("lock");
        *st.hits.entry(path.clone()).or_default() += 1;
        let hits = st.hits[&path];
        let Some((ctype, body, fault)) = st.routes.get(&path).cloned() else {
            return Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body(full("not found"))
                .expect("response");
        };
        drop(st);
        if let Some(to) = fault.redirect {
            return Response::builder()
                .status(StatusCode::FOUND)
                .header("location", to)
                .body(full(""))
                .expect("response");
        }
        if hits <= fault.fail_first {
            return Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .body(full("try again"))
                .expect("response");
        }
        // Validators as a CDN or object store gives them: a strong ETag of what is served,
        // honoured in If-None-Match.
        let etag = format!("\"{}\"", sha1_hex(&body));
        let conditional = req
            .headers()
            .get(http::header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok());
        if conditional == Some(etag.as_str()) {
            return Response::builder()
                .status(StatusCode::NOT_MODIFIED)
                .header("etag", etag)
                .body(full(""))
                .expect("response");
        }
        let body = fault.tampered.unwrap_or(body);
        if let Some(every) = fault.trickle {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
            let bytes = body.clone();
            tokio::spawn(async move {
                for b in bytes {
                    if tx
                        .send(Ok(Frame::data(Bytes::from(vec![b]))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    tokio::time::sleep(every).await;
                }
            });
            return Response::builder()
                .header("content-type", ctype)
                .header("content-length", body.len())
                .body(StreamBody::new(tokio_stream_from(rx)).boxed())
                .expect("response");
        }
        if let Some(n) = fault.stall_after {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
            let first = Bytes::copy_from_slice(&body[..n.min(body.len())]);
            tokio::spawn(async move {
                let _ = tx.send(Ok(Frame::data(first))).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
                drop(tx);
            });
            let stream = tokio_stream_from(rx);
            return Response::builder()
                .header("content-type", ctype)
                .header("content-length", body.len())
                .body(StreamBody::new(stream).boxed())
                .expect("response");
        }
        Response::builder()
            .header("content-type", ctype)
            .header("etag", etag)
            .body(full(body))
            .expect("response")
    }

    /// Serves osv.dev-style exports at `{base}/osv-exports/{PyPI,npm}/all.zip`: the real PyPA
    /// records in `tests/data/osv/PyPI`, and `npm` records given here. Returns the base URL to
    /// give `--advisories-url`.
    pub fn serve_osv_exports(&self, npm_records: &[Value]) -> String {
        self.route(
            "/osv-exports/PyPI/all.zip",
            "application/zip",
            osv_export_pypi(),
            Fault::default(),
        );
        self.route(
            "/osv-exports/npm/all.zip",
            "application/zip",
            osv_export(npm_records),
            Fault::default(),
        );
        format!("{}/osv-exports/", self.base())
    }
}

/// The PyPA records kept in the repository, as one osv.dev `all.zip`.
pub fn osv_export_pypi() -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/osv/PyPI");
    let mut entries = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data/osv/PyPI")
        .map(|e| e.expect("entry").path())
        .collect();
    names.sort();
    for path in names {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_string();
        entries.push(super::archives::ZipEntry::file(
            &name,
            &std::fs::read(&path).expect("record"),
        ));
    }
    super::archives::zip(&entries)
}

/// Records as one osv.dev `all.zip`, one `ID.json` each.
pub fn osv_export(records: &[Value]) -> Vec<u8> {
    let entries: Vec<_> = records
        .iter()
        .map(|r| {
            let id = r["id"].as_str().expect("record id");
            super::archives::ZipEntry::file(
                &format!("{id}.json"),
                &serde_json::to_vec(r).expect("json"),
            )
        })
        .collect();
    super::archives::zip(&entries)
}

/// A made-up npm record (not from any database) for packages no test installs, so an npm
/// export is never empty.
pub fn npm_placeholder_record() -> Value {
    json!({"id": "AIRLOCK-TEST-NPM-0", "summary": "test fixture: affects a package no test uses",
        "affected": [{"package": {"ecosystem": "npm", "name": "airlock-test-nothing"}, "versions": ["0.0.0"]}]})
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, Infallible>>,
) -> impl futures::Stream<Item = Result<Frame<Bytes>, Infallible>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A resolver and fetcher pointed at the fixture registry, with short timeouts and back-off.
pub fn pipeline(
    reg: &FixtureRegistry,
    cache_dir: &std::path::Path,
) -> (
    airlock::pipeline::resolve::Resolver,
    airlock::pipeline::fetch::Fetcher,
) {
    use airlock::net::client::{HttpClient, HttpConfig};
    use airlock::pipeline::resolve::{Registries, Resolver};
    let registries = Registries {
        pypi_index: url::Url::parse(&format!("{}/simple/", reg.base())).expect("url"),
        pypi_file_hosts: vec![],
        npm_registry: url::Url::parse(&format!("{}/npm/", reg.base())).expect("url"),
        npm_file_hosts: vec![],
    };
    let config = HttpConfig {
        read_timeout: Duration::from_millis(500),
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..HttpConfig::default()
    };
    let http = HttpClient::new(registries.allowed_hosts(), config).expect("client");
    let cache = airlock::pipeline::cache::Cache::open(cache_dir).expect("cache");
    (
        Resolver::new(http.clone(), registries),
        airlock::pipeline::fetch::Fetcher::new(http, cache),
    )
}

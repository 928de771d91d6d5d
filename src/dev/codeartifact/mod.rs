//! A CodeArtifact emulator for `airlock dev` and tests: the control-plane operations airlock's
//! publisher uses, answering as AWS documents them (REST-JSON, `x-amzn-ErrorType` error names,
//! token duration bounds), plus the repository endpoints behind `GetRepositoryEndpoint` — a PyPI
//! upload + simple index and an npm publish + read API — served by the built-in repository code
//! and guarded by the authorization tokens it issued. Development and tests only.

mod endpoints;
mod multipart;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::net::server::Body;
use crate::publish::builtin::store::{Store, Withdrawal};

/// The account the emulator pretends to be.
pub const ACCOUNT: &str = "111122223333";
const MAX_BODY: usize = 256 << 20;

#[derive(Clone, Debug)]
struct GenericAsset {
    name: String,
    size: u64,
    sha256: String,
}

#[derive(Default)]
struct PackageState {
    /// (publish, upstream): `ALLOW` / `BLOCK`.
    origin: Option<(String, String)>,
    /// version → status (`Published`, `Unlisted`, `Archived`, `Disposed`).
    status: HashMap<String, String>,
    generic: HashMap<String, Vec<GenericAsset>>,
}

struct Repository {
    store: Arc<Store>,
    /// (format, namespace, package) → state.
    packages: HashMap<(String, String, String), PackageState>,
}

struct Domain {
    repositories: HashMap<String, Repository>,
}

#[derive(Default)]
struct State {
    domains: HashMap<String, Domain>,
    /// token → (domain, expiry in epoch seconds).
    tokens: HashMap<String, (String, i64)>,
    counter: u64,
    /// Operations answered with AccessDeniedException (`POST /_emulator/deny`), as a role
    /// without those permissions is.
    denied: std::collections::HashSet<String>,
}

/// A running emulator.
pub struct CodeArtifactEmulator {
    pub addr: SocketAddr,
    inner: Arc<Emulator>,
}

pub(crate) struct Emulator {
    state: Mutex<State>,
    /// SageMaker shares the endpoint (one `AWS_ENDPOINT_URL` serves every SDK client); its calls
    /// are told apart by their `X-Amz-Target` header.
    sagemaker: Arc<crate::dev::sagemaker::SageMaker>,
    data: PathBuf,
    addr: Mutex<Option<SocketAddr>>,
}

fn now() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_second()
}

/// An AWS error in the REST-JSON shape the SDKs read: status, `x-amzn-ErrorType`, `message`.
fn aws_error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response<Body> {
    let mut r = crate::net::server::respond(
        status,
        "application/json",
        json!({"message": message.into()}).to_string(),
    );
    if let Ok(v) = header::HeaderValue::from_str(kind) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

fn ok(body: Value) -> Response<Body> {
    crate::net::server::respond(StatusCode::OK, "application/json", body.to_string())
}

fn not_found(what: &str) -> Response<Body> {
    aws_error(StatusCode::NOT_FOUND, "ResourceNotFoundException", what)
}

/// ConflictException as CodeArtifact's model has it: `message`, `resourceId`, `resourceType`.
fn conflict(resource_type: &str, resource_id: &str, message: impl Into<String>) -> Response<Body> {
    let mut r = crate::net::server::respond(
        StatusCode::CONFLICT,
        "application/json",
        json!({"message": message.into(), "resourceId": resource_id, "resourceType": resource_type})
            .to_string(),
    );
    r.headers_mut().insert(
        "x-amzn-errortype",
        header::HeaderValue::from_static("ConflictException"),
    );
    r
}

/// The operation a CodeArtifact REST call is, by method and path (as the service model maps them).
fn operation(method: &Method, path: &str) -> Option<&'static str> {
    Some(match (method.as_str(), path) {
        ("POST", "/v1/domain") => "CreateDomain",
        ("POST", "/v1/repository") => "CreateRepository",
        ("POST", "/v1/authorization-token") => "GetAuthorizationToken",
        ("GET", "/v1/repository/endpoint") => "GetRepositoryEndpoint",
        ("GET", "/v1/package/version") => "DescribePackageVersion",
        ("POST", "/v1/package/version/assets") => "ListPackageVersionAssets",
        ("GET", "/v1/package") => "DescribePackage",
        ("POST", "/v1/package/versions") => "ListPackageVersions",
        ("POST", "/v1/packages") => "ListPackages",
        ("POST", "/v1/package") => "PutPackageOriginConfiguration",
        ("POST", "/v1/package/versions/update_status") => "UpdatePackageVersionsStatus",
        ("POST", "/v1/package/versions/dispose") => "DisposePackageVersions",
        ("POST", "/v1/package/version/publish") => "PublishPackageVersion",
        _ => return None,
    })
}

fn validation(what: impl Into<String>) -> Response<Body> {
    aws_error(StatusCode::BAD_REQUEST, "ValidationException", what)
}

/// AWS omits `namespace` for packages without one (PyPI, unscoped npm); it is never `null`.
fn with_namespace(doc: &mut Value, namespace: &str) {
    if !namespace.is_empty() {
        doc["namespace"] = json!(namespace);
    }
}

fn query(req: &Request<Incoming>) -> HashMap<String, String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), crate::net::server::percent_decode_query(v)))
        .collect()
}

impl CodeArtifactEmulator {
    /// Starts on `addr`, keeping repository files under `data`.
    pub async fn start(addr: SocketAddr, data: PathBuf) -> std::io::Result<CodeArtifactEmulator> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Emulator {
            state: Mutex::new(State::default()),
            sagemaker: Arc::new(crate::dev::sagemaker::SageMaker::default()),
            data,
            addr: Mutex::new(Some(addr)),
        });
        // What was created before a restart on the same data directory is there again.
        for domain in std::fs::read_dir(&inner.data)
            .into_iter()
            .flatten()
            .flatten()
        {
            for repository in std::fs::read_dir(domain.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if let (Some(d), Some(r)) =
                    (domain.file_name().to_str(), repository.file_name().to_str())
                    && repository.path().is_dir()
                {
                    inner
                        .create_repository(d, r)
                        .map_err(std::io::Error::other)?;
                }
            }
        }
        let served = inner.clone();
        crate::net::server::spawn(listener, move |req| {
            let emu = served.clone();
            async move { Ok::<_, Infallible>(emu.handle(req).await) }
        });
        Ok(CodeArtifactEmulator { addr, inner })
    }

    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The SageMaker emulator served on the same endpoint.
    pub fn sagemaker(&self) -> Arc<crate::dev::sagemaker::SageMaker> {
        self.inner.sagemaker.clone()
    }

    /// Creates a domain and repositories in it (what `airlock dev` does at start).
    pub fn create(&self, domain: &str, repositories: &[&str]) -> Result<(), String> {
        for r in repositories {
            self.inner.create_repository(domain, r)?;
        }
        Ok(())
    }
}

impl Emulator {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn create_repository(&self, domain: &str, repository: &str) -> Result<(), String> {
        let store =
            Store::open(self.data.join(domain).join(repository)).map_err(|e| e.to_string())?;
        let mut st = self.lock();
        st.domains
            .entry(domain.to_string())
            .or_insert_with(|| Domain {
                repositories: HashMap::new(),
            })
            .repositories
            .entry(repository.to_string())
            .or_insert_with(|| Repository {
                store: Arc::new(store),
                packages: HashMap::new(),
            });
        Ok(())
    }

    fn base(&self) -> String {
        let addr = *self.addr.lock().unwrap_or_else(|p| p.into_inner());
        format!("http://{}", addr.map(|a| a.to_string()).unwrap_or_default())
    }

    /// The domain a token was issued for, if it is valid now.
    pub(crate) fn token_domain(&self, token: &str) -> Option<String> {
        let st = self.lock();
        st.tokens
            .get(token)
            .filter(|(_, exp)| *exp > now())
            .map(|(d, _)| d.clone())
    }

    /// Whether DisposePackageVersions disposed `package` `version` (no namespace) here.
    pub(crate) fn is_disposed(
        &self,
        domain: &str,
        repository: &str,
        format: &str,
        package: &str,
        version: &str,
    ) -> bool {
        let key = (format.to_string(), String::new(), package.to_string());
        self.lock()
            .domains
            .get(domain)
            .and_then(|d| d.repositories.get(repository))
            .and_then(|r| r.packages.get(&key))
            .and_then(|p| p.status.get(version))
            .is_some_and(|s| s == "Disposed")
    }

    pub(crate) fn repository_store(&self, domain: &str, repository: &str) -> Option<Arc<Store>> {
        let st = self.lock();
        st.domains
            .get(domain)?
            .repositories
            .get(repository)
            .map(|r| r.store.clone())
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        if path == "/_emulator/sagemaker/calls" {
            return crate::dev::sagemaker::calls_reply(&self.sagemaker);
        }
        if let Some(target) = req
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.to_str().ok())
            .filter(|t| t.starts_with("SageMaker."))
            .map(str::to_string)
        {
            if req.headers().get(header::AUTHORIZATION).is_none() {
                return aws_error(
                    StatusCode::BAD_REQUEST,
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token",
                );
            }
            let auth = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|a| a.to_str().ok())
                .map(str::to_string);
            let body = match http_body_util::Limited::new(req.into_body(), 1 << 20)
                .collect()
                .await
            {
                Ok(b) => b.to_bytes(),
                Err(_) => return validation("the request body is too large"),
            };
            if let Some(op) = target.strip_prefix("SageMaker.")
                && self.lock().denied.contains(op)
            {
                return crate::dev::sagemaker::access_denied(op);
            }
            return self.sagemaker.handle(&target, auth.as_deref(), &body);
        }
        if path == "/_emulator/deny" && req.method() == Method::POST {
            let body = match http_body_util::Limited::new(req.into_body(), 64 << 10)
                .collect()
                .await
            {
                Ok(b) => b.to_bytes(),
                Err(_) => return validation("the request body is too large"),
            };
            let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let Some(ops) = doc["operations"].as_array() else {
                return validation(
                    "POST /_emulator/deny takes {\"operations\": [\"UpdatePackageVersionsStatus\", ...]} ([] allows everything again)",
                );
            };
            let ops: std::collections::HashSet<String> = ops
                .iter()
                .filter_map(|o| o.as_str().map(str::to_string))
                .collect();
            self.lock().denied = ops.clone();
            return ok(json!({ "denied": ops }));
        }
        if let Some(rest) = path.strip_prefix("/repo/") {
            return endpoints::handle(self, req, rest).await;
        }
        if req.headers().get(header::AUTHORIZATION).is_none() {
            return aws_error(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            );
        }
        let q = query(&req);
        let method = req.method().clone();
        let declared_sha256 = req
            .headers()
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return validation(format!("could not read the request body: {e}")),
        };
        if body.len() > MAX_BODY {
            return validation("the request body is too large");
        }
        let get = |k: &str| q.get(k).cloned().unwrap_or_default();
        let domain = get("domain");
        if let Some(op) = operation(&method, &path)
            && self.lock().denied.contains(op)
        {
            return aws_error(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                format!(
                    "User: arn:aws:sts::{ACCOUNT}:assumed-role/airlock/session is not authorized to perform: codeartifact:{op} on resource: arn:aws:codeartifact:us-east-1:{ACCOUNT}:domain/{domain} because no identity-based policy allows the codeartifact:{op} action"
                ),
            );
        }
        // domainOwner names the account that owns the domain: only this one has domains here.
        if let Some(owner) = q.get("domain-owner") {
            if owner.len() != 12 || !owner.bytes().all(|b| b.is_ascii_digit()) {
                return validation(format!(
                    "1 validation error detected: Value '{owner}' at 'domainOwner' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9]{{12}}"
                ));
            }
            if owner != ACCOUNT {
                return not_found(&format!("Domain '{domain}' not found in account {owner}"));
            }
        }
        match (method, path.as_str()) {
            (Method::POST, "/v1/domain") => {
                let mut st = self.lock();
                if st.domains.contains_key(&domain) {
                    return conflict(
                        "domain",
                        &domain,
                        format!("Domain '{domain}' already exists in account {ACCOUNT}"),
                    );
                }
                st.domains.insert(
                    domain.clone(),
                    Domain {
                        repositories: HashMap::new(),
                    },
                );
                ok(
                    json!({"domain": {"name": domain, "owner": ACCOUNT, "status": "Active",
                    "arn": format!("arn:aws:codeartifact:us-east-1:{ACCOUNT}:domain/{domain}")}}),
                )
            }
            (Method::POST, "/v1/repository") => {
                let repository = get("repository");
                match self.lock().domains.get(&domain) {
                    None => {
                        return not_found(&format!(
                            "Domain '{domain}' not found in account {ACCOUNT}"
                        ));
                    }
                    Some(d) if d.repositories.contains_key(&repository) => {
                        return conflict(
                            "repository",
                            &repository,
                            format!(
                                "Repository '{repository}' already exists in domain '{domain}'"
                            ),
                        );
                    }
                    Some(_) => {}
                }
                match self.create_repository(&domain, &repository) {
                    Ok(()) => ok(
                        json!({"repository": {"name": get("repository"), "domainName": domain, "domainOwner": ACCOUNT}}),
                    ),
                    Err(e) => aws_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalServerException",
                        e,
                    ),
                }
            }
            (Method::POST, "/v1/authorization-token") => {
                self.authorization_token(&domain, q.get("duration"))
            }
            (m, p) => {
                let repository = get("repository");
                let exists = self
                    .lock()
                    .domains
                    .get(&domain)
                    .is_some_and(|d| d.repositories.contains_key(&repository));
                if !exists {
                    return not_found(&format!(
                        "Repository '{repository}' not found in domain '{domain}'"
                    ));
                }
                self.repository_operation(m, p, &q, &domain, &repository, body, declared_sha256)
            }
        }
    }

    fn authorization_token(&self, domain: &str, duration: Option<&String>) -> Response<Body> {
        if !self.lock().domains.contains_key(domain) {
            return not_found(&format!("Domain '{domain}' not found in account {ACCOUNT}"));
        }
        // AWS: 0 (the role session's remaining time, here 1 hour) or 900 to 43200 seconds.
        let seconds = match duration.map(|d| d.parse::<i64>()) {
            None => 43_200,
            Some(Ok(0)) => 3_600,
            Some(Ok(s)) if (900..=43_200).contains(&s) => s,
            _ => return validation("durationSeconds must be 0, or between 900 and 43200"),
        };
        let mut st = self.lock();
        st.counter += 1;
        let token = format!("eyJ2ZXIiOjEsImlzdSI6{:016x}{:08x}", now(), st.counter);
        let expiration = now() + seconds;
        st.tokens
            .insert(token.clone(), (domain.to_string(), expiration));
        ok(json!({"authorizationToken": token, "expiration": expiration}))
    }

    /// ListPackages: every package the repository has (its index, generic packages and packages
    /// with only an origin configuration), filtered by `format`, `namespace` and `package-prefix`
    /// (prefixes, as AWS documents), `max-results` (1 to 1000, default 100) per page.
    fn list_packages(
        &self,
        q: &HashMap<String, String>,
        domain: &str,
        repository: &str,
        store: &Store,
    ) -> Response<Body> {
        let max = match q.get("max-results").map(|m| m.parse::<usize>()) {
            None => 100,
            Some(Ok(m)) if (1..=1000).contains(&m) => m,
            _ => return validation("maxResults must be between 1 and 1000"),
        };
        let start = match q.get("next-token").map(|t| t.parse::<usize>()) {
            None => 0,
            Some(Ok(t)) => t,
            Some(Err(_)) => return validation("nextToken is not a token this operation returned"),
        };
        let mut packages: Vec<(String, String, String)> = store
            .pypi_projects()
            .into_iter()
            .map(|p| ("pypi".to_string(), String::new(), p))
            .collect();
        packages.extend(store.npm_packages().into_iter().map(|n| {
            match n.strip_prefix('@').and_then(|n| n.split_once('/')) {
                Some((scope, bare)) => ("npm".to_string(), scope.to_string(), bare.to_string()),
                None => ("npm".to_string(), String::new(), n),
            }
        }));
        let st = self.lock();
        let state = st
            .domains
            .get(domain)
            .and_then(|d| d.repositories.get(repository));
        if let Some(repo) = state {
            packages.extend(repo.packages.keys().cloned());
        }
        packages.sort();
        packages.dedup();
        let wanted = |key: &(String, String, String)| {
            q.get("format").is_none_or(|f| *f == key.0)
                && q.get("namespace")
                    .is_none_or(|n| key.1.starts_with(n.as_str()))
                && q.get("package-prefix")
                    .is_none_or(|p| key.2.starts_with(p.as_str()))
        };
        let matching: Vec<_> = packages.into_iter().filter(|k| wanted(k)).collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(max)
            .map(|key| {
                let (publish, upstream) = state
                    .and_then(|r| r.packages.get(key))
                    .and_then(|p| p.origin.clone())
                    .unwrap_or_else(|| ("ALLOW".into(), "ALLOW".into()));
                let mut summary = json!({"format": key.0, "package": key.2,
                    "originConfiguration": {"restrictions": {"publish": publish, "upstream": upstream}}});
                if !key.1.is_empty() {
                    summary["namespace"] = json!(key.1);
                }
                summary
            })
            .collect();
        let mut out = json!({ "packages": page });
        if start + max < matching.len() {
            out["nextToken"] = json!((start + max).to_string());
        }
        ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn repository_operation(
        &self,
        method: Method,
        path: &str,
        q: &HashMap<String, String>,
        domain: &str,
        repository: &str,
        body: Bytes,
        declared_sha256: Option<String>,
    ) -> Response<Body> {
        let get = |k: &str| q.get(k).cloned().unwrap_or_default();
        let format = get("format");
        let namespace = get("namespace");
        let package = get("package");
        let version = get("version");
        if !matches!(format.as_str(), "pypi" | "npm" | "generic" | "") {
            return validation(format!(
                "format {format:?} is not supported by this emulator"
            ));
        }
        let store = match self.repository_store(domain, repository) {
            Some(s) => s,
            None => return not_found("repository"),
        };
        let key = (format.clone(), namespace.clone(), package.clone());
        let full_name = if namespace.is_empty() {
            package.clone()
        } else {
            format!("@{namespace}/{package}")
        };
        // AWS stores a PyPI name normalized and requires the normalized name in API calls: any
        // other spelling names no version AWS holds (only, perhaps, an origin configuration put
        // under that very spelling).
        let spelled_as_stored =
            format != "pypi" || crate::package::normalize_pypi_name(&package) == package;
        let assets_of = |v: &str| {
            if spelled_as_stored {
                endpoints::assets(&store, &format, &full_name, v)
            } else {
                Vec::new()
            }
        };
        // A status set through the API (Disposed, a generic version's) else what the store
        // keeps, which survives a restart.
        let status_of = |pkg: Option<&PackageState>, v: &str| -> String {
            let set = pkg.and_then(|p| p.status.get(v));
            if set.is_some_and(|s| s == "Disposed") || format == "generic" || !spelled_as_stored {
                return set.cloned().unwrap_or_else(|| "Published".into());
            }
            endpoints::stored_status(&store, &format, &full_name, v)
                .unwrap_or("Published")
                .to_string()
        };
        match (method, path) {
            (Method::GET, "/v1/repository/endpoint") => {
                let base = self.base();
                ok(
                    json!({"repositoryEndpoint": format!("{base}/repo/{domain}/{repository}/{format}/")}),
                )
            }
            (Method::GET, "/v1/package/version") | (Method::POST, "/v1/package/version/assets") => {
                let assets = assets_of(&version);
                let st = self.lock();
                let pkg = st
                    .domains
                    .get(domain)
                    .and_then(|d| d.repositories.get(repository))
                    .and_then(|r| r.packages.get(&key));
                let generic = pkg
                    .and_then(|p| p.generic.get(&version))
                    .cloned()
                    .unwrap_or_default();
                let assets: Vec<Value> = if format == "generic" {
                    generic.iter().map(|a| json!({"name": a.name, "size": a.size, "hashes": {"SHA-256": a.sha256}})).collect()
                } else {
                    assets
                };
                let status = status_of(pkg, &version);
                // A disposed version keeps its record (status Disposed) with no assets left.
                if assets.is_empty() && status != "Disposed" {
                    return not_found(&format!(
                        "Package version '{full_name}@{version}' not found in repository '{repository}'"
                    ));
                }
                if path == "/v1/package/version" {
                    let mut description = json!({
                        "format": format, "packageName": package, "displayName": package, "version": version,
                        "status": status, "revision": format!("rev-{}", assets.len()),
                        "origin": {"originType": "INTERNAL"},
                    });
                    with_namespace(&mut description, &namespace);
                    ok(json!({ "packageVersion": description }))
                } else {
                    ok(
                        json!({"format": format, "package": package, "version": version, "versionRevision": format!("rev-{}", assets.len()), "assets": assets}),
                    )
                }
            }
            (Method::POST, "/v1/packages") => self.list_packages(q, domain, repository, &store),
            (Method::GET, "/v1/package") | (Method::POST, "/v1/package/versions") => {
                let mut versions = if spelled_as_stored {
                    endpoints::versions(&store, &format, &full_name)
                } else {
                    Vec::new()
                };
                let st = self.lock();
                let pkg = st
                    .domains
                    .get(domain)
                    .and_then(|d| d.repositories.get(repository))
                    .and_then(|r| r.packages.get(&key));
                if let Some(p) = pkg {
                    versions.extend(p.generic.keys().cloned());
                    versions.extend(
                        p.status
                            .iter()
                            .filter(|(_, s)| *s == "Disposed")
                            .map(|(v, _)| v.clone()),
                    );
                }
                versions.sort();
                versions.dedup();
                if versions.is_empty() && pkg.is_none_or(|p| p.origin.is_none()) {
                    return not_found(&format!(
                        "Package '{full_name}' not found in repository '{repository}'"
                    ));
                }
                let (publish, upstream) = pkg
                    .and_then(|p| p.origin.clone())
                    .unwrap_or_else(|| ("ALLOW".into(), "ALLOW".into()));
                if path == "/v1/package" {
                    let mut description = json!({
                        "format": format, "name": package,
                        "originConfiguration": {"restrictions": {"publish": publish, "upstream": upstream}},
                    });
                    with_namespace(&mut description, &namespace);
                    ok(json!({ "package": description }))
                } else {
                    let listed: Vec<Value> = versions
                        .iter()
                        .map(|v| {
                            let status = status_of(pkg, v);
                            json!({"version": v, "revision": "rev-1", "status": status,
                                   "origin": {"domainEntryPoint": {"repositoryName": repository}, "originType": "INTERNAL"}})
                        })
                        .filter(|v| q.get("status").is_none_or(|s| v["status"] == json!(s)))
                        .collect();
                    let mut out = json!({"format": format, "package": package, "versions": listed});
                    if let Some(last) = versions.last() {
                        out["defaultDisplayVersion"] = json!(last);
                    }
                    with_namespace(&mut out, &namespace);
                    ok(out)
                }
            }
            (Method::POST, "/v1/package") => {
                let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let publish = doc["restrictions"]["publish"]
                    .as_str()
                    .unwrap_or("ALLOW")
                    .to_string();
                let upstream = doc["restrictions"]["upstream"]
                    .as_str()
                    .unwrap_or("ALLOW")
                    .to_string();
                for v in [&publish, &upstream] {
                    if v != "ALLOW" && v != "BLOCK" {
                        return validation(format!(
                            "restriction value {v:?} must be ALLOW or BLOCK"
                        ));
                    }
                }
                let mut st = self.lock();
                let Some(repo) = st
                    .domains
                    .get_mut(domain)
                    .and_then(|d| d.repositories.get_mut(repository))
                else {
                    return not_found("repository");
                };
                repo.packages.entry(key).or_default().origin =
                    Some((publish.clone(), upstream.clone()));
                ok(
                    json!({"originConfiguration": {"restrictions": {"publish": publish, "upstream": upstream}}}),
                )
            }
            (
                Method::POST,
                "/v1/package/versions/update_status" | "/v1/package/versions/dispose",
            ) => {
                let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let target = if path.ends_with("dispose") {
                    "Disposed".to_string()
                } else {
                    doc["targetStatus"].as_str().unwrap_or("").to_string()
                };
                // Disposing deletes the assets: only DisposePackageVersions does it.
                if target == "Disposed" && !path.ends_with("dispose") {
                    return validation(
                        "targetStatus Disposed is not allowed in UpdatePackageVersionsStatus; use DisposePackageVersions",
                    );
                }
                if !matches!(
                    target.as_str(),
                    "Published" | "Unlisted" | "Archived" | "Disposed"
                ) {
                    return validation("targetStatus must be Published, Unlisted or Archived");
                }
                let versions: Vec<String> = doc["versions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                let mut ok_versions = serde_json::Map::new();
                let mut failed = serde_json::Map::new();
                for v in versions {
                    let current = {
                        let st = self.lock();
                        let pkg = st
                            .domains
                            .get(domain)
                            .and_then(|d| d.repositories.get(repository))
                            .and_then(|r| r.packages.get(&key));
                        status_of(pkg, &v)
                    };
                    // "A disposed package version cannot be restored in your repository because
                    // its assets are deleted" (DisposePackageVersions).
                    if current == "Disposed" {
                        failed.insert(
                            v,
                            json!({"errorCode": "NOT_ALLOWED", "errorMessage": "the package version is Disposed: its assets are deleted and it cannot change status"}),
                        );
                        continue;
                    }
                    if assets_of(&v).is_empty() && format != "generic" {
                        failed.insert(
                            v,
                            json!({"errorCode": "NOT_FOUND", "errorMessage": "version not found"}),
                        );
                        continue;
                    }
                    let how = match target.as_str() {
                        "Unlisted" => Some(Withdrawal::Unlist),
                        "Archived" => Some(Withdrawal::Archive),
                        "Disposed" => Some(Withdrawal::Dispose),
                        _ => Some(Withdrawal::Relist),
                    };
                    if let Some(how) = how.filter(|_| format != "generic") {
                        let eco = if format == "npm" {
                            crate::api::package_request::Ecosystem::Npm
                        } else {
                            crate::api::package_request::Ecosystem::Pypi
                        };
                        if let Err(e) = store.withdraw(eco, &full_name, &v, how) {
                            return aws_error(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "InternalServerException",
                                e.to_string(),
                            );
                        }
                    }
                    let mut st = self.lock();
                    if let Some(repo) = st
                        .domains
                        .get_mut(domain)
                        .and_then(|d| d.repositories.get_mut(repository))
                    {
                        repo.packages
                            .entry(key.clone())
                            .or_default()
                            .status
                            .insert(v.clone(), target.clone());
                    }
                    ok_versions.insert(v, json!({"revision": "rev-1", "status": target}));
                }
                ok(json!({"successfulVersions": ok_versions, "failedVersions": failed}))
            }
            (Method::POST, "/v1/package/version/publish") => {
                if format != "generic" {
                    return validation("PublishPackageVersion supports only the generic format");
                }
                let asset = get("asset");
                let sha256 = crate::pipeline::fetch::sha256_hex(&body);
                // The SDK sends the asset's SHA-256 (assetSHA256) in this header; AWS checks it.
                if declared_sha256
                    .as_deref()
                    .is_some_and(|d| !d.eq_ignore_ascii_case(&sha256))
                {
                    return validation(
                        "The SHA256 hash value of the asset does not match the assetSHA256 provided",
                    );
                }
                let mut st = self.lock();
                let Some(repo) = st
                    .domains
                    .get_mut(domain)
                    .and_then(|d| d.repositories.get_mut(repository))
                else {
                    return not_found("repository");
                };
                let state = repo.packages.entry(key.clone()).or_default();
                // Assets are added while a version is Unfinished; "once a package version's
                // status is set to Published, it cannot change back to Unfinished"
                // (PublishPackageVersion), so a new asset for it is a conflict.
                let current = state.status.get(&version).cloned();
                let assets = state.generic.entry(version.clone()).or_default();
                let known = assets.iter().find(|a| a.name == asset).cloned();
                if known.is_none()
                    && let Some(current) = current.as_deref().filter(|s| *s != "Unfinished")
                {
                    return conflict(
                        "package-version",
                        &version,
                        format!(
                            "Package version '{version}' is {current}: assets can be added only while it is Unfinished"
                        ),
                    );
                }
                // The same bytes under the same name again are a success (a retry after a lost
                // answer); other bytes under that name are a conflict.
                match known.as_ref() {
                    Some(existing) if existing.sha256 != sha256 => {
                        return conflict(
                            "asset",
                            &asset,
                            format!(
                                "Asset '{asset}' already exists in package version '{version}' with SHA-256 {}",
                                existing.sha256
                            ),
                        );
                    }
                    Some(_) => {}
                    None => assets.push(GenericAsset {
                        name: asset.clone(),
                        size: body.len() as u64,
                        sha256: sha256.clone(),
                    }),
                }
                // `unfinished=true` keeps the version Unfinished so more assets can follow;
                // without it the version is Published.
                let status = match current.as_deref() {
                    // A retry onto a version past Unfinished leaves its status as it is.
                    Some(s) if s != "Unfinished" => s.to_string(),
                    _ if get("unfinished") == "true" => "Unfinished".to_string(),
                    _ => "Published".to_string(),
                };
                let state = repo.packages.entry(key).or_default();
                state.status.insert(version.clone(), status.clone());
                ok(
                    json!({"format": "generic", "namespace": namespace, "package": package, "version": version, "versionRevision": "rev-1", "status": status,
                    "asset": {"name": asset, "size": body.len(), "hashes": {"SHA-256": sha256}}}),
                )
            }
            (m, p) => aws_error(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                format!("{m} {p} is not an operation this emulator serves"),
            ),
        }
    }
}

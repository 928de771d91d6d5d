//! HTTP for the in-memory API server: discovery, the resource verbs, watch streams, Table output.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};

use super::error::ApiError;
use super::managed_fields::{self, Writer};
use super::patch;
use super::resources::ResourceType;
use super::selectors::{FieldSelector, LabelSelector};
use super::store::{self, Selection, Store, Write};
use super::table;

/// The largest request body accepted, as the real server's limit (3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;
/// How often an idle watch with `allowWatchBookmarks=true` gets a BOOKMARK.
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);
/// A watch without `timeoutSeconds` ends after this long, as the real server's do.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);
/// How long a watch may leave an event unread before it is ended (it resumes from the log).
const WATCH_SEND_TIMEOUT: Duration = Duration::from_secs(5);

type Body = BoxBody<Bytes, Infallible>;

/// A running API server.
pub struct ApiServer {
    pub store: Arc<Store>,
    pub addr: SocketAddr,
}

impl ApiServer {
    /// Binds `addr` (use port 0 for any free port) and serves until the runtime stops.
    pub async fn start(addr: SocketAddr, store: Arc<Store>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let served = store.clone();
        crate::net::server::spawn(listener, move |req| handle(served.clone(), addr, req));
        Ok(Self { store, addr })
    }
}

fn json_response(code: StatusCode, body: &Value) -> Response<Body> {
    crate::net::server::respond(
        code,
        "application/json",
        serde_json::to_vec(body).unwrap_or_default(),
    )
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(
        StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &e.to_status(),
    )
}

struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Self {
        Query(
            q.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (
                        crate::net::server::percent_decode_query(k),
                        crate::net::server::percent_decode_query(v),
                    )
                })
                .collect(),
        )
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

async fn handle(
    store: Arc<Store>,
    addr: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let host = req
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("?"));
    if !loopback_host(host) {
        return Ok(error_response(&ApiError::forbidden(format!(
            "airlock dev answers only requests addressed to localhost or a loopback address, not Host {:?}",
            host.unwrap_or("")
        ))));
    }
    let path = req.uri().path().to_string();
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(crate::net::server::percent_decode_query)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let resp = match (req.method(), segs.as_slice()) {
        (&Method::GET, ["version"]) => json_response(
            StatusCode::OK,
            &json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-airlock-dev", "gitCommit": "", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "n/a", "compiler": "rust", "platform": "linux/amd64"}),
        ),
        (&Method::GET, ["healthz" | "readyz" | "livez"]) => {
            let mut r = Response::new(Full::new(Bytes::from_static(b"ok")).boxed());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain"),
            );
            r
        }
        (&Method::GET, ["api"]) => json_response(
            StatusCode::OK,
            &json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr.to_string()}]}),
        ),
        (&Method::GET, ["apis"]) => json_response(StatusCode::OK, &group_list(&store)),
        (&Method::GET, ["apis", group]) => match group_list(&store)["groups"]
            .as_array()
            .and_then(|gs| gs.iter().find(|g| g["name"] == *group))
        {
            Some(g) => {
                let mut g = g.clone();
                g["kind"] = json!("APIGroup");
                g["apiVersion"] = json!("v1");
                json_response(StatusCode::OK, &g)
            }
            None => error_response(&ApiError::not_found_path(&path)),
        },
        (&Method::GET, ["openapi", "v3"]) => {
            json_response(StatusCode::OK, &super::openapi::index(&store))
        }
        (&Method::GET, ["openapi", "v3", "api", "v1"]) => {
            json_response(StatusCode::OK, &super::openapi::document(&store, "", "v1"))
        }
        (&Method::GET, ["openapi", "v3", "apis", group, version]) => json_response(
            StatusCode::OK,
            &super::openapi::document(&store, group, version),
        ),
        (&Method::GET, ["api", "v1"]) => resource_list(&store, "", "v1", &path),
        (&Method::GET, ["apis", group, version]) => resource_list(&store, group, version, &path),
        (_, ["api", "v1", rest @ ..]) => resource(store, "", "v1", rest, req).await,
        (_, ["apis", group, version, rest @ ..]) => {
            let (g, v) = (group.to_string(), version.to_string());
            resource(store, &g, &v, rest, req).await
        }
        _ => error_response(&ApiError::not_found_path(&path)),
    };
    Ok(resp)
}

fn group_list(store: &Store) -> Value {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for t in store.types().iter().filter(|t| !t.group.is_empty()) {
        match groups.iter_mut().find(|(g, _)| *g == t.group) {
            Some((_, vs)) if !vs.contains(&t.version) => vs.push(t.version.clone()),
            Some(_) => {}
            None => groups.push((t.group.clone(), vec![t.version.clone()])),
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                .collect();
            json!({"name": g, "versions": versions, "preferredVersion": versions[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(store: &Store, group: &str, version: &str, path: &str) -> Response<Body> {
    let types: Vec<ResourceType> = store
        .types()
        .into_iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if types.is_empty() {
        return error_response(&ApiError::not_found_path(path));
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let resources: Vec<Value> = types
        .iter()
        .flat_map(ResourceType::discovery_entries)
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// The parts of a resource path after `/api/v1` or `/apis/G/V`.
struct Target<'a> {
    namespace: Option<&'a str>,
    plural: &'a str,
    name: Option<&'a str>,
    sub: Option<&'a str>,
}

fn parse_target<'a>(rest: &[&'a str]) -> Option<Target<'a>> {
    match rest {
        ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => {
            Some(Target {
                namespace: Some(ns),
                plural,
                name: tail.first().copied(),
                sub: tail.get(1).copied(),
            })
            .filter(|_| tail.len() <= 2)
        }
        [plural, tail @ ..] if tail.len() <= 2 => Some(Target {
            namespace: None,
            plural,
            name: tail.first().copied(),
            sub: tail.get(1).copied(),
        }),
        _ => None,
    }
}

async fn read_body(req: Request<Incoming>) -> Result<(String, Bytes), ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| ApiError {
            code: 413,
            reason: "RequestEntityTooLarge",
            message: format!("request body too large or unreadable: {e}"),
            details: None,
        })?
        .to_bytes();
    Ok((content_type, bytes))
}

fn parse_json(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

/// A created or replaced object, in JSON or (built-in kinds, as kubectl sends them) protobuf.
/// The media types kube-apiserver takes for an object. Anything else (`text/plain`, a form) is
/// refused as it refuses it — which is also what keeps a web page's simple cross-origin `POST`
/// from creating objects here.
const OBJECT_MEDIA_TYPES: &str =
    "application/json, application/yaml, application/vnd.kubernetes.protobuf";

fn parse_object(rt: &ResourceType, content_type: &str, bytes: &Bytes) -> Result<Value, ApiError> {
    match content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        super::protobuf::CONTENT_TYPE if rt.schema.is_none() => {
            super::protobuf::decode(&rt.kind, bytes)
        }
        super::protobuf::CONTENT_TYPE => Err(ApiError::unknown_format(
            "application/json, application/yaml",
        )),
        "application/json" => parse_json(bytes),
        "application/yaml" => serde_saphyr::from_slice::<Value>(bytes)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid YAML: {e}"))),
        _ => Err(ApiError::unknown_format(OBJECT_MEDIA_TYPES)),
    }
}

/// Whether a request was addressed to this machine by name (`localhost`) or loopback address.
/// Anything else is a page's DNS name rebound to 127.0.0.1: a browser would otherwise let that
/// page talk to this server as if it were its own origin.
fn loopback_host(host: Option<&str>) -> bool {
    let Some(host) = host else {
        return true;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn resource(
    store: Arc<Store>,
    group: &str,
    version: &str,
    rest: &[&str],
    req: Request<Incoming>,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let Some(target) = parse_target(rest) else {
        return error_response(&ApiError::not_found_path(&path));
    };
    let Some(rt) = store.resolve(group, version, target.plural) else {
        return error_response(&ApiError::not_found_path(&path));
    };
    if rt.namespaced != target.namespace.is_some()
        && (target.name.is_some() || req.method() != Method::GET)
    {
        return error_response(&ApiError::not_found_path(&path));
    }
    let query = Query::parse(req.uri().query());
    let wants_table = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"));
    let include_object = query.get("includeObject").unwrap_or("Metadata").to_string();
    let ns = target.namespace;
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let mut write = Write {
        status_only: false,
        strict: query.get("fieldValidation") == Some("Strict"),
        manager: query
            .get("fieldManager")
            .map(str::to_string)
            .unwrap_or_else(|| managed_fields::default_manager(user_agent)),
        applied: false,
    };
    let result: Result<Response<Body>, ApiError> = async {
        let selection = || -> Result<Selection, ApiError> {
            let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or(""))?;
            // Custom resources can be selected on their name and namespace only (this server
            // serves no CRD selectableFields).
            if rt.schema.is_some()
                && let Some(f) = fields.fields().find(|f| !matches!(*f, "metadata.name" | "metadata.namespace"))
            {
                return Err(ApiError::bad_request(format!("field label not supported: {f}")));
            }
            Ok(Selection {
                namespace: ns.map(str::to_string),
                labels: LabelSelector::parse(query.get("labelSelector").unwrap_or(""))?,
                fields,
            })
        };
        write.status_only = match target.sub {
            None => false,
            Some("status") if rt.status_subresource => true,
            Some(_) => return Err(ApiError::not_found_path(&path)),
        };
        let one = |v: Value| -> Response<Body> {
            if wants_table {
                json_response(StatusCode::OK, &table::table(&rt, &[v], store.resource_version(), true, &include_object, None))
            } else {
                json_response(StatusCode::OK, &v)
            }
        };
        match (req.method().clone(), target.name) {
            (Method::GET, None) if query.flag("watch") => watch(store.clone(), rt.clone(), selection()?, &query, wants_table, &include_object),
            (Method::GET, None) => {
                let limit = query.get("limit").and_then(|l| l.parse::<usize>().ok()).filter(|l| *l > 0);
                let after = query.get("continue").filter(|c| !c.is_empty()).map(decode_continue).transpose()?;
                let (items, rv, next) = store.list(&rt, &selection()?, limit, after);
                let token = next.as_ref().map(|(k, _)| encode_continue(k));
                if wants_table {
                    return Ok(json_response(StatusCode::OK, &table::table(&rt, &items, rv, true, &include_object, token.as_deref())));
                }
                let mut meta = json!({"resourceVersion": rv.to_string()});
                if let Some((_, remaining)) = &next {
                    meta["continue"] = json!(token);
                    meta["remainingItemCount"] = json!(remaining);
                }
                Ok(json_response(StatusCode::OK, &json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": meta, "items": items})))
            }
            (Method::GET, Some(name)) => Ok(one(store.get(&rt, ns, name)?)),
            (Method::POST, None) => {
                let (content_type, body) = read_body(req).await?;
                let created = store.create_checked(&rt, ns, parse_object(&rt, &content_type, &body)?, &write)?;
                Ok(json_response(StatusCode::CREATED, &created))
            }
            (Method::PUT, Some(name)) => {
                let (content_type, body) = read_body(req).await?;
                let object = parse_object(&rt, &content_type, &body)?;
                // Custom resources allow no unconditional update: a replace must say which
                // version it replaces.
                if rt.schema.is_some() && object.pointer("/metadata/resourceVersion").and_then(Value::as_str).is_none_or(str::is_empty) {
                    let mut e = ApiError::invalid(format!("{} {name:?} is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update", rt.qualified()));
                    e.details = Some(json!({"name": name, "group": rt.group, "kind": rt.plural, "causes": [
                        {"reason": "FieldValueInvalid", "message": "Invalid value: 0: must be specified for an update", "field": "metadata.resourceVersion"}]}));
                    return Err(e);
                }
                Ok(json_response(StatusCode::OK, &store.update(&rt, ns, name, object, &write)?))
            }
            (Method::PATCH, Some(name)) => {
                let force = query.flag("force");
                let (content_type, body) = read_body(req).await?;
                let kind = content_type.split(';').next().unwrap_or("").trim().to_string();
                write.applied = kind.starts_with("application/apply-patch");
                if write.applied && query.get("fieldManager").is_none_or(str::is_empty) {
                    let mut e = ApiError::invalid("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into());
                    e.details = Some(json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
                        {"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}]}));
                    return Err(e);
                }
                if kind == "application/strategic-merge-patch+json" && rt.schema.is_some() {
                    return Err(ApiError::unknown_format(
                        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                    ));
                }
                if !write.applied && force {
                    return Err(ApiError::invalid("PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch".into()));
                }
                let patched = store.patch(&rt, ns, name, &write, |current| apply_patch(&rt, ns, name, current, &kind, &body, &write, force))?;
                Ok(json_response(StatusCode::OK, &patched))
            }
            (Method::DELETE, Some(name)) => {
                let (_, body) = read_body(req).await?;
                let opts = parse_json(&body)?;
                let pre_rv = opts.pointer("/preconditions/resourceVersion").and_then(Value::as_str);
                let pre_uid = opts.pointer("/preconditions/uid").and_then(Value::as_str);
                let deleted = store.delete(&rt, ns, name, pre_rv, pre_uid)?;
                if deleted.pointer("/metadata/deletionTimestamp").is_some() {
                    // Finalizers hold it: the object, marked for deletion.
                    return Ok(json_response(StatusCode::OK, &deleted));
                }
                // Gone at once: kube-apiserver answers with a Status naming what was deleted.
                Ok(json_response(StatusCode::OK, &json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "group": rt.group, "kind": rt.plural,
                        "uid": deleted.pointer("/metadata/uid").cloned().unwrap_or(Value::Null)},
                })))
            }
            (Method::DELETE, None) => {
                let (items, _) = store.snapshot(&rt, &selection()?);
                let mut deleted = Vec::new();
                for item in items {
                    let name = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                    let inns = item.pointer("/metadata/namespace").and_then(Value::as_str);
                    if let Ok(d) = store.delete(&rt, inns, name, None, None) {
                        deleted.push(d);
                    }
                }
                Ok(json_response(StatusCode::OK, &json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": {}, "items": deleted})))
            }
            (m, _) => Err(ApiError::method_not_allowed(format!("the server does not allow this method on the requested resource ({m} {path})"))),
        }
    }
    .await;
    result.unwrap_or_else(|e| error_response(&e))
}

fn encode_continue(key: &(String, String)) -> String {
    format!("{}/{}", key.0, key.1)
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    token
        .split_once('/')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| ApiError::bad_request("invalid continue token"))
}

#[allow(clippy::too_many_arguments)]
fn apply_patch(
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    current: Option<&Value>,
    kind: &str,
    body: &Bytes,
    write: &Write,
    force: bool,
) -> Result<Value, ApiError> {
    match kind {
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::bad_request("apply patch is not UTF-8"))?;
            let applied: Value = serde_saphyr::from_str(text)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
            if applied
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .is_some_and(|n| n != name)
            {
                return Err(ApiError::bad_request(
                    "the name of the object does not match the name on the URL",
                ));
            }
            let type_of = |key: &str| applied.get(key).and_then(Value::as_str).unwrap_or("");
            if type_of("apiVersion").is_empty() || type_of("kind").is_empty() {
                let (group, version) = type_of("apiVersion")
                    .rsplit_once('/')
                    .unwrap_or(("", type_of("apiVersion")));
                return Err(ApiError::bad_request(format!(
                    "invalid object type: {group}/{version}, Kind={}",
                    type_of("kind")
                )));
            }
            let api_version = rt.api_version();
            let time = store::now();
            let writer = Writer {
                manager: &write.manager,
                api_version: &api_version,
                part: write.part(rt),
                time: &time,
            };
            let mut obj =
                managed_fields::apply(current, &applied, rt.schema.as_ref(), &writer, force)?;
            if current.is_none()
                && rt.namespaced
                && let Some(ns) = ns
            {
                obj["metadata"]["namespace"] = json!(ns);
            }
            Ok(obj)
        }
        _ => {
            let cur = current.ok_or_else(|| ApiError::not_found(&rt.qualified(), name))?;
            let p = parse_json(body)?;
            // A pointer deeper than an object may be builds one level deeper per op.
            let too_deep = p.as_array().into_iter().flatten().any(|op| {
                ["path", "from"].iter().any(|k| {
                    op[*k]
                        .as_str()
                        .is_some_and(|path| path.matches('/').count() > MAX_DEPTH)
                })
            });
            if too_deep {
                return Err(ApiError::invalid(format!(
                    "a JSON Patch path deeper than {MAX_DEPTH} levels; no Kubernetes object needs that"
                )));
            }
            let mut out = cur.clone();
            match kind {
                "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                    patch::merge_patch(&mut out, &p)
                }
                // kube-apiserver words a patch that does not apply generically.
                "application/json-patch+json" => patch::json_patch(&mut out, &p).map_err(|e| {
                    if e.code == 422 {
                        ApiError::invalid(
                            "the server rejected our request due to an error in our request".into(),
                        )
                    } else {
                        e
                    }
                })?,
                other => return Err(ApiError::unsupported_media_type(other)),
            }
            // One JSON Patch op at a time can build what no single body may hold: a document
            // deeper than the parser allows, which every later walk of it (validation, managed
            // fields, serialising, dropping) would recurse through until the stack ran out.
            if deeper_than(&out, MAX_DEPTH) {
                return Err(ApiError::invalid(format!(
                    "the patched object nests deeper than {MAX_DEPTH} levels; no Kubernetes object needs that"
                )));
            }
            Ok(out)
        }
    }
}

/// The deepest nesting an object may have (serde_json's own parsing limit is 128).
const MAX_DEPTH: usize = 100;

/// Whether `v` nests deeper than `max` arrays and objects, found without recursing.
fn deeper_than(v: &Value, max: usize) -> bool {
    let mut stack = vec![(v, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        if depth > max {
            return true;
        }
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|x| (x, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|x| (x, depth + 1))),
            _ => {}
        }
    }
    false
}

fn watch(
    store: Arc<Store>,
    rt: ResourceType,
    sel: Selection,
    query: &Query,
    wants_table: bool,
    include_object: &str,
) -> Result<Response<Body>, ApiError> {
    let bookmarks = query.flag("allowWatchBookmarks");
    let initial_events = query.flag("sendInitialEvents");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_WATCH_TIMEOUT);
    let from: Option<u64> = query
        .get("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0")
        .map(|v| v.parse().unwrap_or(0));
    let include_object = include_object.to_string();

    // Initial state: from a resourceVersion, the events after it; otherwise every current object
    // as ADDED, then what follows the snapshot.
    let (initial, start_rv, rx) = match from {
        Some(rv) => match store.watch_from(&rt, rv) {
            Ok((backlog, rx)) => (
                backlog
                    .iter()
                    .map(|e| (e.type_, e.object.clone(), e.rv))
                    .collect::<Vec<_>>(),
                rv,
                Some(rx),
            ),
            Err(gone) => (vec![("ERROR", gone.to_status(), rv)], rv, None),
        },
        None => {
            let (items, rv) = store.snapshot(&rt, &sel);
            let (_, rx) = store.watch_from(&rt, rv)?;
            (
                items.into_iter().map(|o| ("ADDED", o, rv)).collect(),
                rv,
                Some(rx),
            )
        }
    };

    // One line in flight per watch, each handed over within WATCH_SEND_TIMEOUT: a watcher that
    // does not read is ended (as the real API server ends an unresponsive one) instead of
    // buffering every object for it (50 such watchers held 3.5 GB before).
    let (tx, out) = mpsc::channel::<Bytes>(1);
    let send = move |b: Bytes| {
        let tx = tx.clone();
        async move {
            matches!(
                tokio::time::timeout(WATCH_SEND_TIMEOUT, tx.send(b)).await,
                Ok(Ok(()))
            )
        }
    };
    tokio::spawn(async move {
        let mut first_table = true;
        let mut last_rv = start_rv;
        let mut line = |type_: &str, object: &Value, rv: u64| -> Bytes {
            let object = if wants_table && type_ != "ERROR" && type_ != "BOOKMARK" {
                let t = table::table(
                    &rt,
                    std::slice::from_ref(object),
                    rv,
                    first_table,
                    &include_object,
                    None,
                );
                first_table = false;
                t
            } else {
                object.clone()
            };
            let mut b =
                serde_json::to_vec(&json!({"type": type_, "object": object})).unwrap_or_default();
            b.push(b'\n');
            Bytes::from(b)
        };
        for (type_, object, rv) in initial {
            if type_ != "ERROR" && !sel.matches(&object) {
                continue;
            }
            last_rv = last_rv.max(rv);
            if !send(line(type_, &object, last_rv)).await {
                return;
            }
        }
        let Some(mut rx) = rx else { return };
        let bookmark = |rv: u64| json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": {"resourceVersion": rv.to_string()}});
        // A streaming list ends its initial events with a bookmark that says so.
        if bookmarks && initial_events {
            let mut end = bookmark(last_rv);
            end["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            if !send(line("BOOKMARK", &end, last_rv)).await {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(BOOKMARK_EVERY);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tick.tick(), if bookmarks => {
                    if !send(line("BOOKMARK", &bookmark(last_rv), last_rv)).await { return; }
                }
                ev = rx.recv() => {
                    let events = match ev {
                        Ok(ev) => vec![ev],
                        // Fell behind the fan-out: catch up from the log, or 410 if it is gone.
                        Err(broadcast::error::RecvError::Lagged(_)) => match store.events_after(&rt, last_rv) {
                            Ok(events) => events,
                            Err(gone) => {
                                let _ = send(line("ERROR", &gone.to_status(), last_rv)).await;
                                return;
                            }
                        },
                        Err(broadcast::error::RecvError::Closed) => return,
                    };
                    for ev in events {
                        if ev.type_ == "COMPACTED" { return; }
                        if ev.key != rt.key() || ev.rv <= last_rv || !sel.matches(&ev.object) { continue; }
                        last_rv = ev.rv;
                        if !send(line(ev.type_, &ev.object, last_rv)).await { return; }
                    }
                }
            }
        }
    });
    let stream = futures::stream::unfold(out, |mut out| async move {
        out.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), out))
    });
    let mut resp = Response::new(StreamBody::new(stream).boxed());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_are_served() {
        for ok in [
            None,
            Some("localhost"),
            Some("LOCALHOST:7443"),
            Some("127.0.0.1"),
            Some("127.0.0.1:7443"),
            Some("[::1]:7443"),
            Some("[::1]"),
        ] {
            assert!(loopback_host(ok), "{ok:?}");
        }
        for bad in [
            Some("evil.example"),
            Some("evil.example:7443"),
            Some("localhost.evil.example"),
            Some("10.0.0.1:7443"),
            Some("?"),
        ] {
            assert!(!loopback_host(bad), "{bad:?}");
        }
    }

    /// A document built one JSON Patch op at a time, 4 000 levels deep, is refused without
    /// recursing through it.
    #[test]
    fn depth_is_measured_without_recursion() {
        let mut deep = json!(1);
        for _ in 0..4000 {
            // Built by moving, not with json! (which would copy it recursively).
            let mut level = serde_json::Map::new();
            level.insert("a".into(), deep);
            deep = Value::Object(level);
        }
        assert!(deeper_than(&deep, MAX_DEPTH));
        assert!(!deeper_than(&json!({"a": {"b": [1, {"c": 2}]}}), MAX_DEPTH));
        // Dropped on a thread with room for it: serde_json's drop recurses.
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || drop(deep))
            .expect("thread")
            .join()
            .expect("drop");
    }
}

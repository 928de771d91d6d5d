//! The in-memory object store: one resourceVersion counter, server-owned metadata, generation,
//! status subresource rules, finalizers, optimistic concurrency, and the event log watches read.
//!
//! Every operation runs under one lock, so the store is linearizable: a stale write always loses
//! with 409 Conflict and no write is ever lost.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::error::ApiError;
use super::managed_fields::{self, Part, Writer};
use super::resources::{self, ResourceType};
use super::selectors::{FieldSelector, LabelSelector};
use super::validation;

/// How many events the log keeps for watches that resume from a resourceVersion, and how many
/// bytes of objects at most (400 updates of a 2.9 MB object held 1.2 GB before the byte bound).
/// Older ones are compacted away, and a watch from before them gets `410 Gone`, as with etcd
/// compaction.
const LOG_CAPACITY: usize = 10_000;
const LOG_BYTES: usize = 64 << 20;
/// Events in flight to open watches. A watch that falls this far behind is ended, as the real
/// API server's watch cache ends an unresponsive watcher; it resumes from the log (or gets `410
/// Gone` and re-lists). Small, because each slot can hold an object of up to 3 MiB.
const WATCH_FANOUT: usize = 64;

/// A change to one object, as a watch streams it.
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub key: (String, String),
    pub namespace: String,
    /// `ADDED`, `MODIFIED` or `DELETED`; `COMPACTED` tells open watches to end.
    pub type_: &'static str,
    pub object: Value,
    /// The object's size as JSON, counted against [`LOG_BYTES`].
    pub size: usize,
}

type ObjectKey = (String, String);

/// How a write is made: to which part of the object, how unknown fields are treated, by which
/// field manager, and whether it is a server-side apply (ownership already worked out).
#[derive(Clone, Debug)]
pub struct Write {
    pub status_only: bool,
    pub strict: bool,
    pub manager: String,
    pub applied: bool,
}

impl Default for Write {
    fn default() -> Self {
        Self {
            status_only: false,
            strict: false,
            manager: "airlock-dev".into(),
            applied: false,
        }
    }
}

impl Write {
    pub fn part(&self, rt: &ResourceType) -> Part {
        if self.status_only {
            Part::StatusOnly
        } else if rt.status_subresource {
            Part::MainOnly
        } else {
            Part::All
        }
    }
}

/// Records the writer's field ownership on `new`, unless a server-side apply already did.
fn track_ownership(rt: &ResourceType, old: Option<&Value>, new: &mut Value, w: &Write) {
    if w.applied {
        return;
    }
    match old.and_then(|o| o.pointer("/metadata/managedFields")) {
        Some(mf) => new["metadata"]["managedFields"] = mf.clone(),
        None => {
            if let Some(m) = new["metadata"].as_object_mut() {
                m.remove("managedFields");
            }
        }
    }
    let api_version = rt.api_version();
    let time = now();
    let writer = Writer {
        manager: &w.manager,
        api_version: &api_version,
        part: w.part(rt),
        time: &time,
    };
    managed_fields::track_update(old, new, rt.schema.as_ref(), &writer);
}

/// The backlog a watch replays first and the receiver for what follows it.
pub type WatchStart = (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>);

struct Inner {
    rv: u64,
    types: Vec<ResourceType>,
    objects: HashMap<(String, String), BTreeMap<ObjectKey, Value>>,
    log: VecDeque<Arc<Event>>,
    /// The sizes of the log's objects, summed.
    log_bytes: usize,
    /// Events at or below this resourceVersion are gone from the log.
    compacted: u64,
}

/// The store behind the API server.
pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
}

/// What a list or watch selects.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selection {
    pub fn matches(&self, object: &Value) -> bool {
        let ns = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        self.namespace.as_deref().is_none_or(|want| want == ns)
            && self.labels.matches(object.pointer("/metadata/labels"))
            && self.fields.matches(object)
    }
}

pub fn now() -> String {
    let ts = k8s_openapi::jiff::Timestamp::now();
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A unique id in the UUID format. Uniqueness comes from the resourceVersion it is derived with;
/// the hash only spreads the bits.
fn uid(rv: u64) -> String {
    use std::hash::{BuildHasher, Hasher};
    let s = std::collections::hash_map::RandomState::new();
    let mut h = s.build_hasher();
    h.write_u64(rv);
    let a = h.finish();
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        a as u16 & 0xfff,
        (rv >> 48) as u16 & 0xfff,
        rv & 0xffff_ffff_ffff
    )
}

fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
}

/// Everything but metadata and status: what a generation bump is about.
fn spec_part(object: &Value) -> Value {
    let mut v = object.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

fn without_rv(object: &Value) -> Value {
    let mut v = object.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    v
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(WATCH_FANOUT);
        let store = Self {
            inner: Mutex::new(Inner {
                rv: 1,
                types: resources::builtins(),
                objects: HashMap::new(),
                log: VecDeque::new(),
                log_bytes: 0,
                compacted: 0,
            }),
            tx,
        };
        let ns = store
            .resolve("", "v1", "namespaces")
            .expect("namespaces is built in");
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let _ = store.create(
                &ns,
                None,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
            );
        }
        store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The type served at `group/version` under `plural`.
    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.lock()
            .types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    /// Every served type, for discovery.
    pub fn types(&self) -> Vec<ResourceType> {
        self.lock().types.clone()
    }

    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Drops the event log and ends every open watch, as a restarted API server's watch cache
    /// does: a client that resumes from any resourceVersion it has seen gets `410 Gone` and must
    /// re-list. The counter moves on one so that a fresh list's resourceVersion is watchable.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.rv += 1;
        inner.compacted = inner.rv;
        inner.log.clear();
        inner.log_bytes = 0;
        let event = Arc::new(Event {
            rv: inner.rv,
            key: (String::new(), String::new()),
            namespace: String::new(),
            type_: "COMPACTED",
            object: Value::Null,
            size: 0,
        });
        let _ = self.tx.send(event);
    }

    /// The events after `rv` for a watch, and a receiver for those still to come, taken under one
    /// lock so nothing falls between them. `410 Gone` when `rv` is older than the log.
    pub fn watch_from(&self, rt: &ResourceType, rv: u64) -> Result<WatchStart, ApiError> {
        let inner = self.lock();
        if rv < inner.compacted {
            return Err(ApiError::gone(format!(
                "too old resource version: {rv} ({})",
                inner.compacted
            )));
        }
        let key = rt.key();
        let backlog = inner
            .log
            .iter()
            .filter(|e| e.rv > rv && e.key == key)
            .cloned()
            .collect();
        Ok((backlog, self.tx.subscribe()))
    }

    /// The log's events of `rt` after `rv`: what a watch that fell behind the fan-out catches up
    /// with. `410 Gone` when the log no longer reaches back that far.
    pub fn events_after(&self, rt: &ResourceType, rv: u64) -> Result<Vec<Arc<Event>>, ApiError> {
        Ok(self.watch_from(rt, rv)?.0)
    }

    /// Every current object of a type that `sel` matches, with the resourceVersion of the snapshot.
    pub fn snapshot(&self, rt: &ResourceType, sel: &Selection) -> (Vec<Value>, u64) {
        let inner = self.lock();
        let items = inner
            .objects
            .get(&rt.key())
            .map(|m| m.values().filter(|o| sel.matches(o)).cloned().collect())
            .unwrap_or_default();
        (items, inner.rv)
    }

    pub fn get(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let inner = self.lock();
        inner.get(rt, namespace, name).cloned()
    }

    /// A page of a list: items after `continue_after` (the last key of the previous page), at most
    /// `limit`, and the key to continue from when more remain.
    pub fn list(
        &self,
        rt: &ResourceType,
        sel: &Selection,
        limit: Option<usize>,
        continue_after: Option<ObjectKey>,
    ) -> (Vec<Value>, u64, Option<(ObjectKey, usize)>) {
        let inner = self.lock();
        let Some(all) = inner.objects.get(&rt.key()) else {
            return (Vec::new(), inner.rv, None);
        };
        let matching = all
            .iter()
            .filter(|(k, o)| continue_after.as_ref().is_none_or(|c| *k > c) && sel.matches(o));
        let mut items = Vec::new();
        let mut last = None;
        let mut remaining = 0;
        for (k, o) in matching {
            if limit.is_some_and(|l| items.len() >= l) {
                remaining += 1;
                continue;
            }
            items.push(o.clone());
            last = Some(k.clone());
        }
        let next = if remaining > 0 {
            last.map(|k| (k, remaining))
        } else {
            None
        };
        (items, inner.rv, next)
    }

    pub fn create(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        object: Value,
    ) -> Result<Value, ApiError> {
        self.create_checked(rt, namespace, object, &Write::default())
    }

    /// [`Store::create`]; `strict` refuses unknown fields (`fieldValidation=Strict`) instead of pruning them.
    pub fn create_checked(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        mut object: Value,
        w: &Write,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        if !object.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        if object.get("metadata").is_none_or(|m| !m.is_object()) {
            object["metadata"] = json!({});
        }
        let rv = inner.rv + 1;
        let name = match meta_str(&object, "name") {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => match meta_str(&object, "generateName") {
                Some(prefix) => format!("{prefix}{}", &uid(rv)[..5]),
                None => {
                    return Err(ApiError::invalid(format!(
                        "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                        rt.kind
                    )));
                }
            },
        };
        let ns = if rt.namespaced {
            let ns = namespace
                .or(meta_str(&object, "namespace"))
                .unwrap_or("default")
                .to_string();
            if meta_str(&object, "namespace").is_some_and(|b| b != ns) {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            if inner.get_namespace(&ns).is_none() {
                return Err(ApiError::not_found("namespaces", &ns));
            }
            ns
        } else {
            String::new()
        };
        validate_name(rt, &name)?;
        if inner.get(rt, Some(&ns), &name).is_ok() {
            return Err(ApiError::already_exists(&rt.qualified(), &name));
        }
        object["apiVersion"] = json!(rt.api_version());
        object["kind"] = json!(rt.kind);
        let meta = object["metadata"]
            .as_object_mut()
            .expect("metadata is an object");
        meta.insert("name".into(), json!(name));
        if rt.namespaced {
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(uid(rv)));
        meta.insert("creationTimestamp".into(), json!(now()));
        meta.remove("deletionTimestamp");
        if !w.applied {
            meta.remove("managedFields");
        }
        if rt.tracks_generation {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
        if rt.status_subresource {
            object.as_object_mut().expect("object").remove("status");
        }
        let mut object = inner.admit(rt, object, None, w.strict)?;
        track_ownership(rt, None, &mut object, w);
        inner.on_create(rt, &mut object);
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        inner.rv = rv;
        inner
            .objects
            .entry(rt.key())
            .or_default()
            .insert((ns.clone(), name), object.clone());
        self.emit(&mut inner, rt, &ns, "ADDED", &object);
        if rt.plural == "customresourcedefinitions" {
            inner.refresh_types();
        }
        Ok(object)
    }

    /// PUT on the main resource (`status_only` false) or on `/status` (true).
    pub fn update(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        body: Value,
        w: &Write,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        self.update_locked(&mut inner, rt, namespace, name, body, w)
    }

    /// Applies `patch_fn` to the current object and writes the result as an update, all under the
    /// lock, so a patch never loses a concurrent write.
    pub fn patch(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        w: &Write,
        patch_fn: impl FnOnce(Option<&Value>) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let current = inner.get(rt, namespace, name).ok().cloned();
        let patched = patch_fn(current.as_ref())?;
        match current {
            Some(_) => self.update_locked(&mut inner, rt, namespace, name, patched, w),
            None => {
                drop(inner);
                self.create_checked(rt, namespace, patched, w)
            }
        }
    }

    fn update_locked(
        &self,
        inner: &mut Inner,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        mut body: Value,
        w: &Write,
    ) -> Result<Value, ApiError> {
        let old = inner.get(rt, namespace, name)?.clone();
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        if meta_str(&body, "name").is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(&body, "name").unwrap_or("")
            )));
        }
        if let Some(rv) = meta_str(&body, "resourceVersion").filter(|rv| !rv.is_empty())
            && Some(rv) != meta_str(&old, "resourceVersion")
        {
            return Err(ApiError::conflict(
                &rt.qualified(),
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        let mut new = if w.status_only {
            let mut n = old.clone();
            match body.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    n.as_object_mut().expect("object").remove("status");
                }
            }
            if w.applied {
                n["metadata"]["managedFields"] = body["metadata"]["managedFields"].clone();
            }
            n
        } else {
            if rt.status_subresource {
                match old.get("status") {
                    Some(s) => body["status"] = s.clone(),
                    None => {
                        body.as_object_mut().expect("object").remove("status");
                    }
                }
            }
            if body.get("metadata").is_none_or(|m| !m.is_object()) {
                body["metadata"] = json!({});
            }
            for field in [
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "namespace",
                "name",
            ] {
                match old["metadata"].get(field) {
                    Some(v) => body["metadata"][field] = v.clone(),
                    None => {
                        body["metadata"]
                            .as_object_mut()
                            .expect("metadata")
                            .remove(field);
                    }
                }
            }
            body
        };
        new["apiVersion"] = json!(rt.api_version());
        new["kind"] = json!(rt.kind);
        if rt.tracks_generation && spec_part(&new) != spec_part(&old) {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
            new["metadata"]["generation"] = json!(g + 1);
        }
        refuse_new_finalizers_while_deleting(rt, &old, &new)?;
        let mut new = inner.admit(rt, new, Some(&old), w.strict)?;
        track_ownership(rt, Some(&old), &mut new, w);
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        if without_rv(&new) == without_rv(&old) {
            return Ok(old);
        }
        let ns = meta_str(&old, "namespace").unwrap_or("").to_string();
        inner.rv += 1;
        new["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        let finalized = new.pointer("/metadata/deletionTimestamp").is_some()
            && new
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
        if finalized {
            inner
                .objects
                .entry(rt.key())
                .or_default()
                .remove(&(ns.clone(), name.to_string()));
            self.emit(inner, rt, &ns, "DELETED", &new);
            inner.after_delete(rt, &new);
        } else {
            inner
                .objects
                .entry(rt.key())
                .or_default()
                .insert((ns.clone(), name.to_string()), new.clone());
            self.emit(inner, rt, &ns, "MODIFIED", &new);
            if rt.plural == "customresourcedefinitions" {
                inner.refresh_types();
            }
        }
        Ok(new)
    }

    /// DELETE: with finalizers, marks the object (`deletionTimestamp`) and leaves it until the last
    /// finalizer is removed; without, removes it. Returns the object as it stands afterwards.
    pub fn delete(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        precondition_rv: Option<&str>,
        precondition_uid: Option<&str>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let old = inner.get(rt, namespace, name)?.clone();
        if precondition_rv.is_some_and(|rv| Some(rv) != meta_str(&old, "resourceVersion")) {
            return Err(ApiError::conflict(
                &rt.qualified(),
                name,
                "the ResourceVersion in the precondition does not match the ResourceVersion in record. The object might have been modified",
            ));
        }
        if precondition_uid.is_some_and(|u| Some(u) != meta_str(&old, "uid")) {
            return Err(ApiError::conflict(
                &rt.qualified(),
                name,
                "the UID in the precondition does not match the UID in record. The object might have been deleted and then recreated",
            ));
        }
        let ns = meta_str(&old, "namespace").unwrap_or("").to_string();
        let has_finalizers = old
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            if old.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(old);
            }
            let mut marked = old;
            marked["metadata"]["deletionTimestamp"] = json!(now());
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            inner.rv += 1;
            marked["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
            inner
                .objects
                .entry(rt.key())
                .or_default()
                .insert((ns.clone(), name.to_string()), marked.clone());
            self.emit(&mut inner, rt, &ns, "MODIFIED", &marked);
            return Ok(marked);
        }
        let mut gone = inner
            .objects
            .entry(rt.key())
            .or_default()
            .remove(&(ns.clone(), name.to_string()))
            .expect("object exists");
        inner.rv += 1;
        gone["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        self.emit(&mut inner, rt, &ns, "DELETED", &gone);
        let cascade = inner.after_delete(rt, &gone);
        for (crt, cns, cname) in cascade {
            let mut obj = inner
                .objects
                .entry(crt.key())
                .or_default()
                .remove(&(cns.clone(), cname))
                .expect("listed");
            inner.rv += 1;
            obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
            self.emit(&mut inner, &crt, &cns, "DELETED", &obj);
        }
        Ok(gone)
    }

    fn emit(
        &self,
        inner: &mut Inner,
        rt: &ResourceType,
        namespace: &str,
        type_: &'static str,
        object: &Value,
    ) {
        let event = Arc::new(Event {
            rv: inner.rv,
            key: rt.key(),
            namespace: namespace.to_string(),
            type_,
            object: object.clone(),
            size: serde_json::to_vec(object).map(|b| b.len()).unwrap_or(0),
        });
        inner.log_bytes += event.size;
        inner.log.push_back(event.clone());
        while inner.log.len() > LOG_CAPACITY || (inner.log_bytes > LOG_BYTES && inner.log.len() > 1)
        {
            let Some(old) = inner.log.pop_front() else {
                break;
            };
            inner.log_bytes -= old.size;
            inner.compacted = old.rv;
        }
        let _ = self.tx.send(event);
        if rt.group == "events.k8s.io" {
            self.mirror_event(inner, namespace, type_, object);
        }
    }

    /// The real API server keeps one storage for events and serves it both as
    /// `events.k8s.io/v1` (what controllers write) and as core `v1` (what `kubectl get events`
    /// and `kubectl describe` read). Here each `events.k8s.io` write is mirrored into the core
    /// kind, converted field by field as the API server's conversion does.
    fn mirror_event(
        &self,
        inner: &mut Inner,
        namespace: &str,
        type_: &'static str,
        object: &Value,
    ) {
        let Some(core) = inner
            .types
            .iter()
            .find(|t| t.group.is_empty() && t.plural == "events")
            .cloned()
        else {
            return;
        };
        let Some(name) = meta_str(object, "name").map(str::to_string) else {
            return;
        };
        inner.rv += 1;
        let rv = inner.rv;
        let key = (namespace.to_string(), name);
        if type_ == "DELETED" {
            if let Some(mut gone) = inner
                .objects
                .get_mut(&core.key())
                .and_then(|m| m.remove(&key))
            {
                gone["metadata"]["resourceVersion"] = json!(rv.to_string());
                self.emit(inner, &core, namespace, "DELETED", &gone);
            }
            return;
        }
        let event_time = object.get("eventTime").cloned().unwrap_or(Value::Null);
        let seconds = |v: &Value| {
            v.as_str()
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
                .map(|t| json!(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
                .unwrap_or(Value::Null)
        };
        let series = object.get("series");
        let last = series
            .and_then(|s| s.get("lastObservedTime"))
            .unwrap_or(&event_time);
        let mut converted = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
            "involvedObject": object.get("regarding").cloned().unwrap_or(Value::Null),
            "related": object.get("related").cloned().unwrap_or(Value::Null),
            "reason": object.get("reason").cloned().unwrap_or(Value::Null),
            "message": object.get("note").cloned().unwrap_or(Value::Null),
            "type": object.get("type").cloned().unwrap_or(Value::Null),
            "action": object.get("action").cloned().unwrap_or(Value::Null),
            "eventTime": event_time.clone(),
            "reportingComponent": object.get("reportingController").cloned().unwrap_or(Value::Null),
            "reportingInstance": object.get("reportingInstance").cloned().unwrap_or(Value::Null),
            "source": {"component": object.get("reportingController").cloned().unwrap_or(Value::Null)},
            "count": series.and_then(|s| s.get("count")).cloned().unwrap_or(json!(1)),
            "firstTimestamp": seconds(&event_time),
            "lastTimestamp": seconds(last),
        });
        if let Some(m) = converted.as_object_mut() {
            m.retain(|_, v| !v.is_null());
        }
        converted["metadata"]["resourceVersion"] = json!(rv.to_string());
        let existed = inner
            .objects
            .entry(core.key())
            .or_default()
            .insert(key, converted.clone())
            .is_some();
        let kind = if existed { "MODIFIED" } else { "ADDED" };
        self.emit(inner, &core, namespace, kind, &converted);
    }
}

/// As kube-apiserver: once an object is being deleted, its finalizers can only go away.
fn refuse_new_finalizers_while_deleting(
    rt: &ResourceType,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    if old.pointer("/metadata/deletionTimestamp").is_none() {
        return Ok(());
    }
    let list = |v: &Value| -> Vec<String> {
        v.pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = list(old);
    let added: Vec<String> = list(new)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    let quoted: Vec<String> = added.iter().map(|f| format!("{f:?}")).collect();
    let name = meta_str(old, "name").unwrap_or("");
    let errors = [validation::FieldError {
        field: "metadata.finalizers".into(),
        kind: validation::FieldErrorKind::Forbidden {
            detail: format!(
                "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                quoted.join(", ")
            ),
        },
    }];
    Err(ApiError::invalid_fields(&rt.kind, &rt.group, name, &errors))
}

fn validate_name(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        let error = validation::FieldError {
            field: "metadata.name".into(),
            kind: validation::FieldErrorKind::Invalid {
                value: format!("{name:?}"),
                detail: "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into(),
            },
        };
        Err(ApiError::invalid_fields(
            &rt.kind,
            &rt.group,
            name,
            &[error],
        ))
    }
}

impl Inner {
    fn get(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<&Value, ApiError> {
        let ns = if rt.namespaced {
            namespace.unwrap_or("default")
        } else {
            ""
        };
        self.objects
            .get(&rt.key())
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
            .ok_or_else(|| ApiError::not_found(&rt.qualified(), name))
    }

    fn get_namespace(&self, name: &str) -> Option<&Value> {
        self.objects
            .get(&(String::new(), "namespaces".to_string()))
            .and_then(|m| m.get(&(String::new(), name.to_string())))
    }

    /// Schema admission for custom resources; other types are taken as they are.
    fn admit(
        &self,
        rt: &ResourceType,
        object: Value,
        old: Option<&Value>,
        strict: bool,
    ) -> Result<Value, ApiError> {
        match &rt.schema {
            Some(schema) => {
                validation::admit_checked(schema, &rt.kind, &rt.group, &object, old, strict)
                    .map_err(|r| match r {
                        validation::Refusal::Strict(m) => ApiError::bad_request(format!(
                            "{} in version {:?} cannot be handled as a {}: {m}",
                            rt.kind, rt.version, rt.kind
                        )),
                        validation::Refusal::Invalid { errors, .. } => {
                            let name = object
                                .pointer("/metadata/name")
                                .and_then(Value::as_str)
                                .unwrap_or("");
                            ApiError::invalid_fields(&rt.kind, &rt.group, name, &errors)
                        }
                    })
            }
            // A CRD whose rules could run for seconds is refused when written, as kube-apiserver
            // refuses it: an admitted rule's cost is bounded.
            None if rt.group == "apiextensions.k8s.io"
                && rt.plural == "customresourcedefinitions" =>
            {
                let errors = super::cel_cost::check_crd(&object);
                if errors.is_empty() {
                    return Ok(object);
                }
                let name = object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                Err(ApiError::invalid_fields(&rt.kind, &rt.group, name, &errors))
            }
            None => Ok(object),
        }
    }

    /// Server-set defaults and status at creation: namespaces are Active with the `kubernetes`
    /// finalizer, secrets are Opaque unless typed, CRDs are accepted and established.
    fn on_create(&self, rt: &ResourceType, object: &mut Value) {
        match (rt.group.as_str(), rt.plural.as_str()) {
            ("", "namespaces") => {
                object["status"] = json!({"phase": "Active"});
                let name = object["metadata"]["name"].clone();
                if !object["metadata"]["labels"].is_object() {
                    object["metadata"]["labels"] = json!({});
                }
                object["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
                // As the real server's PrepareForCreate: the namespace controller's finalizer,
                // whatever the client sent.
                if !object["spec"].is_object() {
                    object["spec"] = json!({});
                }
                let finalizers = object["spec"]["finalizers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if !finalizers.iter().any(|f| f == "kubernetes") {
                    let mut all = finalizers;
                    all.push(json!("kubernetes"));
                    object["spec"]["finalizers"] = json!(all);
                }
            }
            ("", "secrets") if object["type"].as_str().is_none_or(str::is_empty) => {
                object["type"] = json!("Opaque");
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                let t = now();
                object["status"] = json!({
                    "acceptedNames": object["spec"]["names"].clone(),
                    "storedVersions": object["spec"]["versions"].as_array().into_iter().flatten()
                        .filter(|v| v["storage"] == true).map(|v| v["name"].clone()).collect::<Vec<_>>(),
                    "conditions": [
                        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": t},
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": t},
                    ],
                });
            }
            _ => {}
        }
    }

    fn refresh_types(&mut self) {
        let mut types = resources::builtins();
        if let Some(crds) = self.objects.get(&(
            "apiextensions.k8s.io".to_string(),
            "customresourcedefinitions".to_string(),
        )) {
            for crd in crds.values() {
                types.extend(resources::from_crd(crd));
            }
        }
        self.types = types;
    }

    /// What goes with a deleted object: a namespace's contents, a CRD's custom resources. Returns
    /// the objects to delete (types, namespace, name).
    fn after_delete(
        &mut self,
        rt: &ResourceType,
        gone: &Value,
    ) -> Vec<(ResourceType, String, String)> {
        let mut out = Vec::new();
        match (rt.group.as_str(), rt.plural.as_str()) {
            ("", "namespaces") => {
                let ns = meta_str(gone, "name").unwrap_or("").to_string();
                for t in self.types.iter().filter(|t| t.namespaced) {
                    if let Some(m) = self.objects.get(&t.key()) {
                        for (k, _) in m.iter().filter(|(k, _)| k.0 == ns) {
                            if !out
                                .iter()
                                .any(|(ot, ons, on): &(ResourceType, String, String)| {
                                    ot.key() == t.key() && *ons == k.0 && *on == k.1
                                })
                            {
                                out.push((t.clone(), k.0.clone(), k.1.clone()));
                            }
                        }
                    }
                }
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                let group = gone["spec"]["group"].as_str().unwrap_or("").to_string();
                let plural = gone["spec"]["names"]["plural"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                if let Some(t) = self
                    .types
                    .iter()
                    .find(|t| t.group == group && t.plural == plural)
                    .cloned()
                    && let Some(m) = self.objects.get(&t.key())
                {
                    out.extend(m.keys().map(|k| (t.clone(), k.0.clone(), k.1.clone())));
                }
                self.refresh_types();
            }
            _ => {}
        }
        out
    }
}

//! A small recording fake of the Kubernetes API, for unit tests of reconcile steps: it keeps
//! objects by path and answers what the steps call — GET of an object or its status, PUT of a
//! status (bumping `resourceVersion`, refusing a stale one with 409 as the API server does),
//! POST of events — and records every call for the test to read.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::advisories::AdvisorySource;
use super::fairness::Slots;
use super::package_request::Context;
use super::{AwsSettings, Shared};
use crate::publish::target::Targets;

/// One call the fake answered.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Value,
}

#[derive(Clone, Default)]
pub struct FakeApi {
    objects: Arc<Mutex<HashMap<String, Value>>>,
    calls: Arc<Mutex<Vec<Call>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeApi {
    /// Stores `obj` at its API path (`/apis/airlock.dev/v1alpha1/namespaces/NS/packagerequests/NAME`).
    pub fn put(&self, path: &str, mut obj: Value) {
        if obj["metadata"]["resourceVersion"].is_null() {
            obj["metadata"]["resourceVersion"] = json!("1");
        }
        lock(&self.objects).insert(path.to_string(), obj);
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        lock(&self.objects).get(path).cloned()
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    /// The status writes, oldest first.
    pub fn status_writes(&self) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == "PUT" && c.path.ends_with("/status"))
            .map(|c| c.body)
            .collect()
    }

    /// The reasons of the events recorded, oldest first.
    pub fn event_reasons(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == "POST" && c.path.ends_with("/events"))
            .filter_map(|c| c.body["reason"].as_str().map(str::to_string))
            .collect()
    }

    fn answer(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        lock(&self.calls).push(Call {
            method: method.into(),
            path: path.into(),
            body: body.clone(),
        });
        let object = path.strip_suffix("/status").unwrap_or(path);
        let mut objects = lock(&self.objects);
        match method {
            "GET" => match objects.get(object) {
                Some(o) => (200, o.clone()),
                None => (404, status(404, "NotFound", &format!("{object} not found"))),
            },
            "PUT" => {
                let Some(current) = objects.get(object) else {
                    return (404, status(404, "NotFound", &format!("{object} not found")));
                };
                let version = current["metadata"]["resourceVersion"].clone();
                if body["metadata"]["resourceVersion"] != version {
                    return (409, status(409, "Conflict", "the object has been modified"));
                }
                let next = version
                    .as_str()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
                    + 1;
                let mut stored = current.clone();
                stored["status"] = body["status"].clone();
                stored["metadata"]["resourceVersion"] = json!(next.to_string());
                objects.insert(object.to_string(), stored.clone());
                (200, stored)
            }
            "POST" => (201, body),
            _ => (405, status(405, "MethodNotAllowed", method)),
        }
    }

    /// A client whose every request this fake answers.
    pub fn client(&self) -> kube::Client {
        let fake = self.clone();
        let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
            let fake = fake.clone();
            async move {
                let method = req.method().to_string();
                let path = req.uri().path().to_string();
                let bytes = req
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let (code, answer) = fake.answer(&method, &path, body);
                let response = http::Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(answer.to_string())))
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(response)
            }
        });
        kube::Client::new(service, "default")
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

/// A cache holding exactly `objects`.
pub fn store_of<K>(objects: Vec<K>) -> Store<K>
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (reader, mut writer) = reflector::store();
    writer.apply_watcher_event(&watcher::Event::Init);
    for o in objects {
        writer.apply_watcher_event(&watcher::Event::InitApply(o));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    reader
}

/// A controller context on `api`, with these repositories and policies in its caches, no
/// advisory data, no AWS and no built-in store.
pub fn context(
    api: &FakeApi,
    repositories: Vec<crate::api::PackageRepository>,
    policies: Vec<crate::api::ScanPolicy>,
    cache_dir: PathBuf,
) -> Context {
    let client = api.client();
    let (resolver, fetcher) = crate::pipeline::intake(
        crate::pipeline::resolve::Registries::default(),
        &[],
        &cache_dir,
    )
    .expect("intake");
    Context {
        shared: Shared {
            client: client.clone(),
            recorder: Recorder::new(
                client,
                Reporter {
                    controller: "airlock-test".into(),
                    instance: None,
                },
            ),
            metrics: Arc::default(),
        },
        resolver,
        fetcher,
        advisories: AdvisorySource::new(Vec::new(), None),
        targets: Arc::new(Targets::new(None, AwsSettings::default())),
        repositories: store_of(repositories),
        policies: store_of(policies),
        requests: store_of(Vec::new()),
        slots: Slots::new(1),
        limits: crate::pipeline::unpack::Limits::default(),
        #[cfg(feature = "dev")]
        fault: None,
    }
}

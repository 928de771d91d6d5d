//! What the step tests share: a request `tidy` in `team-a` stored in a recording fake of the
//! API, a context around it, and the repository and policy it may name.

use kube::api::Api;
use serde_json::{Value, json};

use super::super::fake_api::{FakeApi, context};
use super::Context;
use super::work::Work;
use crate::api::{PackageRepository, PackageRequest, ScanPolicy};

pub const PATH: &str = "/apis/airlock.dev/v1alpha1/namespaces/team-a/packagerequests/tidy";

pub fn request(status: Value) -> Value {
    json!({
        "apiVersion": "airlock.dev/v1alpha1", "kind": "PackageRequest",
        "metadata": {"name": "tidy", "namespace": "team-a", "generation": 1, "uid": "u1"},
        "spec": {"ecosystem": "pypi", "name": "tidy", "version": "1.0.0",
                 "repositoryRef": "local", "justification": "test"},
        "status": status,
    })
}

pub fn repository(allowed: &[&str]) -> PackageRepository {
    serde_json::from_value(json!({
        "apiVersion": "airlock.dev/v1alpha1", "kind": "PackageRepository",
        "metadata": {"name": "local"},
        "spec": {"builtin": {}, "policyRef": "default", "allowedNamespaces": allowed},
    }))
    .expect("repository")
}

pub fn policy() -> ScanPolicy {
    serde_json::from_value(json!({
        "apiVersion": "airlock.dev/v1alpha1", "kind": "ScanPolicy",
        "metadata": {"name": "default"}, "spec": {},
    }))
    .expect("policy")
}

/// The `Ready` condition of a written status: (status, reason, message).
pub fn ready(status: &Value) -> (&str, &str, &str) {
    let c = status["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .expect("Ready");
    (
        c["status"].as_str().unwrap_or(""),
        c["reason"].as_str().unwrap_or(""),
        c["message"].as_str().unwrap_or(""),
    )
}

pub struct Harness {
    pub fake: FakeApi,
    pub ctx: Context,
    pub api: Api<PackageRequest>,
}

impl Harness {
    pub fn new(
        request: Value,
        repositories: Vec<PackageRepository>,
        policies: Vec<ScanPolicy>,
    ) -> Harness {
        let fake = FakeApi::default();
        fake.put(PATH, request);
        let dir = std::env::temp_dir().join(format!("airlock-steps-{}", std::process::id()));
        let ctx = context(&fake, repositories, policies, dir);
        let api = Api::namespaced(ctx.client.clone(), "team-a");
        Harness { fake, ctx, api }
    }

    /// The stored request, as a reconcile starts on it.
    pub fn work(&self) -> Work<'_> {
        let obj = serde_json::from_value(self.fake.get(PATH).expect("stored")).expect("request");
        Work::new(&self.api, &self.ctx, obj)
    }
}

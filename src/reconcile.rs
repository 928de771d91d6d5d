//! `airlock reconcile KIND NAME`: the `flux reconcile` of airlock — sets the
//! `airlock.dev/reconcile-requested-at` annotation to the current time, then waits (within
//! `--timeout`) until the controller echoes it in `status.lastHandledReconcileAt`, and prints the
//! object's `Ready` condition. It needs `patch` on the kind (the requester and approver roles in
//! `deploy/` grant it on PackageRequests).

use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::api::{GROUP, RECONCILE_REQUESTED_AT, VERSION};

/// The kinds that can be reconciled on request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A PackageRequest (`pkgreq`).
    #[value(name = "packagerequest", alias = "pkgreq")]
    PackageRequest,
    /// A SageMakerDomain (`smd`): compared with AWS now, instead of at its next resync.
    #[value(name = "sagemakerdomain", alias = "smd")]
    SageMakerDomain,
}

impl Kind {
    fn resource(self) -> ApiResource {
        let (kind, plural) = match self {
            Kind::PackageRequest => ("PackageRequest", "packagerequests"),
            Kind::SageMakerDomain => ("SageMakerDomain", "sagemakerdomains"),
        };
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, kind), plural)
    }

    fn short(self) -> &'static str {
        match self {
            Kind::PackageRequest => "pkgreq",
            Kind::SageMakerDomain => "smd",
        }
    }
}

/// Requests the reconcile and waits for it; the line to print, or why it failed.
pub async fn run(
    client: kube::Client,
    kind: Kind,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<String, String> {
    let api: Api<DynamicObject> = Api::namespaced_with(client, namespace, &kind.resource());
    let what = format!("{} {namespace}/{name}", kind.short());
    let requested = Timestamp::now().to_string();
    let patch = json!({"metadata": {"annotations": {RECONCILE_REQUESTED_AT: requested}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => format!("{what} does not exist"),
            kube::Error::Api(s) if s.code == 403 => format!(
                "{what}: {}; requesting a reconcile takes patch on {}",
                s.message,
                kind.resource().plural
            ),
            e => format!("{what}: {e}"),
        })?;
    let deadline = Instant::now() + timeout;
    loop {
        let obj = api.get(name).await.map_err(|e| format!("{what}: {e}"))?;
        let status = obj.data.get("status").cloned().unwrap_or(Value::Null);
        if status["lastHandledReconcileAt"].as_str() == Some(requested.as_str()) {
            return Ok(format!("{what} reconciled: {}", ready(&status)));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{what}: the controller did not reconcile it within {}s (is it running? `kubectl get lease -n airlock-system`); now {}",
                timeout.as_secs(),
                ready(&status)
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `Ready=True (Published): message`, from a status.
fn ready(status: &Value) -> String {
    let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    match conditions.iter().find(|c| c["type"] == "Ready") {
        Some(c) => format!(
            "Ready={} ({}): {}",
            c["status"].as_str().unwrap_or("Unknown"),
            c["reason"].as_str().unwrap_or(""),
            c["message"].as_str().unwrap_or("")
        ),
        None => "no Ready condition yet".into(),
    }
}

//! `airlock status`: what the cluster holds at a glance — requests and domains by phase, and the
//! requests that wait for a human, each with the command that decides it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

use crate::api::package_request::PackageRequestPhase;
use crate::api::{PackageRequest, SageMakerDomain};

/// The report, as printed.
pub async fn report(client: Client, namespace: Option<&str>) -> Result<String, String> {
    let requests: Api<PackageRequest> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let domains: Api<SageMakerDomain> = match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let requests = requests
        .list(&ListParams::default())
        .await
        .map_err(|e| listing("packagerequests", e))?
        .items;
    let domains = domains
        .list(&ListParams::default())
        .await
        .map_err(|e| listing("sagemakerdomains", e))?
        .items;
    Ok(render(&requests, &domains))
}

fn listing(what: &str, e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => format!(
            "not allowed to list {what}: {}. The airlock-viewer ClusterRole (deploy/rbac-users.yaml) grants it",
            s.message
        ),
        e => format!("cannot list {what}: {e}"),
    }
}

fn phase_name(r: &PackageRequest) -> String {
    r.status
        .as_ref()
        .and_then(|s| s.phase)
        .map(|p| format!("{p:?}"))
        .unwrap_or_else(|| "New".into())
}

/// The text `airlock status` prints for these objects.
pub fn render(requests: &[PackageRequest], domains: &[SageMakerDomain]) -> String {
    let mut out = String::new();
    let mut by_phase: BTreeMap<String, usize> = BTreeMap::new();
    for r in requests {
        *by_phase.entry(phase_name(r)).or_default() += 1;
    }
    let _ = writeln!(out, "PackageRequests: {}", requests.len());
    for (phase, n) in &by_phase {
        let _ = writeln!(out, "  {phase:<18} {n}");
    }
    let waiting: Vec<&PackageRequest> = requests
        .iter()
        .filter(|r| {
            r.status.as_ref().and_then(|s| s.phase) == Some(PackageRequestPhase::AwaitingApproval)
        })
        .collect();
    if !waiting.is_empty() {
        let _ = writeln!(out, "\nWaiting for a human: {}", waiting.len());
        for r in waiting {
            let ns = r.namespace().unwrap_or_default();
            let rules: Vec<&str> = r
                .status
                .as_ref()
                .and_then(|s| s.decision.as_ref())
                .map(|d| d.findings.iter().map(|f| f.rule.as_str()).collect())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {ns}/{} ({:?} {} {}): {}\n    airlock approve {} -n {ns} --reason '…'   (or airlock deny)",
                r.name_any(),
                r.spec.ecosystem,
                r.spec.name,
                r.spec.version,
                if rules.is_empty() {
                    "the policy asks for a review".to_string()
                } else {
                    rules.join(", ")
                },
                r.name_any(),
            );
        }
    }
    let mut by_phase: BTreeMap<String, usize> = BTreeMap::new();
    for d in domains {
        let phase = d
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "New".into());
        *by_phase.entry(phase).or_default() += 1;
    }
    let _ = writeln!(out, "\nSageMakerDomains: {}", domains.len());
    for (phase, n) in &by_phase {
        let _ = writeln!(out, "  {phase:<18} {n}");
    }
    for d in domains {
        let drift = d.status.as_ref().map(|s| s.drift.len()).unwrap_or(0);
        if drift > 0 {
            let _ = writeln!(
                out,
                "  {}/{} differs from its spec in {drift} field(s): kubectl describe smd {} -n {}",
                d.namespace().unwrap_or_default(),
                d.name_any(),
                d.name_any(),
                d.namespace().unwrap_or_default()
            );
        }
    }
    out
}

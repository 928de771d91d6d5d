//! `airlock dev`'s API server driven by `kube::Client`, the client the controller uses: watches
//! that must survive `410 Gone`, optimistic concurrency under contention, and server-side apply
//! with more than one field manager.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use airlock::api::{PackageRequest, ScanPolicy};
use airlock::dev::apiserver::server::ApiServer;
use airlock::dev::run::store_with_crds;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, Config};
use serde_json::json;

async fn start() -> (ApiServer, Client) {
    let store = store_with_crds().expect("CRDs install");
    let server = ApiServer::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), store)
        .await
        .expect("server starts");
    let url = format!("http://{}", server.addr).parse().expect("url");
    let mut config = Config::new(url);
    config.default_namespace = "default".into();
    let client = Client::try_from(config).expect("client");
    (server, client)
}

fn request(name: &str) -> PackageRequest {
    serde_json::from_value(json!({
        "apiVersion": "airlock.dev/v1alpha1", "kind": "PackageRequest",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"ecosystem": "pypi", "name": "requests", "version": "2.32.3", "repositoryRef": "builtin"},
    }))
    .expect("request")
}

#[tokio::test]
async fn watcher_relists_after_410_gone_and_misses_nothing() {
    let (server, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut stream = watcher(cms.clone(), watcher::Config::default()).boxed();
    let cm = |name: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).expect("cm")
    };
    cms.create(&PostParams::default(), &cm("before"))
        .await
        .expect("create");
    let mut seen_before = false;
    let mut inits = 0;
    while !seen_before {
        match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
            Ok(Some(Ok(watcher::Event::Init))) => inits += 1,
            Ok(Some(Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)))) => {
                seen_before |= o.metadata.name.as_deref() == Some("before")
            }
            Ok(Some(_)) => {}
            other => panic!("watch ended before the first object arrived: {other:?}"),
        }
    }
    assert_eq!(inits, 1);

    // Compaction ends the open watch; the watcher's resume point is now too old, so the server
    // answers 410 Gone, and the watcher must re-list to find the object created meanwhile.
    server.store.compact();
    cms.create(&PostParams::default(), &cm("after"))
        .await
        .expect("create");
    let mut relisted = false;
    let mut gone_errors = 0;
    let mut seen_after = false;
    while !(seen_after && relisted) {
        match tokio::time::timeout(Duration::from_secs(20), stream.next()).await {
            Ok(Some(Ok(watcher::Event::Init))) => relisted = true,
            Ok(Some(Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)))) => {
                seen_after |= o.metadata.name.as_deref() == Some("after")
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => {
                assert!(
                    e.to_string().contains("410")
                        || e.to_string().to_lowercase().contains("too old"),
                    "{e}"
                );
                gone_errors += 1;
            }
            Ok(None) => panic!("watch stream ended"),
            Err(_) => panic!(
                "watcher did not recover from 410 Gone (relisted={relisted}, gone_errors={gone_errors}, seen_after={seen_after})"
            ),
        }
    }
    assert!(relisted, "the watcher re-listed after 410");
    assert_eq!(gone_errors, 1, "one 410 Gone, then a clean re-list");
}

#[tokio::test]
async fn concurrent_stale_status_writes_conflict_and_none_is_lost() {
    let (_server, client) = start().await;
    let api: Api<PackageRequest> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &request("contended"))
        .await
        .expect("create");
    let first = api.get_status("contended").await.expect("get");
    let conflicts = Arc::new(AtomicUsize::new(0));
    let first_try_wins = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let api = api.clone();
        let conflicts = conflicts.clone();
        let first_try_wins = first_try_wins.clone();
        let mut current = first.clone();
        tasks.push(tokio::spawn(async move {
            let mut attempt = 0;
            loop {
                // Read-modify-write of a counter: a lost update would leave it short of 100.
                let mut next = current.clone();
                let mut status = next.status.clone().unwrap_or_default();
                status.failures = Some(status.failures.unwrap_or(0) + 1);
                next.status = Some(status);
                match api
                    .replace_status("contended", &PostParams::default(), &next)
                    .await
                {
                    Ok(_) => {
                        if attempt == 0 {
                            first_try_wins.fetch_add(1, Ordering::SeqCst);
                        }
                        return;
                    }
                    Err(kube::Error::Api(s)) if s.code == 409 => {
                        assert_eq!(s.reason, "Conflict");
                        conflicts.fetch_add(1, Ordering::SeqCst);
                        current = api.get_status("contended").await.expect("re-read");
                    }
                    Err(e) => panic!("a status write failed with something other than 409: {e}"),
                }
                attempt += 1;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let last = api.get_status("contended").await.expect("get");
    assert_eq!(
        last.status.as_ref().and_then(|s| s.failures),
        Some(100),
        "every successful write counted"
    );
    assert_eq!(
        first_try_wins.load(Ordering::SeqCst),
        1,
        "only one writer holding the first resourceVersion wins"
    );
    assert!(conflicts.load(Ordering::SeqCst) >= 99);
    let rv = |o: &PackageRequest| {
        o.metadata
            .resource_version
            .clone()
            .unwrap_or_default()
            .parse::<u64>()
            .unwrap_or(0)
    };
    assert_eq!(rv(&last), rv(&first) + 100, "exactly 100 writes landed");
    assert_eq!(
        last.metadata.generation,
        Some(1),
        "status writes never bump generation"
    );
}

#[tokio::test]
async fn server_side_apply_with_two_field_managers() {
    let (_server, client) = start().await;
    let policies: Api<ScanPolicy> = Api::all(client.clone());
    let gitops = PatchParams::apply("gitops");
    let admin = PatchParams::apply("platform-admin");
    let manifest = |mode: &str| {
        json!({"apiVersion": "airlock.dev/v1alpha1", "kind": "ScanPolicy",
               "metadata": {"name": "default"}, "spec": {"approvalMode": mode}})
    };
    let created = policies
        .patch("default", &gitops, &Patch::Apply(manifest("OnFindings")))
        .await
        .expect("apply creates");
    assert_eq!(created.metadata.generation, Some(1));
    let managers: Vec<_> = created
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|m| (m.manager.clone(), m.operation.clone()))
        .collect();
    assert_eq!(
        managers,
        vec![(Some("gitops".into()), Some("Apply".into()))]
    );

    // Re-applying the same manifest changes nothing.
    let again = policies
        .patch("default", &gitops, &Patch::Apply(manifest("OnFindings")))
        .await
        .expect("re-apply");
    assert_eq!(
        again.metadata.resource_version,
        created.metadata.resource_version
    );

    // Another manager setting the same field to another value conflicts, naming owner and field.
    let err = policies
        .patch("default", &admin, &Patch::Apply(manifest("Always")))
        .await
        .expect_err("conflict");
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status.message.contains(r#"conflict with "gitops""#)
            && status.message.contains(".spec.approvalMode"),
        "{}",
        status.message
    );

    // With force it takes the field over; the first manager now conflicts in turn.
    let forced = policies
        .patch(
            "default",
            &admin.clone().force(),
            &Patch::Apply(manifest("Always")),
        )
        .await
        .expect("forced apply");
    assert_eq!(
        forced.spec.approval_mode,
        airlock::api::scan_policy::ApprovalMode::Always
    );
    assert_eq!(forced.metadata.generation, Some(2));
    let err = policies
        .patch("default", &gitops, &Patch::Apply(manifest("OnFindings")))
        .await
        .expect_err("gitops lost the field");
    assert!(err.to_string().contains("platform-admin"), "{err}");

    // The fields the controller uses: its finalizer and its status conditions, applied with its own
    // manager, sit beside what others own instead of replacing it.
    let requests: Api<PackageRequest> = Api::namespaced(client, "default");
    requests
        .create(&PostParams::default(), &request("ssa"))
        .await
        .expect("create");
    let controller = PatchParams::apply("airlock-controller").force();
    let approver = PatchParams::apply("airlock-approve");
    requests
        .patch(
            "ssa",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(json!({
            "apiVersion": "airlock.dev/v1alpha1", "kind": "PackageRequest",
            "metadata": {"finalizers": ["example.com/keep"]}})),
        )
        .await
        .expect("other finalizer");
    let with_finalizer = requests
        .patch(
            "ssa",
            &controller,
            &Patch::Apply(json!({
            "apiVersion": "airlock.dev/v1alpha1", "kind": "PackageRequest",
            "metadata": {"finalizers": ["airlock.dev/publication"]}})),
        )
        .await
        .expect("controller finalizer");
    assert_eq!(
        with_finalizer.metadata.finalizers,
        Some(vec![
            "example.com/keep".into(),
            "airlock.dev/publication".into()
        ])
    );
    let cond = |t: &str, s: &str| json!({"type": t, "status": s, "reason": "Test", "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"});
    let status_doc = |conds: serde_json::Value| json!({"apiVersion": "airlock.dev/v1alpha1", "kind": "PackageRequest", "status": {"conditions": conds}});
    requests
        .patch_status(
            "ssa",
            &controller,
            &Patch::Apply(status_doc(json!([cond("Ready", "False")]))),
        )
        .await
        .expect("controller status");
    requests
        .patch_status(
            "ssa",
            &approver,
            &Patch::Apply(status_doc(json!([cond("Approved", "True")]))),
        )
        .await
        .expect("approver status");
    let after = requests
        .patch_status(
            "ssa",
            &controller,
            &Patch::Apply(status_doc(json!([cond("Ready", "True")]))),
        )
        .await
        .expect("controller status again");
    let conditions: Vec<(String, String)> = after
        .status
        .iter()
        .flat_map(|s| s.conditions.iter())
        .map(|c| (c.type_.clone(), c.status.clone()))
        .collect();
    assert_eq!(
        conditions,
        vec![
            ("Ready".into(), "True".into()),
            ("Approved".into(), "True".into())
        ]
    );
    // The approver may not flip a condition the controller owns without meaning to.
    let err = requests
        .patch_status(
            "ssa",
            &approver,
            &Patch::Apply(status_doc(json!([cond("Ready", "False")]))),
        )
        .await
        .expect_err("conflict on Ready");
    assert!(err.to_string().contains("airlock-controller"), "{err}");
    assert_eq!(after.metadata.generation, Some(1));

    // Apply without a field manager is refused, as the real server refuses it.
    let err = requests
        .patch(
            "ssa",
            &PatchParams::default(),
            &Patch::Apply(json!({"apiVersion": "airlock.dev/v1alpha1", "kind": "PackageRequest"})),
        )
        .await
        .expect_err("no manager");
    assert!(err.to_string().contains("fieldManager"), "{err}");
}

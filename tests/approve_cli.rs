//! `airlock approve` / `airlock deny` against `airlock dev`'s API server: a decision is recorded
//! once, with who and why, and can be neither repeated nor reversed.

mod common;

use std::process::Command;

use airlock::api::PackageRequest;
use airlock::dev::control_plane::client_for;
use common::dev::Dev;
use kube::api::{Api, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_is_recorded_once_with_who_and_why() {
    let dev = tokio::task::spawn_blocking(|| Dev::start("approve-cli", &["--no-controller"]))
        .await
        .expect("join");
    let kubeconfig_path = dev.var("KUBECONFIG").to_string();
    let kubeconfig = std::fs::read_to_string(&kubeconfig_path).expect("kubeconfig");
    let client = client_for(&kubeconfig).await.expect("client");
    let api: Api<PackageRequest> = Api::namespaced(client, "default");
    for name in ["numpy-2.1.3", "evil-1.0.0"] {
        let req: PackageRequest = serde_json::from_value(json!({
            "apiVersion": "airlock.dev/v1alpha1", "kind": "PackageRequest",
            "metadata": {"name": name},
            "spec": {"ecosystem": "pypi", "name": name.split('-').next(), "version": "1.0.0", "repositoryRef": "builtin", "justification": "approve test"},
        }))
        .expect("request");
        api.create(&PostParams::default(), &req)
            .await
            .expect("create");
    }
    let airlock = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(args)
            .env("KUBECONFIG", &kubeconfig_path)
            .output()
            .expect("airlock runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, _, err) = airlock(&["approve", "numpy-2.1.3", "-n", "default"]);
    assert_eq!(code, 3, "a reason is required: {err}");
    assert!(err.contains("--reason"), "{err}");

    let (code, out, err) = airlock(&[
        "approve",
        "numpy-2.1.3",
        "-n",
        "default",
        "--reason",
        "reviewed in DS-1042",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("approved by airlock-dev"), "{out}");
    let status = api
        .get_status("numpy-2.1.3")
        .await
        .expect("get")
        .status
        .expect("status");
    let approved = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Approved")
        .expect("Approved condition");
    assert_eq!(
        (approved.status.as_str(), approved.reason.as_str()),
        ("True", "ApprovedByUser")
    );
    assert_eq!(
        approved.message,
        "approved by airlock-dev: reviewed in DS-1042"
    );
    let review = status.review.as_ref().expect("the review record");
    assert_eq!(
        (review.by.as_str(), review.reason.as_str()),
        ("airlock-dev", "reviewed in DS-1042")
    );

    // Final: neither a second approval nor a denial changes it.
    for verb in ["approve", "deny"] {
        let (code, _, err) = airlock(&[verb, "numpy-2.1.3", "-n", "default", "--reason", "again"]);
        assert_eq!(code, 3);
        assert!(
            err.contains("already approved") && err.contains("Decisions are final"),
            "{err}"
        );
    }
    let after = api
        .get_status("numpy-2.1.3")
        .await
        .expect("get")
        .status
        .expect("status");
    assert!(
        !after.conditions.iter().any(|c| c.type_ == "Denied"),
        "never both"
    );

    let (code, out, err) = airlock(&[
        "deny",
        "evil-1.0.0",
        "--reason",
        "typosquat of a popular name",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("denied by airlock-dev"), "{out}");
    let denied = api
        .get_status("evil-1.0.0")
        .await
        .expect("get")
        .status
        .expect("status");
    assert!(
        denied
            .conditions
            .iter()
            .any(|c| c.type_ == "Denied" && c.status == "True")
    );
    let managers: Vec<String> = api
        .get("evil-1.0.0")
        .await
        .expect("get")
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.contains(&"airlock-approve".to_string()),
        "{managers:?}"
    );

    let (code, _, err) = airlock(&["approve", "no-such-request", "--reason", "x"]);
    assert_eq!(code, 3);
    assert!(err.contains("does not exist"), "{err}");
}

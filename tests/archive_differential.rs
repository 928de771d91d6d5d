//! What is scanned is what installs. Every archive of a corpus of hostile and odd ones (and of
//! the fuzzers' corpus in `fuzz/corpus/`) is read by airlock and extracted by the installers'
//! own code: pip's `unpack_file`, Python's `tarfile` with and without the data filter, pip's
//! wheel-install reading through `zipfile`, and npm's pacote (node-tar with npm's options). The
//! test fails unless, for every archive and every installer, airlock either denies it or scanned
//! every (path, bytes) the installer wrote; honest archives must be read, not denied, and scanned
//! exactly as installed.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use airlock::api::package_request::Ecosystem;
use airlock::api::package_request::Verdict;
use airlock::api::scan_policy::ScanPolicySpec;
use airlock::pipeline::fetch::sha256_hex;
use airlock::pipeline::unpack::{Limits, UnpackReport, unpack_path};
use airlock::scan::decide::decide;
use common::hostile::{self, Case, Expect, Kind};
use serde_json::Value;

/// What airlock delivered to the scanners: path → sha256 of the content.
fn airlock_reads(path: &Path, name: &str) -> (UnpackReport, BTreeMap<String, String>) {
    let mut seen = BTreeMap::new();
    let report = unpack_path(path, name, &Limits::default(), &mut |e, r| {
        let mut content = Vec::new();
        std::io::Read::read_to_end(r, &mut content)?;
        if !e.path.contains("!/") {
            seen.insert(e.path.clone(), sha256_hex(&content));
        }
        Ok(())
    })
    .unwrap_or_else(|e| UnpackReport {
        findings: vec![airlock::pipeline::unpack::Finding {
            rule: "archive.corrupt".into(),
            severity: airlock::api::package_request::Severity::High,
            file: None,
            line: None,
            evidence: Some(e.to_string()),
        }],
        ..Default::default()
    });
    (report, seen)
}

fn denied(report: &UnpackReport, kind: Kind) -> bool {
    let policy: ScanPolicySpec = serde_json::from_value(serde_json::json!({})).expect("policy");
    let ecosystem = if kind == Kind::Npm {
        Ecosystem::Npm
    } else {
        Ecosystem::Pypi
    };
    let decision = decide(
        &report.findings,
        &policy,
        ecosystem,
        "demo",
        k8s_openapi::jiff::Timestamp::now(),
    );
    decision.verdict == Verdict::Denied
}

fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists() && venv.with_file_name("uv").exists(),
        "{} is missing: the differential test runs pip's and uv's own extraction from the project venv; run `bash scripts/test-tools.sh` (scripts/test.sh runs it first)",
        venv.display()
    );
    venv
}

fn run_oracle(mut cmd: Command, input: Option<&[u8]>) -> BTreeMap<String, Value> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("oracle starts");
    if let Some(bytes) = input {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(bytes)
            .expect("oracle input");
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("oracle runs");
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("oracle output is JSON")
}

/// Every case's results from every installer that installs its kind.
fn installers(cases: &[(String, Kind, PathBuf)], dir: &Path) -> BTreeMap<String, Value> {
    let list: Vec<Value> = cases
        .iter()
        .map(|(id, kind, path)| serde_json::json!({"id": id, "kind": kind.label(), "path": path}))
        .collect();
    let input = serde_json::to_vec(&list).expect("json");
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential");
    let mut py = Command::new(python());
    py.arg(here.join("extract.py"));
    let mut results = run_oracle(py, Some(&input));
    let list_file = dir.join("cases.json");
    std::fs::write(&list_file, &input).expect("cases");
    let mut node = Command::new("node");
    node.arg(here.join("extract.js")).arg(&list_file);
    for (id, v) in run_oracle(node, None) {
        results.insert(id, v);
    }
    results
}

/// The paths an installer writes, as airlock names them: pip strips the sdist's top-level
/// directory, pacote strips one component of every path (and renames `.gitignore`).
fn as_installed(
    label: &str,
    kind: Kind,
    scanned: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let strip = label == "pip.unpack_file" && kind != Kind::Wheel || label == "pacote.extract";
    scanned
        .iter()
        .filter_map(|(p, sha)| {
            let p = if strip {
                p.split_once('/')?.1.to_string()
            } else {
                p.clone()
            };
            let p =
                if label == "pacote.extract" && (p == ".gitignore" || p.ends_with("/.gitignore")) {
                    p.replace(".gitignore", ".npmignore")
                } else {
                    p
                };
            Some((p, sha.clone()))
        })
        .collect()
}

/// A link left dangling inside the package carries no bytes, so there is nothing to scan; one
/// whose target leaves the package (dangling only because the sandbox lacks it) still counts.
fn dangling_inside(path: &str, value: &str) -> bool {
    let Some(target) = value.strip_prefix("dangling:") else {
        return false;
    };
    if target.starts_with('/') || path.starts_with("../") {
        return false;
    }
    let mut depth: Vec<&str> = path.split('/').collect();
    depth.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            p => depth.push(p),
        }
    }
    true
}

struct Outcome {
    line: String,
    failure: Option<String>,
}

fn judge(
    case_id: &str,
    kind: Kind,
    expect: Option<Expect>,
    path: &Path,
    results: &Value,
) -> Outcome {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let (report, scanned) = airlock_reads(path, name);
    let is_denied = denied(&report, kind);
    let first = report
        .findings
        .iter()
        .find(|f| f.rule.starts_with("archive.") && is_denied)
        .map(|f| format!("{} ({})", f.rule, f.evidence.as_deref().unwrap_or("")))
        .unwrap_or_default();
    let mut per = Vec::new();
    let mut failures = Vec::new();
    let mut installed_somewhere = false;
    for (label, r) in results.as_object().into_iter().flatten() {
        if r["status"] != "ok" {
            per.push(format!("{label}: refused"));
            continue;
        }
        installed_somewhere = true;
        let view = as_installed(label, kind, &scanned);
        let files = r["files"].as_object().cloned().unwrap_or_default();
        let unscanned: Vec<String> = files
            .iter()
            .filter(|(p, sha)| !dangling_inside(p, sha.as_str().unwrap_or_default()))
            .filter(|(p, sha)| view.get(p.as_str()).map(String::as_str) != sha.as_str())
            .map(|(p, sha)| {
                format!(
                    "{p}={}",
                    sha.as_str().unwrap_or("?").get(..12).unwrap_or("?")
                )
            })
            .collect();
        per.push(format!(
            "{label}: wrote {} ({} not as scanned)",
            files.len(),
            unscanned.len()
        ));
        if !is_denied && !unscanned.is_empty() {
            failures.push(format!(
                "{label} wrote what airlock did not scan: {unscanned:?}"
            ));
        }
        // pacote drops links and uv rewrites RECORD, so their writes are compared one way only.
        if expect == Some(Expect::Read) && label != "pacote.extract" && label != "uv.pip-install" {
            let extra: Vec<&String> = view
                .keys()
                .filter(|p| !files.contains_key(p.as_str()))
                .collect();
            if !extra.is_empty() {
                failures.push(format!(
                    "{label}: airlock scanned paths it does not write: {extra:?}"
                ));
            }
        }
    }
    match expect {
        Some(Expect::Read) => {
            if is_denied || !report.complete {
                failures.push(format!(
                    "an honest archive was not read: {:?}",
                    report.findings
                ));
            }
            if !installed_somewhere {
                failures.push(
                    "no installer extracted the honest archive, so nothing was compared".into(),
                );
            }
        }
        Some(Expect::Deny) if !is_denied => {
            failures.push(format!("should be denied; findings {:?}", report.findings));
        }
        _ => {}
    }
    let verdict = if is_denied { "denied" } else { "read" };
    Outcome {
        line: format!("{case_id:45} {verdict:6} {} | {first}", per.join(", ")),
        failure: (!failures.is_empty()).then(|| format!("{case_id}: {}", failures.join("; "))),
    }
}

/// Runs a command that must succeed; its standard output.
fn succeed(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("the command starts");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Honest archives written by the real tools: Python's tarfile and zipfile (as setuptools and
/// wheel write sdists and wheels) and `npm pack`. The strict reading must take them as they are.
fn tool_made(dir: &Path) -> Vec<(String, Kind, PathBuf)> {
    let made = dir.join("tool-made");
    std::fs::create_dir_all(&made).expect("dir");
    let out = succeed(
        Command::new(python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential/extract.py"))
            .arg("make")
            .arg(&made),
    );
    let paths: Value = serde_json::from_slice(&out).expect("json");
    let src = dir.join("tool-npm-src");
    std::fs::create_dir_all(src.join("lib")).expect("dir");
    std::fs::write(
        src.join("package.json"),
        r#"{"name":"tool-npm","version":"1.0.0","license":"MIT","main":"index.js"}"#,
    )
    .expect("write");
    std::fs::write(
        src.join("index.js"),
        "module.exports = require('./lib/x')\n",
    )
    .expect("write");
    std::fs::write(src.join("lib/x.js"), "module.exports = 1\n").expect("write");
    succeed(
        Command::new("npm")
            .args(["pack", "--offline", "--silent", "--pack-destination"])
            .arg(&made)
            .arg("--cache")
            .arg(dir.join("npm-cache"))
            .current_dir(&src),
    );
    let as_path = |v: &Value| PathBuf::from(v.as_str().unwrap_or_default());
    vec![
        ("tool-sdist".into(), Kind::Sdist, as_path(&paths["sdist"])),
        ("tool-wheel".into(), Kind::Wheel, as_path(&paths["wheel"])),
        (
            "tool-npm".into(),
            Kind::Npm,
            made.join("tool-npm-1.0.0.tgz"),
        ),
    ]
}

fn fuzz_corpus() -> Vec<(String, Kind, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut out = Vec::new();
    // A plain tar is installed by pip (as `.tar`) and by npm (which takes an uncompressed
    // tarball too), so each is judged by both.
    for (target, kind) in [
        ("tar", Kind::SdistTar),
        ("tar", Kind::Npm),
        ("tar_gz", Kind::Sdist),
        ("tar_gz", Kind::Npm),
        ("zip", Kind::Wheel),
    ] {
        let Ok(dir) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        files.sort();
        for p in files {
            let file = p.file_name().and_then(|n| n.to_str()).unwrap_or("x");
            let short = file.get(..16).unwrap_or(file);
            let id = format!("fuzz-{target}-{}-{short}", kind.label());
            out.push((id, kind, p));
        }
    }
    out
}

/// The corpus as fuzzing seeds (`fuzz/run.sh` asks for them): tarballs gunzipped for the plain
/// tar target, as they are for the gzip one, zips for the zip target.
fn write_seeds(root: &Path, corpus: &[Case]) {
    for c in corpus {
        let (target, bytes) = match c.kind {
            Kind::Wheel | Kind::SdistZip => ("zip", c.bytes.clone()),
            Kind::SdistTar => ("tar", c.bytes.clone()),
            Kind::Sdist | Kind::Npm => {
                let mut plain = Vec::new();
                let mut d = flate2::read::MultiGzDecoder::new(&c.bytes[..]);
                if std::io::Read::read_to_end(&mut d, &mut plain).is_ok() {
                    let dir = root.join("tar");
                    std::fs::create_dir_all(&dir).expect("seeds");
                    std::fs::write(dir.join(c.id), &plain).expect("seed");
                }
                ("tar_gz", c.bytes.clone())
            }
        };
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("seeds");
        std::fs::write(dir.join(c.id), &bytes).expect("seed");
    }
}

#[test]
fn airlock_denies_or_scans_exactly_what_the_installers_write() {
    let dir = std::env::temp_dir().join(format!("airlock-differential-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let corpus: Vec<Case> = hostile::corpus();
    let mut cases = Vec::new();
    let mut expect = BTreeMap::new();
    for c in &corpus {
        let path = dir.join(c.id).join(c.kind.file_name(c.id));
        std::fs::create_dir_all(dir.join(c.id)).expect("dir");
        std::fs::write(&path, &c.bytes).expect("write");
        cases.push((c.id.to_string(), c.kind, path));
        expect.insert(c.id.to_string(), c.expect);
    }
    for (id, kind, path) in tool_made(&dir) {
        expect.insert(id.clone(), Expect::Read);
        cases.push((id, kind, path));
    }
    // The fuzzers' corpus: copied under installer-style names (the installers pick by name).
    for (id, kind, src) in fuzz_corpus() {
        std::fs::create_dir_all(dir.join(&id)).expect("dir");
        let path = dir.join(&id).join(kind.file_name(&id));
        std::fs::copy(&src, &path).expect("copy");
        cases.push((id, kind, path));
    }
    if let Some(seeds) = std::env::var_os("AIRLOCK_FUZZ_SEEDS") {
        write_seeds(Path::new(&seeds), &corpus);
    }
    let results = installers(&cases, &dir);
    let mut failures = Vec::new();
    for (id, kind, path) in &cases {
        let r = results.get(id).cloned().unwrap_or(Value::Null);
        let outcome = judge(id, *kind, expect.get(id).copied(), path, &r);
        println!("{}", outcome.line);
        failures.extend(outcome.failure);
    }
    println!("{} archives compared", cases.len());
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Releases whose archives come from many build tools: setuptools, hatchling, flit, poetry-core,
/// pdm-backend, maturin and meson-python sdists and wheels; npm tarballs packed by several npm
/// versions, scoped and large ones.
const LIVE_PYPI: &[&str] = &[
    "requests==2.32.3",
    "python-dateutil==2.9.0.post0",
    "pytz==2024.2",
    "urllib3==2.2.3",
    "black==24.10.0",
    "idna==3.10",
    "flit-core==3.9.0",
    "poetry-core==1.9.1",
    "pdm-backend==2.4.3",
    "orjson==3.10.12",
    "scikit-learn==1.5.2",
];
const LIVE_NPM: &[&str] = &[
    "lodash@4.17.21",
    "@types/node@22.10.1",
    "typescript@5.6.3",
    "esbuild@0.24.0",
    "core-js@3.39.0",
    "rxjs@7.8.1",
    "node-gyp@10.2.0",
];

#[test]
#[cfg_attr(
    not(airlock_live),
    ignore = "live: reaches the real PyPI and npm; set AIRLOCK_LIVE_TESTS=1"
)]
fn real_releases_are_read_exactly_as_the_installers_write_them() {
    let dir =
        std::env::temp_dir().join(format!("airlock-differential-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let out = succeed(
        Command::new(python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential/fetch.py"))
            .arg(&dir)
            .args(LIVE_PYPI),
    );
    let fetched: Vec<Value> = serde_json::from_slice(&out).expect("json");
    let mut cases: Vec<(String, Kind, PathBuf)> = fetched
        .iter()
        .map(|c| {
            let kind = if c["kind"] == "wheel" {
                Kind::Wheel
            } else {
                Kind::Sdist
            };
            (
                c["id"].as_str().unwrap_or_default().to_string(),
                kind,
                PathBuf::from(c["path"].as_str().unwrap_or_default()),
            )
        })
        .collect();
    for spec in LIVE_NPM {
        let id = format!("live-npm-{}", spec.replace(['@', '/'], "_"));
        let into = dir.join(&id);
        std::fs::create_dir_all(&into).expect("dir");
        succeed(
            Command::new("npm")
                .args(["pack", spec, "--silent", "--pack-destination"])
                .arg(&into)
                .arg("--cache")
                .arg(dir.join("npm-cache")),
        );
        let file = std::fs::read_dir(&into)
            .expect("dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "tgz"))
            .expect("a tarball");
        cases.push((id, Kind::Npm, file));
    }
    let results = installers(&cases, &dir);
    let mut failures = Vec::new();
    for (id, kind, path) in &cases {
        let r = results.get(id).cloned().unwrap_or(Value::Null);
        let outcome = judge(id, *kind, Some(Expect::Read), path, &r);
        println!("{}", outcome.line);
        failures.extend(outcome.failure);
    }
    println!("{} real archives compared", cases.len());
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

//! One package, end to end after the download: unpack every file under the limits, run the
//! content rules, check npm manifests, licence, name, advisories and age, and decide.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use super::advisories::AdvisoryDb;
use super::analysis;
use super::decide::{Ruling, advisories_unavailable, advisory_finding, decide, release_age};
use super::heuristics::{self, commands, npm_manifest, typosquat};
use super::license;
use super::record::{Hashing, RecordCheck};
use crate::api::package_request::Ecosystem;
use crate::api::scan_policy::ScanPolicySpec;
use crate::package::file::FileKind;
use crate::pipeline::fetch::FetchedFile;
use crate::pipeline::resolve::{CoreMetadata, PackageMetadata, ResolvedFile};
use crate::pipeline::unpack::{self, Finding, Limits};

/// One file of the package, on local disk and verified.
#[derive(Clone, Debug)]
pub struct LocalFile {
    pub filename: String,
    pub path: PathBuf,
    pub kind: FileKind,
    pub sha256: Option<String>,
    pub upload_time: Option<String>,
    /// The index's `Requires-Python` for the file, carried to the index airlock publishes.
    pub requires_python: Option<String>,
}

impl LocalFile {
    /// A resolved file once downloaded: where it lies and the digest it was verified against.
    pub fn fetched(resolved: &ResolvedFile, fetched: FetchedFile) -> LocalFile {
        LocalFile {
            filename: resolved.filename.clone(),
            path: fetched.path,
            kind: resolved.kind,
            sha256: Some(fetched.sha256),
            upload_time: resolved.upload_time.clone(),
            requires_python: resolved.requires_python.clone(),
        }
    }
}

/// What the scan is about.
pub struct Subject<'a> {
    pub ecosystem: Ecosystem,
    pub name: &'a str,
    pub version: &'a str,
    pub metadata: &'a PackageMetadata,
    pub files: &'a [LocalFile],
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    pub filename: String,
    pub sha256: Option<String>,
    pub entries: u64,
    pub bytes: u64,
    /// False when a limit stopped reading (the rest was not scanned).
    pub complete: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageReport {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
    pub license: Option<String>,
    pub files: Vec<FileReport>,
    pub findings: Vec<Finding>,
    pub ruling: Ruling,
    pub scan_millis: u64,
}

/// Scans `subject` and decides with `policy`. CPU-bound: call it from a blocking thread.
/// A [`Subject`] that owns what it names, to be moved onto the blocking pool.
pub struct OwnedSubject {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
    pub metadata: PackageMetadata,
    pub files: Vec<LocalFile>,
}

/// [`scan`] on tokio's blocking pool: the scan is CPU-bound, so the async threads keep serving
/// while it runs (a joined OS thread would hold the worker until the scan ends). An error means
/// the scanner panicked.
pub async fn scan_blocking(
    subject: OwnedSubject,
    advisories: Vec<Arc<AdvisoryDb>>,
    policy: ScanPolicySpec,
    limits: Limits,
) -> Result<PackageReport, tokio::task::JoinError> {
    tokio::task::spawn_blocking(move || {
        let databases: Vec<&AdvisoryDb> = advisories.iter().map(Arc::as_ref).collect();
        scan(
            &Subject {
                ecosystem: subject.ecosystem,
                name: &subject.name,
                version: &subject.version,
                metadata: &subject.metadata,
                files: &subject.files,
            },
            &databases,
            &policy,
            &limits,
            Timestamp::now(),
        )
    })
    .await
}

pub fn scan(
    subject: &Subject,
    advisories: &[&AdvisoryDb],
    policy: &ScanPolicySpec,
    limits: &Limits,
    now: Timestamp,
) -> PackageReport {
    let started = Instant::now();
    let mut findings = Vec::new();
    let mut files = Vec::new();
    let mut license_text = subject.metadata.license.clone();
    let mut tarball_manifest: Option<serde_json::Value> = None;
    for file in subject.files {
        let mut file_findings = Vec::new();
        let mut core: Option<CoreMetadata> = None;
        let mut facts = analysis::Facts::default();
        let wheel = file.kind == FileKind::Wheel;
        let mut record = RecordCheck::default();
        let result =
            unpack::unpack_path(&file.path, &file.filename, limits, &mut |entry, content| {
                let path = entry.path.as_str();
                if wheel && RecordCheck::is_record(path) {
                    return record.record(path, content);
                }
                let mut hashing = Hashing::new(content, wheel);
                let content: &mut dyn Read = &mut hashing;
                let top_level = path.matches('/').count() == 1;
                if heuristics::wants_text(path)
                    || path.ends_with("package.json")
                    || path.ends_with("PKG-INFO")
                    || path.ends_with(".dist-info/METADATA")
                    || path.ends_with(".dist-info/entry_points.txt")
                {
                    let mut text = Vec::new();
                    content
                        .take(heuristics::MAX_TEXT_BYTES as u64)
                        .read_to_end(&mut text)?;
                    heuristics::scan_head(path, &text, file.kind, &mut file_findings);
                    analysis::analyse_file(path, &text, &mut facts);
                    let skip = if facts.analysed.contains(path) {
                        analysis::SUPERSEDES
                    } else {
                        &[]
                    };
                    heuristics::scan_text_except(path, &text, skip, &mut file_findings);
                    if file.kind == FileKind::Tarball
                        && top_level
                        && path.ends_with("/package.json")
                        && tarball_manifest.is_none()
                    {
                        tarball_manifest = serde_json::from_slice(&text).ok();
                    }
                    if wheel && top_level && path.ends_with(".dist-info/entry_points.txt") {
                        let scripts = commands::console_scripts(&String::from_utf8_lossy(&text));
                        file_findings.extend(commands::shadowing(
                            subject.ecosystem,
                            subject.name,
                            &scripts,
                            path,
                        ));
                    }
                    if top_level
                        && (path.ends_with("/PKG-INFO") || path.ends_with(".dist-info/METADATA"))
                        && core.is_none()
                    {
                        core = Some(CoreMetadata::parse(&String::from_utf8_lossy(&text)));
                    }
                } else {
                    let mut head = [0u8; 4096];
                    let mut n = 0;
                    while n < head.len() {
                        match content.read(&mut head[n..])? {
                            0 => break,
                            k => n += k,
                        }
                    }
                    heuristics::scan_head(path, &head[..n], file.kind, &mut file_findings);
                }
                if let Some(digest) = hashing.finish()? {
                    record.held(path, digest);
                }
                Ok(())
            });
        if wheel && let Ok(r) = &result {
            file_findings.extend(record.findings(r.complete));
        }
        let report = match result {
            Ok(r) => r,
            Err(e) => unpack::UnpackReport {
                findings: vec![Finding {
                    rule: "archive.corrupt".into(),
                    severity: crate::api::package_request::Severity::High,
                    file: None,
                    line: None,
                    evidence: Some(format!("cannot be opened: {e}")),
                }],
                ..Default::default()
            },
        };
        file_findings.extend(analysis::judge(&facts));
        if license_text.is_none() {
            license_text = core.as_ref().and_then(CoreMetadata::license_summary);
        }
        for mut f in report.findings.into_iter().chain(file_findings) {
            f.file = Some(match f.file {
                Some(inner) if !inner.is_empty() => format!("{}!/{inner}", file.filename),
                _ => file.filename.clone(),
            });
            findings.push(f);
        }
        files.push(FileReport {
            filename: file.filename.clone(),
            sha256: file.sha256.clone(),
            entries: report.entries,
            bytes: report.bytes,
            complete: report.complete,
        });
    }
    if let Some(manifest) = &tarball_manifest {
        findings.extend(npm_manifest::install_scripts(manifest));
        findings.extend(commands::shadowing(
            subject.ecosystem,
            subject.name,
            &commands::npm_bins(manifest),
            "package/package.json",
        ));
        if let Some(registry) = &subject.metadata.registry_manifest
            && let Some(f) = npm_manifest::confusion(registry, manifest)
        {
            findings.push(f);
        }
        if license_text.is_none() {
            license_text = manifest
                .get("license")
                .and_then(|l| l.as_str())
                .map(str::to_string);
        }
    }
    findings.extend(typosquat::check(subject.ecosystem, subject.name));
    findings.extend(license::check(license_text.as_deref(), &policy.licenses));
    let mut seen = std::collections::HashSet::new();
    for db in advisories {
        for m in db.matches(subject.ecosystem, subject.name, subject.version) {
            // The same advisory from the local export and from the API is one finding.
            if seen.insert(m.id.clone()) {
                findings.push(advisory_finding(&m));
            }
        }
    }
    if !advisories.iter().any(|db| db.covers(subject.ecosystem)) {
        findings.push(advisories_unavailable(subject.ecosystem, policy));
    }
    let newest_upload = subject
        .files
        .iter()
        .filter_map(|f| f.upload_time.as_deref())
        .max();
    findings.extend(release_age(newest_upload, policy, now));
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.rule.cmp(&b.rule))
    });
    let ruling = decide(&findings, policy, subject.ecosystem, subject.name, now);
    PackageReport {
        ecosystem: subject.ecosystem,
        name: subject.name.to_string(),
        version: subject.version.to_string(),
        license: license_text,
        files,
        findings,
        ruling,
        scan_millis: started.elapsed().as_millis() as u64,
    }
}

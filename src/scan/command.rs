//! `airlock scan`: the whole intake, scan and decide pipeline without Kubernetes, for CI gates on
//! GitOps pull requests. Exit 0 approved, 1 denied, 2 needs approval, 3 error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use url::Url;

use super::advisories::AdvisoryDb;
use super::advisories::osv_api::OsvApi;
use super::package::{self, LocalFile, OwnedSubject, PackageReport};
use super::report::{self, Output};
use crate::api::package_request::Ecosystem;
use crate::api::scan_policy::{ScanPolicy, ScanPolicySpec};
use crate::package::PackageRef;
use crate::package::file::FileKind;
use crate::pipeline::fetch::Fetcher;
use crate::pipeline::resolve::{self, PackageMetadata, Registries, Resolver};
use crate::pipeline::unpack::Limits;

pub struct ScanArgs {
    pub specs: Vec<String>,
    pub files: Vec<String>,
    pub pypi_index: Url,
    pub npm_registry: Url,
    pub allowed_hosts: Vec<String>,
    pub output: Output,
    pub policy: Option<PathBuf>,
    pub advisories: Vec<PathBuf>,
    /// The OSV API base (`https://api.osv.dev/`), queried per package on top of `advisories`.
    pub osv_api: Option<Url>,
    pub cache_dir: PathBuf,
}

/// A spec that could not be scanned, and why.
pub struct ScanError {
    pub spec: String,
    pub error: String,
}

pub fn load_policy(path: Option<&Path>) -> Result<ScanPolicySpec, String> {
    match path {
        None => serde_json::from_value(serde_json::json!({})).map_err(|e| e.to_string()),
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| format!("--policy {}: {e}", p.display()))?;
            let policy: ScanPolicy = serde_saphyr::from_str(&text).map_err(|e| {
                format!("--policy {}: not a ScanPolicy manifest: {e} (see examples/scanpolicy-default.yaml)", p.display())
            })?;
            Ok(policy.spec)
        }
    }
}

/// The `--advisories` paths, loaded; `None` when none were given. Unreadable records are
/// reported here (the command's own output), not fatal.
pub fn load_advisories(paths: &[PathBuf]) -> Result<Option<AdvisoryDb>, String> {
    if paths.is_empty() {
        return Ok(None);
    }
    let db = AdvisoryDb::load_paths(paths).map_err(|e| format!("--{e}"))?;
    for (file, why) in db.skipped.iter().take(5) {
        eprintln!("warning: advisory record {file} skipped: {why}");
    }
    Ok(Some(db))
}

fn local_subject(path: &Path) -> Result<(Ecosystem, String, String, FileKind), String> {
    let filename = path
        .file_name()
        .and_then(|f| f.to_str())
        .ok_or("not a file name")?;
    if filename.ends_with(".tgz") {
        let stem = filename.trim_end_matches(".tgz");
        let (name, version) = stem.rsplit_once('-').ok_or("expected NAME-VERSION.tgz")?;
        return Ok((
            Ecosystem::Npm,
            name.into(),
            version.into(),
            FileKind::Tarball,
        ));
    }
    match resolve::parse_pypi_filename(filename) {
        Some((name, version, Some(kind))) => Ok((Ecosystem::Pypi, name, version, kind)),
        _ => Err(format!(
            "{filename}: expected a wheel (.whl), an sdist (.tar.gz, .zip) or an npm tarball (.tgz)"
        )),
    }
}

/// Scans every spec; returns the reports, the failures, and the exit code.
pub async fn run(args: ScanArgs) -> (Vec<(String, PackageReport)>, Vec<ScanError>, u8) {
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    let setup = (|| -> Result<_, String> {
        let policy = load_policy(args.policy.as_deref())?;
        // Shared with each scan on the blocking pool, not copied per package.
        let db = load_advisories(&args.advisories)?.map(Arc::new);
        let registries = Registries {
            pypi_index: args.pypi_index.clone(),
            npm_registry: args.npm_registry.clone(),
            ..Registries::default()
        };
        let mut extra_hosts = args.allowed_hosts.clone();
        extra_hosts.extend(args.osv_api.as_ref().and_then(crate::net::client::host_of));
        let (resolver, fetcher) =
            crate::pipeline::intake(registries, &extra_hosts, &args.cache_dir)?;
        let osv = args.osv_api.clone().map(|base| OsvApi {
            http: resolver.http.clone(),
            base,
        });
        Ok((policy, db, osv, resolver, fetcher))
    })();
    let (policy, db, osv, resolver, fetcher) = match setup {
        Ok(s) => s,
        Err(e) => {
            errors.push(ScanError {
                spec: String::new(),
                error: e,
            });
            return (reports, errors, 3);
        }
    };
    if db.is_none() && osv.is_none() {
        eprintln!(
            "warning: neither --advisories nor --osv-api given: known vulnerabilities are not checked"
        );
    }
    let limits = Limits::default();
    for spec in &args.specs {
        let result = scan_one(
            spec,
            &args.files,
            &resolver,
            &fetcher,
            db.as_ref(),
            osv.as_ref(),
            &policy,
            &limits,
        )
        .await;
        match result {
            Ok(r) => reports.push((spec.clone(), r)),
            Err(e) => errors.push(ScanError {
                spec: spec.clone(),
                error: e,
            }),
        }
    }
    let code = if !errors.is_empty() {
        3
    } else {
        reports
            .iter()
            .map(|(_, r)| report::exit_code(r.ruling.verdict))
            .fold(0, |acc, c| match (acc, c) {
                (1, _) | (_, 1) => 1,
                (2, _) | (_, 2) => 2,
                _ => 0,
            }) as u8
    };
    (reports, errors, code)
}

#[allow(clippy::too_many_arguments)]
async fn scan_one(
    spec: &str,
    globs: &[String],
    resolver: &Resolver,
    fetcher: &Fetcher,
    db: Option<&Arc<AdvisoryDb>>,
    osv: Option<&OsvApi>,
    policy: &ScanPolicySpec,
    limits: &Limits,
) -> Result<PackageReport, String> {
    let path = Path::new(spec);
    let (ecosystem, name, version, metadata, files) = if path.is_file() {
        let (ecosystem, name, version, kind) = local_subject(path)?;
        let file = LocalFile {
            filename: path
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or(spec)
                .to_string(),
            path: path.to_path_buf(),
            kind,
            sha256: None,
            upload_time: None,
            requires_python: None,
        };
        (
            ecosystem,
            name,
            version,
            PackageMetadata::default(),
            vec![file],
        )
    } else {
        let package: PackageRef = spec.parse().map_err(|e| format!("{e}"))?;
        let resolved = resolver
            .resolve(&package, globs)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(w) = &resolved.warning {
            eprintln!("warning: {spec}: {w}");
        }
        let mut files = Vec::new();
        for f in &resolved.files {
            let fetched = fetcher.fetch(f).await.map_err(|e| e.to_string())?;
            files.push(LocalFile::fetched(f, fetched));
        }
        (
            package.ecosystem,
            resolved.name,
            resolved.version,
            resolved.metadata,
            files,
        )
    };
    let from_api = match osv {
        Some(api) => Some(
            api.advisories(ecosystem, &name, &version)
                .await
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let databases = db
        .cloned()
        .into_iter()
        .chain(from_api.map(Arc::new))
        .collect();
    let subject = OwnedSubject {
        ecosystem,
        name,
        version,
        metadata,
        files,
    };
    let report = package::scan_blocking(subject, databases, policy.clone(), limits.clone())
        .await
        .map_err(|_| "the scanner crashed".to_string())?;
    Ok(report)
}

/// Runs `airlock scan` and prints the result; the process exit code.
pub async fn main(args: ScanArgs) -> u8 {
    let output = args.output;
    let (reports, errors, code) = run(args).await;
    print!("{}", report::render(output, &reports, &errors));
    for e in &errors {
        eprintln!(
            "airlock scan: {}{}",
            if e.spec.is_empty() {
                String::new()
            } else {
                format!("{}: ", e.spec)
            },
            e.error
        );
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A scan leaves the async thread free: on a one-thread runtime, a task spawned before the
    /// scan runs while it is in progress (a scan joined on the worker would block it out).
    #[test]
    fn a_scan_does_not_hold_the_async_thread() {
        let dir = std::env::temp_dir().join(format!("airlock-scan-yield-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let tarball = dir.join("left-pad-1.3.0.tgz");
        std::fs::write(&tarball, b"not a gzip stream").expect("fixture");
        let args = ScanArgs {
            specs: vec![tarball.display().to_string()],
            files: Vec::new(),
            pypi_index: "http://127.0.0.1:9/simple/".parse().expect("url"),
            npm_registry: "http://127.0.0.1:9/".parse().expect("url"),
            allowed_hosts: Vec::new(),
            output: Output::Json,
            policy: None,
            advisories: Vec::new(),
            osv_api: None,
            cache_dir: dir.join("cache"),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let ran = Arc::new(AtomicBool::new(false));
        let (reports, errors) = runtime.block_on(async {
            let flag = ran.clone();
            tokio::spawn(async move { flag.store(true, Ordering::SeqCst) });
            let (reports, errors, _) = run(args).await;
            (reports, errors)
        });
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            errors.is_empty(),
            "{:?}",
            errors.iter().map(|e| &e.error).collect::<Vec<_>>()
        );
        assert_eq!(reports.len(), 1);
        assert!(
            ran.load(Ordering::SeqCst),
            "the other task ran while the scan was in progress"
        );
    }
}

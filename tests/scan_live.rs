//! Popular, well-known clean releases must not raise a High or Critical finding. Live: runs only
//! with `AIRLOCK_LIVE_TESTS=1`, reported as ignored otherwise (it downloads about 150 MB from PyPI
//! and npm).

use std::path::PathBuf;

use airlock::api::package_request::Severity;
use airlock::scan::command::{ScanArgs, run};
use airlock::scan::report::Output;

const PYPI: &[&str] = &[
    "requests==2.32.3",
    "urllib3==2.2.3",
    "certifi==2024.8.30",
    "idna==3.10",
    "six==1.16.0",
    "python-dateutil==2.9.0.post0",
    "packaging==24.2",
    "typing-extensions==4.12.2",
    "setuptools==75.6.0",
    "click==8.1.7",
    "jinja2==3.1.4",
    "attrs==24.2.0",
    "pluggy==1.5.0",
    "pytest==8.3.3",
    "rich==13.9.4",
    "tqdm==4.67.1",
    "boto3==1.35.0",
    "numpy==2.1.3",
    "pyyaml==6.0.2",
    "markupsafe==3.0.2",
];
const NPM: &[&str] = &[
    "lodash@4.17.21",
    "react@18.3.1",
    "chalk@5.3.0",
    "express@4.21.1",
    "axios@1.7.7",
    "commander@12.1.0",
    "debug@4.3.7",
    "tslib@2.8.1",
    "moment@2.30.1",
    "uuid@11.0.3",
];

/// The whole PyPA database where it sits beside the project, else the subset in the repository.
fn advisories() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let whole = root.join("../shared/data/osv/PyPI");
    if whole.is_dir() {
        whole
    } else {
        eprintln!("note: ../shared is not beside the project; advisories from tests/data/osv only");
        root.join("tests/data/osv/PyPI")
    }
}

#[tokio::test]
#[cfg_attr(
    not(airlock_live),
    ignore = "live: reaches the real PyPI and npm; set AIRLOCK_LIVE_TESTS=1"
)]
async fn popular_clean_releases_raise_no_high_finding() {
    let specs: Vec<String> = PYPI
        .iter()
        .map(|p| format!("pypi:{p}"))
        .chain(NPM.iter().map(|n| format!("npm:{n}")))
        .collect();
    let (reports, errors, _) = run(ScanArgs {
        specs,
        // Binary projects publish dozens of wheels; one platform's and the sdist are enough here.
        files: vec![
            "*cp311*manylinux*x86_64*".into(),
            "*-none-any.whl".into(),
            "*.tar.gz".into(),
            "*.tgz".into(),
        ],
        pypi_index: "https://pypi.org/simple/".parse().expect("url"),
        npm_registry: "https://registry.npmjs.org/".parse().expect("url"),
        allowed_hosts: vec![],
        output: Output::Json,
        policy: None,
        advisories: vec![advisories()],
        osv_api: None,
        cache_dir: std::env::temp_dir().join("airlock-live-scan-cache"),
    })
    .await;
    assert!(
        errors.is_empty(),
        "{:?}",
        errors
            .iter()
            .map(|e| format!("{}: {}", e.spec, e.error))
            .collect::<Vec<_>>()
    );
    assert_eq!(reports.len(), 30);
    let mut high = Vec::new();
    for (spec, r) in &reports {
        let rules: Vec<&str> = r.findings.iter().map(|f| f.rule.as_str()).collect();
        println!("{spec:<36} {:?} {rules:?}", r.ruling.verdict);
        high.extend(
            r.findings
                .iter()
                .filter(|f| f.severity >= Severity::High)
                .map(|f| format!("{spec}: {} {:?}", f.rule, f.file)),
        );
    }
    assert!(high.is_empty(), "{high:#?}");
}

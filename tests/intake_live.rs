//! Live smoke tests against the real PyPI and npm registries; run only with
//! `AIRLOCK_LIVE_TESTS=1`, reported as ignored otherwise (CI and the default test run stay
//! offline).

use airlock::net::client::{HttpClient, HttpConfig};
use airlock::package::PackageRef;
use airlock::pipeline::cache::Cache;
use airlock::pipeline::fetch::Fetcher;
use airlock::pipeline::resolve::{Registries, Resolver};
use airlock::pipeline::unpack::{Limits, unpack_path};

async fn intake(spec: &str, globs: &[String]) -> Vec<(String, u64, usize)> {
    let registries = Registries::default();
    let http = HttpClient::new(registries.allowed_hosts(), HttpConfig::default()).expect("client");
    let cache_dir = std::env::temp_dir().join(format!(
        "airlock-live-{}-{}",
        std::process::id(),
        spec.replace([':', '@', '/', '='], "_")
    ));
    let fetcher = Fetcher::new(http.clone(), Cache::open(&cache_dir).expect("cache"));
    let resolver = Resolver::new(http, registries);
    let package: PackageRef = spec.parse().expect("ref");
    let resolved = resolver.resolve(&package, globs).await.expect("resolve");
    let mut out = Vec::new();
    for file in &resolved.files {
        let fetched = fetcher.fetch(file).await.expect("fetch");
        let report = unpack_path(
            &fetched.path,
            &file.filename,
            &Limits::default(),
            &mut |_, _| Ok(()),
        )
        .expect("unpack");
        assert!(report.complete, "{}: {:?}", file.filename, report.findings);
        out.push((file.filename.clone(), report.entries, report.findings.len()));
    }
    let _ = std::fs::remove_dir_all(&cache_dir);
    out
}

#[tokio::test]
#[cfg_attr(
    not(airlock_live),
    ignore = "live: reaches the real PyPI and npm; set AIRLOCK_LIVE_TESTS=1"
)]
async fn requests_2_32_3_from_pypi() {
    let files = intake("pypi:requests==2.32.3", &[]).await;
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        vec!["requests-2.32.3-py3-none-any.whl", "requests-2.32.3.tar.gz"]
    );
    assert!(files.iter().all(|f| f.1 > 10 && f.2 == 0), "{files:?}");
}

#[tokio::test]
#[cfg_attr(
    not(airlock_live),
    ignore = "live: reaches the real PyPI and npm; set AIRLOCK_LIVE_TESTS=1"
)]
async fn left_pad_1_3_0_from_npm() {
    let files = intake("npm:left-pad@1.3.0", &[]).await;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].0, "left-pad-1.3.0.tgz");
    assert!(files[0].1 >= 5 && files[0].2 == 0, "{files:?}");
}

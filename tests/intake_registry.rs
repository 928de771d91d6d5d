//! Resolve and fetch against a fixture registry on 127.0.0.1: PEP 691 and the npm registry API,
//! digests, the cache, retries, stalls, tampering and host restrictions.

mod common;

use airlock::net::client::HttpError;
use airlock::package::PackageRef;
use airlock::package::file::FileKind;
use airlock::pipeline::fetch::FetchError;
use airlock::pipeline::resolve::ResolveError;
use common::archives;
use common::registry::{Fault, FixtureRegistry, pipeline, sha256_hex};
use serde_json::json;

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("airlock-intake-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Files under the cache's tmp/ (downloads in flight or abandoned).
fn leftovers(cache: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(cache.join("tmp"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn pkg(s: &str) -> PackageRef {
    s.parse().expect("package ref")
}

#[tokio::test]
async fn pypi_resolves_every_file_of_the_version_and_fetches_them_verified() {
    let reg = FixtureRegistry::start().await;
    let wheel = archives::wheel("demo-pkg", "1.0.0", "x = 1\n");
    reg.add_wheel_with_metadata(
        "demo-pkg",
        "demo_pkg-1.0.0-py3-none-any.whl",
        wheel.clone(),
        &archives::core_metadata("demo-pkg", "1.0.0"),
    );
    reg.add_pypi_file(
        "demo-pkg",
        "demo_pkg-1.0.0.tar.gz",
        archives::sdist("demo-pkg", "1.0.0"),
        Fault::default(),
        json!({}),
    );
    reg.add_pypi_file(
        "demo-pkg",
        "demo_pkg-1.0.0-py3.8.egg",
        vec![1, 2, 3],
        Fault::default(),
        json!({}),
    );
    reg.add_pypi_file(
        "demo-pkg",
        "demo_pkg-2.0-py3-none-any.whl",
        archives::wheel("demo-pkg", "2.0", ""),
        Fault::default(),
        json!({"yanked": "broken build"}),
    );
    let cache = tmpdir("pypi");
    let (resolver, fetcher) = pipeline(&reg, &cache);

    // `Demo.Pkg==1.0` names the same project and release as demo-pkg 1.0.0.
    let r = resolver
        .resolve(&pkg("pypi:Demo.Pkg==1.0"), &[])
        .await
        .expect("resolve");
    assert_eq!(r.version, "1.0.0");
    let names: Vec<_> = r
        .files
        .iter()
        .map(|f| (f.filename.as_str(), f.kind))
        .collect();
    assert_eq!(
        names,
        vec![
            ("demo_pkg-1.0.0-py3-none-any.whl", FileKind::Wheel),
            ("demo_pkg-1.0.0.tar.gz", FileKind::Sdist)
        ]
    );
    assert_eq!(
        r.skipped.len(),
        1,
        "the egg is reported, not silently dropped"
    );
    assert_eq!(r.metadata.license.as_deref(), Some("MIT"));
    assert_eq!(r.metadata.dependencies, vec!["requests>=2"]);
    assert_eq!(
        r.files[0].digests.sha256.as_deref(),
        Some(sha256_hex(&wheel).as_str())
    );
    assert_eq!(
        r.files[0].upload_time.as_deref(),
        Some("2024-09-01T12:00:00.000000Z")
    );

    // Narrowed by globs.
    let only_sdist = resolver
        .resolve(&pkg("pypi:demo-pkg==1.0.0"), &["*.tar.gz".into()])
        .await
        .expect("resolve");
    assert_eq!(only_sdist.files.len(), 1);
    let err = resolver
        .resolve(&pkg("pypi:demo-pkg==1.0.0"), &["*cp311*".into()])
        .await
        .expect_err("no match");
    assert!(
        err.to_string().contains("demo_pkg-1.0.0.tar.gz"),
        "lists what there is: {err}"
    );

    // Fetch: verified, cached, never downloaded twice.
    let fetched = fetcher.fetch(&r.files[0]).await.expect("fetch");
    assert_eq!(std::fs::read(&fetched.path).expect("read"), wheel);
    assert!(!fetched.cached);
    let again = fetcher.fetch(&r.files[0]).await.expect("fetch again");
    assert!(again.cached);
    assert_eq!(reg.hits("/files/demo_pkg-1.0.0-py3-none-any.whl"), 1);

    // Yanked versions resolve (an exact pin may install them) with a warning.
    let yanked = resolver
        .resolve(&pkg("pypi:demo-pkg==2.0"), &[])
        .await
        .expect("resolve");
    assert!(
        yanked
            .warning
            .as_deref()
            .is_some_and(|w| w.contains("yanked") && w.contains("broken build")),
        "{:?}",
        yanked.warning
    );

    // What does not exist says so, and is not worth retrying.
    let err = resolver
        .resolve(&pkg("pypi:demo-pkg==3.0"), &[])
        .await
        .expect_err("no version");
    assert!(matches!(err, ResolveError::VersionNotFound { .. }) && !err.retryable());
    assert!(
        err.to_string().contains("2.0"),
        "names the versions there are: {err}"
    );
    let err = resolver
        .resolve(&pkg("pypi:no-such-thing==1.0"), &[])
        .await
        .expect_err("no package");
    assert!(matches!(err, ResolveError::PackageNotFound { .. }), "{err}");
    assert!(leftovers(&cache).is_empty());
}

#[tokio::test]
async fn npm_resolves_scoped_packages_and_verifies_the_integrity_digest() {
    let reg = FixtureRegistry::start().await;
    let tarball = archives::npm_tarball(
        r#"{"name":"@acme/widget","version":"1.2.3"}"#,
        "module.exports = 1;\n",
    );
    reg.add_npm_version(
        "@acme/widget",
        "1.2.3",
        tarball.clone(),
        Fault::default(),
        json!({
            "scripts": {"postinstall": "node setup.js", "test": "jest"},
            "dependencies": {"left-pad": "^1.3.0"},
            "deprecated": "use @acme/widget2",
        }),
    );
    let cache = tmpdir("npm");
    let (resolver, fetcher) = pipeline(&reg, &cache);
    let r = resolver
        .resolve(&pkg("npm:@acme/widget@1.2.3"), &[])
        .await
        .expect("resolve");
    assert_eq!(r.files.len(), 1);
    assert_eq!(r.files[0].filename, "widget-1.2.3.tgz");
    assert_eq!(
        r.files[0].digests.sha512.as_ref().map(String::len),
        Some(128)
    );
    assert_eq!(
        r.metadata.install_scripts.keys().collect::<Vec<_>>(),
        vec!["postinstall"]
    );
    assert_eq!(r.metadata.dependencies, vec!["left-pad@^1.3.0"]);
    assert!(
        r.warning
            .as_deref()
            .is_some_and(|w| w.contains("@acme/widget2"))
    );
    assert!(r.metadata.registry_manifest.is_some());
    let f = fetcher.fetch(&r.files[0]).await.expect("fetch");
    assert_eq!(f.sha256, sha256_hex(&tarball));
    // Known by its sha512 only, it is still found in the cache the second time.
    assert!(fetcher.fetch(&r.files[0]).await.expect("again").cached);
    assert_eq!(reg.hits("/npm-files/widget-1.2.3.tgz"), 1);
    let err = resolver
        .resolve(&pkg("npm:@acme/widget@9.9.9"), &[])
        .await
        .expect_err("missing");
    assert!(err.to_string().contains("1.2.3"), "{err}");
}

#[tokio::test]
async fn a_registry_that_answers_503_twice_then_succeeds_is_retried() {
    let reg = FixtureRegistry::start().await;
    let data = archives::sdist("flaky", "1.0");
    reg.add_pypi_file(
        "flaky",
        "flaky-1.0.tar.gz",
        data.clone(),
        Fault {
            fail_first: 2,
            ..Fault::default()
        },
        json!({}),
    );
    let cache = tmpdir("flaky");
    let (resolver, fetcher) = pipeline(&reg, &cache);
    let r = resolver
        .resolve(&pkg("pypi:flaky==1.0"), &[])
        .await
        .expect("resolve");
    let f = fetcher.fetch(&r.files[0]).await.expect("third time lucky");
    assert_eq!(std::fs::read(&f.path).expect("read"), data);
    assert_eq!(reg.hits("/files/flaky-1.0.tar.gz"), 3);
}

#[tokio::test]
async fn bytes_that_do_not_match_the_registry_digest_are_discarded() {
    let reg = FixtureRegistry::start().await;
    let real = archives::sdist("tampered", "1.0");
    let evil = archives::sdist("tampered", "6.6.6");
    reg.add_pypi_file(
        "tampered",
        "tampered-1.0.tar.gz",
        real.clone(),
        Fault {
            tampered: Some(evil.clone()),
            ..Fault::default()
        },
        json!({}),
    );
    let cache = tmpdir("tampered");
    let (resolver, fetcher) = pipeline(&reg, &cache);
    let r = resolver
        .resolve(&pkg("pypi:tampered==1.0"), &[])
        .await
        .expect("resolve");
    let err = fetcher.fetch(&r.files[0]).await.expect_err("mismatch");
    let FetchError::DigestMismatch {
        algorithm,
        expected,
        actual,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        (*algorithm, expected.as_str(), actual.as_str()),
        (
            "sha256",
            sha256_hex(&real).as_str(),
            sha256_hex(&evil).as_str()
        )
    );
    assert!(
        err.to_string().contains(&sha256_hex(&real))
            && err.to_string().contains(&sha256_hex(&evil))
    );
    assert!(!err.retryable());
    assert!(leftovers(&cache).is_empty(), "no partial file left");
    assert!(
        fetcher.cache.get(&sha256_hex(&evil)).is_none()
            && fetcher.cache.get(&sha256_hex(&real)).is_none()
    );
}

#[tokio::test]
async fn a_download_that_stalls_mid_body_times_out_and_leaves_nothing() {
    let reg = FixtureRegistry::start().await;
    let data = vec![7u8; 200_000];
    reg.add_pypi_file(
        "stall",
        "stall-1.0.tar.gz",
        data,
        Fault {
            stall_after: Some(50_000),
            ..Fault::default()
        },
        json!({}),
    );
    let cache = tmpdir("stall");
    let (resolver, fetcher) = pipeline(&reg, &cache);
    let r = resolver
        .resolve(&pkg("pypi:stall==1.0"), &[])
        .await
        .expect("resolve");
    let err = fetcher.fetch(&r.files[0]).await.expect_err("stalls");
    assert!(
        matches!(
            &err,
            FetchError::Http {
                source: HttpError::Timeout { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("stalled"), "{err}");
    assert_eq!(
        reg.hits("/files/stall-1.0.tar.gz"),
        4,
        "retried up to the attempt limit"
    );
    assert!(leftovers(&cache).is_empty());
}

#[tokio::test]
async fn files_and_redirects_to_hosts_the_configuration_does_not_allow_are_refused() {
    let reg = FixtureRegistry::start().await;
    reg.add_pypi_file(
        "elsewhere",
        "elsewhere-1.0.tar.gz",
        vec![1],
        Fault::default(),
        json!({"url": "http://127.0.0.2:9/elsewhere-1.0.tar.gz"}),
    );
    reg.add_pypi_file(
        "bounce",
        "bounce-1.0.tar.gz",
        vec![1],
        Fault {
            redirect: Some("http://127.0.0.2:9/x".into()),
            ..Fault::default()
        },
        json!({}),
    );
    let cache = tmpdir("hosts");
    let (resolver, fetcher) = pipeline(&reg, &cache);
    for name in ["elsewhere", "bounce"] {
        let r = resolver
            .resolve(&pkg(&format!("pypi:{name}==1.0")), &[])
            .await
            .expect("resolve");
        let err = fetcher.fetch(&r.files[0]).await.expect_err("refused");
        assert!(
            matches!(
                &err,
                FetchError::Http {
                    source: HttpError::HostNotAllowed { .. },
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("127.0.0.2:9"), "{err}");
    }
}

#[tokio::test]
async fn files_larger_than_the_cap_are_refused() {
    let reg = FixtureRegistry::start().await;
    reg.add_pypi_file(
        "big",
        "big-1.0.tar.gz",
        vec![0; 10_000],
        Fault::default(),
        json!({}),
    );
    let cache = tmpdir("big");
    let (resolver, mut fetcher) = pipeline(&reg, &cache);
    fetcher.max_file_bytes = 1000;
    let r = resolver
        .resolve(&pkg("pypi:big==1.0"), &[])
        .await
        .expect("resolve");
    let err = fetcher.fetch(&r.files[0]).await.expect_err("too big");
    assert!(err.to_string().contains("1000-byte limit"), "{err}");
    assert!(leftovers(&cache).is_empty());
}

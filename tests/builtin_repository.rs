//! The built-in repository served to the real clients: `pip install` and `npm install` fetch
//! what airlock published, verify its hashes, and install it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use airlock::api::package_request::Ecosystem;
use airlock::publish::builtin::server::RepositoryServer;
use airlock::publish::builtin::store::{Published, Store, StoreError};
use common::archives;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("airlock-builtin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    d
}

/// pip from the project's venv (`.ci/run` makes it), else the machine's.
fn pip() -> Command {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/pip");
    if venv.exists() {
        Command::new(venv)
    } else {
        let mut c = Command::new("python3");
        c.args(["-m", "pip"]);
        c
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

async fn pip_install(index: &str, spec: &str, target: &Path) -> std::process::Output {
    let mut c = pip();
    c.args([
        "install",
        "--no-deps",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--index-url",
        index,
        "--target",
    ])
    .arg(target)
    .arg(spec);
    tokio::task::spawn_blocking(move || c.output().expect("pip runs"))
        .await
        .expect("join")
}

#[tokio::test]
async fn pip_installs_what_airlock_published() {
    let dir = tmp("pip");
    let store = Arc::new(Store::open(dir.join("repo")).expect("store"));
    let wheel = write(
        &dir,
        "demo_pkg-1.0-py3-none-any.whl",
        &archives::wheel("demo-pkg", "1.0", "ANSWER = 42\n"),
    );
    let sdist = write(
        &dir,
        "demo_pkg-1.0.tar.gz",
        &archives::sdist("demo-pkg", "1.0"),
    );
    assert_eq!(
        store
            .publish_pypi(
                "Demo.Pkg",
                "1.0",
                "demo_pkg-1.0-py3-none-any.whl",
                &wheel,
                Some(">=3.8")
            )
            .expect("publish"),
        Published::Created
    );
    store
        .publish_pypi("demo-pkg", "1.0", "demo_pkg-1.0.tar.gz", &sdist, None)
        .expect("publish");
    let server = RepositoryServer::start("127.0.0.1:0".parse().expect("addr"), store.clone())
        .await
        .expect("server");

    let out = pip_install(&server.pypi_index_url(), "demo_pkg==1.0", &dir.join("site")).await;
    assert!(
        out.status.success(),
        "pip failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let installed =
        std::fs::read_to_string(dir.join("site/demo_pkg/__init__.py")).expect("installed module");
    assert_eq!(installed, "ANSWER = 42\n");

    // Republishing the same bytes is a no-op; different bytes under the same name are refused and
    // the original stays what is served.
    assert_eq!(
        store
            .publish_pypi(
                "demo-pkg",
                "1.0",
                "demo_pkg-1.0-py3-none-any.whl",
                &wheel,
                None
            )
            .expect("again"),
        Published::AlreadyPresent
    );
    let other = write(
        &dir,
        "other.whl",
        &archives::wheel("demo-pkg", "1.0", "ANSWER = 666\n"),
    );
    let err = store
        .publish_pypi(
            "demo-pkg",
            "1.0",
            "demo_pkg-1.0-py3-none-any.whl",
            &other,
            None,
        )
        .expect_err("conflict");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("never replaced"), "{err}");

    // The index survives a restart: a new store and server on the same directory.
    drop(server);
    let reopened = Arc::new(Store::open(dir.join("repo")).expect("store"));
    let server = RepositoryServer::start("127.0.0.1:0".parse().expect("addr"), reopened.clone())
        .await
        .expect("server");
    let out = pip_install(
        &server.pypi_index_url(),
        "demo-pkg==1.0",
        &dir.join("site2"),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("site2/demo_pkg/__init__.py")).expect("installed"),
        "ANSWER = 42\n"
    );

    // Unlisted versions leave the index.
    assert!(
        reopened
            .unlist(Ecosystem::Pypi, "demo-pkg", "1.0.0")
            .expect("unlist")
    );
    let out = pip_install(
        &server.pypi_index_url(),
        "demo-pkg==1.0",
        &dir.join("site3"),
    )
    .await;
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn npm_installs_scoped_and_plain_packages_from_the_built_in_registry() {
    let dir = tmp("npm");
    let store = Arc::new(Store::open(dir.join("repo")).expect("store"));
    for (name, file) in [("@acme/widget", "widget.tgz"), ("tiny-pad", "tiny-pad.tgz")] {
        let manifest = serde_json::json!({"name": name, "version": "1.2.3", "main": "index.js", "license": "MIT"});
        let tarball = write(
            &dir,
            file,
            &archives::npm_tarball(&manifest.to_string(), "module.exports = 'padded';\n"),
        );
        assert_eq!(
            store.publish_npm(&manifest, &tarball).expect("publish"),
            Published::Created
        );
        assert_eq!(
            store.publish_npm(&manifest, &tarball).expect("again"),
            Published::AlreadyPresent
        );
    }
    let server = RepositoryServer::start("127.0.0.1:0".parse().expect("addr"), store)
        .await
        .expect("server");
    let project = dir.join("project");
    std::fs::create_dir_all(&project).expect("dir");
    std::fs::write(
        project.join("package.json"),
        r#"{"name":"consumer","version":"1.0.0","private":true}"#,
    )
    .expect("write");
    let registry = server.npm_registry_url();
    let cache = dir.join("npm-cache");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--registry",
                &registry,
                "--cache",
            ])
            .arg(&cache)
            .args(["@acme/widget@1.2.3", "tiny-pad@1.2.3"])
            .current_dir(&project)
            .output()
            .expect("npm runs")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "npm failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for pkg in ["@acme/widget", "tiny-pad"] {
        let js =
            std::fs::read_to_string(dir.join("project/node_modules").join(pkg).join("index.js"))
                .expect("installed");
        assert_eq!(js, "module.exports = 'padded';\n");
    }
    let lock = std::fs::read_to_string(dir.join("project/package-lock.json")).expect("lock");
    assert!(
        lock.contains("sha512-"),
        "npm recorded the integrity it verified"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

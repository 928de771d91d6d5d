//! The built-in repository served to the real clients: `pip install` and `npm install` fetch
//! what airlock published, verify its hashes, and install it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use airlock::api::package_request::Ecosystem;
use airlock::publish::builtin::server::RepositoryServer;
use airlock::publish::builtin::store::{Published, Store, StoreError, Withdrawal};
use common::archives;

fn tmp(name: &str) -> common::dev::TempDir {
    common::dev::tmp(&format!("builtin-{name}"))
}

/// pip from the project's venv (`scripts/test-tools.sh` makes it), else the machine's.
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
            .withdraw(Ecosystem::Pypi, "demo-pkg", "1.0.0", Withdrawal::Unlist)
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

    // The tarball URLs name the server as configured, whatever Host a client sends: a request
    // that claims to be for another host cannot make the index point anywhere else.
    let addr = server.addr;
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        write!(
            s,
            "GET /npm/tiny-pad HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    })
    .await
    .expect("join");
    assert!(
        answer.contains(&format!("http://{addr}/npm/tiny-pad/-/")),
        "{answer}"
    );
    assert!(!answer.contains("evil.example"), "{answer}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// GET over plain HTTP off the runtime's threads (the server runs on them).
async fn get(url: String) -> (u16, String) {
    tokio::task::spawn_blocking(move || common::dev::http_get(&url))
        .await
        .expect("join")
}

/// The deletion policies as CodeArtifact means them: Unlist keeps the file downloadable by URL,
/// Archive keeps the bytes but refuses them, Dispose deletes them — except bytes another live
/// version still has.
#[tokio::test]
async fn unlist_archive_and_dispose_withdraw_as_codeartifact_does() {
    let dir = tmp("withdraw");
    let store = Arc::new(Store::open(dir.join("repo")).expect("store"));
    let v1 = write(
        &dir,
        "v1.whl",
        &archives::wheel("demo-pkg", "1.0", "V = 1\n"),
    );
    let v2 = write(
        &dir,
        "v2.whl",
        &archives::wheel("demo-pkg", "2.0", "V = 2\n"),
    );
    for (version, file, bytes) in [
        ("1.0", "demo_pkg-1.0-py3-none-any.whl", &v1),
        ("2.0", "demo_pkg-2.0-py3-none-any.whl", &v2),
        // The same bytes as 1.0 under another version: one blob, two index entries.
        ("1.0.post1", "demo_pkg-1.0.post1-py3-none-any.whl", &v1),
    ] {
        store
            .publish_pypi("demo-pkg", version, file, bytes, None)
            .expect("publish");
    }
    let manifest =
        |v: &str| serde_json::json!({"name": "tiny-pad", "version": v, "license": "MIT"});
    for v in ["1.0.0", "1.0.1"] {
        let tgz = write(
            &dir,
            &format!("tiny-pad-{v}.tgz"),
            &archives::npm_tarball(
                &manifest(v).to_string(),
                &format!("module.exports = '{v}';\n"),
            ),
        );
        store.publish_npm(&manifest(v), &tgz).expect("publish npm");
    }
    let server = RepositoryServer::start("127.0.0.1:0".parse().expect("addr"), store.clone())
        .await
        .expect("server");
    let index = server.pypi_index_url();
    let base = index.trim_end_matches("/simple/").to_string();
    let sha_of = |version: &str| {
        store
            .pypi_project("demo-pkg")
            .expect("read")
            .expect("project")
            .files
            .into_iter()
            .find(|f| f.version == version)
            .map(|f| (f.sha256, f.filename))
            .expect("file")
    };
    let (sha1, name1) = sha_of("1.0");
    let (sha2, name2) = sha_of("2.0");
    let url1 = format!("{base}/files/{sha1}/{name1}");
    let url2 = format!("{base}/files/{sha2}/{name2}");
    let blob = |sha: &str| dir.join("repo/blobs/sha256").join(&sha[..2]).join(sha);
    let listed = |body: &str, file: &str| body.contains(&format!("\"filename\":\"{file}\""));

    // Unlist: out of the index, still downloadable by URL.
    assert!(
        store
            .withdraw(Ecosystem::Pypi, "demo-pkg", "1.0", Withdrawal::Unlist)
            .expect("unlist")
    );
    assert!(
        !store
            .withdraw(Ecosystem::Pypi, "demo-pkg", "1.0", Withdrawal::Unlist)
            .expect("again")
    );
    let (_, page) = get(format!("{index}demo-pkg/")).await;
    assert!(!listed(&page, &name1) && listed(&page, &name2), "{page}");
    assert_eq!(
        get(url1.clone()).await.0,
        200,
        "an unlisted file still downloads"
    );

    // Archive 2.0: refused, bytes kept; publishing it again restores it.
    assert!(
        store
            .withdraw(Ecosystem::Pypi, "demo-pkg", "2.0", Withdrawal::Archive)
            .expect("archive")
    );
    assert_eq!(
        get(url2.clone()).await.0,
        404,
        "an archived file does not download"
    );
    assert!(blob(&sha2).is_file(), "archiving keeps the bytes");
    let (_, page) = get(format!("{index}demo-pkg/")).await;
    assert!(!listed(&page, &name2), "{page}");
    // The same bytes published as a new version are that version's to download; disposing that
    // version withholds them again, since only the archived 2.0 is left with them.
    let twin = "demo_pkg-2.0.post1-py3-none-any.whl";
    assert_eq!(
        store
            .publish_pypi("demo-pkg", "2.0.post1", twin, &v2, None)
            .expect("publish the same bytes"),
        Published::Created
    );
    assert_eq!(
        get(url2.clone()).await.0,
        200,
        "a listed entry's bytes download"
    );
    assert!(
        store
            .withdraw(
                Ecosystem::Pypi,
                "demo-pkg",
                "2.0.post1",
                Withdrawal::Dispose
            )
            .expect("dispose the twin")
    );
    assert_eq!(
        get(url2.clone()).await.0,
        404,
        "only the archived 2.0 has them"
    );
    assert!(
        blob(&sha2).is_file(),
        "the archived 2.0 still refers to them"
    );
    assert_eq!(
        store
            .publish_pypi("demo-pkg", "2.0", &name2, &v2, None)
            .expect("republish"),
        Published::Created
    );
    assert_eq!(get(url2.clone()).await.0, 200, "restored");

    // Archive 1.0: its bytes are also 1.0.post1's, which is live, so they still download.
    assert!(
        store
            .withdraw(Ecosystem::Pypi, "demo-pkg", "1.0", Withdrawal::Archive)
            .expect("archive")
    );
    assert_eq!(
        get(url1.clone()).await.0,
        200,
        "shared bytes stay downloadable"
    );
    // Dispose 1.0: its entry goes; the shared blob stays for 1.0.post1.
    assert!(
        store
            .withdraw(Ecosystem::Pypi, "demo-pkg", "1.0", Withdrawal::Dispose)
            .expect("dispose")
    );
    assert!(blob(&sha1).is_file(), "1.0.post1 still has these bytes");
    // Dispose 1.0.post1 as well: nothing refers to the blob any more, so it is deleted.
    assert!(
        store
            .withdraw(
                Ecosystem::Pypi,
                "demo-pkg",
                "1.0.post1",
                Withdrawal::Dispose
            )
            .expect("dispose")
    );
    assert!(!blob(&sha1).exists(), "disposed bytes are deleted");
    assert_eq!(get(url1).await.0, 404);
    assert!(
        !store
            .withdraw(Ecosystem::Pypi, "demo-pkg", "1.0", Withdrawal::Dispose)
            .expect("again")
    );
    let versions: Vec<String> = store
        .pypi_project("demo-pkg")
        .expect("read")
        .expect("project")
        .files
        .into_iter()
        .map(|f| f.version)
        .collect();
    assert_eq!(versions, ["2.0"]);
    assert_eq!(get(url2).await.0, 200, "other versions are untouched");

    // npm: an archived version leaves the document and its tarball is refused; disposing the
    // last version leaves no package.
    let registry = server.npm_registry_url();
    let tarball = |v: &str| format!("{registry}tiny-pad/-/tiny-pad-{v}.tgz");
    assert!(
        store
            .withdraw(Ecosystem::Npm, "tiny-pad", "1.0.0", Withdrawal::Archive)
            .expect("archive")
    );
    let (code, doc) = get(format!("{registry}tiny-pad")).await;
    assert_eq!(code, 200);
    let doc: serde_json::Value = serde_json::from_str(&doc).expect("json");
    assert!(
        doc["versions"].get("1.0.0").is_none() && doc["versions"].get("1.0.1").is_some(),
        "{doc}"
    );
    assert_eq!(doc["dist-tags"]["latest"], "1.0.1");
    assert_eq!(get(tarball("1.0.0")).await.0, 404);
    assert_eq!(get(tarball("1.0.1")).await.0, 200);
    assert!(
        store
            .withdraw(Ecosystem::Npm, "tiny-pad", "1.0.0", Withdrawal::Dispose)
            .expect("dispose")
    );
    assert!(
        store
            .withdraw(Ecosystem::Npm, "tiny-pad", "1.0.1", Withdrawal::Dispose)
            .expect("dispose")
    );
    assert_eq!(get(format!("{registry}tiny-pad")).await.0, 404);
    assert_eq!(get(tarball("1.0.1")).await.0, 404);
    let blobs = std::fs::read_dir(dir.join("repo/blobs/sha256"))
        .expect("blobs")
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .count();
    assert_eq!(blobs, 1, "only 2.0's wheel is left");
    let _ = std::fs::remove_dir_all(&dir);
}

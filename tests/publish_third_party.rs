//! airlock's uploads against real third-party servers, installed by `scripts/test-tools.sh`: `pypiserver`
//! (PyPI legacy upload, auth on, user `aws`) and `verdaccio` (npm publish), then installed from
//! them with the real `pip` and `npm`.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use airlock::net::client::{HttpClient, HttpConfig};
use airlock::package::file::FileKind;
use airlock::publish::upload::npm::{self, NpmTarget};
use airlock::publish::upload::pypi::{self, Distribution, PypiTarget};
use airlock::publish::upload::{Outcome, Secret, UploadError};
use common::archives;

/// A server process, stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

async fn wait_for(port: u16, what: &str) {
    let start = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} did not start on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmp(name: &str) -> common::dev::TempDir {
    common::dev::tmp(&format!("3p-{name}"))
}

fn client(port: u16) -> HttpClient {
    HttpClient::new(vec![format!("127.0.0.1:{port}")], HttpConfig::default()).expect("client")
}

fn tool(path: &str) -> PathBuf {
    let p = root().join(path);
    assert!(
        p.exists(),
        "{} is missing: run `bash scripts/test-tools.sh` (the README's test command, scripts/test.sh, runs it first)",
        p.display()
    );
    p
}

#[tokio::test]
async fn pypiserver_accepts_airlock_uploads_and_pip_installs_them() {
    let dir = tmp("pypiserver");
    let python = tool(".venv/bin/python");
    let htpasswd = dir.join("htpasswd");
    let status = Command::new(&python)
        .args(["-c", "import sys; from passlib.apache import HtpasswdFile as H; h = H(sys.argv[1], new=True, default_scheme='apr_md5_crypt'); h.set_password('aws', 'token-123'); h.save()"])
        .arg(&htpasswd)
        .status()
        .expect("python");
    assert!(status.success());
    std::fs::create_dir_all(dir.join("packages")).expect("dir");
    let port = free_port();
    let _server = Server(
        Command::new(tool(".venv/bin/pypi-server"))
            .args([
                "run",
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-a",
                "update",
                "--hash-algo",
                "sha256",
                "--disable-fallback",
                "-P",
            ])
            .arg(&htpasswd)
            .arg(dir.join("packages"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pypi-server starts"),
    );
    wait_for(port, "pypiserver").await;
    let http = client(port);
    let target = |password: &str| PypiTarget {
        upload_url: format!("http://127.0.0.1:{port}/").parse().expect("url"),
        simple_url: format!("http://127.0.0.1:{port}/simple/")
            .parse()
            .expect("url"),
        username: "aws".into(),
        password: Secret::new(password),
    };
    let wheel = dir.join("demo_pkg-1.0-py3-none-any.whl");
    std::fs::write(&wheel, archives::wheel("demo-pkg", "1.0", "ANSWER = 42\n")).expect("write");
    let dist = Distribution {
        path: &wheel,
        filename: "demo_pkg-1.0-py3-none-any.whl",
        kind: FileKind::Wheel,
    };

    let err = pypi::upload(&http, &target("wrong"), &dist)
        .await
        .expect_err("bad password");
    assert!(matches!(err, UploadError::Unauthorized { .. }), "{err}");
    assert!(!err.to_string().contains("wrong") && !format!("{err:?}").contains("token-123"));

    assert_eq!(
        pypi::upload(&http, &target("token-123"), &dist)
            .await
            .expect("upload"),
        Outcome::Published
    );
    assert_eq!(
        pypi::upload(&http, &target("token-123"), &dist)
            .await
            .expect("again"),
        Outcome::AlreadyPresent
    );
    let other = dir.join("other").join("demo_pkg-1.0-py3-none-any.whl");
    std::fs::create_dir_all(other.parent().expect("parent")).expect("dir");
    std::fs::write(&other, archives::wheel("demo-pkg", "1.0", "ANSWER = 666\n")).expect("write");
    let err = pypi::upload(
        &http,
        &target("token-123"),
        &Distribution {
            path: &other,
            ..dist
        },
    )
    .await
    .expect_err("conflict");
    assert!(matches!(err, UploadError::Conflict { .. }), "{err}");

    let out = Command::new(tool(".venv/bin/pip"))
        .args([
            "install",
            "--no-deps",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--index-url",
            &format!("http://127.0.0.1:{port}/simple/"),
            "--target",
        ])
        .arg(dir.join("site"))
        .arg("demo-pkg==1.0")
        .output()
        .expect("pip");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("site/demo_pkg/__init__.py")).expect("installed"),
        "ANSWER = 42\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn verdaccio_config(dir: &Path, port: u16) -> PathBuf {
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "storage: {storage}\nauth:\n  htpasswd:\n    file: {htpasswd}\n    max_users: 100\nuplinks: {{}}\npackages:\n  '@*/*':\n    access: $all\n    publish: $authenticated\n  '**':\n    access: $all\n    publish: $authenticated\nlisten: 127.0.0.1:{port}\nlog: {{ type: stdout, format: pretty, level: error }}\n",
            storage = dir.join("storage").display(),
            htpasswd = dir.join("htpasswd").display(),
        ),
    )
    .expect("config");
    config
}

#[tokio::test]
async fn verdaccio_accepts_airlock_npm_publishes_and_npm_installs_them() {
    let dir = tmp("verdaccio");
    let port = free_port();
    let config = verdaccio_config(&dir, port);
    let _server = Server(
        Command::new("node")
            .arg(tool(".ci/verdaccio/node_modules/verdaccio/bin/verdaccio"))
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("verdaccio starts"),
    );
    wait_for(port, "verdaccio").await;
    let http = client(port);
    // A user, and its token, through the registry's own API (what `npm adduser` does).
    let (status, body) = http
        .exchange(
            http::Method::PUT,
            &format!("http://127.0.0.1:{port}/-/user/org.couchdb.user:aws")
                .parse()
                .expect("url"),
            &[(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            )],
            bytes::Bytes::from(r#"{"name":"aws","password":"s3cret-pass"}"#),
            1 << 20,
        )
        .await
        .expect("adduser");
    assert!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    let token = serde_json::from_slice::<serde_json::Value>(&body).expect("json")["token"]
        .as_str()
        .expect("token")
        .to_string();
    let target = NpmTarget {
        registry: format!("http://127.0.0.1:{port}/").parse().expect("url"),
        token: Secret::new(token),
    };

    let mut published = Vec::new();
    for (name, file) in [
        ("@acme/widget", "widget-1.2.3.tgz"),
        ("tiny-pad", "tiny-pad-1.2.3.tgz"),
    ] {
        let manifest = serde_json::json!({"name": name, "version": "1.2.3", "main": "index.js", "license": "MIT"});
        let path = dir.join(file);
        std::fs::write(
            &path,
            archives::npm_tarball(&manifest.to_string(), "module.exports = 'padded';\n"),
        )
        .expect("write");
        assert_eq!(
            npm::publish(&http, &target, &path, file)
                .await
                .expect("publish"),
            Outcome::Published,
            "{name}"
        );
        assert_eq!(
            npm::publish(&http, &target, &path, file)
                .await
                .expect("again"),
            Outcome::AlreadyPresent
        );
        published.push(path);
    }
    let changed = dir.join("changed").join("tiny-pad-1.2.3.tgz");
    std::fs::create_dir_all(changed.parent().expect("parent")).expect("dir");
    std::fs::write(
        &changed,
        archives::npm_tarball(
            r#"{"name":"tiny-pad","version":"1.2.3"}"#,
            "module.exports = 'evil';\n",
        ),
    )
    .expect("write");
    let err = npm::publish(&http, &target, &changed, "tiny-pad-1.2.3.tgz")
        .await
        .expect_err("conflict");
    assert!(matches!(err, UploadError::Conflict { .. }), "{err}");
    let bad = NpmTarget {
        token: Secret::new("not-a-token"),
        ..target.clone()
    };
    let fresh = dir.join("fresh-1.0.0.tgz");
    std::fs::write(
        &fresh,
        archives::npm_tarball(r#"{"name":"fresh","version":"1.0.0"}"#, ""),
    )
    .expect("write");
    let err = npm::publish(&http, &bad, &fresh, "fresh-1.0.0.tgz")
        .await
        .expect_err("no token");
    assert!(
        matches!(
            err,
            UploadError::Unauthorized { .. } | UploadError::Refused { .. }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("not-a-token"));

    let project = dir.join("project");
    std::fs::create_dir_all(&project).expect("dir");
    std::fs::write(
        project.join("package.json"),
        r#"{"name":"consumer","version":"1.0.0","private":true}"#,
    )
    .expect("write");
    let out = Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--registry",
            &format!("http://127.0.0.1:{port}/"),
            "--cache",
        ])
        .arg(dir.join("npm-cache"))
        .args(["@acme/widget@1.2.3", "tiny-pad@1.2.3"])
        .current_dir(&project)
        .output()
        .expect("npm");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for pkg in ["@acme/widget", "tiny-pad"] {
        assert_eq!(
            std::fs::read_to_string(project.join("node_modules").join(pkg).join("index.js"))
                .expect("installed"),
            "module.exports = 'padded';\n"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

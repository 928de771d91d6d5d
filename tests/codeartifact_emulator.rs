//! airlock's CodeArtifact publisher, through the real aws-sdk-codeartifact client, against the
//! emulator of `airlock dev` — and the emulator's repository endpoints against the real `twine`,
//! `pip` and `npm`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock::dev::codeartifact::CodeArtifactEmulator;
use airlock::package::file::FileKind;
use airlock::publish::codeartifact::{PublishError, Publisher, Repository};
use airlock::publish::upload::{Outcome, UploadError};
use aws_sdk_codeartifact::types::{PackageFormat, PackageVersionStatus};
use common::archives;

fn tmp(name: &str) -> common::dev::TempDir {
    common::dev::tmp(&format!("ca-{name}"))
}

async fn emulator(dir: &Path) -> (CodeArtifactEmulator, aws_sdk_codeartifact::Client) {
    let emu =
        CodeArtifactEmulator::start("127.0.0.1:0".parse().expect("addr"), dir.join("emulator"))
            .await
            .expect("emulator");
    emu.create("airlock", &["pypi-approved", "npm-approved"])
        .expect("repositories");
    let client = common::aws::codeartifact(&emu.endpoint_url());
    (emu, client)
}

fn repo(name: &str) -> Repository {
    Repository {
        domain: "airlock".into(),
        domain_owner: None,
        repository: name.into(),
    }
}

fn venv(tool: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(tool);
    assert!(
        p.exists(),
        "{} is missing: run `bash scripts/test-tools.sh` (scripts/test.sh runs it first)",
        p.display()
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_is_idempotent_conflicts_keep_the_original_and_unlist_hides_it() {
    let dir = tmp("pypi");
    let (_emu, client) = emulator(&dir).await;
    let publisher = Publisher::new(client.clone());
    let wheel = dir.join("demo_pkg-1.0-py3-none-any.whl");
    let sdist = dir.join("demo_pkg-1.0.tar.gz");
    std::fs::write(&wheel, archives::wheel("demo-pkg", "1.0", "ANSWER = 42\n")).expect("write");
    std::fs::write(&sdist, archives::sdist("demo-pkg", "1.0")).expect("write");
    let files = [
        (
            wheel.as_path(),
            "demo_pkg-1.0-py3-none-any.whl",
            FileKind::Wheel,
        ),
        (sdist.as_path(), "demo_pkg-1.0.tar.gz", FileKind::Sdist),
    ];
    let target = repo("pypi-approved");

    assert_eq!(
        publisher
            .publish_pypi(&target, "demo-pkg", "1.0", &files)
            .await
            .expect("publish"),
        vec![Outcome::Published, Outcome::Published]
    );
    assert_eq!(
        publisher
            .publish_pypi(&target, "demo-pkg", "1.0", &files)
            .await
            .expect("again"),
        vec![Outcome::AlreadyPresent, Outcome::AlreadyPresent]
    );

    let other = dir.join("other.whl");
    std::fs::write(&other, archives::wheel("demo-pkg", "1.0", "ANSWER = 666\n")).expect("write");
    let err = publisher
        .publish_pypi(
            &target,
            "demo-pkg",
            "1.0",
            &[(
                other.as_path(),
                "demo_pkg-1.0-py3-none-any.whl",
                FileKind::Wheel,
            )],
        )
        .await
        .expect_err("conflict");
    assert!(
        matches!(err, PublishError::Upload(UploadError::Conflict { .. })),
        "{err}"
    );
    let assets = client
        .list_package_version_assets()
        .domain("airlock")
        .repository("pypi-approved")
        .format(PackageFormat::Pypi)
        .package("demo-pkg")
        .package_version("1.0")
        .send()
        .await
        .expect("assets");
    let wheel_sha = common::registry::sha256_hex(&std::fs::read(&wheel).expect("read"));
    assert!(
        assets
            .assets()
            .iter()
            .any(|a| a.name() == "demo_pkg-1.0-py3-none-any.whl"
                && a.hashes()
                    .and_then(|h| h.get(&aws_sdk_codeartifact::types::HashAlgorithm::Sha256))
                    == Some(&wheel_sha)),
        "{assets:?}"
    );

    // Names as a PackageRequest may spell them: the publisher sends CodeArtifact the normal form,
    // so the controls land on the package pip installs.
    publisher
        .block_upstream(&target, PackageFormat::Pypi, "Demo_Pkg")
        .await
        .expect("origin controls");
    publisher
        .set_status(
            &target,
            PackageFormat::Pypi,
            "Demo.Pkg",
            "1.0",
            PackageVersionStatus::Unlisted,
        )
        .await
        .expect("unlist");
    let described = client
        .describe_package_version()
        .domain("airlock")
        .repository("pypi-approved")
        .format(PackageFormat::Pypi)
        .package("demo-pkg")
        .package_version("1.0")
        .send()
        .await
        .expect("describe");
    assert_eq!(
        described.package_version().and_then(|v| v.status()),
        Some(&PackageVersionStatus::Unlisted)
    );

    let package = client
        .describe_package()
        .domain("airlock")
        .repository("pypi-approved")
        .format(PackageFormat::Pypi)
        .package("demo-pkg")
        .send()
        .await
        .expect("describe package");
    let restrictions = package
        .package()
        .and_then(|p| p.origin_configuration())
        .and_then(|o| o.restrictions())
        .expect("origin");
    assert_eq!(
        (restrictions.publish(), restrictions.upstream()),
        (
            &aws_sdk_codeartifact::types::AllowPublish::Allow,
            &aws_sdk_codeartifact::types::AllowUpstream::Block
        )
    );
    let listed = client
        .list_package_versions()
        .domain("airlock")
        .repository("pypi-approved")
        .format(PackageFormat::Pypi)
        .package("demo-pkg")
        .send()
        .await
        .expect("versions");
    assert_eq!(
        listed
            .versions()
            .iter()
            .map(|v| (v.version(), v.status().as_str()))
            .collect::<Vec<_>>(),
        vec![("1.0", "Unlisted")]
    );

    // AWS's error names come through the SDK as typed errors.
    let missing = client
        .describe_package_version()
        .domain("airlock")
        .repository("pypi-approved")
        .format(PackageFormat::Pypi)
        .package("no-such")
        .package_version("1.0")
        .send()
        .await
        .expect_err("missing");
    assert!(
        missing
            .into_service_error()
            .is_resource_not_found_exception()
    );
    let err = publisher
        .publish_pypi(&repo("no-such-repo"), "demo-pkg", "1.0", &files)
        .await
        .expect_err("no repo");
    assert!(matches!(err, PublishError::NotFound { .. }), "{err}");
    // npm through the publisher, then the Dispose policy.
    let tarball = dir.join("widget-1.2.3.tgz");
    std::fs::write(
        &tarball,
        archives::npm_tarball(
            r#"{"name":"@acme/widget","version":"1.2.3","main":"index.js"}"#,
            "module.exports = 1;\n",
        ),
    )
    .expect("write");
    let npm_repo = repo("npm-approved");
    assert_eq!(
        publisher
            .publish_npm(&npm_repo, &tarball, "widget-1.2.3.tgz")
            .await
            .expect("npm"),
        Outcome::Published
    );
    assert_eq!(
        publisher
            .publish_npm(&npm_repo, &tarball, "widget-1.2.3.tgz")
            .await
            .expect("npm again"),
        Outcome::AlreadyPresent
    );
    publisher
        .block_upstream(&npm_repo, PackageFormat::Npm, "@acme/widget")
        .await
        .expect("origin");
    publisher
        .dispose(&npm_repo, PackageFormat::Npm, "@acme/widget", "1.2.3")
        .await
        .expect("dispose");
    let disposed = client
        .describe_package_version()
        .domain("airlock")
        .repository("npm-approved")
        .format(PackageFormat::Npm)
        .namespace("acme")
        .package("widget")
        .package_version("1.2.3")
        .send()
        .await
        .expect("describe");
    assert_eq!(
        disposed.package_version().and_then(|v| v.status()),
        Some(&PackageVersionStatus::Disposed)
    );
    // Disposing deletes the assets; the version's record stays.
    let left = client
        .list_package_version_assets()
        .domain("airlock")
        .repository("npm-approved")
        .format(PackageFormat::Npm)
        .namespace("acme")
        .package("widget")
        .package_version("1.2.3")
        .send()
        .await
        .expect("list assets of a disposed version");
    assert!(left.assets().is_empty(), "{:?}", left.assets());

    // Generic assets through PublishPackageVersion, checked by SHA-256: published, the same
    // asset again is accepted and leaves the version Published, a different one is a conflict.
    let publish_generic = |content: &'static [u8]| {
        let client = client.clone();
        async move {
            let sha = airlock::pipeline::fetch::sha256_hex(content);
            client
                .publish_package_version()
                .domain("airlock")
                .repository("npm-approved")
                .format(PackageFormat::Generic)
                .namespace("airlock")
                .package("scan-report")
                .package_version("1.0")
                .asset_name("report.sarif")
                .asset_sha256(sha)
                .asset_content(aws_sdk_codeartifact::primitives::ByteStream::from_static(
                    content,
                ))
                .send()
                .await
        }
    };
    let first = publish_generic(b"{}").await.expect("generic");
    assert_eq!(first.status(), Some(&PackageVersionStatus::Published));
    let again = publish_generic(b"{}").await.expect("the same asset again");
    assert_eq!(again.status(), Some(&PackageVersionStatus::Published));
    let err = publish_generic(b"{\"changed\": true}")
        .await
        .expect_err("a different asset onto a published version");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_conflict_exception()),
        "{err:?}"
    );

    let bad = client
        .get_authorization_token()
        .domain("airlock")
        .duration_seconds(60)
        .send()
        .await
        .expect_err("too short");
    assert!(bad.into_service_error().is_validation_exception());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repository_endpoints_serve_twine_pip_and_npm_with_a_token_and_refuse_without() {
    let dir = tmp("clients");
    let (emu, client) = emulator(&dir).await;
    let token = client
        .get_authorization_token()
        .domain("airlock")
        .send()
        .await
        .expect("token")
        .authorization_token()
        .unwrap_or_default()
        .to_string();
    let pypi = client
        .get_repository_endpoint()
        .domain("airlock")
        .repository("pypi-approved")
        .format(PackageFormat::Pypi)
        .send()
        .await
        .expect("endpoint")
        .repository_endpoint()
        .unwrap_or_default()
        .to_string();
    assert!(pypi.starts_with(&emu.endpoint_url()), "{pypi}");
    let wheel = dir.join("demo_pkg-1.0-py3-none-any.whl");
    std::fs::write(&wheel, archives::wheel("demo-pkg", "1.0", "ANSWER = 42\n")).expect("write");

    let twine = |password: &str| {
        Command::new(venv("twine"))
            .args([
                "upload",
                "--non-interactive",
                "--disable-progress-bar",
                "--repository-url",
                &pypi,
                "-u",
                "aws",
                "-p",
                password,
            ])
            .arg(&wheel)
            .output()
            .expect("twine")
    };
    let refused = twine("not-the-token");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stdout).contains("401")
            || String::from_utf8_lossy(&refused.stderr).contains("401")
    );
    let accepted = twine(&token);
    assert!(
        accepted.status.success(),
        "{}{}",
        String::from_utf8_lossy(&accepted.stdout),
        String::from_utf8_lossy(&accepted.stderr)
    );

    let index = pypi.replacen("http://", &format!("http://aws:{token}@"), 1) + "simple/";
    let out = Command::new(venv("pip"))
        .args([
            "install",
            "--no-deps",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--index-url",
            &index,
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

    // npm publish with the token in .npmrc, as `aws codeartifact login` writes it.
    let npm_endpoint = client
        .get_repository_endpoint()
        .domain("airlock")
        .repository("npm-approved")
        .format(PackageFormat::Npm)
        .send()
        .await
        .expect("endpoint")
        .repository_endpoint()
        .unwrap_or_default()
        .to_string();
    let pkg = dir.join("widget");
    std::fs::create_dir_all(&pkg).expect("dir");
    std::fs::write(
        pkg.join("package.json"),
        r#"{"name":"@acme/widget","version":"1.2.3","main":"index.js","license":"MIT"}"#,
    )
    .expect("write");
    std::fs::write(pkg.join("index.js"), "module.exports = 'padded';\n").expect("write");
    let auth_key = npm_endpoint.trim_start_matches("http:");
    let npm = |npmrc: &str, args: &[&str], cwd: &Path| {
        std::fs::write(dir.join("npmrc"), npmrc).expect("npmrc");
        Command::new("npm")
            .args(args)
            .args(["--registry", &npm_endpoint, "--userconfig"])
            .arg(dir.join("npmrc"))
            .arg("--cache")
            .arg(dir.join("npm-cache"))
            .current_dir(cwd)
            .output()
            .expect("npm")
    };
    let refused = npm("", &["publish", "--no-audit"], &pkg);
    assert!(
        !refused.status.success(),
        "publishing without a token must fail"
    );
    let npmrc = format!("{auth_key}:_authToken={token}\n");
    let published = npm(&npmrc, &["publish", "--no-audit"], &pkg);
    assert!(
        published.status.success(),
        "{}{}",
        String::from_utf8_lossy(&published.stdout),
        String::from_utf8_lossy(&published.stderr)
    );
    let project = dir.join("project");
    std::fs::create_dir_all(&project).expect("dir");
    std::fs::write(
        project.join("package.json"),
        r#"{"name":"consumer","version":"1.0.0","private":true}"#,
    )
    .expect("write");
    let installed = npm(
        &npmrc,
        &["install", "--no-audit", "--no-fund", "@acme/widget@1.2.3"],
        &project,
    );
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(project.join("node_modules/@acme/widget/index.js"))
            .expect("installed"),
        "module.exports = 'padded';\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The venv's Python with `args` and then the emulator's endpoint URL; its standard output,
/// once it exited successfully.
async fn python(args: &[&str], endpoint: &str) -> String {
    let mut command = Command::new(venv("python"));
    command.args(args).arg(endpoint);
    let out = tokio::task::spawn_blocking(move || command.output().expect("python"))
        .await
        .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_works_against_the_emulator_with_only_the_endpoint_changed() {
    let dir = tmp("boto3");
    let (emu, _) = emulator(&dir).await;
    let script = "import sys, boto3\nc = boto3.client('codeartifact', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='AKIDTEST', aws_secret_access_key='test')\nt = c.get_authorization_token(domain='airlock', durationSeconds=900)\nprint(len(t['authorizationToken']) > 0, t['expiration'].year > 2000)\nprint(c.get_repository_endpoint(domain='airlock', repository='npm-approved', format='npm')['repositoryEndpoint'])\ntry:\n    c.describe_package_version(domain='airlock', repository='npm-approved', format='npm', package='nope', packageVersion='1.0')\nexcept c.exceptions.ResourceNotFoundException:\n    print('ResourceNotFoundException')\n";
    let stdout = python(&["-c", script], &emu.endpoint_url()).await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "True True");
    assert!(
        lines[1].ends_with("/repo/airlock/npm-approved/npm/"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "ResourceNotFoundException");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 17's conformance check: every emulator answer to the calls airlock makes (and the
/// errors they can meet), through boto3, held to the JSON service models botocore ships.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_matches_the_aws_service_models() {
    let dir = tmp("models");
    let (emu, _) = emulator(&dir).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/aws_models.py"
    );
    let stdout = python(&[script], &emu.endpoint_url()).await;
    // Every operation the controller calls was answered, and checked, at least once.
    for op in airlock::aws::OPERATIONS {
        let op = op.replacen(':', ".", 1);
        assert!(
            stdout.contains(&format!("checked {op}: ")),
            "{op} was not checked:\n{stdout}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Status and what the repository serves agree, after a restart too: Archived takes the files
/// out of the index, Published brings them back (the publisher's `restore`, as a re-created
/// request does), a Disposed version cannot come back, and only DisposePackageVersions disposes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_are_what_the_repository_serves_and_survive_a_restart() {
    use airlock::publish::builtin::store::Store;
    let dir = tmp("status");
    let (emu, client) = emulator(&dir).await;
    let publisher = Publisher::new(client.clone());
    let wheel = dir.join("demo_pkg-1.0-py3-none-any.whl");
    std::fs::write(&wheel, archives::wheel("demo-pkg", "1.0", "ANSWER = 42\n")).expect("write");
    let name = "demo_pkg-1.0-py3-none-any.whl";
    let target = repo("pypi-approved");
    publisher
        .publish_pypi(
            &target,
            "demo-pkg",
            "1.0",
            &[(wheel.as_path(), name, FileKind::Wheel)],
        )
        .await
        .expect("publish");
    let listed = || {
        Store::open(dir.join("emulator/airlock/pypi-approved"))
            .expect("store")
            .listed_versions()
            .iter()
            .any(|(_, n, v)| n == "demo-pkg" && v == "1.0")
    };
    publisher
        .set_status(
            &target,
            PackageFormat::Pypi,
            "demo-pkg",
            "1.0",
            PackageVersionStatus::Archived,
        )
        .await
        .expect("archive");
    assert!(!listed(), "archived: out of the index");
    // A restart on the same data keeps the status.
    drop(emu);
    let (emu, client) = emulator(&dir).await;
    let publisher = Publisher::new(client.clone());
    assert_eq!(
        publisher
            .version_status(&target, PackageFormat::Pypi, "demo-pkg", "1.0")
            .await
            .expect("status"),
        Some(PackageVersionStatus::Archived)
    );
    // An upload cannot bring a withdrawn version back (nor add to it).
    let sdist = dir.join("demo_pkg-1.0.tar.gz");
    std::fs::write(&sdist, archives::sdist("demo-pkg", "1.0")).expect("write");
    let refused = publisher
        .publish_pypi(
            &target,
            "demo-pkg",
            "1.0",
            &[(sdist.as_path(), "demo_pkg-1.0.tar.gz", FileKind::Sdist)],
        )
        .await
        .expect_err("an upload onto an Archived version");
    assert!(refused.to_string().contains("Archived"), "{refused}");
    assert!(!listed(), "still archived");
    // The same files approved again: a status change, not an upload, makes it installable.
    assert!(
        publisher
            .restore(
                &target,
                PackageFormat::Pypi,
                "demo-pkg",
                "1.0",
                &[(wheel.as_path(), name)]
            )
            .await
            .expect("restore")
    );
    assert!(listed(), "Published again: back in the index");
    let refused = client
        .update_package_versions_status()
        .domain("airlock")
        .repository("pypi-approved")
        .format(PackageFormat::Pypi)
        .package("demo-pkg")
        .versions("1.0")
        .target_status(PackageVersionStatus::Disposed)
        .send()
        .await
        .expect_err("Disposed only through DisposePackageVersions");
    assert_eq!(
        aws_sdk_codeartifact::error::ProvideErrorMetadata::code(&refused),
        Some("ValidationException")
    );
    publisher
        .dispose(&target, PackageFormat::Pypi, "demo-pkg", "1.0")
        .await
        .expect("dispose");
    let err = publisher
        .restore(
            &target,
            PackageFormat::Pypi,
            "demo-pkg",
            "1.0",
            &[(wheel.as_path(), name)],
        )
        .await
        .expect_err("a disposed version cannot come back");
    assert!(
        err.to_string().contains("cannot be published again"),
        "{err}"
    );
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}

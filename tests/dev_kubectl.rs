//! `airlock dev` driven by the real `kubectl`: what a user types must behave as on a real cluster.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running `airlock dev`, stopped when dropped.
struct Dev {
    child: Child,
    kubeconfig: String,
    dir: PathBuf,
}

impl Dev {
    fn start(name: &str) -> Dev {
        Self::start_on(name, false, &[])
    }

    /// On the embedded API server, whatever `KUBEBUILDER_ASSETS` says.
    fn start_embedded(name: &str) -> Dev {
        Self::start_on(name, true, &[])
    }

    /// With nothing but kubectl writing: no controller in-process.
    fn start_alone(name: &str) -> Dev {
        Self::start_on(name, false, &["--no-controller"])
    }

    fn start_on(name: &str, embedded: bool, extra: &[&str]) -> Dev {
        let dir =
            std::env::temp_dir().join(format!("airlock-dev-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut command = Command::new(env!("CARGO_BIN_EXE_airlock"));
        if embedded {
            command.env_remove("KUBEBUILDER_ASSETS");
        }
        let mut child = command
            .args([
                "dev",
                "--port",
                "0",
                "--advisories-url",
                "off",
                "--data-dir",
            ])
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("airlock dev starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout piped"))
            .read_line(&mut line)
            .expect("airlock dev prints a line");
        let kubeconfig = line
            .trim()
            .strip_prefix("export KUBECONFIG=")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Dev {
            child,
            kubeconfig,
            dir,
        }
    }

    fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.join("cache"));
        c
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_cmd(args).output().expect("kubectl runs")
    }

    /// Runs kubectl and returns stdout, failing the test with stderr when it fails.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Dev {
    /// The API server's `host:port`, from the kubeconfig `airlock dev` wrote.
    fn server(&self) -> String {
        let config = std::fs::read_to_string(&self.kubeconfig).expect("kubeconfig");
        config
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: http://"))
            .expect("server line")
            .to_string()
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn path(rel: &str) -> String {
    root().join(rel).to_string_lossy().into_owned()
}

/// Waits for a background kubectl, killing it after `limit`.
fn finish(mut child: Child, limit: Duration) -> (bool, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            let mut out = String::new();
            if let Some(mut s) = child.stdout.take() {
                let _ = s.read_to_string(&mut out);
            }
            return (status.success(), out);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let mut out = String::new();
            if let Some(mut s) = child.stdout.take() {
                let _ = s.read_to_string(&mut out);
            }
            return (false, out);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn apply_get_and_reapply() {
    // No controller: its status writes would change the resourceVersion this test compares.
    let dev = Dev::start_alone("apply");
    // The CRDs are already installed; applying them again is accepted, and a second time is a no-op.
    dev.ok(&["apply", "-f", &path("crds")]);
    let again = dev.ok(&["apply", "-f", &path("crds")]);
    assert_eq!(again.matches("unchanged").count(), 4, "{again}");

    let applied = dev.ok(&["apply", "-f", &path("examples")]);
    assert!(
        applied.contains("packagerequest.airlock.dev/numpy-2.1.3 created"),
        "{applied}"
    );
    assert!(
        applied.contains("sagemakerdomain.airlock.dev/team-a-studio created"),
        "{applied}"
    );

    let table = dev.ok(&["get", "pkgreq", "-n", "team-a"]);
    let header = table.lines().next().expect("a header");
    for col in [
        "NAME",
        "ECOSYSTEM",
        "PACKAGE",
        "VERSION",
        "PHASE",
        "VERDICT",
        "AGE",
    ] {
        assert!(header.contains(col), "missing column {col}: {header}");
    }
    assert!(
        table.lines().any(|l| l.contains("types-node-22.10.1")
            && l.contains("@types/node")
            && l.contains("22.10.1")),
        "{table}"
    );
    let wide = dev.ok(&["get", "pkgreq", "-n", "team-a", "-o", "wide"]);
    assert!(
        wide.lines().next().expect("header").contains("REPOSITORY"),
        "{wide}"
    );
    let all = dev.ok(&["get", "airlock", "-A"]);
    for kind in [
        "packagerequest.airlock.dev",
        "scanpolicy.airlock.dev",
        "packagerepository.airlock.dev",
        "sagemakerdomain.airlock.dev",
    ] {
        assert!(
            all.contains(kind),
            "`kubectl get airlock` misses {kind}: {all}"
        );
    }

    let yaml = dev.ok(&["get", "pkgreq", "numpy-2.1.3", "-n", "team-a", "-o", "yaml"]);
    assert!(
        yaml.contains("generation: 1")
            && yaml.contains("uid: ")
            && yaml.contains("resourceVersion: "),
        "{yaml}"
    );
    let rv_before = dev.ok(&[
        "get",
        "pkgreq",
        "numpy-2.1.3",
        "-n",
        "team-a",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);

    let reapplied = dev.ok(&["apply", "-f", &path("examples")]);
    assert!(
        reapplied.contains("packagerequest.airlock.dev/numpy-2.1.3 unchanged"),
        "{reapplied}"
    );
    let after = dev.ok(&[
        "get",
        "pkgreq",
        "numpy-2.1.3",
        "-n",
        "team-a",
        "-o",
        "jsonpath={.metadata.generation}/{.metadata.resourceVersion}",
    ]);
    assert_eq!(
        after,
        format!("1/{rv_before}"),
        "re-applying the same file changes nothing"
    );
}

#[test]
fn validation_and_immutability_speak_like_the_api_server() {
    let dev = Dev::start("validate");
    dev.ok(&[
        "apply",
        "-f",
        &path("examples/00-namespace-team-a.yaml"),
        "-f",
        &path("examples/team-a-requests.yaml"),
    ]);
    let err = dev.fails(&[
        "patch",
        "pkgreq",
        "numpy-2.1.3",
        "-n",
        "team-a",
        "--type=merge",
        "-p",
        r#"{"spec":{"version":"2.1.4"}}"#,
    ]);
    assert!(
        err.contains("spec: Forbidden: spec is immutable: create a new PackageRequest"),
        "{err}"
    );

    let bad = dev.dir.join("bad.yaml");
    std::fs::write(&bad, "apiVersion: airlock.dev/v1alpha1\nkind: PackageRequest\nmetadata: {name: bad, namespace: team-a}\nspec: {ecosystem: cargo, name: serde, version: '>=1.0', repositoryRef: approved}\n").expect("write");
    let err = dev.fails(&["apply", "-f", &bad.to_string_lossy()]);
    assert!(
        err.contains(r#"spec.ecosystem: Unsupported value: "cargo""#),
        "{err}"
    );
    // A range is answered with what to do instead, not with a regular expression.
    std::fs::write(&bad, "apiVersion: airlock.dev/v1alpha1\nkind: PackageRequest\nmetadata: {name: bad, namespace: team-a}\nspec: {ecosystem: npm, name: left-pad, version: '>=1.0', repositoryRef: approved}\n").expect("write");
    let err = dev.fails(&["apply", "-f", &bad.to_string_lossy()]);
    assert!(
        err.contains(r#"spec.version: Invalid value: pin an exact version, e.g. 1.16.0"#),
        "{err}"
    );

    // kubectl asks for strict field validation: a typo is an error, not silently dropped.
    std::fs::write(&bad, "apiVersion: airlock.dev/v1alpha1\nkind: PackageRequest\nmetadata: {name: typo, namespace: team-a}\nspec: {ecosystem: pypi, name: numpy, version: '2.1.3', repositoryRef: builtin, justifcation: x}\n").expect("write");
    let err = dev.fails(&["apply", "-f", &bad.to_string_lossy()]);
    assert!(
        err.contains(r#"unknown field "spec.justifcation""#),
        "{err}"
    );
}

#[test]
fn status_patch_wait_watch_and_finalizers() {
    let dev = Dev::start("status");
    dev.ok(&[
        "apply",
        "-f",
        &path("examples/00-namespace-team-a.yaml"),
        "-f",
        &path("examples/team-a-requests.yaml"),
    ]);

    let watcher = dev
        .kubectl_cmd(&[
            "get",
            "pkgreq",
            "-n",
            "team-a",
            "-w",
            "--request-timeout=20s",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("watch");
    let waiter = dev
        .kubectl_cmd(&[
            "wait",
            "--for=condition=Ready",
            "pkgreq/left-pad-1.3.0",
            "-n",
            "team-a",
            "--timeout=20s",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("wait");
    std::thread::sleep(Duration::from_millis(700));

    // A status write through the subresource changes status only, and not the generation.
    let status = r#"{"status":{"phase":"Published","observedGeneration":1,"conditions":[{"type":"Ready","status":"True","reason":"Published","message":"published into builtin","lastTransitionTime":"2026-11-22T00:00:00Z"}]}}"#;
    dev.ok(&[
        "patch",
        "pkgreq",
        "left-pad-1.3.0",
        "-n",
        "team-a",
        "--subresource=status",
        "--type=merge",
        "-p",
        status,
    ]);
    let (waited, out) = finish(waiter, Duration::from_secs(20));
    assert!(
        waited,
        "kubectl wait did not return when Ready became True: {out}"
    );
    assert!(out.contains("condition met"), "{out}");
    let got = dev.ok(&[
        "get",
        "pkgreq",
        "left-pad-1.3.0",
        "-n",
        "team-a",
        "-o",
        "jsonpath={.status.phase}/{.metadata.generation}",
    ]);
    assert_eq!(got, "Published/1");

    // Status in a write to the main resource is ignored.
    dev.ok(&[
        "patch",
        "pkgreq",
        "left-pad-1.3.0",
        "-n",
        "team-a",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Failed"}}"#,
    ]);
    assert_eq!(
        dev.ok(&[
            "get",
            "pkgreq",
            "left-pad-1.3.0",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.status.phase}"
        ]),
        "Published"
    );

    // The watch saw the change.
    let (_, watched) = finish(watcher, Duration::from_secs(1));
    assert!(
        watched
            .lines()
            .any(|l| l.contains("left-pad-1.3.0") && l.contains("Published")),
        "kubectl get -w printed: {watched}"
    );

    // Delete waits for the finalizer.
    dev.ok(&[
        "patch",
        "pkgreq",
        "numpy-2.1.3",
        "-n",
        "team-a",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["airlock.dev/publication"]}}"#,
    ]);
    let deleter = dev
        .kubectl_cmd(&[
            "delete",
            "pkgreq",
            "numpy-2.1.3",
            "-n",
            "team-a",
            "--timeout=20s",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("delete");
    std::thread::sleep(Duration::from_millis(700));
    let marked = dev.ok(&[
        "get",
        "pkgreq",
        "numpy-2.1.3",
        "-n",
        "team-a",
        "-o",
        "jsonpath={.metadata.deletionTimestamp}",
    ]);
    assert!(
        !marked.is_empty(),
        "deletion marks the object while its finalizer remains"
    );
    dev.ok(&[
        "patch",
        "pkgreq",
        "numpy-2.1.3",
        "-n",
        "team-a",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    let (deleted, out) = finish(deleter, Duration::from_secs(20));
    assert!(
        deleted && out.contains("deleted"),
        "kubectl delete returns once the finalizer is gone: {out}"
    );
    let err = dev.fails(&["get", "pkgreq", "numpy-2.1.3", "-n", "team-a"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
}

#[test]
fn server_side_apply_tracks_field_managers() {
    let dev = Dev::start("ssa");
    let out = dev.ok(&["apply", "--server-side", "-f", "examples/"]);
    assert!(
        out.contains("scanpolicy.airlock.dev/default serverside-applied"),
        "{out}"
    );
    let policy = std::fs::read_to_string("examples/scanpolicy-default.yaml").expect("example");
    let changed = policy.replace("approvalMode: OnFindings", "approvalMode: Always");
    let path = dev.dir.join("policy-always.yaml");
    std::fs::write(&path, changed).expect("write");
    let path = path.to_str().expect("utf-8 path");
    let err = dev.fails(&[
        "apply",
        "--server-side",
        "--field-manager=secops",
        "-f",
        path,
    ]);
    assert!(
        // Worded as kube-apiserver words it: both appliers of the same value share the field.
        err.contains("Apply failed with 2 conflicts: conflicts with \"airlock-dev\":\n- .spec.approvalMode\nconflicts with \"kubectl\":\n- .spec.approvalMode"),
        "{err}"
    );
    dev.ok(&[
        "apply",
        "--server-side",
        "--field-manager=secops",
        "--force-conflicts",
        "-f",
        path,
    ]);
    let mode = dev.ok(&[
        "get",
        "scanpolicy",
        "default",
        "-o",
        "jsonpath={.spec.approvalMode} {.metadata.generation}",
    ]);
    assert_eq!(mode, "Always 2");
    let managers = dev.ok(&[
        "get",
        "scanpolicy",
        "default",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    // `airlock dev` applied the same example as its starter policy: it still co-owns the fields
    // nobody took from it. kube-apiserver orders entries by time, and kubectl's apply, which
    // changed nothing but ownership, carries none. The controller owns the status it writes,
    // at whatever moment it wrote it.
    let spec_managers: Vec<&str> = managers
        .split(' ')
        .filter(|m| *m != "airlock-controller")
        .collect();
    assert_eq!(
        spec_managers,
        ["kubectl", "airlock-dev", "secops"],
        "{managers}"
    );
    let status_managers = dev.ok(&[
        "get",
        "scanpolicy",
        "default",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[?(@.manager==\"airlock-controller\")].subresource}",
    ]);
    assert!(
        status_managers
            .split(' ')
            .all(|s| s == "status" || s.is_empty()),
        "the controller writes only status: {status_managers}"
    );
}

/// `airlock dev` run twice on one data directory: the same URLs both times (the ports are
/// remembered there), `airlock dev env` prints them for a second terminal, and the data
/// directory is its owner's alone.
#[test]
fn a_restart_keeps_the_ports_and_dev_env_prints_them() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("airlock-dev-stays-put-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let stop = |c: &mut Child| {
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let _ = c.wait();
    };
    let run = |extra: &[&str]| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args([
                "dev",
                "--no-controller",
                "--advisories-url",
                "off",
                "--data-dir",
            ])
            .arg(&dir)
            .args(extra)
            .env_remove("KUBEBUILDER_ASSETS")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("airlock dev starts");
        let stdout = child.stdout.take().expect("stdout");
        let lines: Vec<String> = std::io::BufReader::new(stdout)
            .lines()
            .take(4)
            .map(|l| l.expect("line"))
            .collect();
        (child, lines)
    };
    let (mut first, printed) = run(&["--port", "0"]);
    assert_eq!(printed.len(), 4, "{printed:?}");
    let env = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["dev", "env", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("airlock dev env");
    assert!(env.status.success());
    assert_eq!(
        String::from_utf8_lossy(&env.stdout)
            .lines()
            .collect::<Vec<_>>(),
        printed,
        "airlock dev env prints what airlock dev printed"
    );
    stop(&mut first);
    // No --port this time: the last run's, not 7443.
    let (mut second, again) = run(&[]);
    stop(&mut second);
    assert_eq!(again, printed, "the same URLs after a restart");
    let mode = std::fs::metadata(&dir).expect("dir").permissions().mode();
    assert_eq!(mode & 0o077, 0, "the data directory is private: {mode:o}");
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["dev", "env", "--data-dir"])
        .arg(dir.join("never-used"))
        .output()
        .expect("airlock dev env");
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no airlock dev has run"));
}

/// One raw HTTP/1.1 request to the dev API server: the status code and body.
fn raw(
    dev: &Dev,
    method: &str,
    path: &str,
    host: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    common::dev::http_raw(&dev.server(), method, path, host, content_type, body)
}

/// A web page can reach 127.0.0.1 too: it may send a "simple" cross-origin POST (text/plain)
/// or rebind its own name to 127.0.0.1. Neither gets anything done. (The embedded server's own
/// defence: kube-apiserver has TLS and authentication instead.)
#[test]
fn a_web_page_cannot_drive_the_dev_server() {
    let dev = Dev::start_embedded("web-page");
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"from-a-page"}}"#;
    let (code, body) = raw(
        &dev,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "127.0.0.1",
        "text/plain",
        cm,
    );
    assert_eq!(code, 415, "{body}");
    assert!(
        body.contains("accepted media types include: application/json, application/yaml"),
        "{body}"
    );
    let (code, body) = raw(
        &dev,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "evil.example:7443",
        "application/json",
        cm,
    );
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("only requests addressed to localhost"),
        "{body}"
    );
    assert!(
        dev.kubectl(&["get", "configmap", "from-a-page", "-n", "default"])
            .status
            .code()
            != Some(0)
    );
    // What kube-apiserver accepts still works: JSON, and YAML.
    let (code, body) = raw(
        &dev,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "localhost",
        "application/yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-yaml}\ndata: {a: b}\n",
    );
    assert_eq!(code, 201, "{body}");
    let (code, body) = raw(
        &dev,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "[::1]:1",
        "application/json",
        cm,
    );
    assert_eq!(code, 201, "{body}");
}

/// The embedded server's memory is bounded where issue 18 found it unbounded: the watch log keeps
/// at most its byte budget of objects (a watch from before that is `410 Gone`, as after etcd
/// compaction), and a watcher that never reads is ended instead of buffering every object for it.
#[test]
fn the_watch_log_and_slow_watchers_are_bounded() {
    use std::io::Write as _;
    let dev = Dev::start_embedded("bounded");
    let server = dev.server();
    let path = "/api/v1/namespaces/default/configmaps";
    let (code, list) =
        common::dev::http_raw(&server, "GET", path, "127.0.0.1", "application/json", "");
    assert_eq!(code, 200, "{list}");
    let list: serde_json::Value = serde_json::from_str(&list).expect("a list");
    let rv0 = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let watch = |rv: &str| {
        let mut s = std::net::TcpStream::connect(&server).expect("connect");
        write!(
            s,
            "GET {path}?watch=true&resourceVersion={rv} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        .expect("watch");
        s
    };
    let mut slow = watch(&rv0);
    let blob = "x".repeat(1 << 20);
    for n in 0..80 {
        let body = format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"n":"{n}","blob":"{blob}"}}}}"#
        );
        let (method, at) = if n == 0 {
            ("POST", path.to_string())
        } else {
            ("PUT", format!("{path}/big"))
        };
        let (code, answer) =
            common::dev::http_raw(&server, method, &at, "127.0.0.1", "application/json", &body);
        assert!(
            code == 200 || code == 201,
            "{code}: {}",
            &answer[..answer.len().min(200)]
        );
    }
    // 80 MiB of updates do not fit the log: resuming from before them is 410 Gone.
    let mut late = watch(&rv0);
    late.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut head = Vec::new();
    let mut chunk = vec![0u8; 4096];
    while !String::from_utf8_lossy(&head).contains("\"code\":") && head.len() < 1 << 20 {
        let n = late.read(&mut chunk).expect("an answer");
        assert!(n > 0, "closed before the first event");
        head.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.contains("\"code\":410"), "{head}");
    // The watcher that never read was ended: reading now drains what was in flight, then EOF.
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut sink = Vec::new();
    let ended = slow.read_to_end(&mut sink);
    assert!(
        ended.is_ok(),
        "the slow watch is still open after 80 writes: {ended:?}"
    );
    assert!(
        sink.len() < 16 << 20,
        "{} bytes were buffered for it",
        sink.len()
    );
}

//! `airlock dev` as a child process, driven the way a user drives it: the lines it prints, the
//! real `kubectl`, and `airlock controller` processes run beside it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn airlock_bin() -> &'static str {
    env!("CARGO_BIN_EXE_airlock")
}

/// A fresh directory under the system temp dir, removed when dropped — unless the test failed,
/// so what it left can be looked at.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl TempDir {
    /// The path, no longer removed on drop (its new owner cleans up).
    pub fn into_path(mut self) -> PathBuf {
        std::mem::take(&mut self.0)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() && !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn tmp(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("airlock-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    TempDir(d)
}

pub struct Dev {
    child: Child,
    pub dir: PathBuf,
    /// KUBECONFIG, PIP_INDEX_URL, NPM_CONFIG_REGISTRY, AWS_ENDPOINT_URL as `airlock dev` printed them.
    pub env: HashMap<String, String>,
    /// The upstream flags `airlock dev` was given, for controllers run beside it.
    pub upstream: Vec<String>,
    /// Everything it was given, to start it again the same way.
    args: Vec<String>,
    embedded: bool,
    rust_log: String,
}

impl Dev {
    /// Starts `airlock dev` with `args` (upstreams, `--no-controller`, …) and reads its exports.
    pub fn start(name: &str, args: &[&str]) -> Dev {
        Self::start_on(name, args, false, "info,kube=warn")
    }

    /// [`Dev::start`] on the embedded API server, whatever `KUBEBUILDER_ASSETS` says.
    pub fn start_embedded(name: &str, args: &[&str]) -> Dev {
        Self::start_on(name, args, true, "info,kube=warn")
    }

    /// [`Dev::start`] logging with `rust_log` (`RUST_LOG`) instead of the tests' default.
    pub fn start_logging(name: &str, args: &[&str], rust_log: &str) -> Dev {
        Self::start_on(name, args, false, rust_log)
    }

    /// Runs `airlock dev` in `dir` (`log` names its log file there): the process and the four
    /// variables it printed.
    fn spawn(
        dir: &Path,
        args: &[String],
        embedded: bool,
        rust_log: &str,
        log: &str,
    ) -> (Child, HashMap<String, String>) {
        let mut command = Command::new(airlock_bin());
        if embedded {
            command.env_remove("KUBEBUILDER_ASSETS");
        }
        let mut child = command
            .args(["dev", "--data-dir"])
            .arg(dir)
            .args(args)
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join(log)).expect("log"))
            .spawn()
            .expect("airlock dev starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut env = HashMap::new();
        for line in BufReader::new(stdout).lines().take(4) {
            let line = line.expect("line");
            let (k, v) = line
                .strip_prefix("export ")
                .and_then(|l| l.split_once('='))
                .unwrap_or_else(|| panic!("not an export line: {line}"));
            env.insert(k.to_string(), v.to_string());
        }
        assert_eq!(env.len(), 4, "airlock dev printed {env:?}");
        (child, env)
    }

    /// Stops `airlock dev` (SIGTERM, as Ctrl-C would).
    pub fn stop(&mut self) {
        terminate(&mut self.child);
    }

    /// Stops `airlock dev` (if it runs) and starts it again on the same data directory, as a
    /// user does: without `--port`, so it takes the ports it remembered.
    pub fn restart(&mut self) {
        terminate(&mut self.child);
        let args: Vec<String> = self
            .args
            .iter()
            .filter(|a| !a.starts_with("--port"))
            .cloned()
            .collect();
        let (child, env) = Self::spawn(
            &self.dir,
            &args,
            self.embedded,
            &self.rust_log,
            "dev-restarted.log",
        );
        self.child = child;
        self.env = env;
    }

    fn start_on(name: &str, args: &[&str], embedded: bool, rust_log: &str) -> Dev {
        let dir = tmp(name);
        // Never osv.dev from a test: a test that gives no advisory data gets none.
        let mut args: Vec<&str> = args.to_vec();
        if !args
            .iter()
            .any(|a| *a == "--advisories" || *a == "--advisories-url")
        {
            args.extend(["--advisories-url", "off"]);
        }
        let args = &args[..];
        let mut all = vec!["--port=0".to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        let (child, env) = Self::spawn(&dir, &all, embedded, rust_log, "dev.log");
        let mut upstream = Vec::new();
        for pair in args.windows(2) {
            if [
                "--pypi-index",
                "--npm-registry",
                "--advisories",
                "--advisories-url",
                "--advisories-refresh",
                "--allow-host",
            ]
            .contains(&pair[0])
            {
                upstream.extend([pair[0].to_string(), pair[1].to_string()]);
            }
        }
        let dev = Dev {
            child,
            dir: dir.into_path(),
            env,
            upstream,
            args: all,
            embedded,
            rust_log: rust_log.to_string(),
        };
        // The first command most people type; kubectl sends it as protobuf. The real server
        // refuses objects in a namespace that does not exist, so the tests' namespace is made
        // as a user makes it.
        let out = dev.kubectl(&["create", "namespace", "team-a"], None);
        assert!(
            out.status.success(),
            "kubectl create namespace team-a: {}\n--- dev log ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            dev.log()
        );
        dev
    }

    pub fn var(&self, key: &str) -> &str {
        &self.env[key]
    }

    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = Command::new("kubectl");
        c.args(args)
            .env("KUBECONFIG", self.var("KUBECONFIG"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("kubectl runs");
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write");
        } else {
            drop(child.stdin.take());
        }
        child.wait_with_output().expect("kubectl")
    }

    /// `kubectl apply -f -`, which must succeed.
    pub fn apply(&self, yaml: &str) {
        let out = self.kubectl(&["apply", "-f", "-"], Some(yaml));
        assert!(
            out.status.success(),
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn get_json(&self, args: &[&str]) -> Option<Value> {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl(&a, None);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    pub fn request(&self, ns: &str, name: &str) -> Value {
        self.get_json(&["pkgreq", name, "-n", ns])
            .unwrap_or_else(|| panic!("packagerequest {ns}/{name} exists"))
    }

    /// Polls until `pred` holds for the request, or panics with its last status.
    pub fn wait_for(
        &self,
        ns: &str,
        name: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.get_json(&["pkgreq", name, "-n", ns]);
            if let Some(r) = &r
                && pred(r)
            {
                return r.clone();
            }
            if Instant::now() > deadline {
                panic!(
                    "{ns}/{name}: not {what} after {timeout:?}; last: {}\n--- dev log ---\n{}",
                    r.map(|r| serde_json::to_string_pretty(&r["status"]).unwrap_or_default())
                        .unwrap_or_default(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn wait_phase(&self, ns: &str, name: &str, phase: &str) -> Value {
        self.wait_for(ns, name, Duration::from_secs(60), phase, |r| {
            r["status"]["phase"] == phase
        })
    }

    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("dev.log")).unwrap_or_default();
        let start = text.len().saturating_sub(6000);
        text[text.floor_char_boundary(start)..].to_string()
    }

    /// The event reasons recorded for a request, oldest first, read as `kubectl describe` does
    /// (core/v1 events by involvedObject).
    pub fn event_reasons(&self, ns: &str, name: &str) -> Vec<String> {
        let selector = format!("involvedObject.name={name}");
        let list = self
            .get_json(&["events", "-n", ns, "--field-selector", &selector])
            .expect("events");
        let mut items: Vec<&Value> = list["items"].as_array().expect("items").iter().collect();
        items.sort_by_key(|e| {
            e["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .parse::<u64>()
                .unwrap_or(0)
        });
        items
            .iter()
            .filter_map(|e| e["reason"].as_str().map(str::to_string))
            .collect()
    }

    /// An `airlock controller` against this environment's API server, sharing its built-in
    /// repository and cache (the data directory), with the controller's own identity (its
    /// ServiceAccount on the real control plane) and Lease namespace.
    pub fn controller(&self, identity: &str, extra: &[&str], envs: &[(&str, &str)]) -> Proc {
        let mut c = Command::new(airlock_bin());
        c.args(["controller", "--data-dir"])
            .arg(&self.dir)
            .args([
                "--lease-namespace",
                "airlock-system",
                "--identity",
                identity,
                "--lease-duration",
                "3s",
                "--lease-retry",
                "300ms",
            ])
            .args(&self.upstream)
            .args(extra)
            .env("KUBECONFIG", self.dir.join("controller.kubeconfig"))
            .env("AWS_ENDPOINT_URL", self.var("AWS_ENDPOINT_URL"))
            .env("RUST_LOG", "info,kube=warn")
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.dir.join(format!("controller-{identity}.log")))
                    .expect("log"),
            );
        for (k, v) in envs {
            c.env(k, v);
        }
        Proc(c.spawn().expect("airlock controller starts"))
    }

    pub fn lease_holder(&self) -> Option<String> {
        self.get_json(&["lease", "airlock-controller", "-n", "airlock-system"])
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
    }
}

impl Dev {
    /// The process id of `airlock dev`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the API server refused the controllers (in-process and beside it) for lack of RBAC.
    pub fn forbidden(&self) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "dev.log" || (name.starts_with("controller-") && name.ends_with(".log")) {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                found.extend(
                    text.lines()
                        .filter(|l| l.contains("is forbidden: User"))
                        .map(|l| format!("{name}: {l}")),
                );
            }
        }
        found
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        terminate(&mut self.child);
        // Every end-to-end test also checks the controller's RBAC: on the real control plane,
        // a request it was refused is a role in deploy/rbac-controller.yaml that is too narrow.
        let forbidden = self.forbidden();
        if !forbidden.is_empty() && !std::thread::panicking() {
            panic!(
                "the controller was refused by the API server:\n{}",
                forbidden.join("\n")
            );
        }
        // A passing test leaves nothing behind; a failing one keeps its log and data.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A child process killed when dropped, so a failing test leaves nothing running.
pub struct Proc(pub Child);

impl std::ops::Deref for Proc {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// SIGTERM, then wait (SIGKILL after 20 s).
pub fn terminate(child: &mut Child) -> Option<i32> {
    // Gone already (and reaped): its pid may be someone else's by now.
    if let Ok(Some(status)) = child.try_wait() {
        return status.code();
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    // Kubernetes' default grace period: the controller may take its documented 20 s for
    // reconciles in flight (25 s at the very most) and still exit cleanly.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A free port on 127.0.0.1 (bound and released; good enough for a test).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A plain HTTP/1.0 GET of `http://host:port/path`: status code and body.
pub fn http_get(url: &str) -> (u16, String) {
    http_request("GET", url, "")
}

/// One HTTP/1.0 request with a JSON `body` (empty for none): (status, body).
pub fn http_request(method: &str, url: &str, body: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    http_raw(host, method, &path, host, "application/json", body)
}

/// One HTTP/1.0 request to `addr` with the `Host` and `Content-Type` given (a test of what a
/// server does with a foreign Host or an unexpected media type): (status, body).
pub fn http_raw(
    addr: &str,
    method: &str,
    path: &str,
    host: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nAccept: application/vnd.pypi.simple.v1+json, */*\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_string())
}

pub fn venv_tool(tool: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(tool);
    p.exists().then_some(p)
}

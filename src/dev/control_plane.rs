//! `airlock dev --control-plane DIR`: the real kube-apiserver and etcd (built by
//! `scripts/control-plane.sh`) on 127.0.0.1 in place of the embedded API server — TLS, RBAC, a
//! service-account signing key — with airlock's CRDs and RBAC installed, and the controller
//! running as its own ServiceAccount, bound by exactly `deploy/rbac-controller.yaml`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::Value;
use tokio::process::{Child, Command};

/// The namespace the controller's ServiceAccount and leader-election Lease live in, as
/// `deploy/kustomization.yaml` installs them.
pub const CONTROLLER_NAMESPACE: &str = "airlock-system";
const CONTROLLER_ACCOUNT: &str = "airlock-controller";

/// How long etcd and kube-apiserver may take to answer healthy.
const START_DEADLINE: Duration = Duration::from_secs(90);

/// The command that builds the binaries, for messages that say what to do next.
pub const BUILD_COMMAND: &str = "scripts/control-plane.sh";

/// The manifests installed as they are deployed: the controller's identity and roles, and the
/// roles people are bound to.
const MANIFESTS: [&str; 4] = [
    include_str!("../../deploy/namespace.yaml"),
    include_str!("../../deploy/serviceaccount.yaml"),
    include_str!("../../deploy/rbac-controller.yaml"),
    include_str!("../../deploy/rbac-users.yaml"),
];

/// A running etcd and kube-apiserver; both are stopped when this is dropped.
pub struct ControlPlane {
    etcd: Child,
    apiserver: Child,
    pub url: String,
    /// The PEM of the CA the server's certificate chains to.
    pub ca_pem: String,
    admin_token: String,
}

const ETCD_LOG: &str = "etcd.log";
const APISERVER_LOG: &str = "kube-apiserver.log";

/// `kube-apiserver` and `etcd` in `dir`, or an error naming the missing one and how to build it.
pub fn binaries(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let find = |name: &str| {
        let path = dir.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "the control-plane directory {} has no {name}; build kube-apiserver and etcd with `{BUILD_COMMAND}` (it prints the directory to pass)",
                dir.display()
            ))
        }
    };
    Ok((find("kube-apiserver")?, find("etcd")?))
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver with their state in `dir`, the API on `port` (0: any free
    /// one), and waits until the API server is ready.
    pub async fn start(bin_dir: &Path, dir: &Path, port: u16) -> Result<ControlPlane, String> {
        let (apiserver_bin, etcd_bin) = binaries(bin_dir)?;
        std::fs::create_dir_all(dir.join("pki"))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let admin_token = secret_file(&dir.join("admin.token"), || random_hex(32))?;
        let tokens = dir.join("tokens.csv");
        write_private(
            &tokens,
            format!("{admin_token},airlock-dev,airlock-dev,\"system:masters\"\n").as_bytes(),
        )?;
        let (signing_key, public_key) = service_account_keys(dir)?;
        let etcd_client = free_port()?;
        let etcd_peer = free_port()?;
        let port = if port == 0 { free_port()? } else { port };

        let mut etcd = spawn(
            Command::new(&etcd_bin)
                .arg("--data-dir")
                .arg(dir.join("etcd"))
                .args([
                    "--name=airlock-dev".to_string(),
                    format!("--listen-client-urls=http://127.0.0.1:{etcd_client}"),
                    format!("--advertise-client-urls=http://127.0.0.1:{etcd_client}"),
                    format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
                    format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
                    format!("--initial-cluster=airlock-dev=http://127.0.0.1:{etcd_peer}"),
                    // A development store: losing the last writes on a power cut is acceptable,
                    // a second of fsync per write is not.
                    "--unsafe-no-fsync".into(),
                    "--log-level=warn".into(),
                ]),
            &dir.join(ETCD_LOG),
        )?;
        wait_for_etcd(&mut etcd, etcd_client, dir).await?;

        let url = format!("https://127.0.0.1:{port}");
        let mut apiserver = spawn(
            Command::new(&apiserver_bin)
                .args([
                    format!("--etcd-servers=http://127.0.0.1:{etcd_client}"),
                    "--bind-address=127.0.0.1".into(),
                    "--advertise-address=127.0.0.1".into(),
                    format!("--secure-port={port}"),
                    "--authorization-mode=RBAC".into(),
                    "--service-cluster-ip-range=10.0.0.0/24".into(),
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                    // The `kubernetes` Service's endpoints cannot be a loopback address.
                    "--endpoint-reconciler-type=none".into(),
                    "--profiling=false".into(),
                ])
                .arg(flag("--cert-dir", &dir.join("pki")))
                .arg(flag("--token-auth-file", &tokens))
                .arg(flag("--service-account-signing-key-file", &signing_key))
                .arg(flag("--service-account-key-file", &public_key)),
            &dir.join(APISERVER_LOG),
        )?;
        let ca_pem = wait_for_apiserver(&mut apiserver, &url, &admin_token, dir).await?;
        Ok(ControlPlane {
            etcd,
            apiserver,
            url,
            ca_pem,
            admin_token,
        })
    }

    /// A kubeconfig for `user` with `token`, trusting this server's CA.
    pub fn kubeconfig(&self, user: &str, token: &str, namespace: &str) -> String {
        kubeconfig(&self.url, &self.ca_pem, user, token, namespace)
    }

    /// The cluster administrator's kubeconfig (group `system:masters`).
    pub fn admin_kubeconfig(&self) -> String {
        self.kubeconfig("airlock-dev", &self.admin_token, "default")
    }

    /// Installs the CRDs (and waits until they are Established) and airlock's namespace,
    /// ServiceAccount and roles; returns a kubeconfig for the controller's ServiceAccount, with a
    /// token from the TokenRequest API.
    pub async fn install(&self, admin: &kube::Client) -> Result<String, String> {
        let pp = PatchParams::apply("airlock-dev").force();
        let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
        for crd in crate::api::crds() {
            let name = crd.metadata.name.clone().unwrap_or_default();
            crds.patch(&name, &pp, &Patch::Apply(&crd))
                .await
                .map_err(|e| format!("installing the CRD {name}: {e}"))?;
        }
        for crd in crate::api::crds() {
            let name = crd.metadata.name.clone().unwrap_or_default();
            wait_established(&crds, &name).await?;
        }
        for file in MANIFESTS {
            for doc in file.split("\n---\n") {
                let mut value: Value =
                    serde_saphyr::from_str(doc).map_err(|e| format!("the deploy manifest: {e}"))?;
                namespaced_as_deployed(&mut value);
                apply_manifest(admin, &pp, value).await?;
            }
        }
        let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), CONTROLLER_NAMESPACE);
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                // A day: each start of `airlock dev` asks for a new one.
                expiration_seconds: Some(24 * 3600),
                ..Default::default()
            }),
            ..Default::default()
        };
        let token = accounts
            .create_token_request(CONTROLLER_ACCOUNT, &PostParams::default(), &request)
            .await
            .map_err(|e| {
                format!("requesting a token for the {CONTROLLER_ACCOUNT} ServiceAccount: {e}")
            })?
            .status
            .and_then(|s| s.token)
            .ok_or("the TokenRequest answer has no token")?;
        Ok(self.kubeconfig(
            &format!("system:serviceaccount:{CONTROLLER_NAMESPACE}:{CONTROLLER_ACCOUNT}"),
            &token,
            CONTROLLER_NAMESPACE,
        ))
    }

    /// Stops kube-apiserver, then etcd (SIGTERM, then SIGKILL after a few seconds).
    pub async fn stop(mut self) {
        stop(&mut self.apiserver).await;
        stop(&mut self.etcd).await;
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // `stop` is the orderly way; here (an error path, a panic) SIGKILL is what is left.
        let _ = self.apiserver.start_kill();
        let _ = self.etcd.start_kill();
    }
}

fn kubeconfig(url: &str, ca_pem: &str, user: &str, token: &str, namespace: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: airlock-dev\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\nusers:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: airlock-dev\n  context:\n    cluster: airlock-dev\n    user: {user}\n    namespace: {namespace}\ncurrent-context: airlock-dev\n"
    )
}

async fn wait_for_etcd(etcd: &mut Child, port: u16, dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if let Some(status) = etcd.try_wait().ok().flatten() {
            return Err(died("etcd", status, &dir.join(ETCD_LOG)));
        }
        if etcd_healthy(port).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(late("etcd", &dir.join(ETCD_LOG)));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `/readyz` answers ok; returns the CA of the certificate the server made itself.
async fn wait_for_apiserver(
    apiserver: &mut Child,
    url: &str,
    token: &str,
    dir: &Path,
) -> Result<String, String> {
    let deadline = Instant::now() + START_DEADLINE;
    // kube-apiserver, given a --cert-dir and no certificate, makes a CA and a serving
    // certificate for 127.0.0.1 and localhost, and keeps them there across restarts.
    let cert = dir.join("pki").join("apiserver.crt");
    loop {
        if let Some(status) = apiserver.try_wait().ok().flatten() {
            return Err(died("kube-apiserver", status, &dir.join(APISERVER_LOG)));
        }
        if let Ok(pem) = std::fs::read_to_string(&cert)
            && ready(url, &pem, token).await
        {
            return Ok(pem);
        }
        if Instant::now() > deadline {
            return Err(late("kube-apiserver", &dir.join(APISERVER_LOG)));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Whether `/readyz` answers 200. Not through kube's client: it logs every 500 a starting
/// server answers as an error.
async fn ready(url: &str, ca_pem: &str, token: &str) -> bool {
    use http_body_util::Empty;
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()).flatten() {
        let _ = roots.add(cert);
    }
    let Ok(tls) = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions() else {
        return false;
    };
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.with_root_certificates(roots).with_no_client_auth())
        .https_only()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<bytes::Bytes>>(https);
    let Ok(request) = http::Request::get(format!("{url}/readyz"))
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Empty::new())
    else {
        return false;
    };
    tokio::time::timeout(Duration::from_secs(5), client.request(request))
        .await
        .is_ok_and(|r| r.is_ok_and(|r| r.status() == http::StatusCode::OK))
}

fn died(what: &str, status: std::process::ExitStatus, log: &Path) -> String {
    format!(
        "{what} exited ({status}) while starting; the last lines of {}:\n{}",
        log.display(),
        log_tail(log)
    )
}

fn late(what: &str, log: &Path) -> String {
    format!(
        "{what} was not ready after {START_DEADLINE:?}; the last lines of {}:\n{}",
        log.display(),
        log_tail(log)
    )
}

/// A kube client for a kubeconfig document.
pub async fn client_for(kubeconfig: &str) -> Result<kube::Client, String> {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig).map_err(|e| e.to_string())?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| e.to_string())?;
    kube::Client::try_from(config).map_err(|e| e.to_string())
}

fn flag(name: &str, path: &Path) -> std::ffi::OsString {
    let mut arg = std::ffi::OsString::from(format!("{name}="));
    arg.push(path);
    arg
}

fn spawn(command: &mut Command, log: &Path) -> Result<Child, String> {
    let file =
        std::fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = file
        .try_clone()
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .kill_on_drop(true);
    die_with_parent(command);
    command.spawn().map_err(|e| {
        format!(
            "cannot start {}: {e}",
            command.as_std().get_program().to_string_lossy()
        )
    })
}

/// Asks Linux to kill the child when `airlock dev` dies, however it dies: a SIGKILLed parent
/// must not leave an API server and etcd running.
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe, and the closure touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut Command) {}

async fn stop(child: &mut Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on our own child's pid, which has not been reaped (`id` is Some).
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

async fn etcd_healthy(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        Some(String::from_utf8_lossy(&buf).contains("\"health\":\"true\""))
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

async fn wait_established(crds: &Api<CustomResourceDefinition>, name: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let established = crds.get(name).await.ok().is_some_and(|crd| {
            crd.status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        });
        if established {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the CRD {name} was not Established after 30s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What kustomize does with `namespace: airlock-system`: namespaced objects and ServiceAccount
/// subjects go into that namespace.
fn namespaced_as_deployed(value: &mut Value) {
    let kind = value["kind"].as_str().unwrap_or_default();
    if matches!(kind, "ServiceAccount" | "Role" | "RoleBinding") {
        value["metadata"]["namespace"] = Value::from(CONTROLLER_NAMESPACE);
    }
    if let Some(subjects) = value.get_mut("subjects").and_then(Value::as_array_mut) {
        for s in subjects
            .iter_mut()
            .filter(|s| s["kind"] == "ServiceAccount")
        {
            s["namespace"] = Value::from(CONTROLLER_NAMESPACE);
        }
    }
}

async fn apply_manifest(
    client: &kube::Client,
    pp: &PatchParams,
    value: Value,
) -> Result<(), String> {
    let name = value["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ns = CONTROLLER_NAMESPACE;
    let kind = value["kind"].as_str().unwrap_or_default().to_string();
    let c = client.clone();
    let applied = match kind.as_str() {
        "Namespace" => apply_as(Api::<Namespace>::all(c), &name, pp, &value).await,
        "ServiceAccount" => {
            apply_as(Api::<ServiceAccount>::namespaced(c, ns), &name, pp, &value).await
        }
        "ClusterRole" => apply_as(Api::<ClusterRole>::all(c), &name, pp, &value).await,
        "ClusterRoleBinding" => {
            apply_as(Api::<ClusterRoleBinding>::all(c), &name, pp, &value).await
        }
        "Role" => apply_as(Api::<Role>::namespaced(c, ns), &name, pp, &value).await,
        "RoleBinding" => apply_as(Api::<RoleBinding>::namespaced(c, ns), &name, pp, &value).await,
        other => {
            return Err(format!(
                "the deploy manifest {name} is a {other}, which airlock dev does not install"
            ));
        }
    };
    applied.map_err(|e| format!("installing the {kind} {name}: {e}"))
}

/// Server-side apply of `value` through `api`, whatever its kind.
pub async fn apply_as<K>(
    api: Api<K>,
    name: &str,
    pp: &PatchParams,
    value: &Value,
) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, pp, &Patch::Apply(value)).await.map(drop)
}

/// The signing key (PKCS#8) and its public key (SPKI) for service-account tokens, made once.
fn service_account_keys(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
    let (signing, public) = (dir.join("sa.key"), dir.join("sa.pub"));
    if signing.is_file() && public.is_file() {
        return Ok((signing, public));
    }
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|_| "cannot generate the service-account signing key")?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| "cannot read back the service-account signing key")?;
    // SubjectPublicKeyInfo for an uncompressed P-256 point: the algorithm header, then the point.
    const P256_SPKI_HEADER: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let mut spki = P256_SPKI_HEADER.to_vec();
    spki.extend_from_slice(pair.public_key().as_ref());
    write_private(&signing, pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes())?;
    write_private(&public, pem("PUBLIC KEY", &spki).as_bytes())?;
    Ok((signing, public))
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The contents of a secret file, made by `make` the first time.
fn secret_file(
    path: &Path,
    make: impl FnOnce() -> Result<String, String>,
) -> Result<String, String> {
    if let Ok(text) = std::fs::read_to_string(path)
        && !text.trim().is_empty()
    {
        return Ok(text.trim().to_string());
    }
    let value = make()?;
    write_private(path, value.as_bytes())?;
    Ok(value)
}

/// Writes a file only its owner can read (tokens and keys).
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(contents))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn random_hex(bytes: usize) -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| "the operating system gave no randomness for the admin token")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))
}

/// The last lines of a log, for an error that says why a process died.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

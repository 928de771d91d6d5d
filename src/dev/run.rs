//! `airlock dev`: start the local environment, print how to reach it, run until interrupted.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::apiserver::server::ApiServer;
use super::apiserver::store::Store as ApiStore;
use super::codeartifact::CodeArtifactEmulator;
use super::control_plane::{
    CONTROLLER_NAMESPACE, ControlPlane, apply_as, client_for, write_private,
};
use super::ports;
use crate::publish::builtin::server::RepositoryServer;
use crate::publish::builtin::store::Store;

/// What `airlock dev` runs with: its own settings, so this module depends on nothing above it
/// (the command line converts its arguments into these).
#[derive(Clone, Debug)]
pub struct DevSettings {
    /// The API server's port on 127.0.0.1; `None` for the last run's, else 7443.
    pub port: Option<u16>,
    /// Where the kubeconfig and the built-in repository are kept; `None` for [`default_data_dir`].
    pub data_dir: Option<PathBuf>,
    /// The real kube-apiserver and etcd binaries, instead of the embedded API server.
    pub control_plane: Option<PathBuf>,
    /// Whether the controller runs in this process.
    pub run_controller: bool,
    pub concurrency: usize,
    pub registries: crate::pipeline::resolve::Registries,
    pub allow_hosts: Vec<String>,
    /// OSV advisories from local paths.
    pub advisories: Vec<PathBuf>,
    pub download_deadline: crate::pipeline::fetch::Deadline,
    /// osv.dev-style exports to download, and how often; kept under the data directory.
    pub advisory_feed: Option<(url::Url, std::time::Duration)>,
}

/// Where `airlock dev` keeps what it writes (the kubeconfig) when `--data-dir` is not given.
pub fn default_data_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(runtime) => PathBuf::from(runtime).join("airlock-dev"),
        // The temp dir is everyone's: a directory per user, so nobody reads another's kubeconfig.
        None => std::env::temp_dir().join(format!("airlock-dev-{}", current_uid())),
    }
}

/// This process's user id.
fn current_uid() -> u32 {
    // SAFETY: getuid(2) cannot fail and touches no memory.
    unsafe { libc::getuid() }
}

/// Creates `dir` for this user alone (mode 0700), or refuses one another user owns.
fn private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
    let meta = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if meta.uid() != current_uid() {
        return Err(format!(
            "the data directory {} belongs to another user (uid {}); give --data-dir a directory of your own",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot make {} private: {e}", dir.display()))?;
    }
    Ok(())
}

/// A store with airlock's CRDs installed, as `airlock dev` starts with.
pub fn store_with_crds() -> Result<Arc<ApiStore>, String> {
    let store = Arc::new(ApiStore::new());
    let crd_type = store
        .resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .ok_or("CRD type missing")?;
    for crd in crate::api::crds() {
        let value = serde_json::to_value(&crd).map_err(|e| e.to_string())?;
        store
            .create(&crd_type, None, value)
            .map_err(|e| e.message)?;
    }
    // The namespace `deploy/` installs airlock into, where the controller holds its Lease.
    let namespace_type = store
        .resolve("", "v1", "namespaces")
        .ok_or("Namespace type missing")?;
    let value = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CONTROLLER_NAMESPACE}});
    store
        .create(&namespace_type, None, value)
        .map_err(|e| e.message)?;
    Ok(store)
}

/// The kubeconfig for a server at `addr`: no credentials, since the dev server has no auth.
pub fn kubeconfig(addr: SocketAddr) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: airlock-dev\n  cluster:\n    server: http://{addr}\nusers:\n- name: airlock-dev\n  user: {{}}\ncontexts:\n- name: airlock-dev\n  context:\n    cluster: airlock-dev\n    user: airlock-dev\n    namespace: default\ncurrent-context: airlock-dev\n"
    )
}

/// Writes a kubeconfig atomically, readable by its owner only (it may carry a token).
fn write_kubeconfig(dir: &Path, name: &str, text: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    write_private(&tmp, text.as_bytes())?;
    std::fs::rename(&tmp, &path)
        .map_err(|e| format!("cannot write the kubeconfig {}: {e}", path.display()))?;
    Ok(path)
}

/// The policy and repositories `airlock dev` starts with: the examples' default policy, the
/// built-in repository, and the two CodeArtifact repositories the emulator holds.
const STARTER: [&str; 3] = [
    include_str!("../../examples/scanpolicy-default.yaml"),
    include_str!("../../examples/repository-builtin.yaml"),
    include_str!("../../examples/repository-codeartifact.yaml"),
];

async fn apply_starter(client: &kube::Client) -> Result<(), String> {
    use crate::api::{PackageRepository, ScanPolicy};
    use kube::api::{Api, PatchParams};
    // Server-side apply of the manifests as written (not round-tripped through the Rust types,
    // which would spell `72h` as `72h0m0s`), so applying the same examples again with
    // `kubectl apply --server-side` agrees with them instead of conflicting.
    let pp = PatchParams::apply("airlock-dev");
    for file in STARTER {
        for doc in file.split("\n---\n") {
            let value: serde_json::Value =
                serde_saphyr::from_str(doc).map_err(|e| format!("starter manifest: {e}"))?;
            let name = value["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let applied = match value["kind"].as_str() {
                Some("ScanPolicy") => {
                    apply_as(Api::<ScanPolicy>::all(client.clone()), &name, &pp, &value).await
                }
                Some("PackageRepository") => {
                    let api = Api::<PackageRepository>::all(client.clone());
                    apply_as(api, &name, &pp, &value).await
                }
                _ => Ok(()),
            };
            applied.map_err(|e| format!("applying the starter {name}: {e}"))?;
        }
    }
    Ok(())
}

/// The Kubernetes API `airlock dev` serves: its own, or the real one from `--control-plane`.
enum Cluster {
    /// Held to keep it serving.
    Embedded {
        _server: ApiServer,
    },
    Real(Box<ControlPlane>),
}

/// The cluster, and the kubeconfigs of its administrator and of the controller.
struct Started {
    cluster: Cluster,
    admin: String,
    controller: String,
    /// Where the Kubernetes API is, for the banner.
    url: String,
}

async fn start_cluster(
    args: &DevSettings,
    dir: &Path,
    remembered: Option<u16>,
) -> Result<Started, String> {
    // An explicit --port is kept to (or fails); otherwise the last run's port, else 7443.
    let wanted = args.port.or(remembered).unwrap_or(7443);
    let bins = args
        .control_plane
        .as_ref()
        .filter(|d| !d.as_os_str().is_empty());
    let Some(bins) = bins else {
        eprintln!(
            "airlock dev: for development and tests only — the API server has no authentication and listens on 127.0.0.1 only"
        );
        let store = store_with_crds()?;
        let server = match args.port {
            Some(port) => ApiServer::start(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), store)
                .await
                .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e} (choose another with --port, or --port 0 for any free port)"))?,
            None => ports::on_remembered("the API server", Some(wanted), |a| {
                ApiServer::start(a, store.clone())
            })
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?,
        };
        let admin = kubeconfig(server.addr);
        return Ok(Started {
            url: format!("http://{}", server.addr),
            controller: admin.clone(),
            admin,
            cluster: Cluster::Embedded { _server: server },
        });
    };
    let plane = ControlPlane::start(bins, &dir.join("control-plane"), wanted).await?;
    let admin = plane.admin_kubeconfig();
    let controller = plane.install(&client_for(&admin).await?).await?;
    Ok(Started {
        url: plane.url.clone(),
        admin,
        controller,
        cluster: Cluster::Real(Box::new(plane)),
    })
}

/// Where the controller's advisory data comes from, in one line for the person who started it.
fn advisory_summary(
    args: &DevSettings,
    feed: Option<&crate::controller::AdvisoryFeedSettings>,
) -> String {
    let paths: Vec<String> = args
        .advisories
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    match (feed, paths.is_empty()) {
        (Some(f), _) => format!(
            "advisories downloaded from {} into {} and refreshed every {}s{}; until they arrive, packages wait (policy advisories.required)",
            f.base,
            f.dir.display(),
            f.every.as_secs(),
            if paths.is_empty() {
                String::new()
            } else {
                format!(", with {}", paths.join(", "))
            }
        ),
        (None, false) => format!(
            "advisories from {} (reloaded when they change)",
            paths.join(", ")
        ),
        (None, true) => "no advisory data (--advisories-url off): known vulnerabilities are not checked, and the default policy holds every package for review".into(),
    }
}

/// Runs `airlock dev` until SIGINT or SIGTERM.
pub async fn run(args: DevSettings) -> Result<(), String> {
    let dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    private_dir(&dir)?;
    let mut remembered = ports::Ports::load(&dir);
    let started = start_cluster(&args, &dir, remembered.api).await?;
    let path = write_kubeconfig(&dir, "kubeconfig", &started.admin)?;
    // The controller's own identity, for `airlock controller` processes run beside this one.
    let controller_kubeconfig =
        write_kubeconfig(&dir, "controller.kubeconfig", &started.controller)?;
    // The built-in repository, on any free port, kept in the data directory across restarts.
    let repo_dir = dir.join("builtin");
    let repo_store = Arc::new(Store::open(&repo_dir).map_err(|e| e.to_string())?);
    let repo = ports::on_remembered("the built-in repository", remembered.repository, |a| {
        RepositoryServer::start(a, repo_store.clone())
    })
    .await
    .map_err(|e| format!("cannot start the built-in repository: {e}"))?;
    // The CodeArtifact emulator, with the domain and repositories the examples use.
    let emulator =
        ports::on_remembered("the CodeArtifact emulator", remembered.codeartifact, |a| {
            CodeArtifactEmulator::start(a, dir.join("codeartifact"))
        })
        .await
        .map_err(|e| format!("cannot start the CodeArtifact emulator: {e}"))?;
    let metrics = SocketAddr::from((Ipv4Addr::LOCALHOST, ports::free_port(remembered.metrics)));
    remembered = ports::Ports {
        api: url::Url::parse(&started.url).ok().and_then(|u| u.port()),
        repository: Some(repo.addr.port()),
        codeartifact: emulator
            .endpoint_url()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok()),
        metrics: args
            .run_controller
            .then_some(metrics.port())
            .or(remembered.metrics),
    };
    remembered.save(&dir)?;
    emulator.create("airlock", &["pypi-approved", "npm-approved"])?;
    let client = client_for(&started.admin).await?;
    let controller_client = client_for(&started.controller).await?;
    apply_starter(&client).await?;
    // Whoever reads these lines may stop reading after the one it needs (`| head -1`); a closed
    // stdout must not stop the servers.
    let lines = format!(
        "export KUBECONFIG={}\nexport PIP_INDEX_URL={}\nexport NPM_CONFIG_REGISTRY={}\nexport AWS_ENDPOINT_URL={}\n",
        path.display(),
        repo.pypi_index_url(),
        repo.npm_registry_url(),
        emulator.endpoint_url()
    );
    // For `airlock dev env` in another terminal.
    write_private(&dir.join("env"), lines.as_bytes())?;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(lines.as_bytes()).and_then(|()| out.flush()) {
        eprintln!(
            "airlock dev: could not print the environment to standard output ({e}); still running"
        );
    }
    drop(out);
    eprintln!(
        "airlock dev: Kubernetes API on {} ({}) with airlock's CRDs, ScanPolicy default and PackageRepositories builtin, pypi-approved, npm-approved; built-in repository on http://{} (data in {}); CodeArtifact emulator on {} (domain airlock); upstreams {} and {}; Ctrl-C stops it",
        started.url,
        match &started.cluster {
            Cluster::Embedded { .. } => "the embedded API server".to_string(),
            Cluster::Real(_) => format!(
                "kube-apiserver and etcd; the controller runs as system:serviceaccount:{CONTROLLER_NAMESPACE}:airlock-controller, its kubeconfig {}",
                controller_kubeconfig.display()
            ),
        },
        repo.addr,
        repo_dir.display(),
        emulator.endpoint_url(),
        args.registries.pypi_index,
        args.registries.npm_registry,
    );
    let feed =
        args.advisory_feed
            .clone()
            .map(|(base, every)| crate::controller::AdvisoryFeedSettings {
                base,
                every,
                dir: dir.join("advisories"),
            });
    if args.run_controller {
        eprintln!("airlock dev: {}", advisory_summary(&args, feed.as_ref()));
        eprintln!(
            "airlock dev: the controller's metrics on http://{metrics}/metrics; `airlock dev env{}` prints the environment again",
            if args.data_dir.is_some() {
                format!(" --data-dir {}", dir.display())
            } else {
                String::new()
            }
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let controller = if !args.run_controller {
        None
    } else {
        let settings = crate::controller::Settings {
            concurrency: args.concurrency,
            registries: args.registries.clone(),
            allow_hosts: args.allow_hosts.clone(),
            advisories: args.advisories.clone(),
            download_deadline: args.download_deadline,
            advisory_feed: feed,
            cache_dir: dir.join("cache"),
            aws: crate::controller::AwsSettings {
                endpoint_url: Some(emulator.endpoint_url()),
                emulator_credentials: true,
            },
            default_resync: std::time::Duration::from_secs(300),
            metrics_addr: metrics,
            identity: format!("airlock-dev-{}", std::process::id()),
            lease: Some(crate::controller::LeaseSettings {
                namespace: CONTROLLER_NAMESPACE.into(),
                name: "airlock-controller".into(),
                duration: std::time::Duration::from_secs(15),
                retry: std::time::Duration::from_secs(2),
            }),
            fault: None,
        };
        let builtin = crate::publish::target::Builtin {
            store: repo_store.clone(),
            base_url: Some(format!("http://{}", repo.addr)),
        };
        Some(tokio::spawn(crate::controller::run(
            controller_client,
            settings,
            Some(builtin),
            stop_rx,
        )))
    };
    crate::controller::shutdown_signal().await;
    let _ = stop_tx.send(true);
    if let Some(c) = controller {
        match tokio::time::timeout(std::time::Duration::from_secs(20), c).await {
            Ok(Ok(Err(e))) => eprintln!("airlock dev: the controller: {e}"),
            Err(_) => eprintln!("airlock dev: the controller did not stop within 20s"),
            _ => {}
        }
    }
    if let Cluster::Real(plane) = started.cluster {
        plane.stop().await;
    }
    eprintln!("airlock dev: stopped");
    Ok(())
}

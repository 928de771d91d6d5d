//! `airlock dev`: start the local environment, print how to reach it, run until interrupted.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::apiserver::server::ApiServer;
use super::apiserver::store::Store as ApiStore;
use super::codeartifact::CodeArtifactEmulator;
use crate::publish::builtin::server::RepositoryServer;
use crate::publish::builtin::store::Store;

/// Where `airlock dev` keeps what it writes (the kubeconfig) when `--data-dir` is not given.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("airlock-dev")
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
    Ok(store)
}

/// The kubeconfig for a server at `addr`: no credentials, since the dev server has no auth.
pub fn kubeconfig(addr: SocketAddr) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: airlock-dev\n  cluster:\n    server: http://{addr}\nusers:\n- name: airlock-dev\n  user: {{}}\ncontexts:\n- name: airlock-dev\n  context:\n    cluster: airlock-dev\n    user: airlock-dev\n    namespace: default\ncurrent-context: airlock-dev\n"
    )
}

fn write_kubeconfig(dir: &Path, addr: SocketAddr) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("kubeconfig");
    let tmp = dir.join("kubeconfig.tmp");
    std::fs::write(&tmp, kubeconfig(addr))?;
    std::fs::rename(&tmp, &path)?;
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
    use kube::api::{Api, Patch, PatchParams};
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
                Some("ScanPolicy") => Api::<ScanPolicy>::all(client.clone())
                    .patch(&name, &pp, &Patch::Apply(&value))
                    .await
                    .map(|_| ()),
                Some("PackageRepository") => Api::<PackageRepository>::all(client.clone())
                    .patch(&name, &pp, &Patch::Apply(&value))
                    .await
                    .map(|_| ()),
                _ => Ok(()),
            };
            applied.map_err(|e| format!("applying the starter {name}: {e}"))?;
        }
    }
    Ok(())
}

/// Runs `airlock dev` until SIGINT or SIGTERM.
pub async fn run(args: crate::cli::DevCommand) -> Result<(), String> {
    let port = args.port;
    eprintln!(
        "airlock dev: for development and tests only — the API server has no authentication and listens on 127.0.0.1 only"
    );
    let store = store_with_crds()?;
    let server = ApiServer::start(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), store)
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e} (choose another with --port, or --port 0 for any free port)"))?;
    let dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let path = write_kubeconfig(&dir, server.addr)
        .map_err(|e| format!("cannot write the kubeconfig into {}: {e}", dir.display()))?;
    // The built-in repository, on any free port, kept in the data directory across restarts.
    let repo_dir = dir.join("builtin");
    let repo_store = Arc::new(Store::open(&repo_dir).map_err(|e| e.to_string())?);
    let repo = RepositoryServer::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        repo_store.clone(),
    )
    .await
    .map_err(|e| format!("cannot start the built-in repository: {e}"))?;
    // The CodeArtifact emulator, with the domain and repositories the examples use.
    let emulator = CodeArtifactEmulator::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        dir.join("codeartifact"),
    )
    .await
    .map_err(|e| format!("cannot start the CodeArtifact emulator: {e}"))?;
    emulator.create("airlock", &["pypi-approved", "npm-approved"])?;
    let client = kube::Client::try_from(kube::Config::new(
        format!("http://{}", server.addr)
            .parse()
            .map_err(|e| format!("{e}"))?,
    ))
    .map_err(|e| e.to_string())?;
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
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(lines.as_bytes()).and_then(|()| out.flush()) {
        eprintln!(
            "airlock dev: could not print the environment to standard output ({e}); still running"
        );
    }
    drop(out);
    eprintln!(
        "airlock dev: Kubernetes API on http://{} with airlock's CRDs, ScanPolicy default and PackageRepositories builtin, pypi-approved, npm-approved; built-in repository on http://{} (data in {}); CodeArtifact emulator on {} (domain airlock); upstreams {} and {}; Ctrl-C stops it",
        server.addr,
        repo.addr,
        repo_dir.display(),
        emulator.endpoint_url(),
        args.upstream.pypi_index,
        args.upstream.npm_registry,
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let controller = if args.no_controller {
        None
    } else {
        let settings = crate::controller::Settings {
            concurrency: args.concurrency,
            registries: args.upstream.registries(),
            allow_hosts: args.upstream.allow_hosts.clone(),
            advisories: args.upstream.advisories.clone(),
            cache_dir: dir.join("cache"),
            aws: crate::controller::AwsSettings {
                endpoint_url: Some(emulator.endpoint_url()),
                emulator_credentials: true,
            },
            default_resync: std::time::Duration::from_secs(300),
            metrics_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            identity: format!("airlock-dev-{}", std::process::id()),
            lease: Some(crate::controller::LeaseSettings {
                namespace: "default".into(),
                name: "airlock-controller".into(),
                duration: std::time::Duration::from_secs(15),
                retry: std::time::Duration::from_secs(2),
            }),
            fault: None,
        };
        let builtin = crate::controller::target::Builtin {
            store: repo_store.clone(),
            base_url: Some(format!("http://{}", repo.addr)),
        };
        Some(tokio::spawn(crate::controller::run(
            client.clone(),
            settings,
            Some(builtin),
            stop_rx,
        )))
    };
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    if let Some(c) = controller {
        match tokio::time::timeout(std::time::Duration::from_secs(20), c).await {
            Ok(Ok(Err(e))) => eprintln!("airlock dev: the controller: {e}"),
            Err(_) => eprintln!("airlock dev: the controller did not stop within 20s"),
            _ => {}
        }
    }
    eprintln!("airlock dev: stopped");
    Ok(())
}

/// SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

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

/// Runs `airlock dev` until SIGINT or SIGTERM.
pub async fn run(port: u16, data_dir: Option<PathBuf>) -> Result<(), String> {
    eprintln!(
        "airlock dev: for development and tests only — the API server has no authentication and listens on 127.0.0.1 only"
    );
    let store = store_with_crds()?;
    let server = ApiServer::start(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), store)
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e} (choose another with --port, or --port 0 for any free port)"))?;
    let dir = data_dir.unwrap_or_else(default_data_dir);
    let path = write_kubeconfig(&dir, server.addr)
        .map_err(|e| format!("cannot write the kubeconfig into {}: {e}", dir.display()))?;
    // The built-in repository, on any free port, kept in the data directory across restarts.
    let repo_dir = dir.join("builtin");
    let repo_store = Store::open(&repo_dir).map_err(|e| e.to_string())?;
    let repo = RepositoryServer::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Arc::new(repo_store),
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
        "airlock dev: Kubernetes API on http://{} with airlock's CRDs installed; built-in repository on http://{} (data in {}); CodeArtifact emulator on {} (domain airlock: pypi-approved, npm-approved); Ctrl-C stops it",
        server.addr,
        repo.addr,
        repo_dir.display(),
        emulator.endpoint_url()
    );
    shutdown_signal().await;
    eprintln!("airlock dev: stopped");
    Ok(())
}

async fn shutdown_signal() {
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

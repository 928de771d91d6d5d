//! The ports `airlock dev` serves on, remembered in its data directory (`ports.json`), so a
//! restart with the same `--data-dir` keeps the URLs a second terminal already exported. A
//! remembered port that another process has taken meanwhile gives way to a free one, with a
//! warning; the printed environment always says where things are.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Ports {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codeartifact: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<u16>,
}

fn file(dir: &Path) -> PathBuf {
    dir.join("ports.json")
}

impl Ports {
    /// What the last run in `dir` used; nothing when it is the first (or the file is unreadable).
    pub fn load(dir: &Path) -> Ports {
        std::fs::read(file(dir))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, dir: &Path) -> Result<(), String> {
        let path = file(dir);
        let tmp = dir.join("ports.json.tmp");
        let text = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("cannot remember the ports in {}: {e}", path.display()))
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Starts `start` on 127.0.0.1 at the remembered port, or at any free port when none is
/// remembered or it is taken now.
pub async fn on_remembered<T, E, F, Fut>(
    what: &str,
    remembered: Option<u16>,
    start: F,
) -> Result<T, E>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    if let Some(port) = remembered.filter(|p| *p != 0) {
        match start(local(port)).await {
            Ok(v) => return Ok(v),
            Err(e) => eprintln!(
                "airlock dev: {what} cannot have port {port} again ({e}); it gets another, so export the new environment below"
            ),
        }
    }
    start(local(0)).await
}

/// A port for a server started later by someone else (the controller's metrics): the
/// remembered one when it is free now, else one the system picks.
pub fn free_port(remembered: Option<u16>) -> u16 {
    let try_bind = |p: u16| std::net::TcpListener::bind(local(p)).ok();
    remembered
        .filter(|p| *p != 0)
        .and_then(try_bind)
        .or_else(|| try_bind(0))
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_remembered_port_is_reused_and_a_taken_one_gives_way() {
        let dir = std::env::temp_dir().join(format!("airlock-ports-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let bind = |a: SocketAddr| async move { tokio::net::TcpListener::bind(a).await };
        let first = on_remembered("x", None, bind).await.expect("bind");
        let port = first.local_addr().expect("addr").port();
        Ports {
            repository: Some(port),
            ..Ports::default()
        }
        .save(&dir)
        .expect("save");
        drop(first);
        let remembered = Ports::load(&dir).repository;
        assert_eq!(remembered, Some(port));
        let again = on_remembered("x", remembered, bind).await.expect("bind");
        assert_eq!(again.local_addr().expect("addr").port(), port);
        // Taken (by `again`): another port, not an error.
        let other = on_remembered("x", remembered, bind).await.expect("bind");
        assert_ne!(other.local_addr().expect("addr").port(), port);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

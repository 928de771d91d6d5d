//! The advisory data the controller scans with, reloaded when it changes on disk, so the
//! periodic re-scan sees new advisories without a restart.
//!
//! A change is noticed by the modification time of each `--advisories` path (a directory's
//! changes when a record is added, removed or renamed into it; a zip's when it is replaced). Sync
//! jobs should write new records and rename them into place, as `rsync` and `unzip` do.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::Mutex;

use crate::scan::advisories::AdvisoryDb;

pub struct AdvisorySource {
    paths: Vec<PathBuf>,
    loaded: Mutex<(Vec<Option<SystemTime>>, Arc<AdvisoryDb>)>,
}

impl AdvisorySource {
    pub fn new(paths: Vec<PathBuf>) -> AdvisorySource {
        AdvisorySource {
            paths,
            loaded: Mutex::new((Vec::new(), Arc::new(AdvisoryDb::default()))),
        }
    }

    pub fn configured(&self) -> bool {
        !self.paths.is_empty()
    }

    fn stamps(&self) -> Vec<Option<SystemTime>> {
        self.paths
            .iter()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }

    /// The current data: reloaded first if any path changed since the last load. A load that
    /// fails keeps the previous data (and says why), so a half-synced directory cannot blind
    /// the scanner.
    pub async fn current(&self) -> Arc<AdvisoryDb> {
        if self.paths.is_empty() {
            return self.loaded.lock().await.1.clone();
        }
        let mut loaded = self.loaded.lock().await;
        let stamps = self.stamps();
        if loaded.0 == stamps {
            return loaded.1.clone();
        }
        let paths = self.paths.clone();
        let result =
            tokio::task::spawn_blocking(move || crate::scan::command::load_advisories(&paths))
                .await;
        match result {
            Ok(Ok(Some(db))) => {
                tracing::info!(
                    records = db.records,
                    skipped = db.skipped.len(),
                    "advisory data loaded"
                );
                *loaded = (stamps, Arc::new(db));
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "advisory data could not be loaded; scanning with the previous data")
            }
            Err(e) => {
                tracing::error!(error = %e, "advisory loading crashed; scanning with the previous data")
            }
        }
        loaded.1.clone()
    }
}

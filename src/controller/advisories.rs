//! The advisory data the controller scans with: osv.dev's exports, downloaded and refreshed
//! here (`--advisories-url`, `--advisories-refresh`), and any `--advisories` paths an
//! air-gapped cluster syncs itself. Reloaded when a file changes on disk, so the periodic
//! re-scan sees new advisories without a restart, and announced, so requests held for want of
//! data are decided again as soon as it arrives.
//!
//! A change is noticed by the modification time of each path (a directory's changes when a
//! record is added, removed or renamed into it; a zip's when it is replaced). Sync jobs should
//! write new records and rename them into place, as `rsync` and `unzip` do; the download does.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Mutex, watch};

use crate::scan::advisories::AdvisoryDb;
use crate::scan::advisories::download::{ECOSYSTEMS, Exports, Refreshed};
use crate::scan::advisories::osv_name;

/// How often the paths are looked at for changes between downloads.
const POLL: Duration = Duration::from_secs(15);
/// The wait before trying again after a download failed and nothing is held yet.
const FIRST_DOWNLOAD_RETRY: Duration = Duration::from_secs(60);

/// Where the exports come from and how often they are refreshed.
pub struct Feed {
    pub exports: Exports,
    pub every: Duration,
}

struct Loaded {
    stamps: Vec<(PathBuf, Option<SystemTime>)>,
    db: Arc<AdvisoryDb>,
}

pub struct AdvisorySource {
    paths: Vec<PathBuf>,
    feed: Option<Feed>,
    loaded: Mutex<Loaded>,
    /// Bumped on every load that changed the data.
    changed: watch::Sender<u64>,
}

impl AdvisorySource {
    pub fn new(paths: Vec<PathBuf>, feed: Option<Feed>) -> AdvisorySource {
        AdvisorySource {
            paths,
            feed,
            loaded: Mutex::new(Loaded {
                stamps: Vec::new(),
                db: Arc::new(AdvisoryDb::default()),
            }),
            changed: watch::channel(0).0,
        }
    }

    pub fn configured(&self) -> bool {
        !self.paths.is_empty() || self.feed.is_some()
    }

    /// Announces each change of the data.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The given paths, and the exports downloaded so far.
    fn sources(&self) -> Vec<PathBuf> {
        let mut out = self.paths.clone();
        if let Some(feed) = &self.feed {
            out.extend(
                ECOSYSTEMS
                    .iter()
                    .map(|e| feed.exports.path(*e))
                    .filter(|p| p.is_file()),
            );
        }
        out
    }

    /// The current data: reloaded first if any path changed since the last load. A load that
    /// fails keeps the previous data (and says why), so a half-synced directory cannot blind
    /// the scanner.
    pub async fn current(&self) -> Arc<AdvisoryDb> {
        let mut loaded = self.loaded.lock().await;
        let sources = self.sources();
        if sources.is_empty() {
            return loaded.db.clone();
        }
        let stamps: Vec<(PathBuf, Option<SystemTime>)> = sources
            .iter()
            .map(|p| {
                let stamp = std::fs::metadata(p).and_then(|m| m.modified()).ok();
                (p.clone(), stamp)
            })
            .collect();
        if loaded.stamps == stamps {
            return loaded.db.clone();
        }
        let result = tokio::task::spawn_blocking(move || AdvisoryDb::load_paths(&sources)).await;
        match result {
            Ok(Ok(db)) => {
                for (file, why) in db.skipped.iter().take(5) {
                    tracing::warn!(file = %file, reason = %why, "advisory record skipped");
                }
                let covered: Vec<&str> = ECOSYSTEMS
                    .iter()
                    .filter(|e| db.covers(**e))
                    .map(|e| osv_name(*e))
                    .collect();
                tracing::info!(
                    records = db.records,
                    skipped = db.skipped.len(),
                    ecosystems = covered.join(","),
                    "advisory data loaded"
                );
                *loaded = Loaded {
                    stamps,
                    db: Arc::new(db),
                };
                self.changed.send_modify(|g| *g += 1);
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "advisory data could not be loaded; scanning with the previous data")
            }
            Err(e) => {
                tracing::error!(error = %e, "advisory loading crashed; scanning with the previous data")
            }
        }
        loaded.db.clone()
    }

    /// Keeps the data fresh until `stop`: downloads on the feed's interval (sooner while nothing
    /// is held yet) and reloads whatever changed on disk.
    pub async fn keep_fresh(&self, mut stop: watch::Receiver<bool>) {
        let mut next_download = Instant::now();
        loop {
            if let Some(feed) = &self.feed
                && Instant::now() >= next_download
            {
                let mut missing = false;
                for ecosystem in ECOSYSTEMS {
                    let name = osv_name(ecosystem);
                    match feed.exports.refresh(ecosystem).await {
                        Ok(Refreshed::Unchanged) => {
                            tracing::debug!(ecosystem = name, "advisory export unchanged")
                        }
                        Ok(Refreshed::Updated { records, bytes }) => tracing::info!(
                            ecosystem = name,
                            records,
                            bytes,
                            from = %feed.exports.base(),
                            "advisory export downloaded and verified"
                        ),
                        Err(e) => {
                            missing |= !feed.exports.path(ecosystem).is_file();
                            tracing::warn!(ecosystem = name, error = %e, "advisory export not refreshed")
                        }
                    }
                }
                next_download = Instant::now()
                    + if missing {
                        FIRST_DOWNLOAD_RETRY.min(feed.every)
                    } else {
                        feed.every
                    };
            }
            self.current().await;
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

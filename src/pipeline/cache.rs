//! A content-addressed file store keyed by sha256: a file is downloaded once, whatever asks for
//! it again (a re-scan, a second request for the same file) finds it here.
//!
//! Layout: `ROOT/sha256/ab/abcdef…` for content, `ROOT/sha512/…` holding the sha256 of a file
//! known by its sha512 (npm publishes only `integrity`), `ROOT/tmp/` for downloads in flight.
//! Files enter only by `rename` from `tmp/` after their digest is checked, so a reader never sees
//! half a file and a crash leaves at most a temporary file that the next start removes.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Directory syncs made on this thread, for the tests that check each rename is made durable.
    pub static DIR_SYNCS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Makes the entries of the directory holding `path` durable: a rename into it (or a removal)
/// survives a power loss only once the directory itself is synced, not just the file.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    std::fs::File::open(dir)?.sync_all()?;
    DIR_SYNCS.with(|n| n.set(n.get() + 1));
    Ok(())
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Cache {
    /// Opens (creating) the cache at `root` and clears downloads a previous run left unfinished.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Cache> {
        let root = root.into();
        let tmp = root.join("tmp");
        if tmp.exists() {
            for e in std::fs::read_dir(&tmp)?.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        std::fs::create_dir_all(&tmp)?;
        std::fs::create_dir_all(root.join("sha256"))?;
        std::fs::create_dir_all(root.join("sha512"))?;
        Ok(Cache { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_for(&self, algorithm: &str, hex: &str) -> PathBuf {
        self.root.join(algorithm).join(&hex[..2]).join(hex)
    }

    /// The file with this sha256, if cached.
    pub fn get(&self, sha256: &str) -> Option<PathBuf> {
        let sha256 = sha256.to_ascii_lowercase();
        if !is_hex(&sha256, 64) {
            return None;
        }
        let p = self.path_for("sha256", &sha256);
        p.is_file().then_some(p)
    }

    /// The sha256 of the cached file whose sha512 is `sha512_hex`, if cached.
    pub fn sha256_for_sha512(&self, sha512_hex: &str) -> Option<String> {
        if !is_hex(sha512_hex, 128) {
            return None;
        }
        let s = std::fs::read_to_string(self.path_for("sha512", sha512_hex)).ok()?;
        let s = s.trim().to_string();
        (is_hex(&s, 64) && self.get(&s).is_some()).then_some(s)
    }

    /// A fresh path under `tmp/` for a download in flight.
    pub fn temp_path(&self) -> PathBuf {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{}-{n}.part", std::process::id()))
    }

    /// Moves a verified temporary file into the store under its sha256 (and records its sha512
    /// alias when given). Returns the stored path.
    pub fn insert(&self, tmp: &Path, sha256: &str, sha512: Option<&str>) -> io::Result<PathBuf> {
        let dest = self.path_for("sha256", sha256);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(tmp, &dest)?;
        sync_parent(&dest)?;
        if let Some(sha512) = sha512.filter(|s| is_hex(s, 128)) {
            let alias = self.path_for("sha512", sha512);
            if let Some(dir) = alias.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp_alias = self.temp_path();
            std::fs::write(&tmp_alias, sha256)?;
            std::fs::File::open(&tmp_alias)?.sync_all()?;
            std::fs::rename(&tmp_alias, &alias)?;
            sync_parent(&alias)?;
        }
        Ok(dest)
    }
    /// Deletes the file with this sha256 (its sha512 alias then resolves to nothing).
    pub fn remove(&self, sha256: &str) -> io::Result<()> {
        let sha256 = sha256.to_ascii_lowercase();
        if !is_hex(&sha256, 64) {
            return Ok(());
        }
        match std::fs::remove_file(self.path_for("sha256", &sha256)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

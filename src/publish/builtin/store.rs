//! The built-in repository's storage: content-addressed blobs (the pipeline's [`Cache`] layout)
//! and one small JSON index document per package, replaced atomically (write to a temporary file,
//! fsync, rename), so a reader never sees half a write and a restart finds everything.
//!
//! Layout under the root: `blobs/sha256/ab/abcd…` and `index/pypi/<pep503-name>.json`,
//! `index/npm/<name with / as %2f>.json`, and `index/archived/<sha256>`: an empty marker for each
//! blob that only archived versions refer to, so serving a file by its digest stays one `stat`
//! (and right when several processes serve the same root).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::package::normalize_pypi_name;
use crate::pipeline::cache::Cache;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{package} already has {filename} with sha256 {existing}; the new file is {new}. Published files are never replaced: publish a new version instead"
    )]
    Conflict {
        package: String,
        filename: String,
        existing: String,
        new: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("the built-in repository's storage at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// What a publish did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Published {
    Created,
    /// The identical file was already there: nothing to do.
    AlreadyPresent,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PypiFile {
    pub filename: String,
    pub version: String,
    pub sha256: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
    pub upload_time: String,
    /// Unlisted files stay stored (and downloadable by URL) but leave the index.
    #[serde(default)]
    pub unlisted: bool,
    /// Archived files are unlisted and no longer downloadable; their bytes are kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PypiProject {
    pub name: String,
    pub files: Vec<PypiFile>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NpmVersion {
    /// The tarball's own `package.json`: what npm installs from.
    pub manifest: Value,
    pub sha256: String,
    /// SRI, `sha512-…`.
    pub integrity: String,
    pub shasum: String,
    pub size: u64,
    pub published: String,
    #[serde(default)]
    pub unlisted: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NpmPackage {
    pub name: String,
    pub versions: std::collections::BTreeMap<String, NpmVersion>,
}

/// How a version leaves the repository: the `PackageRepository` deletion policies, with
/// CodeArtifact's meanings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Withdrawal {
    /// Out of the index; its files still download by URL (an exact pin keeps working).
    Unlist,
    /// Out of the index and not downloadable; the bytes stay, so it can be restored.
    Archive,
    /// Gone: out of the index and its files deleted (unless another version has the same bytes).
    Dispose,
    /// Undone: an unlisted or archived version listed and downloadable again (CodeArtifact's
    /// `Published` status; the built-in repository re-lists on a publish of the same files).
    Relist,
}

#[derive(Default)]
struct References {
    total: usize,
    downloadable: usize,
}

pub struct Store {
    root: PathBuf,
    blobs: Cache,
    /// Index updates are read-modify-write: one at a time in this process, and (through
    /// [`IndexLock`]) across every process that opens the same root — replicas sharing one
    /// volume, a controller beside `airlock dev`.
    write: Mutex<()>,
}

/// Held while the index is changed: this process's mutex and an exclusive lock on
/// `index/.lock` (advisory `flock`; on NFS, as EFS serves a ReadWriteMany volume, Linux maps it
/// to a byte-range lock the server enforces across clients).
struct IndexLock<'a> {
    _thread: std::sync::MutexGuard<'a, ()>,
    file: std::fs::File,
}

impl Drop for IndexLock<'_> {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// The file name an npm package's index document has.
pub fn npm_key(name: &str) -> String {
    name.replace('/', "%2f")
}

impl Store {
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        for dir in ["index/pypi", "index/npm", "index/archived", "tmp"] {
            std::fs::create_dir_all(root.join(dir)).map_err(io(&root))?;
        }
        let blobs = Cache::open(root.join("blobs")).map_err(io(&root))?;
        Ok(Store {
            root,
            blobs,
            write: Mutex::new(()),
        })
    }

    fn lock_index(&self) -> Result<IndexLock<'_>, StoreError> {
        let thread = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.root.join("index/.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        file.lock().map_err(io(&path))?;
        Ok(IndexLock {
            _thread: thread,
            file,
        })
    }

    /// The stored file with this sha256, unless only archived versions refer to it.
    pub fn blob(&self, sha256: &str) -> Option<PathBuf> {
        let path = self.blobs.get(sha256)?;
        (!self.archived_marker(sha256).exists()).then_some(path)
    }

    /// The index document of the PyPI project `normalized` (a PEP 503 name).
    fn pypi_doc(&self, normalized: &str) -> PathBuf {
        self.root
            .join("index/pypi")
            .join(format!("{normalized}.json"))
    }

    /// The index document of the npm package `name`.
    fn npm_doc(&self, name: &str) -> PathBuf {
        self.root
            .join("index/npm")
            .join(format!("{}.json", npm_key(name)))
    }

    fn archived_marker(&self, sha256: &str) -> PathBuf {
        self.root
            .join("index/archived")
            .join(sha256.to_ascii_lowercase())
    }

    fn read_doc<T: for<'de> Deserialize<'de> + Default>(
        &self,
        path: &Path,
    ) -> Result<Option<T>, StoreError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Invalid(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(path)(e)),
        }
    }

    fn write_doc<T: Serialize>(&self, path: &Path, doc: &T) -> Result<(), StoreError> {
        let tmp = self.blobs.temp_path();
        let bytes =
            serde_json::to_vec_pretty(doc).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, &bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            crate::pipeline::cache::sync_parent(path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(path)(e)
        })
    }

    /// Copies `file` into the blobs, hashing it: its sha256, sha512 (hex), sha1 (hex), size.
    fn put_blob(&self, file: &Path) -> Result<(String, String, String, u64), StoreError> {
        let mut src = std::fs::File::open(file).map_err(io(file))?;
        let tmp = self.blobs.temp_path();
        let mut out = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        let mut sha256 = ring::digest::Context::new(&ring::digest::SHA256);
        let mut sha512 = ring::digest::Context::new(&ring::digest::SHA512);
        let mut sha1 = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
        let mut buf = vec![0u8; 256 << 10];
        let mut size = 0u64;
        let result = (|| -> std::io::Result<()> {
            loop {
                let n = src.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                sha256.update(&buf[..n]);
                sha512.update(&buf[..n]);
                sha1.update(&buf[..n]);
                std::io::Write::write_all(&mut out, &buf[..n])?;
                size += n as u64;
            }
            out.sync_all()
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(file)(e));
        }
        let sha256 = hex::encode(sha256.finish().as_ref());
        let sha512 = hex::encode(sha512.finish().as_ref());
        let sha1 = hex::encode(sha1.finish().as_ref());
        if self.blobs.get(&sha256).is_some() {
            let _ = std::fs::remove_file(&tmp);
        } else {
            self.blobs
                .insert(&tmp, &sha256, Some(&sha512))
                .map_err(io(&tmp))?;
        }
        Ok((sha256, sha512, sha1, size))
    }

    /// Publishes one PyPI file (wheel or sdist) of `name` `version`.
    pub fn publish_pypi(
        &self,
        name: &str,
        version: &str,
        filename: &str,
        file: &Path,
        requires_python: Option<&str>,
    ) -> Result<Published, StoreError> {
        if filename.contains(['/', '\\']) || filename.starts_with('.') {
            return Err(StoreError::Invalid(format!(
                "{filename:?} is not a file name"
            )));
        }
        let (sha256, _, _, size) = self.put_blob(file)?;
        let _guard = self.lock_index()?;
        let key = normalize_pypi_name(name);
        let path = self.pypi_doc(&key);
        let mut project: PypiProject = self.read_doc(&path)?.unwrap_or_default();
        project.name = key.clone();
        if let Some(existing) = project.files.iter_mut().find(|f| f.filename == filename) {
            if existing.sha256 != sha256 {
                return Err(StoreError::Conflict {
                    package: key,
                    filename: filename.into(),
                    existing: existing.sha256.clone(),
                    new: sha256,
                });
            }
            if !existing.unlisted {
                // A listed entry's bytes are never withheld (see the end of this function).
                self.set_archived_marker(&sha256, false)?;
                return Ok(Published::AlreadyPresent);
            }
            existing.unlisted = false;
            existing.archived = false;
        } else {
            project.files.push(PypiFile {
                filename: filename.into(),
                version: version.into(),
                sha256: sha256.clone(),
                size,
                requires_python: requires_python.map(str::to_string),
                upload_time: now(),
                unlisted: false,
                archived: false,
            });
        }
        self.write_doc(&path, &project)?;
        // These bytes may be an archived version's too; a listed entry makes them downloadable.
        self.set_archived_marker(&sha256, false)?;
        Ok(Published::Created)
    }

    /// Publishes one npm version from its tarball and the tarball's `package.json`.
    pub fn publish_npm(&self, manifest: &Value, tarball: &Path) -> Result<Published, StoreError> {
        let name = manifest["name"]
            .as_str()
            .ok_or_else(|| StoreError::Invalid("package.json has no name".into()))?;
        let version = manifest["version"]
            .as_str()
            .ok_or_else(|| StoreError::Invalid("package.json has no version".into()))?;
        let (sha256, sha512, sha1, size) = self.put_blob(tarball)?;
        let _guard = self.lock_index()?;
        let path = self.npm_doc(name);
        let mut package: NpmPackage = self.read_doc(&path)?.unwrap_or_default();
        package.name = name.into();
        if let Some(existing) = package.versions.get_mut(version) {
            if existing.sha256 != sha256 {
                return Err(StoreError::Conflict {
                    package: name.into(),
                    filename: format!("{name}@{version}"),
                    existing: existing.sha256.clone(),
                    new: sha256,
                });
            }
            if !existing.unlisted {
                // A listed entry's bytes are never withheld (see the end of this function).
                self.set_archived_marker(&sha256, false)?;
                return Ok(Published::AlreadyPresent);
            }
            existing.unlisted = false;
            existing.archived = false;
        } else {
            package.versions.insert(
                version.into(),
                NpmVersion {
                    manifest: manifest.clone(),
                    sha256: sha256.clone(),
                    integrity: crate::pipeline::resolve::sha512_integrity(&sha512),
                    shasum: sha1,
                    size,
                    published: now(),
                    unlisted: false,
                    archived: false,
                },
            );
        }
        self.write_doc(&path, &package)?;
        // These bytes may be an archived version's too; a listed entry makes them downloadable.
        self.set_archived_marker(&sha256, false)?;
        Ok(Published::Created)
    }

    /// Takes a version out of the repository as `how` says. Returns whether anything changed
    /// (false when the version is not there or already withdrawn that way).
    pub fn withdraw(
        &self,
        ecosystem: crate::api::package_request::Ecosystem,
        name: &str,
        version: &str,
        how: Withdrawal,
    ) -> Result<bool, StoreError> {
        use crate::api::package_request::Ecosystem;
        let _guard = self.lock_index()?;
        // The blobs of the files the withdrawal touched.
        let mut touched: Vec<String> = Vec::new();
        let mut changed = false;
        let apply = |unlisted: &mut bool, archived: &mut bool| -> bool {
            let before = (*unlisted, *archived);
            *unlisted = how != Withdrawal::Relist;
            *archived = how == Withdrawal::Archive
                || (*archived && !matches!(how, Withdrawal::Unlist | Withdrawal::Relist));
            before != (*unlisted, *archived)
        };
        match ecosystem {
            Ecosystem::Pypi => {
                let path = self.pypi_doc(&normalize_pypi_name(name));
                let Some(mut project) = self.read_doc::<PypiProject>(&path)? else {
                    return Ok(false);
                };
                let wanted = crate::package::version::pep440::Version::parse(version).ok();
                let is_version = |f: &PypiFile| {
                    crate::package::version::pep440::Version::parse(&f.version).ok() == wanted
                };
                if how == Withdrawal::Dispose {
                    let (gone, kept) = project.files.into_iter().partition(is_version);
                    project.files = kept;
                    let gone: Vec<PypiFile> = gone;
                    changed = !gone.is_empty();
                    touched.extend(gone.into_iter().map(|f| f.sha256));
                } else {
                    for f in project.files.iter_mut().filter(|f| is_version(f)) {
                        changed |= apply(&mut f.unlisted, &mut f.archived);
                        touched.push(f.sha256.clone());
                    }
                }
                if changed {
                    self.write_doc(&path, &project)?;
                }
            }
            Ecosystem::Npm => {
                let path = self.npm_doc(name);
                let Some(mut package) = self.read_doc::<NpmPackage>(&path)? else {
                    return Ok(false);
                };
                if how == Withdrawal::Dispose {
                    if let Some(v) = package.versions.remove(version) {
                        changed = true;
                        touched.push(v.sha256);
                    }
                } else if let Some(v) = package.versions.get_mut(version) {
                    changed = apply(&mut v.unlisted, &mut v.archived);
                    touched.push(v.sha256.clone());
                }
                if changed {
                    self.write_doc(&path, &package)?;
                }
            }
        }
        // The index documents are written first: a crash between the two leaves a blob the
        // index no longer offers, never an index entry whose file is gone.
        for sha256 in touched {
            let refs = self.references(&sha256)?;
            // Withheld while every entry left with these bytes is archived.
            self.set_archived_marker(&sha256, refs.total > 0 && refs.downloadable == 0)?;
            if how == Withdrawal::Dispose && refs.total == 0 {
                self.blobs.remove(&sha256).map_err(io(self.blobs.root()))?;
            }
        }
        Ok(changed)
    }

    /// How many index entries, across every package, refer to the blob `sha256`. A scan of the
    /// index: withdrawals are rare and the built-in repository is small.
    fn references(&self, sha256: &str) -> Result<References, StoreError> {
        let mut refs = References::default();
        for dir in ["index/pypi", "index/npm"] {
            let dir = self.root.join(dir);
            for entry in std::fs::read_dir(&dir).map_err(io(&dir))?.flatten() {
                let path = entry.path();
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let Some(doc) = self.read_doc::<Value>(&path)? else {
                    continue;
                };
                let entries = doc["files"].as_array().into_iter().flatten().chain(
                    doc["versions"]
                        .as_object()
                        .into_iter()
                        .flat_map(|m| m.values()),
                );
                for e in entries.filter(|e| e["sha256"] == sha256) {
                    refs.total += 1;
                    refs.downloadable += usize::from(!e["archived"].as_bool().unwrap_or(false));
                }
            }
        }
        Ok(refs)
    }

    fn set_archived_marker(&self, sha256: &str, archived: bool) -> Result<(), StoreError> {
        let marker = self.archived_marker(sha256);
        let result = if archived {
            std::fs::File::create(&marker).and_then(|f| f.sync_all())
        } else {
            match std::fs::remove_file(&marker) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        };
        result
            .and_then(|()| crate::pipeline::cache::sync_parent(&marker))
            .map_err(io(&marker))
    }

    pub fn pypi_project(&self, normalized: &str) -> Result<Option<PypiProject>, StoreError> {
        if normalized.contains(['/', '\\', '.']) {
            return Ok(None);
        }
        self.read_doc(&self.pypi_doc(normalized))
    }

    /// The names the index has documents for, sorted: `index/<ecosystem>/<name>.json`, with an
    /// npm scope's `/` stored as `%2f`.
    fn index_names(&self, ecosystem: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.join("index").join(ecosystem))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".json"))
                    .map(|n| n.replace("%2f", "/"))
            })
            .collect();
        names.sort();
        names
    }

    /// Every PyPI project the index has, in normal form.
    pub fn pypi_projects(&self) -> Vec<String> {
        self.index_names("pypi")
    }

    /// Every npm package the index has (`@scope/name` for scoped ones).
    pub fn npm_packages(&self) -> Vec<String> {
        self.index_names("npm")
    }

    /// Every version a client can install now (listed, not archived): `(ecosystem, name,
    /// version)`, names as the index keeps them.
    pub fn listed_versions(&self) -> Vec<(crate::api::package_request::Ecosystem, String, String)> {
        use crate::api::package_request::Ecosystem;
        let mut out = Vec::new();
        for project in self.pypi_projects() {
            if let Ok(Some(p)) = self.pypi_project(&project) {
                let mut versions: Vec<String> = p
                    .files
                    .iter()
                    .filter(|f| !f.unlisted && !f.archived)
                    .map(|f| f.version.clone())
                    .collect();
                versions.sort();
                versions.dedup();
                out.extend(
                    versions
                        .into_iter()
                        .map(|v| (Ecosystem::Pypi, p.name.clone(), v)),
                );
            }
        }
        for name in self.npm_packages() {
            if let Ok(Some(p)) = self.npm_package(&name) {
                out.extend(
                    p.versions
                        .iter()
                        .filter(|(_, v)| !v.unlisted && !v.archived)
                        .map(|(v, _)| (Ecosystem::Npm, p.name.clone(), v.clone())),
                );
            }
        }
        out
    }

    pub fn npm_package(&self, name: &str) -> Result<Option<NpmPackage>, StoreError> {
        if name.contains("..") || name.contains('\\') || name.matches('/').count() > 1 {
            return Ok(None);
        }
        self.read_doc(&self.npm_doc(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::cache::DIR_SYNCS;

    /// A publish is durable once it returns: each file renamed into place (the blob, its sha512
    /// alias, the index document) has its directory synced after the rename.
    #[test]
    fn every_rename_of_a_publish_is_followed_by_a_directory_sync() {
        let root = std::env::temp_dir().join(format!("airlock-store-sync-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let store = Store::open(&root).expect("store");
        let wheel = root.join("demo-1.0-py3-none-any.whl");
        std::fs::write(&wheel, b"not really a wheel, but bytes to store").expect("write");
        let before = DIR_SYNCS.with(|n| n.get());
        store
            .publish_pypi("demo", "1.0", "demo-1.0-py3-none-any.whl", &wheel, None)
            .expect("publish");
        let syncs = DIR_SYNCS.with(|n| n.get()) - before;
        assert!(
            syncs >= 3,
            "{syncs} directory syncs for blob, alias and index"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    /// Two replicas on one shared volume are two `Store`s on one root: publishing at the same
    /// time into the same project loses no file (the index lock spans processes, not only
    /// threads).
    #[test]
    fn stores_sharing_a_root_lose_no_update() {
        let root =
            std::env::temp_dir().join(format!("airlock-store-shared-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let stores = [
            std::sync::Arc::new(Store::open(&root).expect("store")),
            std::sync::Arc::new(Store::open(&root).expect("store")),
        ];
        let per_store = 40;
        let workers: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let (store, root) = (store.clone(), root.clone());
                std::thread::spawn(move || {
                    for n in 0..per_store {
                        let filename = format!("demo-{i}.{n}-py3-none-any.whl");
                        let file = root.join(format!("upload-{i}-{n}"));
                        std::fs::write(&file, format!("wheel {i} {n}")).expect("write");
                        store
                            .publish_pypi("demo", &format!("{i}.{n}"), &filename, &file, None)
                            .expect("publish");
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("worker");
        }
        let project = Store::open(&root)
            .expect("store")
            .pypi_project("demo")
            .expect("read")
            .expect("project");
        assert_eq!(
            project.files.len(),
            2 * per_store,
            "every publish is in the index"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}

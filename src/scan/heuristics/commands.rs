//! Commands a package installs: an npm `bin` entry or a wheel's console script named like a
//! command people and tools run every day (`git`, `python`, `npm`, `curl`, an AI agent's CLI)
//! takes its place on `PATH` for everyone who installs the package, and runs with their
//! credentials whenever they think they are running the real one.

use serde_json::Value;

use crate::api::package_request::{Ecosystem, Severity};
use crate::pipeline::unpack::Finding;

/// Commands a package other than their owner has no reason to install.
const COMMON: &[&str] = &[
    "git",
    "python",
    "python3",
    "pip",
    "pip3",
    "node",
    "npm",
    "npx",
    "yarn",
    "pnpm",
    "sh",
    "bash",
    "zsh",
    "ls",
    "cat",
    "sudo",
    "su",
    "ssh",
    "scp",
    "curl",
    "wget",
    "docker",
    "kubectl",
    "aws",
    "gcloud",
    "az",
    "gh",
    "make",
    "gcc",
    "cc",
    "env",
    "which",
    "openssl",
    "tar",
    "cp",
    "mv",
    "rm",
    "chmod",
    "uv",
    "uvx",
    "pipx",
    "conda",
    "java",
    "go",
    "cargo",
    "rustc",
    "code",
    "claude",
    "codex",
    "gemini",
    "twine",
    "terraform",
];

/// The packages that do install them, and which.
const OWNERS: &[(Ecosystem, &str, &[&str])] = &[
    (Ecosystem::Npm, "npm", &["npm", "npx"]),
    (
        Ecosystem::Npm,
        "corepack",
        &["yarn", "pnpm", "yarnpkg", "pnpx", "corepack"],
    ),
    (Ecosystem::Npm, "yarn", &["yarn", "yarnpkg"]),
    (Ecosystem::Npm, "pnpm", &["pnpm", "pnpx"]),
    (Ecosystem::Npm, "node", &["node"]),
    (Ecosystem::Npm, "@anthropic-ai/claude-code", &["claude"]),
    (Ecosystem::Npm, "@openai/codex", &["codex"]),
    (Ecosystem::Npm, "@google/gemini-cli", &["gemini"]),
    (Ecosystem::Pypi, "pip", &["pip", "pip3"]),
    (Ecosystem::Pypi, "uv", &["uv", "uvx"]),
    (Ecosystem::Pypi, "pipx", &["pipx"]),
    (Ecosystem::Pypi, "awscli", &["aws"]),
    (Ecosystem::Pypi, "twine", &["twine"]),
    (Ecosystem::Pypi, "conda", &["conda"]),
];

/// The names an npm manifest's `bin` installs: an object's keys, or the package's own bare name
/// for a string.
pub fn npm_bins(package_json: &Value) -> Vec<String> {
    let name = package_json
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match package_json.get("bin") {
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        Some(Value::String(_)) => vec![name.rsplit('/').next().unwrap_or(name).to_string()],
        _ => Vec::new(),
    }
}

/// The console and GUI scripts of a wheel's `entry_points.txt`.
pub fn console_scripts(entry_points: &str) -> Vec<String> {
    let mut section = "";
    let mut out = Vec::new();
    for line in entry_points.lines().map(str::trim) {
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim();
        } else if matches!(section, "console_scripts" | "gui_scripts")
            && let Some((name, _)) = line.split_once('=')
        {
            out.push(name.trim().to_string());
        }
    }
    out
}

/// Findings for commands `package` installs that shadow common ones.
pub fn shadowing(
    ecosystem: Ecosystem,
    package: &str,
    commands: &[String],
    file: &str,
) -> Vec<Finding> {
    let package = package.to_ascii_lowercase();
    commands
        .iter()
        .filter(|c| {
            // `python3.12`, `pip3.11`: versioned forms of the same commands.
            let bare = c
                .trim_end_matches(|ch: char| ch.is_ascii_digit() || ch == '.')
                .to_ascii_lowercase();
            let lower = c.to_ascii_lowercase();
            let common = COMMON.contains(&lower.as_str()) || COMMON.contains(&bare.as_str());
            let owned = OWNERS.iter().any(|(e, p, cmds)| {
                *e == ecosystem
                    && *p == package
                    && (cmds.contains(&lower.as_str()) || cmds.contains(&bare.as_str()))
            });
            common && !owned
        })
        .map(|c| Finding {
            rule: "heuristics.command-shadowing".into(),
            severity: Severity::High,
            file: Some(file.to_string()),
            line: None,
            evidence: Some(format!(
                "installs a command named {c:?}, which takes the place of the real `{c}` on PATH \
                 for everyone who installs {package}"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_commands_are_shadowed_unless_the_package_owns_them() {
        let bins = |v: Value| npm_bins(&v);
        let git =
            bins(serde_json::json!({"name": "helper", "bin": {"git": "x.js", "helper": "h.js"}}));
        assert_eq!(
            shadowing(Ecosystem::Npm, "helper", &git, "package/package.json").len(),
            1
        );
        let npm = bins(serde_json::json!({"name": "npm", "bin": {"npm": "a", "npx": "b"}}));
        assert!(shadowing(Ecosystem::Npm, "npm", &npm, "p").is_empty());
        let own = bins(serde_json::json!({"name": "@scope/tool", "bin": "cli.js"}));
        assert_eq!(own, vec!["tool".to_string()]);
        let scripts = console_scripts(
            "[console_scripts]\npip3.12 = evil:main\nmytool = m:main\n[other]\ngit = x:y\n",
        );
        assert_eq!(scripts, vec!["pip3.12".to_string(), "mytool".to_string()]);
        assert_eq!(
            shadowing(Ecosystem::Pypi, "pip-tools-x", &scripts, "p").len(),
            1
        );
        assert!(shadowing(Ecosystem::Pypi, "pip", &scripts[..1], "p").is_empty());
    }
}

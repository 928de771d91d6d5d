//! The package vocabulary every layer speaks: what is asked for (one package at one exact
//! version in one ecosystem, as `pypi:numpy==2.1.3` or `npm:@types/node@22.10.1` on the command
//! line, or a `PackageRequest`), names as each ecosystem normalises them, [`version`]s as each
//! ecosystem compares them, and the [`file`] kinds and digests of a version's files.

pub mod file;
pub mod version;

use std::fmt;
use std::str::FromStr;

use regex::Regex;

use crate::api::package_request::Ecosystem;
use crate::api::patterns;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageRef {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageRefError {
    #[error(
        "{0:?} does not say which ecosystem: write pypi:NAME==VERSION or npm:NAME@VERSION (for example pypi:numpy==2.1.3, npm:@types/node@22.10.1)"
    )]
    NoEcosystem(String),
    #[error("{0:?} is not an ecosystem airlock knows: use pypi or npm")]
    UnknownEcosystem(String),
    #[error(
        "{0:?} does not pin an exact version: write {1} (ranges and tags such as latest are refused, since what is scanned must be what is installed)"
    )]
    NoVersion(String, &'static str),
    #[error("{name:?} is not a valid {ecosystem} package name")]
    BadName { name: String, ecosystem: String },
    #[error("{version:?} is not an exact version (for example 2.1.3)")]
    BadVersion { version: String },
}

impl PackageRef {
    pub fn new(
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
    ) -> Result<PackageRef, PackageRefError> {
        let name_pattern = match ecosystem {
            Ecosystem::Pypi => patterns::PYPI_NAME,
            Ecosystem::Npm => patterns::NPM_NAME,
        };
        if !matches(name_pattern, name) {
            return Err(PackageRefError::BadName {
                name: name.into(),
                ecosystem: ecosystem.as_str().into(),
            });
        }
        if !matches(patterns::EXACT_VERSION, version) {
            return Err(PackageRefError::BadVersion {
                version: version.into(),
            });
        }
        Ok(PackageRef {
            ecosystem,
            name: name.into(),
            version: version.into(),
        })
    }

    /// The name as the registry indexes it: PEP 503 normalised for PyPI, as written for npm.
    pub fn index_name(&self) -> String {
        match self.ecosystem {
            Ecosystem::Pypi => normalize_pypi_name(&self.name),
            Ecosystem::Npm => self.name.clone(),
        }
    }
}

fn matches(pattern: &str, s: &str) -> bool {
    Regex::new(pattern).is_ok_and(|r| r.is_match(s))
}

/// PEP 503: lower case, every run of `-`, `_` and `.` one `-`.
pub fn normalize_pypi_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_sep = false;
        }
    }
    out
}

impl FromStr for PackageRef {
    type Err = PackageRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (eco, rest) = s
            .split_once(':')
            .ok_or_else(|| PackageRefError::NoEcosystem(s.into()))?;
        match eco {
            "pypi" => {
                let (name, version) = rest
                    .split_once("==")
                    .ok_or_else(|| PackageRefError::NoVersion(s.into(), "pypi:NAME==VERSION"))?;
                PackageRef::new(Ecosystem::Pypi, name.trim(), version.trim())
            }
            "npm" => {
                // The version follows the last `@` that is not the scope's leading one.
                let (name, version) = match rest.rfind('@') {
                    Some(i) if i > 0 => (&rest[..i], &rest[i + 1..]),
                    _ => return Err(PackageRefError::NoVersion(s.into(), "npm:NAME@VERSION")),
                };
                PackageRef::new(Ecosystem::Npm, name.trim(), version.trim())
            }
            other => Err(PackageRefError::UnknownEcosystem(other.into())),
        }
    }
}

impl fmt::Display for PackageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ecosystem {
            Ecosystem::Pypi => write!(f, "pypi:{}=={}", self.name, self.version),
            Ecosystem::Npm => write!(f, "npm:{}@{}", self.name, self.version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_ecosystems() {
        let p: PackageRef = "pypi:Scikit_Learn==1.5.2".parse().expect("pypi");
        assert_eq!(
            (p.ecosystem, p.index_name().as_str(), p.version.as_str()),
            (Ecosystem::Pypi, "scikit-learn", "1.5.2")
        );
        let n: PackageRef = "npm:@types/node@22.10.1".parse().expect("npm");
        assert_eq!(
            (n.name.as_str(), n.version.as_str()),
            ("@types/node", "22.10.1")
        );
        assert_eq!(n.to_string(), "npm:@types/node@22.10.1");
    }

    #[test]
    fn refuses_ranges_tags_and_bad_names_with_the_fix() {
        let e = "pypi:numpy>=2".parse::<PackageRef>().unwrap_err();
        assert!(e.to_string().contains("pypi:NAME==VERSION"), "{e}");
        assert!("npm:left-pad@latest".parse::<PackageRef>().is_err());
        assert!("npm:@types/node".parse::<PackageRef>().is_err());
        assert!(
            "numpy==1.0"
                .parse::<PackageRef>()
                .unwrap_err()
                .to_string()
                .contains("ecosystem")
        );
        assert!("pypi:-bad==1.0".parse::<PackageRef>().is_err());
        assert!("cargo:serde@1.0.0".parse::<PackageRef>().is_err());
    }

    #[test]
    fn pep_503_normalisation() {
        assert_eq!(normalize_pypi_name("Foo.Bar__baz-Qux"), "foo-bar-baz-qux");
    }
}

//! Version semantics per ecosystem: PEP 440 for PyPI, SemVer 2 (as npm uses it) for npm.

pub mod pep440;

use crate::api::package_request::Ecosystem;

/// Whether two version strings name the same release in `ecosystem` (`1.0` and `1.0.0` are one
/// PyPI release; npm compares SemVer, ignoring a leading `v` and build metadata as npm does).
pub fn same_release(ecosystem: Ecosystem, a: &str, b: &str) -> bool {
    match ecosystem {
        Ecosystem::Pypi => match (pep440::Version::parse(a), pep440::Version::parse(b)) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        },
        Ecosystem::Npm => match (parse_npm(a), parse_npm(b)) {
            (Some(a), Some(b)) => a.cmp_precedence(&b).is_eq(),
            _ => a == b,
        },
    }
}

/// An npm version, parsed loosely as npm does (`v1.2.3`, `=1.2.3`).
pub fn parse_npm(v: &str) -> Option<semver::Version> {
    let v = v.trim().trim_start_matches(['=', 'v']);
    semver::Version::parse(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_release_per_ecosystem() {
        assert!(same_release(Ecosystem::Pypi, "1.0", "1.0.0"));
        assert!(same_release(Ecosystem::Pypi, "2.1.3", "2.1.3"));
        assert!(!same_release(Ecosystem::Pypi, "2.1.3", "2.1.30"));
        assert!(same_release(Ecosystem::Npm, "v1.3.0", "1.3.0"));
        assert!(!same_release(Ecosystem::Npm, "1.3.0", "1.3.0-beta.1"));
    }
}

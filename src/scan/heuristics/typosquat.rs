//! Typosquatting: a requested name one edit (or one common confusion) away from a popular
//! package it is not. The popular names ship with airlock (`popular-*.txt`).
//!
//! npm scopes are owned: `@babel/core` can only come from Babel, so a scoped name is judged by its
//! scope alone (`@bable/core` imitates Babel's scope) and never by its bare name, which is
//! usually a common word (`core`, `node`, `react`).

use std::sync::LazyLock;

use crate::api::package_request::{Ecosystem, Severity};
use crate::package::normalize_pypi_name;
use crate::pipeline::unpack::Finding;

fn list(text: &'static str) -> Vec<&'static str> {
    let mut v: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

static PYPI: LazyLock<Vec<&'static str>> = LazyLock::new(|| list(include_str!("popular-pypi.txt")));
static NPM: LazyLock<Vec<&'static str>> = LazyLock::new(|| list(include_str!("popular-npm.txt")));
static NPM_SCOPES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| list(include_str!("popular-npm-scopes.txt")));

/// Optimal string alignment distance (Levenshtein with adjacent transpositions), capped: anything
/// above `cap` is reported as `cap + 1`, and names whose lengths differ by more are not compared.
pub fn distance(a: &str, b: &str, cap: usize) -> usize {
    if a.chars().count().abs_diff(b.chars().count()) > cap {
        return cap + 1;
    }
    strsim::osa_distance(a, b).min(cap + 1)
}

/// A name with the usual confusions undone: separators dropped, look-alike characters folded,
/// ecosystem affixes removed (`python-`, `-py`, `node-`, `-js`).
fn skeleton(name: &str) -> String {
    let mut s = name.to_ascii_lowercase();
    for affix in ["python-", "python3-", "py-", "node-"] {
        if let Some(rest) = s.strip_prefix(affix) {
            s = rest.to_string();
        }
    }
    for affix in ["-python", "-py", "-js", ".js", "js"] {
        if let Some(rest) = s.strip_suffix(affix).filter(|r| r.len() >= 3) {
            s = rest.to_string();
        }
    }
    s.replace("rn", "m")
        .replace("vv", "w")
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .map(|c| match c {
            '0' => 'o',
            '1' | 'i' => 'l',
            '5' => 's',
            _ => c,
        })
        .collect()
}

/// The popular name among `popular` that `name` is one typo or one confusion away from.
fn near(popular: &[&'static str], name: &str) -> Option<&'static str> {
    if popular.binary_search(&name).is_ok() {
        return None;
    }
    let sk = skeleton(name);
    popular.iter().copied().find(|p| {
        (p.len() >= 5 && distance(name, p, 1) <= 1) || (sk.len() >= 4 && skeleton(p) == sk)
    })
}

/// The popular package (or, for a scoped npm name, the popular scope) `name` imitates.
pub fn imitated(ecosystem: Ecosystem, name: &str) -> Option<String> {
    match ecosystem {
        Ecosystem::Pypi => near(&PYPI, &normalize_pypi_name(name)).map(str::to_string),
        Ecosystem::Npm => {
            let name = name.to_ascii_lowercase();
            match name.strip_prefix('@') {
                Some(scoped) => {
                    let (scope, bare) = scoped.split_once('/')?;
                    near(&NPM_SCOPES, scope).map(|p| format!("@{p}/{bare}"))
                }
                None => near(&NPM, &name).map(str::to_string),
            }
        }
    }
}

pub fn check(ecosystem: Ecosystem, name: &str) -> Option<Finding> {
    imitated(ecosystem, name).map(|target| Finding {
        rule: "heuristics.typosquat".into(),
        severity: Severity::High,
        file: None,
        line: None,
        evidence: Some(format!(
            "{name:?} is one typo away from the popular package {target:?}; check the name was meant"
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_one_edit_or_swap() {
        assert_eq!(distance("requests", "requets", 2), 1);
        assert_eq!(distance("requests", "reqeusts", 2), 1);
        assert_eq!(distance("numpy", "numpy", 2), 0);
        assert_eq!(distance("a", "abcdef", 2), 3);
    }

    #[test]
    fn a_squatted_scope_names_the_scope_it_imitates() {
        assert_eq!(
            imitated(Ecosystem::Npm, "@bable/core").as_deref(),
            Some("@babel/core")
        );
    }

    #[test]
    fn typosquats_are_caught_and_the_real_names_are_not() {
        for (eco, squat) in [
            (Ecosystem::Pypi, "reqeusts"),
            (Ecosystem::Pypi, "python-dateutils"),
            (Ecosystem::Pypi, "urlib3"),
            (Ecosystem::Pypi, "nurnpy"),
            (Ecosystem::Npm, "lodahs"),
            (Ecosystem::Npm, "expres"),
            (Ecosystem::Npm, "crossenv"),
            (Ecosystem::Npm, "@bable/core"),
            (Ecosystem::Npm, "@typse/node"),
            (Ecosystem::Npm, "@angualr/core"),
            (Ecosystem::Npm, "@aws_sdk/client-s3"),
        ] {
            assert!(imitated(eco, squat).is_some(), "{squat}");
        }
        for (eco, real) in [
            (Ecosystem::Pypi, "requests"),
            (Ecosystem::Pypi, "Python_Dateutil"),
            (Ecosystem::Pypi, "urllib3"),
            (Ecosystem::Pypi, "flask-cors"),
            (Ecosystem::Npm, "lodash"),
            (Ecosystem::Npm, "cross-env"),
            (Ecosystem::Npm, "@types/node"),
            // Owned scopes: the bare name is a common word, and folding it (`core-js` → `core`)
            // must not make Babel or Angular look like a squat.
            (Ecosystem::Npm, "@babel/core"),
            (Ecosystem::Npm, "@angular/core"),
            (Ecosystem::Npm, "@types/react"),
            (Ecosystem::Npm, "@types/express"),
            // An unknown scope is not a typo of a popular unscoped package.
            (Ecosystem::Npm, "@acme/core"),
            (Ecosystem::Npm, "@acme/lodash"),
        ] {
            assert_eq!(imitated(eco, real), None, "{real}");
        }
    }
}

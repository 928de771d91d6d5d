//! Typosquatting: a requested name one edit (or one common confusion) away from a popular
//! package it is not. The popular names ship with airlock (`popular-*.txt`).

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

/// The popular package `name` imitates, if it imitates one.
pub fn imitated(ecosystem: Ecosystem, name: &str) -> Option<&'static str> {
    let (popular, name) = match ecosystem {
        Ecosystem::Pypi => (&*PYPI, normalize_pypi_name(name)),
        Ecosystem::Npm => (&*NPM, name.to_ascii_lowercase()),
    };
    if popular.binary_search(&name.as_str()).is_ok() {
        return None;
    }
    let bare = name.rsplit('/').next().unwrap_or(&name);
    let sk = skeleton(bare);
    popular.iter().copied().find(|p| {
        (p.len() >= 5 && distance(bare, p, 1) <= 1) || (sk.len() >= 4 && skeleton(p) == sk)
    })
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
    fn typosquats_are_caught_and_the_real_names_are_not() {
        for (eco, squat) in [
            (Ecosystem::Pypi, "reqeusts"),
            (Ecosystem::Pypi, "python-dateutils"),
            (Ecosystem::Pypi, "urlib3"),
            (Ecosystem::Pypi, "nurnpy"),
            (Ecosystem::Npm, "lodahs"),
            (Ecosystem::Npm, "expres"),
            (Ecosystem::Npm, "crossenv"),
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
        ] {
            assert_eq!(imitated(eco, real), None, "{real}");
        }
    }
}

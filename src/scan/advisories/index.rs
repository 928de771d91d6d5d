//! Affected ranges prepared once at load time (versions parsed, events sorted, version lists
//! normalised into sets), so a lookup parses only the version asked about.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

use super::{Affected, Record};
use crate::api::package_request::Ecosystem;
use crate::package::version::{parse_npm, pep440};

/// A version in the order its range type uses.
#[derive(Clone, Debug)]
pub enum V {
    Pep(pep440::Version),
    Sem(semver::Version),
}

impl V {
    pub fn parse(range_type: &str, ecosystem: Ecosystem, s: &str) -> Option<V> {
        match (range_type, ecosystem) {
            ("ECOSYSTEM", Ecosystem::Pypi) => pep440::Version::parse(s).ok().map(V::Pep),
            ("ECOSYSTEM" | "SEMVER", _) => parse_npm(s).map(V::Sem),
            _ => None,
        }
    }

    fn cmp(&self, other: &V) -> Option<Ordering> {
        match (self, other) {
            (V::Pep(a), V::Pep(b)) => Some(a.cmp(b)),
            (V::Sem(a), V::Sem(b)) => Some(a.cmp_precedence(b)),
            _ => None,
        }
    }
}

/// How an explicit `versions` entry is compared: PEP 440 normal form for PyPI (`1.0` = `1.0.0`
/// after trimming), the string itself for npm.
pub fn normal(ecosystem: Ecosystem, v: &str) -> String {
    match ecosystem {
        Ecosystem::Pypi => match pep440::Version::parse(v) {
            Ok(p) => {
                let mut p = p;
                while p.release.len() > 1 && p.release.last() == Some(&0) {
                    p.release.pop();
                }
                p.to_string()
            }
            Err(_) => v.to_string(),
        },
        Ecosystem::Npm => v.to_string(),
    }
}

#[derive(Debug)]
enum Event {
    /// `None` is `"0"`: before every version.
    Introduced(Option<V>),
    Fixed(V),
    LastAffected(V),
}

#[derive(Debug)]
struct Range {
    range_type: String,
    events: Vec<Event>,
    limits: Vec<V>,
}

/// One `affected` entry of one record, ready to answer "is this version affected?".
#[derive(Debug)]
pub struct Prepared {
    pub record: Arc<Record>,
    pub affected: usize,
    versions: HashSet<String>,
    ranges: Vec<Range>,
    /// The severity of the record for this entry, worked out once at load.
    pub severity: (crate::api::package_request::Severity, String),
}

/// The version asked about, parsed once per lookup for each range type.
pub struct Query {
    normalised: String,
    ecosystem_order: Option<V>,
    semver_order: Option<V>,
}

impl Query {
    pub fn new(ecosystem: Ecosystem, version: &str) -> Query {
        Query {
            normalised: normal(ecosystem, version),
            ecosystem_order: V::parse("ECOSYSTEM", ecosystem, version),
            semver_order: V::parse("SEMVER", ecosystem, version),
        }
    }
}

fn event_point(e: &Event) -> Option<&V> {
    match e {
        Event::Introduced(v) => v.as_ref(),
        Event::Fixed(v) | Event::LastAffected(v) => Some(v),
    }
}

impl Prepared {
    /// `versions` is the entry's explicit version list, taken out of the record so it is held
    /// once (as the normalised set), not twice.
    pub fn new(
        record: Arc<Record>,
        affected: usize,
        ecosystem: Ecosystem,
        versions: Vec<String>,
    ) -> Prepared {
        let a: &Affected = &record.affected[affected];
        let versions = versions.iter().map(|v| normal(ecosystem, v)).collect();
        let ranges = a
            .ranges
            .iter()
            .filter(|r| r.kind == "ECOSYSTEM" || r.kind == "SEMVER")
            .map(|r| {
                let parse = |s: &str| V::parse(&r.kind, ecosystem, s);
                let mut events: Vec<Event> = r
                    .events
                    .iter()
                    .filter_map(|e| {
                        if let Some(i) = &e.introduced {
                            return Some(Event::Introduced(if i == "0" {
                                None
                            } else {
                                Some(parse(i)?)
                            }));
                        }
                        if let Some(f) = &e.fixed {
                            return parse(f).map(Event::Fixed);
                        }
                        e.last_affected
                            .as_deref()
                            .and_then(parse)
                            .map(Event::LastAffected)
                    })
                    .collect();
                events.sort_by(|x, y| match (event_point(x), event_point(y)) {
                    (None, None) => Ordering::Equal,
                    (None, _) => Ordering::Less,
                    (_, None) => Ordering::Greater,
                    (Some(a), Some(b)) => a.cmp(b).unwrap_or(Ordering::Equal),
                });
                let limits = r
                    .events
                    .iter()
                    .filter_map(|e| e.limit.as_deref())
                    .filter_map(parse)
                    .collect();
                Range {
                    range_type: r.kind.clone(),
                    events,
                    limits,
                }
            })
            .collect();
        let severity = super::severity_of(&record, &[a]);
        Prepared {
            record,
            affected,
            versions,
            ranges,
            severity,
        }
    }

    /// The OSV evaluation: a listed version, or a range whose events, in order, leave the version
    /// affected.
    pub fn affects(&self, query: &Query) -> bool {
        if self.versions.contains(&query.normalised) {
            return true;
        }
        self.ranges.iter().any(|r| {
            let q = if r.range_type == "SEMVER" {
                &query.semver_order
            } else {
                &query.ecosystem_order
            };
            let Some(q) = q else {
                return false;
            };
            if r.limits
                .iter()
                .any(|l| q.cmp(l).is_some_and(Ordering::is_ge))
            {
                return false;
            }
            let mut vulnerable = false;
            for e in &r.events {
                match e {
                    Event::Introduced(None) => vulnerable = true,
                    Event::Introduced(Some(v)) => {
                        if q.cmp(v).is_some_and(Ordering::is_ge) {
                            vulnerable = true;
                        }
                    }
                    Event::Fixed(v) => {
                        if q.cmp(v).is_some_and(Ordering::is_ge) {
                            vulnerable = false;
                        }
                    }
                    Event::LastAffected(v) => {
                        if q.cmp(v).is_some_and(Ordering::is_gt) {
                            vulnerable = false;
                        }
                    }
                }
            }
            vulnerable
        })
    }
}

//! Advisories: OSV records (the osv.dev export format: a directory of JSON files, or a
//! per-ecosystem `all.zip`) matched against one package version with the OSV algorithm —
//! explicit `versions` lists, `ECOSYSTEM` ranges (PEP 440 for PyPI, SemVer for npm) and `SEMVER`
//! ranges, with `introduced`/`fixed`/`last_affected`/`limit` — skipping withdrawn records.

pub mod cvss;
pub mod download;
mod index;
pub mod osv_api;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::api::package_request::{Ecosystem, Severity};
use crate::package::normalize_pypi_name;
use crate::pipeline::unpack::{self, Limits};

#[derive(Clone, Debug, Deserialize)]
pub struct Record {
    pub id: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub severity: Vec<SeverityScore>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Affected {
    pub package: Option<AffectedPackage>,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub severity: Vec<SeverityScore>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AffectedPackage {
    pub name: String,
    pub ecosystem: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub events: Vec<Event>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Event {
    pub introduced: Option<String>,
    pub fixed: Option<String>,
    pub last_affected: Option<String>,
    pub limit: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SeverityScore {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

/// One advisory that affects the version asked about.
#[derive(Clone, Debug, PartialEq)]
pub struct Match {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: String,
    pub severity: Severity,
    /// Where the severity came from: `CVSS-B 9.3 (CVSS:4.0/…)`, `database_specific.severity HIGH`,
    /// `unscored (treated as medium)` or `malicious package`.
    pub severity_source: String,
    /// A `MAL-` record or CWE-506: the package itself is malicious.
    pub malicious: bool,
    /// The versions that fix it, for the message.
    pub fixed: Vec<String>,
}

/// Records by ecosystem and normalised package name.
#[derive(Default)]
pub struct AdvisoryDb {
    by_package: HashMap<(Ecosystem, String), Vec<index::Prepared>>,
    /// Every record by its id and by each of its aliases, so a match can take the severity of
    /// the records it aliases (a PYSEC record without a score, its GHSA twin's CVSS).
    by_id: HashMap<String, Vec<Arc<Record>>>,
    /// The ecosystems this data speaks for: one with no data cannot clear a package.
    covered: HashSet<Ecosystem>,
    pub records: usize,
    /// Files that could not be read, with why (reported, not fatal: one bad record must not
    /// blind the scanner to the rest).
    pub skipped: Vec<(String, String)>,
}

/// OSV's name of an ecosystem (`affected[].package.ecosystem`, the exports' folder names).
pub fn osv_name(e: Ecosystem) -> &'static str {
    match e {
        Ecosystem::Pypi => "PyPI",
        Ecosystem::Npm => "npm",
    }
}

fn ecosystem_of(osv: &str) -> Option<Ecosystem> {
    match osv {
        "PyPI" => Some(Ecosystem::Pypi),
        "npm" => Some(Ecosystem::Npm),
        _ => None,
    }
}

fn key_name(ecosystem: Ecosystem, name: &str) -> String {
    match ecosystem {
        Ecosystem::Pypi => normalize_pypi_name(name),
        Ecosystem::Npm => name.to_string(),
    }
}

/// Records larger than this are not OSV advisories.
const MAX_RECORD_BYTES: u64 = 16 << 20;

impl AdvisoryDb {
    pub fn add(&mut self, mut record: Record) {
        // Only what a match reports is kept: a short summary, not the full details, and the
        // version lists once, inside the prepared entries.
        if record.summary.is_none() {
            record.summary = record
                .details
                .as_ref()
                .map(|d| d.chars().take(200).collect());
        }
        record.details = None;
        // Of `database_specific` only the words a decision reads are kept: malicious-package
        // records carry provenance lists there that would otherwise dominate memory.
        record.database_specific = record.database_specific.take().and_then(decision_fields);
        for a in &mut record.affected {
            a.database_specific = a.database_specific.take().and_then(decision_fields);
        }
        let lists: Vec<Vec<String>> = record
            .affected
            .iter_mut()
            .map(|a| std::mem::take(&mut a.versions))
            .collect();
        let record = Arc::new(record);
        for id in std::iter::once(&record.id).chain(&record.aliases) {
            self.by_id
                .entry(id.to_ascii_uppercase())
                .or_default()
                .push(record.clone());
        }
        for ((i, a), versions) in record.affected.iter().enumerate().zip(lists) {
            let Some((ecosystem, name)) = a
                .package
                .as_ref()
                .and_then(|p| ecosystem_of(&p.ecosystem).map(|e| (e, key_name(e, &p.name))))
            else {
                continue;
            };
            self.covered.insert(ecosystem);
            self.by_package
                .entry((ecosystem, name))
                .or_default()
                .push(index::Prepared::new(record.clone(), i, ecosystem, versions));
        }
        self.records += 1;
    }

    fn add_json(&mut self, origin: &str, bytes: &[u8]) {
        match serde_json::from_slice::<Record>(bytes) {
            Ok(r) => self.add(r),
            Err(e) => self.skipped.push((origin.to_string(), e.to_string())),
        }
    }

    /// Says this data speaks for `ecosystem` even if it holds no record of it (an answer of the
    /// OSV API, or a verified export).
    pub fn cover(&mut self, ecosystem: Ecosystem) {
        self.covered.insert(ecosystem);
    }

    /// Whether any advisory data for `ecosystem` is loaded.
    pub fn covers(&self, ecosystem: Ecosystem) -> bool {
        self.covered.contains(&ecosystem)
    }

    /// Loads each path: a directory of records (and exports), or one osv.dev `all.zip`. Records
    /// that cannot be read are counted in `skipped`, not fatal; a path that cannot be read is.
    pub fn load_paths(paths: &[std::path::PathBuf]) -> Result<AdvisoryDb, String> {
        let mut db = AdvisoryDb::default();
        for p in paths {
            let result = if p.is_dir() {
                db.load_dir(p)
            } else {
                db.load_zip(p)
            };
            result.map_err(|e| {
                format!(
                    "advisories {}: {e} (give a directory of OSV JSON files or an osv.dev all.zip)",
                    p.display()
                )
            })?;
        }
        Ok(db)
    }

    /// Loads every `*.json` below `dir`, and every `all.zip` (the osv.dev export) found there.
    pub fn load_dir(&mut self, dir: &Path) -> std::io::Result<()> {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d)? {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    let len = std::fs::metadata(&path)?.len();
                    if len > MAX_RECORD_BYTES {
                        self.skipped
                            .push((path.display().to_string(), "too large".into()));
                        continue;
                    }
                    let bytes = std::fs::read(&path)?;
                    self.add_json(&path.display().to_string(), &bytes);
                } else if path.extension().is_some_and(|e| e == "zip") {
                    self.load_zip(&path)?;
                }
            }
        }
        Ok(())
    }

    /// Loads an osv.dev `all.zip`, read with the same bounded reader as packages.
    pub fn load_zip(&mut self, path: &Path) -> std::io::Result<()> {
        let limits = Limits {
            max_entries: 2_000_000,
            max_ratio: 1000,
            max_depth: 1,
            ..Limits::default()
        };
        let name = path.display().to_string();
        let report = unpack::unpack_path(path, &name, &limits, &mut |entry, content| {
            if entry.path.ends_with(".json") {
                let mut buf = Vec::new();
                content.take(MAX_RECORD_BYTES).read_to_end(&mut buf)?;
                self.add_json(&format!("{name}!/{}", entry.path), &buf);
            }
            Ok(())
        })?;
        for f in report.findings {
            self.skipped.push((
                name.clone(),
                format!("{}: {}", f.rule, f.evidence.unwrap_or_default()),
            ));
        }
        Ok(())
    }

    /// The advisories that affect `name` at `version`.
    pub fn matches(&self, ecosystem: Ecosystem, name: &str, version: &str) -> Vec<Match> {
        let Some(entries) = self.by_package.get(&(ecosystem, key_name(ecosystem, name))) else {
            return Vec::new();
        };
        let query = index::Query::new(ecosystem, version);
        // Entries of one record sit together (added in one go); group the matching ones.
        let mut hits: Vec<(&Arc<Record>, Vec<&index::Prepared>)> = Vec::new();
        for p in entries {
            if p.record.withdrawn.is_some() || !p.affects(&query) {
                continue;
            }
            match hits.last_mut() {
                Some((r, list)) if Arc::ptr_eq(r, &p.record) => list.push(p),
                _ => hits.push((&p.record, vec![p])),
            }
        }
        let mut out: Vec<Match> = hits
            .into_iter()
            .map(|(r, prepared)| {
                let (severity, severity_source) = prepared
                    .iter()
                    .map(|p| &p.severity)
                    .max_by_key(|s| s.0)
                    .cloned()
                    .unwrap_or((Severity::Medium, String::new()));
                let affected: Vec<&Affected> =
                    prepared.iter().map(|p| &r.affected[p.affected]).collect();
                let (severity, severity_source) =
                    self.with_aliases(r, ecosystem, name, (severity, severity_source));
                Match {
                    id: r.id.clone(),
                    aliases: r.aliases.clone(),
                    summary: r.summary.clone().unwrap_or_default(),
                    severity,
                    severity_source,
                    malicious: is_malicious(r),
                    fixed: affected
                        .iter()
                        .flat_map(|a| a.ranges.iter())
                        .flat_map(|rg| rg.events.iter())
                        .filter_map(|e| e.fixed.clone())
                        .collect(),
                }
            })
            .collect();
        out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
        out
    }
}

impl AdvisoryDb {
    /// The higher of `own` and the severity of each record that shares an id with `r` (its
    /// aliases, and records that alias it) for the same package: one vulnerability, one rating,
    /// whichever database scored it.
    fn with_aliases(
        &self,
        r: &Record,
        ecosystem: Ecosystem,
        name: &str,
        own: (Severity, String),
    ) -> (Severity, String) {
        let key = key_name(ecosystem, name);
        let unscored = own.1.starts_with("unscored");
        let mut best = own;
        let mut scored_twin = false;
        let twins = std::iter::once(&r.id)
            .chain(&r.aliases)
            .filter_map(|id| self.by_id.get(&id.to_ascii_uppercase()))
            .flatten()
            .filter(|t| t.id != r.id);
        for twin in twins {
            let same_package: Vec<&Affected> = twin
                .affected
                .iter()
                .filter(|a| {
                    a.package.as_ref().is_some_and(|p| {
                        ecosystem_of(&p.ecosystem) == Some(ecosystem)
                            && key_name(ecosystem, &p.name) == key
                    })
                })
                .collect();
            if same_package.is_empty() && !twin.affected.is_empty() {
                continue;
            }
            let (sev, source) = severity_of(twin, &same_package);
            if source.starts_with("unscored") {
                // An unscored twin says nothing.
                continue;
            }
            // Our own "unscored" is a guess: the first score from a twin replaces it, whichever
            // way; after that the highest rating wins.
            if (unscored && !scored_twin) || sev > best.0 {
                best = (sev, format!("{source}, from alias {}", twin.id));
            }
            scored_twin = true;
        }
        best
    }
}

/// `severity` and `cwe_ids`, the two `database_specific` fields decisions use.
fn decision_fields(v: serde_json::Value) -> Option<serde_json::Value> {
    let serde_json::Value::Object(mut map) = v else {
        return None;
    };
    let mut kept = serde_json::Map::new();
    for key in ["severity", "cwe_ids"] {
        if let Some(x) = map.remove(key) {
            kept.insert(key.to_string(), x);
        }
    }
    (!kept.is_empty()).then_some(serde_json::Value::Object(kept))
}

fn is_malicious(r: &Record) -> bool {
    r.id.starts_with("MAL-")
        || r.aliases.iter().any(|a| a.starts_with("MAL-"))
        || r.database_specific
            .as_ref()
            .and_then(|d| d.get("cwe_ids"))
            .and_then(|c| c.as_array())
            .is_some_and(|c| c.iter().any(|x| x == "CWE-506"))
}

/// CVSS vectors (v2, v3.x, v4.0) are scored and the highest rating wins; without one, the
/// `database_specific.severity` word is taken as the record states it; a record with neither is
/// Medium, so it is never silently Low.
fn severity_of(r: &Record, affected: &[&Affected]) -> (Severity, String) {
    if is_malicious(r) {
        return (Severity::Critical, "malicious package".into());
    }
    let scores = r
        .severity
        .iter()
        .chain(affected.iter().flat_map(|a| a.severity.iter()));
    let mut best: Option<(Severity, String)> = None;
    for s in scores {
        if let Some(scored) = cvss::score(&s.kind, &s.score) {
            let sev = cvss::rating(scored.score);
            if best.as_ref().is_none_or(|b| sev > b.0) {
                best = Some((
                    sev,
                    format!("{} {:.1} ({})", scored.nomenclature, scored.score, s.score),
                ));
            }
        }
    }
    if let Some(b) = best {
        return b;
    }
    let word = r
        .database_specific
        .as_ref()
        .or_else(|| affected.iter().find_map(|a| a.database_specific.as_ref()))
        .and_then(|d| d.get("severity"))
        .and_then(|s| s.as_str());
    let from_word = |sev: Severity| {
        (
            sev,
            format!("database_specific.severity {}", word.unwrap_or("")),
        )
    };
    match word.map(str::to_ascii_uppercase).as_deref() {
        Some("CRITICAL") => from_word(Severity::Critical),
        Some("HIGH") => from_word(Severity::High),
        Some("MODERATE" | "MEDIUM") => from_word(Severity::Medium),
        Some("LOW") => from_word(Severity::Low),
        _ => (Severity::Medium, "unscored (treated as medium)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(v: serde_json::Value) -> Record {
        serde_json::from_value(v).expect("record")
    }

    #[test]
    fn ranges_with_introduced_fixed_last_affected_and_limit() {
        let mut db = AdvisoryDb::default();
        db.add(record(json!({"id": "T-1", "affected": [{"package": {"name": "Demo_Pkg", "ecosystem": "PyPI"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.2.0"}, {"introduced": "2.0rc1"}, {"last_affected": "2.1"}]}]}]})));
        db.add(record(json!({"id": "T-2", "withdrawn": "2024-01-01T00:00:00Z", "affected": [{"package": {"name": "demo-pkg", "ecosystem": "PyPI"}, "versions": ["1.1"]}]})));
        let hit = |v: &str| !db.matches(Ecosystem::Pypi, "demo.pkg", v).is_empty();
        assert!(!hit("0.9"));
        assert!(hit("1.0.0"));
        assert!(hit("1.1.post1"));
        assert!(!hit("1.2"));
        assert!(!hit("2.0b1"));
        assert!(hit("2.0"));
        assert!(hit("2.1.0"));
        assert!(!hit("2.1.1"));
        let mut npm = AdvisoryDb::default();
        npm.add(record(json!({"id": "MAL-2024-1", "affected": [{"package": {"name": "@evil/pkg", "ecosystem": "npm"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"limit": "3.0.0"}]}]}]})));
        let m = npm.matches(Ecosystem::Npm, "@evil/pkg", "2.9.9");
        assert_eq!(m.len(), 1);
        assert!(m[0].malicious && m[0].severity == Severity::Critical);
        assert!(npm.matches(Ecosystem::Npm, "@evil/pkg", "3.0.0").is_empty());
    }

    /// PYSEC records seldom carry a score; their GHSA twins do. A match takes the twin's
    /// rating (naming it), whichever of the two names the other, and the higher of two scores.
    #[test]
    fn an_unscored_record_takes_the_score_of_its_alias() {
        let mut db = AdvisoryDb::default();
        let critical = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
        let low = "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N";
        let affected =
            json!([{"package": {"name": "requests", "ecosystem": "PyPI"}, "versions": ["2.19.0"]}]);
        db.add(record(
            json!({"id": "PYSEC-1", "aliases": ["GHSA-aaaa", "CVE-1"], "affected": affected}),
        ));
        db.add(record(
            json!({"id": "GHSA-aaaa", "aliases": ["CVE-1"], "severity": [{"type": "CVSS_V3", "score": critical}], "affected": affected}),
        ));
        // Named only from the other side, and scored low: it must not lower a critical rating.
        db.add(record(
            json!({"id": "PYSEC-2", "severity": [{"type": "CVSS_V3", "score": critical}], "affected": affected}),
        ));
        db.add(record(
            json!({"id": "GHSA-bbbb", "aliases": ["PYSEC-2"], "severity": [{"type": "CVSS_V3", "score": low}], "affected": affected}),
        ));
        // A twin about another package says nothing about this one.
        db.add(record(
            json!({"id": "PYSEC-3", "aliases": ["GHSA-cccc"], "affected": affected}),
        ));
        db.add(record(
            json!({"id": "GHSA-cccc", "severity": [{"type": "CVSS_V3", "score": critical}],
                "affected": [{"package": {"name": "urllib3", "ecosystem": "PyPI"}, "versions": ["2.19.0"]}]}),
        ));
        let m = db.matches(Ecosystem::Pypi, "Requests", "2.19.0");
        let by_id = |id: &str| m.iter().find(|m| m.id == id).expect(id);
        let one = by_id("PYSEC-1");
        assert_eq!(one.severity, Severity::Critical);
        assert!(
            one.severity_source.ends_with("from alias GHSA-aaaa"),
            "{}",
            one.severity_source
        );
        assert_eq!(by_id("GHSA-aaaa").severity, Severity::Critical);
        assert_eq!(by_id("PYSEC-2").severity, Severity::Critical);
        assert_eq!(
            by_id("GHSA-bbbb").severity,
            Severity::Critical,
            "the higher of the two ratings"
        );
        let three = by_id("PYSEC-3");
        assert_eq!(three.severity, Severity::Medium);
        assert_eq!(three.severity_source, "unscored (treated as medium)");
    }

    /// GHSA records for npm carry CVSS v4 vectors (OSV severity type `CVSS_V4`), often beside a
    /// v3.1 one; the highest rating wins, and a v4-only record is scored, not guessed.
    #[test]
    fn severity_from_cvss_v4_v3_and_database_specific() {
        let pkg = |id: &str, severity: serde_json::Value, ds: serde_json::Value| {
            record(
                json!({"id": id, "severity": severity, "database_specific": ds,
                "affected": [{"package": {"name": "left-pad", "ecosystem": "npm"}, "versions": ["1.0.0"]}]}),
            )
        };
        let v4_critical = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        let v4_high = "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        let v3_medium = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N";
        let mut db = AdvisoryDb::default();
        db.add(pkg(
            "GHSA-v4-only",
            json!([{"type": "CVSS_V4", "score": v4_critical}]),
            json!({"severity": "LOW"}),
        ));
        db.add(pkg(
            "GHSA-both",
            json!([{"type": "CVSS_V3", "score": v3_medium}, {"type": "CVSS_V4", "score": v4_high}]),
            json!({}),
        ));
        db.add(pkg(
            "GHSA-word",
            json!([{"type": "CVSS_V4", "score": "CVSS:4.0/garbage"}]),
            json!({"severity": "HIGH"}),
        ));
        db.add(pkg("GHSA-none", json!([]), json!({})));
        let m = db.matches(Ecosystem::Npm, "left-pad", "1.0.0");
        let by_id = |id: &str| m.iter().find(|m| m.id == id).expect(id);
        let only = by_id("GHSA-v4-only");
        assert_eq!(
            only.severity,
            Severity::Critical,
            "the vector outranks the word"
        );
        assert_eq!(only.severity_source, format!("CVSS-B 9.3 ({v4_critical})"));
        let both = by_id("GHSA-both");
        assert_eq!(both.severity, Severity::High);
        assert_eq!(both.severity_source, format!("CVSS-B 8.5 ({v4_high})"));
        let word = by_id("GHSA-word");
        assert_eq!(word.severity, Severity::High);
        assert_eq!(word.severity_source, "database_specific.severity HIGH");
        let none = by_id("GHSA-none");
        assert_eq!(none.severity, Severity::Medium);
        assert_eq!(none.severity_source, "unscored (treated as medium)");
        let f = crate::scan::decide::advisory_finding(only);
        assert!(
            f.evidence
                .as_deref()
                .is_some_and(|e| e.ends_with(&format!("[severity: CVSS-B 9.3 ({v4_critical})]"))),
            "{:?}",
            f.evidence
        );
    }
}

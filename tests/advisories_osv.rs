//! Advisory matching against real PyPA advisory records (OSV JSON, CC-BY 4.0; see
//! `tests/data/osv/NOTICE`): the subset kept in `tests/data/osv/PyPI`, and the whole database in
//! `../shared/data/osv/PyPI` when it sits beside the project; as a directory and as an
//! osv.dev-style `all.zip`.

mod common;

use std::path::PathBuf;

use airlock::api::package_request::{Ecosystem, Severity};
use airlock::scan::advisories::AdvisoryDb;
use common::archives::{self, ZipEntry};

/// The records in the repository.
fn osv_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/osv/PyPI")
}

/// The subset, and the whole PyPA database where it is beside the project (it is in CI).
fn databases() -> Vec<PathBuf> {
    let mut dirs = vec![osv_dir()];
    let whole = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/osv/PyPI");
    if whole.is_dir() {
        dirs.push(whole);
    } else {
        println!(
            "note: {} is not beside the project; matched against the {} records in the repository only",
            whole.display(),
            std::fs::read_dir(osv_dir()).map_or(0, |d| d.count())
        );
    }
    dirs
}

fn ids(db: &AdvisoryDb, name: &str, version: &str) -> Vec<String> {
    db.matches(Ecosystem::Pypi, name, version)
        .into_iter()
        .map(|m| m.id)
        .collect()
}

#[test]
fn the_pypa_database_matches_as_osv_specifies() {
    for dir in databases() {
        matches_as_osv_specifies(&dir);
    }
}

fn matches_as_osv_specifies(dir: &std::path::Path) {
    let mut db = AdvisoryDb::default();
    db.load_dir(dir).expect("load");
    let files = std::fs::read_dir(dir)
        .expect("dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
        })
        .count();
    assert_eq!(db.records, files);
    assert!(
        db.skipped.is_empty(),
        "{:?}",
        &db.skipped[..db.skipped.len().min(3)]
    );

    // ECOSYSTEM range introduced 2.3.0, fixed 2.31.0 (its GIT range is not for versions).
    assert!(ids(&db, "requests", "2.30.0").contains(&"PYSEC-2023-74".to_string()));
    assert!(
        ids(&db, "Requests", "2.3").contains(&"PYSEC-2023-74".to_string()),
        "PEP 503 name, PEP 440 version"
    );
    assert!(!ids(&db, "requests", "2.31.0").contains(&"PYSEC-2023-74".to_string()));
    assert!(!ids(&db, "requests", "2.2.1").contains(&"PYSEC-2023-74".to_string()));
    // last_affected is inclusive.
    assert!(ids(&db, "py", "1.11.0").contains(&"PYSEC-2022-42969".to_string()));
    assert!(!ids(&db, "py", "1.11.1").contains(&"PYSEC-2022-42969".to_string()));
    // Fixed at 0.10: 0.9.2 is before it in PEP 440 order (though not in string order).
    assert!(ids(&db, "trac", "0.9.2").contains(&"PYSEC-2005-1".to_string()));
    assert!(!ids(&db, "trac", "0.10").contains(&"PYSEC-2005-1".to_string()));
    assert!(ids(&db, "no-such-package-anywhere", "1.0").is_empty());

    // Severity from the CVSS v3 vector where a record has one.
    let m = db.matches(Ecosystem::Pypi, "requests", "2.30.0");
    assert!(m.iter().all(|m| !m.malicious));
    // PYSEC-2017-105: CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N scores 7.5, High; its range
    // has no end, so every version is affected.
    let atlas = db.matches(Ecosystem::Pypi, "apache-atlas", "99.0");
    let m = atlas
        .iter()
        .find(|m| m.id == "PYSEC-2017-105")
        .expect("open-ended range");
    assert_eq!(m.severity, Severity::High);
    assert!(
        m.severity_source
            .starts_with("CVSS v3.0 7.5 (CVSS:3.0/AV:N/"),
        "{}",
        m.severity_source
    );
}

#[test]
fn an_osv_all_zip_loads_the_same_records() {
    let names = [
        "PYSEC-2023-74.json",
        "PYSEC-2022-42969.json",
        "PYSEC-2005-1.json",
    ];
    let entries: Vec<ZipEntry> = names
        .iter()
        .map(|n| ZipEntry::file(n, &std::fs::read(osv_dir().join(n)).expect("record")))
        .collect();
    let dir = std::env::temp_dir().join(format!("airlock-osv-zip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let zip = dir.join("all.zip");
    std::fs::write(&zip, archives::zip(&entries)).expect("write");
    let mut db = AdvisoryDb::default();
    db.load_zip(&zip).expect("load");
    assert_eq!(db.records, 3);
    assert_eq!(ids(&db, "requests", "2.30.0"), vec!["PYSEC-2023-74"]);
    assert_eq!(ids(&db, "py", "1.4.7.dev3"), vec!["PYSEC-2022-42969"]);
    let _ = std::fs::remove_dir_all(&dir);
}

//! The advisory exports the controller downloads by itself: conditional requests, verification
//! before use, and the previous copy kept whenever a new one is not good — against the fixture
//! registry standing in for osv.dev's bucket (a strong ETag, honoured in If-None-Match).

mod common;

use airlock::api::package_request::Ecosystem;
use airlock::scan::advisories::AdvisoryDb;
use airlock::scan::advisories::download::{DownloadError, Exports, Refreshed};
use common::dev::{TempDir, tmp};
use common::registry::{self, Fault, FixtureRegistry};
use serde_json::json;

fn exports(reg: &FixtureRegistry, name: &str) -> (Exports, TempDir) {
    let dir = tmp(name);
    let base = url::Url::parse(&format!("{}/osv-exports/", reg.base())).expect("url");
    (Exports::new(base, dir.to_path_buf()).expect("exports"), dir)
}

#[tokio::test]
async fn an_export_is_downloaded_once_verified_and_then_only_revalidated() {
    let reg = FixtureRegistry::start().await;
    reg.serve_osv_exports(&[registry::npm_placeholder_record()]);
    let (exports, _dir) = exports(&reg, "osv-download");
    let first = exports.refresh(Ecosystem::Pypi).await.expect("download");
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/osv/PyPI"))
        .expect("records")
        .count();
    let Refreshed::Updated { records, bytes } = first else {
        panic!("first refresh: {first:?}")
    };
    assert_eq!(records, files, "every record of the export was read");
    let held = std::fs::metadata(exports.path(Ecosystem::Pypi)).expect("export in place");
    assert_eq!(held.len(), bytes);

    // The scanner reads what was downloaded.
    let db = AdvisoryDb::load_paths(&[exports.path(Ecosystem::Pypi)]).expect("load");
    assert!(db.covers(Ecosystem::Pypi) && !db.covers(Ecosystem::Npm));
    let ids: Vec<String> = db
        .matches(Ecosystem::Pypi, "requests", "2.19.0")
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert!(ids.contains(&"PYSEC-2018-28".to_string()), "{ids:?}");

    // Unchanged upstream: a conditional request, answered 304, and the copy is untouched.
    let validators = exports
        .validators(Ecosystem::Pypi)
        .expect("validators kept");
    assert!(validators.etag.is_some());
    assert_eq!(
        exports.refresh(Ecosystem::Pypi).await.expect("revalidate"),
        Refreshed::Unchanged
    );
    assert_eq!(reg.hits("/osv-exports/PyPI/all.zip"), 2);
    assert_eq!(
        std::fs::metadata(exports.path(Ecosystem::Pypi))
            .and_then(|m| m.modified())
            .ok(),
        held.modified().ok()
    );

    // A new export upstream replaces it.
    let newer = registry::osv_export(&[
        json!({"id": "PYSEC-TEST-1", "summary": "made up for this test",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"}, "versions": ["1.0"]}]}),
    ]);
    reg.route(
        "/osv-exports/PyPI/all.zip",
        "application/zip",
        newer,
        Fault::default(),
    );
    let again = exports.refresh(Ecosystem::Pypi).await.expect("refresh");
    assert_eq!(
        again,
        Refreshed::Updated {
            records: 1,
            bytes: std::fs::metadata(exports.path(Ecosystem::Pypi))
                .expect("export")
                .len()
        }
    );
}

#[tokio::test]
async fn a_damaged_or_foreign_export_is_refused_and_the_previous_copy_stays() {
    let reg = FixtureRegistry::start().await;
    reg.serve_osv_exports(&[registry::npm_placeholder_record()]);
    let (exports, dir) = exports(&reg, "osv-damaged");
    exports.refresh(Ecosystem::Pypi).await.expect("download");
    let good = std::fs::read(exports.path(Ecosystem::Pypi)).expect("export");

    // Bytes flipped in transit (the zip's CRC-32 catches it).
    let mut damaged = registry::osv_export_pypi();
    let middle = damaged.len() / 3;
    for b in &mut damaged[middle..middle + 64] {
        *b ^= 0x5a;
    }
    reg.route(
        "/osv-exports/PyPI/all.zip",
        "application/zip",
        damaged,
        Fault::default(),
    );
    let err = exports
        .refresh(Ecosystem::Pypi)
        .await
        .expect_err("damaged export refused");
    assert!(
        matches!(err, DownloadError::Invalid { .. }),
        "{err}: {err:?}"
    );
    assert!(err.to_string().contains("previous copy stays"), "{err}");
    assert_eq!(
        std::fs::read(exports.path(Ecosystem::Pypi)).expect("export"),
        good
    );

    // An export of another ecosystem where PyPI's should be.
    reg.route(
        "/osv-exports/PyPI/all.zip",
        "application/zip",
        registry::osv_export(&[registry::npm_placeholder_record()]),
        Fault::default(),
    );
    let err = exports
        .refresh(Ecosystem::Pypi)
        .await
        .expect_err("foreign export refused");
    assert!(err.to_string().contains("holds no PyPI record"), "{err}");
    assert_eq!(
        std::fs::read(exports.path(Ecosystem::Pypi)).expect("export"),
        good
    );

    // Not there at all: an error naming the URL, and nothing half-written left behind.
    let missing = Exports::new(
        url::Url::parse(&format!("{}/nowhere/", reg.base())).expect("url"),
        dir.join("missing"),
    )
    .expect("exports");
    let err = missing
        .refresh(Ecosystem::Npm)
        .await
        .expect_err("nothing served");
    assert!(
        err.to_string()
            .contains("/nowhere/npm/all.zip answered 404"),
        "{err}"
    );
    let leftovers: Vec<_> = walk(&dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

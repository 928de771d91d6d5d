//! The advisory data at the size osv.dev's exports have: an npm `all.zip` of 220 000
//! malicious-package records shaped as the OSSF malicious-packages records are (summary, details,
//! CWE-506, provenance in `database_specific`), loaded as the controller loads a downloaded
//! export. Prints load time and peak RSS (the controller holds one copy, and briefly a second
//! while a refresh is read). `cargo bench --bench advisories`; `AIRLOCK_BENCH_RECORDS=N` for
//! another size.

#[path = "../tests/common/archives.rs"]
mod archives;

use std::time::Instant;

use airlock::api::package_request::Ecosystem;
use airlock::scan::advisories::AdvisoryDb;

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

fn record(i: usize) -> serde_json::Value {
    let name = format!("bench-pkg-{i}");
    let versions: Vec<String> = (0..(1 + i % 3)).map(|v| format!("1.0.{v}")).collect();
    let affected = if i.is_multiple_of(4) {
        serde_json::json!([{"package": {"ecosystem": "npm", "name": name},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}],
            "database_specific": {"cwes": [{"cweId": "CWE-506", "name": "Embedded Malicious Code", "description": "The product contains code that appears to be malicious in nature."}]}}])
    } else {
        serde_json::json!([{"package": {"ecosystem": "npm", "name": name}, "versions": versions,
            "database_specific": {"cwes": [{"cweId": "CWE-506", "name": "Embedded Malicious Code", "description": "The product contains code that appears to be malicious in nature."}]}}])
    };
    serde_json::json!({
        "modified": "2025-06-01T00:00:00Z", "published": "2025-05-30T00:00:00Z",
        "schema_version": "1.5.0", "id": format!("MAL-2025-{i}"),
        "summary": format!("Malicious code in {name} (npm)"),
        "details": format!("\n---\n_-= Per source details. Do not edit below this line.=-_\n\n## Source: ossf-package-analysis ({:064x})\nThe package {name} seems to be malicious: it sends the environment to a remote host at install time.\n", i),
        "affected": affected,
        "database_specific": {"malicious-packages-origins": [{"source": "ossf-package-analysis",
            "sha256": format!("{:064x}", i * 7919), "import_time": "2025-05-30T00:10:00Z",
            "modified_time": "2025-05-30T00:00:00Z", "versions": versions}]}
    })
}

fn main() {
    let n: usize = std::env::var("AIRLOCK_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(220_000);
    let dir = std::env::temp_dir().join(format!("airlock-advisories-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let zip = dir.join("all.zip");
    // The export is built by a child process, so this one's peak RSS is the load's alone.
    if let Ok(out) = std::env::var("AIRLOCK_BENCH_BUILD_EXPORT") {
        let entries: Vec<archives::ZipEntry> = (0..n)
            .map(|i| {
                archives::ZipEntry::file(
                    &format!("MAL-2025-{i}.json"),
                    &serde_json::to_vec(&record(i)).expect("json"),
                )
            })
            .collect();
        std::fs::write(&out, archives::zip(&entries)).expect("write");
        return;
    }
    let built = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env("AIRLOCK_BENCH_BUILD_EXPORT", &zip)
        .status()
        .expect("child");
    assert!(built.success());
    println!(
        "export: {n} records, {:.1} MiB zipped",
        std::fs::metadata(&zip).map(|m| m.len()).unwrap_or(0) as f64 / (1 << 20) as f64
    );
    let before = peak_rss_mib();
    let t = Instant::now();
    let db = AdvisoryDb::load_paths(std::slice::from_ref(&zip)).expect("load");
    let load = t.elapsed();
    for (what, why) in db.skipped.iter().take(3) {
        println!("skipped: {what}: {why}");
    }
    let after = peak_rss_mib();
    println!(
        "load: {} records in {:.2} s; peak RSS {after} MiB (was {before} MiB before loading)",
        db.records,
        load.as_secs_f64(),
    );
    let t = Instant::now();
    let lookups = 100_000;
    let mut hits = 0;
    for i in 0..lookups {
        hits += db
            .matches(
                Ecosystem::Npm,
                &format!("bench-pkg-{}", (i * 13) % (n * 2)),
                "1.0.0",
            )
            .len();
    }
    println!(
        "lookup: {:.1} µs per package ({hits} of {lookups} malicious)",
        t.elapsed().as_secs_f64() * 1e6 / lookups as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}

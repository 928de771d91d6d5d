//! Scan throughput: content rules per rule and all together, a whole package scan, OSV loading
//! and lookup. `cargo bench --bench scan`; with `AIRLOCK_LIVE_TESTS=1` it also downloads the
//! numpy 2.1.3 CPython 3.11 manylinux wheel (a real 16 MB wheel) and scans it end to end
//! (`AIRLOCK_BENCH_ONLY=numpy` runs only that, to profile it).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use airlock::api::package_request::Ecosystem;
use airlock::api::scan_policy::ScanPolicySpec;
use airlock::package::file::FileKind;
use airlock::pipeline::resolve::PackageMetadata;
use airlock::pipeline::unpack::Limits;
use airlock::scan::advisories::AdvisoryDb;
use airlock::scan::heuristics::{
    self,
    rules::{Check, RULES},
};
use airlock::scan::package::{LocalFile, Subject, scan};
use common::archives::{self, ZipEntry};

const PY: &str = "import os\nimport sys\nfrom typing import Any, Optional\n\nlogger = logging.getLogger(__name__)\n\nclass Session(object):\n    \"\"\"A session: see https://docs.example.org/session.html for details.\"\"\"\n\n    def __init__(self, url: str, timeout: Optional[float] = None) -> None:\n        self.url = url\n        self.timeout = timeout or float(os.environ.get('TIMEOUT', '30'))\n        self.headers = {'User-Agent': 'example/1.0', 'Accept': 'application/json'}\n\n    def request(self, method, path, **kwargs):\n        full = '%s/%s' % (self.url.rstrip('/'), path.lstrip('/'))\n        response = self.adapter.send(method, full, timeout=self.timeout, **kwargs)\n        if response.status_code >= 400:\n            raise HTTPError('%d for %s' % (response.status_code, full))\n        return response.json()\n\n";
const JS: &str = "'use strict';\nconst path = require('path');\nconst { promisify } = require('util');\n\nmodule.exports = function debounce(fn, wait = 100) {\n  let timer = null;\n  return function (...args) {\n    clearTimeout(timer);\n    timer = setTimeout(() => fn.apply(this, args), wait);\n  };\n};\n\nfunction fetchJson(url, options) {\n  return fetch(url, Object.assign({ headers: { accept: 'application/json' } }, options)).then((r) => r.json());\n}\n";

fn corpus(template: &str, bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + template.len());
    let mut i = 0u64;
    while out.len() < bytes {
        out.extend_from_slice(
            template
                .replace("Session", &format!("Session{i}"))
                .as_bytes(),
        );
        i += 1;
    }
    out
}

fn mbs(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

fn best_of<F: FnMut()>(n: usize, mut f: F) -> f64 {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

const V4_VECTORS: [&str; 4] = [
    "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
    "CVSS:4.0/AV:N/AC:H/AT:P/PR:L/UI:A/VC:L/VI:L/VA:N/SC:L/SI:N/SA:N",
    "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:P",
    "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:N/VI:L/VA:N/SC:H/SI:H/SA:N/MSI:S",
];

fn main() {
    // `AIRLOCK_BENCH_ONLY=numpy`: only the real wheel (to profile it alone).
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("numpy") {
        live_numpy();
        return;
    }
    let dir = std::env::temp_dir().join(format!("airlock-scan-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // First, in a fresh process, so the RSS figures are the advisory database's own.
    // OSV: 20 000 records (the PyPA set, repeated under new ids), then lookups. Half of them also
    // carry a CVSS v4 vector, as GitHub-sourced records do (the PyPA set has none), so the load
    // time includes v4 scoring.
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let whole = root.join("../shared/data/osv/PyPI");
    let src = if whole.is_dir() {
        whole
    } else {
        println!(
            "note: ../shared is not beside the project; the real-record figures use the subset in tests/data/osv"
        );
        root.join("tests/data/osv/PyPI")
    };
    let mut records: Vec<serde_json::Value> = std::fs::read_dir(&src)
        .expect("OSV data")
        .flatten()
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .collect();
    let osv = dir.join("osv");
    std::fs::create_dir_all(&osv).expect("dir");
    for i in 0..20_000 {
        let mut r = records[i % records.len()].clone();
        r["id"] = serde_json::json!(format!("BENCH-{i}"));
        // Copies keep their source's aliases otherwise, and every copy of a record would be
        // every other copy's alias twin: a quadratic the real data (two or three twins) lacks.
        r["aliases"] = serde_json::json!([]);
        if i % 2 == 0 {
            let v4 = V4_VECTORS[i % V4_VECTORS.len()];
            if let Some(list) = r.get_mut("severity").and_then(|s| s.as_array_mut()) {
                list.push(serde_json::json!({"type": "CVSS_V4", "score": v4}));
            } else {
                r["severity"] = serde_json::json!([{"type": "CVSS_V4", "score": v4}]);
            }
        }
        std::fs::write(
            osv.join(format!("BENCH-{i}.json")),
            serde_json::to_vec(&r).expect("json"),
        )
        .expect("write");
    }
    records.clear();
    records.shrink_to_fit();
    let before = rss_kib();
    let t = Instant::now();
    let mut db = AdvisoryDb::default();
    db.load_dir(&osv).expect("load");
    println!(
        "OSV load: {} records in {:.2} s; peak RSS {} MiB (was {} MiB before loading)",
        db.records,
        t.elapsed().as_secs_f64(),
        rss_kib() / 1024,
        before / 1024
    );
    let names = [
        "requests",
        "django",
        "jinja2",
        "pillow",
        "numpy",
        "flask",
        "urllib3",
        "no-such-package",
    ];
    let n = 100_000;
    let t = Instant::now();
    let mut hits = 0;
    for i in 0..n {
        hits += db
            .matches(Ecosystem::Pypi, names[i % names.len()], "1.0.0")
            .len();
    }
    println!(
        "advisory lookup: {:.1} µs per package ({} matches over {n} lookups)",
        t.elapsed().as_secs_f64() * 1e6 / n as f64,
        hits
    );
    drop(db);
    let t = Instant::now();
    let mut total = 0.0;
    for i in 0..n {
        total +=
            airlock::scan::advisories::cvss::score("CVSS_V4", V4_VECTORS[i % V4_VECTORS.len()])
                .map_or(0.0, |s| s.score);
    }
    println!(
        "CVSS v4 scoring: {:.2} µs per vector (mean score {:.2})",
        t.elapsed().as_secs_f64() * 1e6 / n as f64,
        total / n as f64
    );
    // The same lookups against the real PyPA records alone (each package has its own records once).
    let mut real = AdvisoryDb::default();
    real.load_dir(&src).expect("load");
    let t = Instant::now();
    let mut hits = 0;
    for i in 0..n {
        hits += real
            .matches(Ecosystem::Pypi, names[i % names.len()], "1.0.0")
            .len();
    }
    println!(
        "advisory lookup, real PyPA records ({}): {:.1} µs per package ({:.1} matches per lookup)",
        real.records,
        t.elapsed().as_secs_f64() * 1e6 / n as f64,
        hits as f64 / n as f64
    );
    drop(real);

    let py = corpus(PY, 32 << 20);
    let js = corpus(JS, 32 << 20);

    println!("per rule (MB/s over 32 MB of Python / JavaScript text, best of 3):");
    for rule in RULES {
        let re = match rule.check {
            Check::Pattern(p) | Check::PublicIp(p) => {
                Some(regex::bytes::Regex::new(p).expect("rule"))
            }
            _ => None,
        };
        let t_py = best_of(3, || match &re {
            Some(re) => {
                std::hint::black_box(re.find(&py));
            }
            None => {
                let mut v = Vec::new();
                heuristics::scan_text("x/setup.py", &py[..1 << 20], &mut v);
            }
        });
        let t_js = best_of(3, || {
            if let Some(re) = &re {
                std::hint::black_box(re.find(&js));
            }
        });
        if re.is_some() {
            println!(
                "  {:<36} {:>7.0} / {:>7.0}",
                rule.id,
                mbs(py.len(), t_py),
                mbs(js.len(), t_js)
            );
        }
    }
    let t = best_of(3, || {
        let mut v = Vec::new();
        heuristics::scan_text("pkg/mod.py", &py, &mut v);
        std::hint::black_box(v);
    });
    let t2 = best_of(3, || {
        let mut v = Vec::new();
        heuristics::scan_text("pkg/index.js", &js, &mut v);
        std::hint::black_box(v);
    });
    println!(
        "all content rules: Python {:.0} MB/s, JavaScript {:.0} MB/s (one core)",
        mbs(py.len(), t),
        mbs(js.len(), t2)
    );

    // The behaviour analysis alone, on Python that passes its prefilter (every file parsed).
    let sinks = corpus(
        &format!("{PY}import subprocess\nsubprocess.run(['git', 'status'])\n"),
        32 << 20,
    );
    let t = best_of(3, || {
        let mut facts = airlock::scan::analysis::Facts::default();
        for (i, chunk) in sinks.chunks(16384).enumerate() {
            airlock::scan::analysis::analyse_file(&format!("pkg/m{i}.py"), chunk, &mut facts);
        }
        std::hint::black_box(airlock::scan::analysis::judge(&facts));
    });
    println!(
        "behaviour analysis (parse, fold, facts, judge) on Python the prefilter passes: {:.0} MB/s (one core)",
        mbs(sinks.len(), t)
    );

    // A whole package: unpack + every check, on a source-heavy sdist-like wheel.
    let mut entries: Vec<ZipEntry> = (0..2000)
        .map(|i| ZipEntry::file(&format!("pkg/m{i}.py"), &py[i * 16384..(i + 1) * 16384]))
        .collect();
    entries.extend(
        (0..1000)
            .map(|i| ZipEntry::file(&format!("pkg/js/m{i}.js"), &js[i * 16384..(i + 1) * 16384])),
    );
    let wheel = dir.join("pkg-1.0-py3-none-any.whl");
    std::fs::write(&wheel, archives::zip(&entries)).expect("write");
    let policy: ScanPolicySpec = serde_json::from_value(serde_json::json!({})).expect("policy");
    let meta = PackageMetadata::default();
    let files = vec![LocalFile {
        filename: "pkg-1.0-py3-none-any.whl".into(),
        path: wheel,
        kind: FileKind::Wheel,
        sha256: None,
        upload_time: None,
        requires_python: None,
    }];
    let subject = Subject {
        ecosystem: Ecosystem::Pypi,
        name: "pkg",
        version: "1.0",
        metadata: &meta,
        files: &files,
    };
    let mut bytes = 0;
    let t = best_of(3, || {
        let r = scan(
            &subject,
            &[],
            &policy,
            &Limits::default(),
            k8s_openapi::jiff::Timestamp::now(),
        );
        bytes = r.files.iter().map(|f| f.bytes).sum::<u64>() as usize;
    });
    println!(
        "package scan (unpack + all checks, 3000 source files): {:.0} MB uncompressed in {:.3} s = {:.0} MB/s (one core)",
        bytes as f64 / 1e6,
        t,
        mbs(bytes, t)
    );

    let _ = std::fs::remove_dir_all(&dir);

    if std::env::var("AIRLOCK_LIVE_TESTS").is_ok_and(|v| v == "1") {
        live_numpy();
    }
}

fn live_numpy() {
    use airlock::net::client::{HttpClient, HttpConfig};
    use airlock::pipeline::{
        cache::Cache,
        fetch::Fetcher,
        resolve::{Registries, Resolver},
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let registries = Registries::default();
    let http = HttpClient::new(registries.allowed_hosts(), HttpConfig::default()).expect("client");
    let cache = std::env::temp_dir().join("airlock-bench-live-cache");
    let fetcher = Fetcher::new(http.clone(), Cache::open(&cache).expect("cache"));
    let resolver = Resolver::new(http, registries);
    let package = "pypi:numpy==2.1.3".parse().expect("ref");
    let resolved = rt
        .block_on(resolver.resolve(&package, &["*cp311*manylinux*x86_64*".into()]))
        .expect("resolve");
    let file = &resolved.files[0];
    let fetched = rt.block_on(fetcher.fetch(file)).expect("fetch");
    let policy: ScanPolicySpec = serde_json::from_value(serde_json::json!({})).expect("policy");
    let files = vec![LocalFile {
        filename: file.filename.clone(),
        path: fetched.path.clone(),
        kind: FileKind::Wheel,
        sha256: Some(fetched.sha256.clone()),
        upload_time: None,
        requires_python: None,
    }];
    let subject = Subject {
        ecosystem: Ecosystem::Pypi,
        name: "numpy",
        version: "2.1.3",
        metadata: &resolved.metadata,
        files: &files,
    };
    let t = Instant::now();
    let r = scan(
        &subject,
        &[],
        &policy,
        &Limits::default(),
        k8s_openapi::jiff::Timestamp::now(),
    );
    let bytes: u64 = r.files.iter().map(|f| f.bytes).sum();
    println!(
        "real wheel {} ({:.1} MB, {:.1} MB uncompressed): scanned in {:.3} s after download, {:?}",
        file.filename,
        fetched.size as f64 / 1e6,
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        r.ruling.verdict
    );
    let heuristic: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.rule.starts_with("heuristics."))
        .map(|f| f.rule.as_str())
        .collect();
    println!(
        "  heuristic findings on numpy: {heuristic:?} (score {})",
        r.ruling.heuristic_score
    );
}

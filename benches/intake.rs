//! Intake throughput: fetch+verify from a loopback registry, and unpack of a large wheel.
//! `cargo bench --bench intake` (release build); see README "Benchmarks".

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use airlock::package::PackageRef;
use airlock::pipeline::unpack::{Limits, unpack_path};
use common::archives::{self, ZipEntry};
use common::registry::{Fault, FixtureRegistry, pipeline};
use serde_json::json;

/// Deterministic bytes that compress about as well as compiled code (roughly 2:1).
fn binaryish(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i % 3 == 0 { 0 } else { (x & 0x3f) as u8 }
        })
        .collect()
}

/// A wheel shaped like a large scientific one: thousands of modules and a few big shared objects.
fn large_wheel() -> Vec<u8> {
    let source: String = (0..400)
        .map(|i| format!("def function_{i}(a, b):\n    return a * {i} + b  # arithmetic\n\n"))
        .collect();
    let mut entries: Vec<ZipEntry> = (0..3000)
        .map(|i| {
            ZipEntry::file(
                &format!("bigpkg/sub{}/mod_{i}.py", i % 40),
                source.as_bytes(),
            )
        })
        .collect();
    for i in 0..8 {
        entries.push(ZipEntry::file(
            &format!("bigpkg/_core_{i}.cpython-311-x86_64-linux-gnu.so"),
            &binaryish(12 << 20, i + 1),
        ));
    }
    entries.push(ZipEntry::file(
        "bigpkg-1.0.dist-info/METADATA",
        archives::core_metadata("bigpkg", "1.0").as_bytes(),
    ));
    archives::zip(&entries)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("airlock-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");

    // Fetch + verify (sha256 while streaming, to disk) from 127.0.0.1.
    let reg = FixtureRegistry::start().await;
    let payload = binaryish(256 << 20, 42);
    reg.add_pypi_file(
        "bench",
        "bench-1.0.tar.gz",
        payload.clone(),
        Fault::default(),
        json!({}),
    );
    let mut best = f64::MAX;
    for round in 0..3 {
        let (resolver, fetcher) = pipeline(&reg, &dir.join(format!("cache-{round}")));
        let package: PackageRef = "pypi:bench==1.0".parse().expect("ref");
        let resolved = resolver.resolve(&package, &[]).await.expect("resolve");
        let start = Instant::now();
        let f = fetcher.fetch(&resolved.files[0]).await.expect("fetch");
        best = best.min(start.elapsed().as_secs_f64());
        assert_eq!(f.size, payload.len() as u64);
    }
    println!(
        "fetch+verify: {:.0} MB in {:.3} s = {:.0} MB/s (best of 3, loopback, sha256, written to disk)",
        mb(payload.len() as u64),
        best,
        mb(payload.len() as u64) / best
    );

    // Unpack a large wheel, reading every byte as a scanner would.
    let wheel = large_wheel();
    let path = dir.join("bigpkg-1.0-cp311-cp311-manylinux_2_17_x86_64.whl");
    std::fs::write(&path, &wheel).expect("write");
    let mut best = f64::MAX;
    let mut bytes = 0;
    let mut entries = 0;
    for _ in 0..3 {
        let start = Instant::now();
        let report = unpack_path(&path, "bigpkg.whl", &Limits::default(), &mut |_, r| {
            let mut buf = [0u8; 65536];
            while std::io::Read::read(r, &mut buf)? > 0 {}
            Ok(())
        })
        .expect("unpack");
        best = best.min(start.elapsed().as_secs_f64());
        assert!(report.complete && report.findings.is_empty());
        bytes = report.bytes;
        entries = report.entries;
    }
    println!(
        "unpack: {:.0} MB wheel, {entries} entries, {:.0} MB uncompressed in {:.3} s = {:.0} MB/s of uncompressed content (best of 3)",
        mb(wheel.len() as u64),
        mb(bytes),
        best,
        mb(bytes) / best
    );

    // Publish into the built-in repository: 200 wheels of ~1 MB each (hash, copy, index update).
    let store = airlock::publish::builtin::store::Store::open(dir.join("repo")).expect("store");
    let wheels: Vec<std::path::PathBuf> = (0..200)
        .map(|i| {
            let p = dir.join(format!("pkg{i}-1.0-py3-none-any.whl"));
            std::fs::write(
                &p,
                archives::zip(&[ZipEntry::file(
                    &format!("pkg{i}/_data.bin"),
                    &binaryish(1 << 20, i as u64 + 7),
                )]),
            )
            .expect("write");
            p
        })
        .collect();
    let total: u64 = wheels
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let start = Instant::now();
    for (i, p) in wheels.iter().enumerate() {
        store
            .publish_pypi(
                &format!("pkg{i}"),
                "1.0",
                &format!("pkg{i}-1.0-py3-none-any.whl"),
                p,
                None,
            )
            .expect("publish");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "publish to the built-in repository: {} packages, {:.0} MB in {:.2} s = {:.0} packages/s, {:.0} MB/s (each fsynced)",
        wheels.len(),
        mb(total),
        secs,
        wheels.len() as f64 / secs,
        mb(total) / secs
    );

    // Publish into the CodeArtifact emulator through the real SDK and the PyPI upload protocol:
    // 50 wheels of ~1 MB (asset listing, token, endpoint, multipart upload each).
    let emu = airlock::dev::codeartifact::CodeArtifactEmulator::start(
        "127.0.0.1:0".parse().expect("addr"),
        dir.join("emulator"),
    )
    .await
    .expect("emulator");
    emu.create("airlock", &["pypi-approved"])
        .expect("repository");
    let config = aws_sdk_codeartifact::Config::builder()
        .behavior_version(aws_sdk_codeartifact::config::BehaviorVersion::latest())
        .region(aws_sdk_codeartifact::config::Region::new("us-east-1"))
        .endpoint_url(emu.endpoint_url())
        .credentials_provider(aws_sdk_codeartifact::config::Credentials::new(
            "AKIDBENCH",
            "bench",
            None,
            None,
            "bench",
        ))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .build();
    let publisher = airlock::publish::codeartifact::Publisher::new(
        aws_sdk_codeartifact::Client::from_conf(config),
    );
    let target = airlock::publish::codeartifact::Repository {
        domain: "airlock".into(),
        domain_owner: None,
        repository: "pypi-approved".into(),
    };
    // The fixture wheels carry no METADATA; give each one, outside the timing, so the upload has
    // a name and version.
    let prepared: Vec<(std::path::PathBuf, String)> = wheels[..50]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let name = format!("pkg{i}-1.0-py3-none-any.whl");
            let with_meta = dir.join(format!("ca-{name}"));
            std::fs::write(
                &with_meta,
                archives::zip(&[
                    ZipEntry::file(
                        &format!("pkg{i}/_data.bin"),
                        &std::fs::read(p).expect("read")[..],
                    ),
                    ZipEntry::file(
                        &format!("pkg{i}-1.0.dist-info/METADATA"),
                        archives::core_metadata(&format!("pkg{i}"), "1.0").as_bytes(),
                    ),
                ]),
            )
            .expect("write");
            (with_meta, name)
        })
        .collect();
    let total: u64 = prepared
        .iter()
        .map(|(p, _)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let start = Instant::now();
    for (i, (path, name)) in prepared.iter().enumerate() {
        publisher
            .publish_pypi(
                &target,
                &format!("pkg{i}"),
                "1.0",
                &[(
                    path.as_path(),
                    name.as_str(),
                    airlock::package::file::FileKind::Wheel,
                )],
            )
            .await
            .expect("publish");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "publish to the CodeArtifact emulator (SDK + PyPI upload): {} packages, {:.0} MB in {:.2} s = {:.1} packages/s, {:.0} MB/s",
        prepared.len(),
        mb(total),
        secs,
        prepared.len() as f64 / secs,
        mb(total) / secs
    );
    let _ = std::fs::remove_dir_all(&dir);
}

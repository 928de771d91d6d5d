//! Hostile archives: each yields its finding, never a panic, an unbounded allocation or a hang,
//! and nothing is written to disk.

mod common;

use airlock::pipeline::unpack::{Format, Limits, UnpackReport, unpack};
use common::archives::{self, TarEntry, TarKind, ZipEntry};

/// Unpacks `bytes`, reading every entry fully; returns the report and the paths delivered.
fn run(bytes: Vec<u8>, format: Format, limits: &Limits) -> (UnpackReport, Vec<String>) {
    let mut seen = Vec::new();
    let report = unpack(std::io::Cursor::new(bytes), format, limits, &mut |e, r| {
        let mut sink = Vec::new();
        std::io::Read::read_to_end(r, &mut sink)?;
        seen.push(e.path.clone());
        Ok(())
    });
    (report, seen)
}

fn rules(r: &UnpackReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.rule.as_str()).collect()
}

#[test]
fn honest_packages_unpack_completely_without_findings() {
    let (r, seen) = run(
        archives::wheel("demo", "1.0", "print('hi')\n"),
        Format::Zip,
        &Limits::default(),
    );
    assert!(r.complete && r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(seen.len(), 4);
    assert!(seen.contains(&"demo/__init__.py".to_string()));
    let (r, seen) = run(
        archives::sdist("demo", "1.0"),
        Format::TarGz,
        &Limits::default(),
    );
    assert!(r.complete && r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(seen, vec!["demo-1.0/PKG-INFO", "demo-1.0/setup.py"]);
}

#[test]
fn a_zip_declaring_10_gb_from_a_few_kb_is_a_bomb() {
    let payload = archives::deflate_zeros(1 << 20);
    let zip = archives::zip_raw(&[(b"bomb.bin".to_vec(), payload, 10 << 30, 0, true, None)]);
    assert!(zip.len() < 8 << 10, "a few KB: {}", zip.len());
    let (r, seen) = run(zip, Format::Zip, &Limits::default());
    assert_eq!(rules(&r), vec!["archive.bomb"]);
    assert!(!r.complete && seen.is_empty());
    assert!(
        r.findings[0]
            .evidence
            .as_deref()
            .is_some_and(|e| e.contains("10737418240")),
        "{:?}",
        r.findings
    );
}

#[test]
fn a_zip_whose_header_understates_its_content_is_caught_while_reading() {
    let payload = archives::deflate_zeros(64 << 20);
    let zip = archives::zip_raw(&[(b"small.txt".to_vec(), payload, 1000, 0, true, None)]);
    let (r, _) = run(zip, Format::Zip, &Limits::default());
    assert_eq!(rules(&r), vec!["archive.bomb"]);
    assert!(
        r.bytes < 1 << 20,
        "stopped within a buffer of the lie: {}",
        r.bytes
    );
}

#[test]
fn a_tar_gz_of_zeros_trips_the_ratio_limit() {
    let mut tar = archives::tar_header(b"pkg/zeros", 256 << 20, b'0', "", 0o644).to_vec();
    let stream = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&tar).expect("gz");
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..256 {
            e.write_all(&chunk).expect("gz");
        }
        e.finish().expect("gz")
    };
    tar.clear();
    let (r, _) = run(stream, Format::TarGz, &Limits::default());
    assert_eq!(rules(&r), vec!["archive.bomb"]);
    assert!(r.bytes < 32 << 20);
}

#[test]
fn path_traversal_absolute_paths_and_links_are_findings_and_never_delivered() {
    let tar = archives::tar_gz(&[
        TarEntry::file("../../etc/passwd", b"root:x:0:0"),
        TarEntry::file("/etc/shadow", b"x"),
        TarEntry {
            name: b"pkg/link".to_vec(),
            data: vec![],
            kind: TarKind::Symlink("../../../../home/user/.ssh/id_rsa".into()),
            mode: 0o777,
        },
        TarEntry {
            name: b"pkg/hard".to_vec(),
            data: vec![],
            kind: TarKind::HardLink("/etc/passwd".into()),
            mode: 0o644,
        },
        TarEntry {
            name: b"pkg/tty".to_vec(),
            data: vec![],
            kind: TarKind::CharDevice,
            mode: 0o644,
        },
        TarEntry::file("pkg/ok.py", b"x = 1"),
    ]);
    let (r, seen) = run(tar, Format::TarGz, &Limits::default());
    assert_eq!(
        rules(&r),
        vec![
            "archive.path-traversal",
            "archive.absolute-path",
            "archive.link",
            "archive.link",
            "archive.device"
        ]
    );
    assert_eq!(
        seen,
        vec!["pkg/ok.py"],
        "only the safe entry reaches the scanners"
    );
    assert!(r.complete);
    let evidence = r.findings[2].evidence.clone().unwrap_or_default();
    assert!(
        evidence.contains("symlink") && evidence.contains(".ssh/id_rsa"),
        "{evidence}"
    );

    let mut link = ZipEntry::file("pkg/escape", b"/etc/passwd");
    link.unix_mode = Some(0o120777);
    let zip = archives::zip(&[
        link,
        ZipEntry::file("..\\..\\evil.bat", b"x"),
        ZipEntry::file("C:/evil.bat", b"x"),
    ]);
    let (r, seen) = run(zip, Format::Zip, &Limits::default());
    assert_eq!(
        rules(&r),
        vec![
            "archive.link",
            "archive.path-traversal",
            "archive.absolute-path"
        ]
    );
    assert!(seen.is_empty());
}

#[test]
fn a_hundred_thousand_tiny_entries_stop_at_the_entry_limit() {
    let entries: Vec<TarEntry> = (0..100_000)
        .map(|i| TarEntry::file(&format!("p/{i}"), b"x"))
        .collect();
    let tgz = archives::tar_gz(&entries);
    let (r, seen) = run(tgz, Format::TarGz, &Limits::default());
    assert_eq!(rules(&r), vec!["archive.too-many-entries"]);
    assert_eq!(seen.len(), 50_000);
    assert!(!r.complete);
    // The same in a zip is refused from the central directory alone, before anything is read.
    let zentries: Vec<ZipEntry> = (0..60_000)
        .map(|i| ZipEntry::file(&format!("p/{i}"), b""))
        .collect();
    let (r, seen) = run(archives::zip(&zentries), Format::Zip, &Limits::default());
    assert_eq!(rules(&r), vec!["archive.too-many-entries"]);
    assert!(seen.is_empty());
}

#[test]
fn duplicates_invalid_names_and_bad_crcs_are_findings() {
    use airlock::api::package_request::Severity;
    // The same path twice: pip writes both (the last wins), so which one was scanned is a guess.
    let zip = archives::zip(&[
        ZipEntry::file("pkg/a.py", b"1"),
        ZipEntry::file("pkg/a.py", b"2"),
    ]);
    let (r, _) = run(zip, Format::Zip, &Limits::default());
    assert_eq!(rules(&r), vec!["archive.ambiguous"]);
    assert!(!r.complete);
    let evidence = r.findings[0].evidence.clone().unwrap_or_default();
    assert!(evidence.contains("twice"), "{evidence}");
    // Names that readers normalise differently are refused, not normalised.
    let zip = archives::zip(&[ZipEntry::file("pkg//a.py", b"2")]);
    let (r, seen) = run(zip, Format::Zip, &Limits::default());
    assert_eq!(rules(&r), vec!["archive.ambiguous"]);
    assert!(seen.is_empty());
    let mut bad_name = ZipEntry::file("x", b"1");
    bad_name.name = b"pkg/\xff\xfe.py".to_vec();
    let (r, seen) = run(archives::zip(&[bad_name]), Format::Zip, &Limits::default());
    assert_eq!(rules(&r), vec!["archive.invalid-name"]);
    assert_eq!(
        r.findings[0].severity,
        Severity::High,
        "unscanned content denies"
    );
    assert!(seen.is_empty());
    let payload = archives::deflate(b"print('hello')");
    let zip = archives::zip_raw(&[(b"m.py".to_vec(), payload, 14, 0xdead_beef, true, None)]);
    let (r, _) = run(zip, Format::Zip, &Limits::default());
    assert_eq!(rules(&r), vec!["archive.crc-mismatch"]);
}

#[test]
fn truncated_and_garbage_archives_are_corrupt_not_a_crash() {
    let mut wheel = archives::wheel("demo", "1.0", "x");
    wheel.truncate(wheel.len() / 2);
    let (r, _) = run(wheel, Format::Zip, &Limits::default());
    assert_eq!(rules(&r), vec!["archive.corrupt"]);
    let mut tgz = archives::sdist("demo", "1.0");
    tgz.truncate(tgz.len() - 20);
    let (r, _) = run(tgz, Format::TarGz, &Limits::default());
    assert_eq!(rules(&r), vec!["archive.corrupt"]);
    for garbage in [
        vec![],
        vec![0x1f, 0x8b, 0, 0],
        b"PK\x05\x06".to_vec(),
        vec![0xff; 4096],
    ] {
        let (r, _) = run(garbage.clone(), Format::Zip, &Limits::default());
        assert!(!r.complete, "{garbage:?}");
        let (r, _) = run(garbage, Format::TarGz, &Limits::default());
        assert!(!r.complete || r.entries == 0);
    }
}

#[test]
fn overlapping_zip_entries_are_a_bomb() {
    // Two central entries pointing at the same local data: the overlapping-file construction.
    let mut zip = archives::zip(&[ZipEntry::file("a", b"aaaa"), ZipEntry::file("b", b"bbbb")]);
    let cd = zip
        .windows(4)
        .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
        .expect("central");
    let second = cd
        + 1
        + zip[cd + 1..]
            .windows(4)
            .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
            .expect("second");
    zip[second + 42..second + 46].copy_from_slice(&0u32.to_le_bytes());
    let (r, _) = run(zip, Format::Zip, &Limits::default());
    assert_eq!(rules(&r), vec!["archive.bomb"]);
}

#[test]
fn nested_archives_are_opened_to_the_depth_limit() {
    let inner = archives::wheel("inner", "1.0", "import os\n");
    let middle = archives::tar_gz(&[TarEntry::file("dist/inner-1.0-py3-none-any.whl", &inner)]);
    let outer = archives::zip(&[ZipEntry::file("vendor/middle.tar.gz", &middle)]);
    let (r, seen) = run(outer.clone(), Format::Zip, &Limits::default());
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert!(
        seen.contains(
            &"vendor/middle.tar.gz!/dist/inner-1.0-py3-none-any.whl!/inner/__init__.py".to_string()
        ),
        "{seen:?}"
    );
    let shallow = Limits {
        max_depth: 2,
        ..Limits::default()
    };
    let (r, _) = run(outer, Format::Zip, &shallow);
    assert_eq!(rules(&r), vec!["archive.nesting-too-deep"]);
}

#[test]
fn long_names_through_gnu_headers_are_read() {
    let long = format!("pkg/{}/mod.py", "d".repeat(150));
    let (r, seen) = run(
        archives::tar_gz(&[TarEntry::file(&long, b"x")]),
        Format::TarGz,
        &Limits::default(),
    );
    assert!(r.complete && r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(seen, vec![long]);
}

#[test]
fn links_inside_the_package_and_damaged_nested_archives_are_low_and_reading_goes_on() {
    use airlock::api::package_request::Severity;
    let inner_broken = b"PK\x03\x04 not really a zip".to_vec();
    let tgz = archives::tar_gz(&[
        TarEntry::file("pkg/zoneinfo/GMT", b"tzdata"),
        TarEntry {
            name: b"pkg/zoneinfo/GMT0".to_vec(),
            data: vec![],
            kind: TarKind::HardLink("pkg/zoneinfo/GMT".into()),
            mode: 0o644,
        },
        TarEntry::file("pkg/fixtures/broken.zip", &inner_broken),
        TarEntry::file("pkg/after.py", b"x = 1"),
    ]);
    let (r, seen) = run(tgz, Format::TarGz, &Limits::default());
    assert!(r.complete, "{:?}", r.findings);
    let severities: Vec<(&str, Severity)> = r
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.severity))
        .collect();
    assert_eq!(
        severities,
        vec![
            ("archive.link", Severity::Low),
            ("archive.corrupt", Severity::Low)
        ]
    );
    assert!(seen.contains(&"pkg/after.py".to_string()), "{seen:?}");
}

//! Peak heap while unpacking hostile archives, measured with a counting allocator: bombs and
//! entry floods must cost a bounded few MiB, whatever they claim or expand to. Alone in its test
//! binary so no other test's allocations are counted.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use airlock::pipeline::unpack::{Limits, unpack_path};
use common::archives::{self, TarEntry};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap above the starting point while unpacking the file, and the finding rules.
fn measure(path: &std::path::Path, name: &str) -> (usize, Vec<String>) {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let report = unpack_path(path, name, &Limits::default(), &mut |_, r| {
        // A scanner that reads everything in 64 KiB pieces.
        let mut buf = [0u8; 65536];
        while std::io::Read::read(r, &mut buf)? > 0 {}
        Ok(())
    })
    .expect("readable");
    let peak = PEAK.load(Ordering::SeqCst) - base;
    (peak, report.findings.into_iter().map(|f| f.rule).collect())
}

#[test]
fn hostile_archives_unpack_in_bounded_memory_and_leave_no_files() {
    let dir = std::env::temp_dir().join(format!("airlock-unpack-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let declared_bomb = archives::zip_raw(&[(
        b"bomb.bin".to_vec(),
        archives::deflate_zeros(1 << 20),
        10 << 30,
        0,
        true,
        None,
    )]);
    let lying_bomb = archives::zip_raw(&[(
        b"small.txt".to_vec(),
        archives::deflate_zeros(256 << 20),
        1000,
        0,
        true,
        None,
    )]);
    // 256 MiB of zeros behind a tar header, in one gzip member.
    let tgz_bomb = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&archives::tar_header(
            b"pkg/zeros",
            256 << 20,
            b'0',
            "",
            0o644,
        ))
        .expect("gz");
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..256 {
            e.write_all(&chunk).expect("gz");
        }
        e.finish().expect("gz")
    };
    let flood = archives::tar_gz(
        &(0..100_000)
            .map(|i| TarEntry::file(&format!("p/{i}"), b"x"))
            .collect::<Vec<_>>(),
    );
    // 300 000 directories with 4 KiB names (GNU long names): a few MB compressed. Directories
    // count against the entry limit and names are kept as hashes, so this stays small.
    let dirs = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let tail = "d".repeat(4000);
        for i in 0..300_000u32 {
            let mut name = format!("demo-1.0/{i:08}/{tail}/").into_bytes();
            name.push(0);
            let mut block =
                archives::tar_header(b"././@LongLink", name.len() as u64, b'L', "", 0).to_vec();
            block.extend_from_slice(&name);
            while !block.len().is_multiple_of(512) {
                block.push(0);
            }
            block.extend_from_slice(&archives::tar_header(b"demo-1.0/d/", 0, b'5', "", 0o755));
            e.write_all(&block).expect("gz");
        }
        e.write_all(&[0u8; 1024]).expect("gz");
        e.finish().expect("gz")
    };
    let cases = [
        ("declared.whl", declared_bomb, "archive.bomb"),
        ("lying.whl", lying_bomb, "archive.bomb"),
        ("zeros.tar.gz", tgz_bomb, "archive.bomb"),
        ("flood.tar.gz", flood, "archive.too-many-entries"),
        ("dirs.tar.gz", dirs, "archive.too-many-entries"),
    ];
    for (name, bytes, rule) in cases {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).expect("write");
        drop(bytes);
        let (peak, rules) = measure(&path, name);
        println!("{name}: peak heap {} KiB, findings {rules:?}", peak / 1024);
        assert_eq!(rules, vec![rule.to_string()], "{name}");
        assert!(peak < 16 << 20, "{name}: peak heap {peak} bytes");
    }
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec![
            "declared.whl",
            "dirs.tar.gz",
            "flood.tar.gz",
            "lying.whl",
            "zeros.tar.gz"
        ],
        "unpacking writes nothing"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! Unpack: read wheels, zips, sdists and npm tarballs entry by entry, without extracting to disk,
//! under hard limits. Archives are hostile input: every limit hit is a finding (`archive.bomb`,
//! `archive.path-traversal`, …) and never a panic, an unbounded allocation or a hang.
//!
//! Memory stays bounded by construction: content reaches the visitor through a reader, never as
//! a whole; only a nested archive small enough to scan is held in memory; names, headers and the
//! zip central directory have their own caps.

mod guard;
mod names;
mod tar;
mod zip;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::io::{self, Read};
use std::path::Path;

pub use crate::api::package_request::FindingSummary as Finding;
use crate::api::package_request::Severity;

/// Hard limits for one archive, nested archives included.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Uncompressed bytes across all entries.
    pub max_total_bytes: u64,
    pub max_entries: u64,
    /// Uncompressed bytes of one entry.
    pub max_entry_bytes: u64,
    /// Uncompressed to compressed; checked once `ratio_floor` bytes have come out, since tiny
    /// files of zeros compress far better than any real package.
    pub max_ratio: u64,
    pub ratio_floor: u64,
    /// Levels of archives, the outermost included (a wheel inside an sdist is 2).
    pub max_depth: u32,
    /// A nested archive larger than this is passed on as a file, not opened.
    pub max_nested_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // The largest real wheels (CUDA builds of torch) unpack to a few GB.
            max_total_bytes: 8 << 30,
            max_entries: 50_000,
            max_entry_bytes: 4 << 30,
            max_ratio: 200,
            ratio_floor: 8 << 20,
            max_depth: 3,
            max_nested_bytes: 64 << 20,
        }
    }
}

/// One file of an archive, as a scanner sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryInfo {
    /// The normalised path; entries of nested archives as `inner.zip!/path`.
    pub path: String,
    /// Uncompressed size, as declared.
    pub size: u64,
    /// Unix permission bits, where the archive records them.
    pub mode: Option<u32>,
}

/// The archive formats airlock reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Zip,
    TarGz,
    Tar,
}

impl Format {
    /// From the first bytes, falling back to the name.
    pub fn detect(head: &[u8], name: &str) -> Option<Format> {
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Some(Format::Zip)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Some(Format::TarGz)
        } else if head.len() >= 262 && &head[257..262] == b"ustar" {
            Some(Format::Tar)
        } else {
            Format::from_name(name)
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        let n = name.to_ascii_lowercase();
        if [".whl", ".zip", ".egg", ".jar"]
            .iter()
            .any(|e| n.ends_with(e))
        {
            Some(Format::Zip)
        } else if n.ends_with(".tar.gz") || n.ends_with(".tgz") {
            Some(Format::TarGz)
        } else if n.ends_with(".tar") {
            Some(Format::Tar)
        } else {
            None
        }
    }
}

/// What unpacking saw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UnpackReport {
    /// Entries passed to the visitor.
    pub entries: u64,
    /// Uncompressed bytes read.
    pub bytes: u64,
    pub findings: Vec<Finding>,
    /// False when a limit or a corrupt structure stopped reading early: what was not read was not
    /// scanned.
    pub complete: bool,
}

/// What a visitor gets: an entry and a reader over its content (read as much as needed).
pub type Visitor<'v> = dyn FnMut(&EntryInfo, &mut dyn Read) -> io::Result<()> + 'v;

/// State shared by every level of one unpacking: counters, findings, and whether to stop.
pub(crate) struct Budget<'l> {
    limits: &'l Limits,
    entries: Cell<u64>,
    bytes: Cell<u64>,
    findings: RefCell<Vec<Finding>>,
    stopped: Cell<bool>,
}

impl Budget<'_> {
    fn finding(&self, rule: &str, severity: Severity, file: Option<&str>, evidence: String) {
        let mut f = self.findings.borrow_mut();
        // Thousands of identical findings help nobody and would grow without bound.
        if f.iter().filter(|x| x.rule == rule).count() >= 20 {
            return;
        }
        f.push(Finding {
            rule: rule.to_string(),
            severity,
            file: file.map(|s| names::clip(s, 300)),
            line: None,
            evidence: Some(names::clip(&evidence, 300)),
        });
    }

    /// Records a finding and stops the whole unpacking.
    fn stop(&self, rule: &str, severity: Severity, file: Option<&str>, evidence: String) {
        if !self.stopped.get() {
            self.finding(rule, severity, file, evidence);
        }
        self.stopped.set(true);
    }

    fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    /// Counts one more entry; false (and stopped) past the limit.
    fn admit_entry(&self, path: &str) -> bool {
        let n = self.entries.get() + 1;
        if n > self.limits.max_entries {
            self.stop(
                "archive.too-many-entries",
                Severity::High,
                Some(path),
                format!(
                    "more than {} entries; the rest were not scanned",
                    self.limits.max_entries
                ),
            );
            return false;
        }
        self.entries.set(n);
        true
    }
}

/// Per-archive-level state: where its entries sit in the whole, and the names seen so far.
pub(crate) struct Level<'b, 'l> {
    budget: &'b Budget<'l>,
    prefix: String,
    depth: u32,
    seen: HashSet<String>,
}

impl<'b, 'l> Level<'b, 'l> {
    fn new(budget: &'b Budget<'l>, prefix: String, depth: u32) -> Self {
        Self {
            budget,
            prefix,
            depth,
            seen: HashSet::new(),
        }
    }

    fn display(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// Checks a raw entry name; the normalised path if the entry may be read.
    fn check_name(&mut self, raw: &[u8]) -> Option<String> {
        match names::check(raw) {
            Ok(path) => {
                if !self.seen.insert(path.clone()) {
                    self.budget.finding(
                        "archive.duplicate-name",
                        Severity::High,
                        Some(&self.display(&path)),
                        "the same path appears twice; installers differ on which copy wins".into(),
                    );
                }
                Some(path)
            }
            Err((rule, severity, evidence)) => {
                let shown = String::from_utf8_lossy(raw).into_owned();
                self.budget
                    .finding(rule, severity, Some(&self.display(&shown)), evidence);
                None
            }
        }
    }

    /// An error that ended reading early is an `archive.corrupt` finding, unless a limit already
    /// stopped it (the limit is the finding then).
    fn corrupt_unless_stopped(&self, result: io::Result<()>, what: &str) {
        if let Err(e) = result
            && !self.budget.is_stopped()
        {
            if self.depth > 1 {
                // A damaged archive inside a package is data (test fixtures often are): its bytes
                // were scanned as a file, installers never open it, and the rest goes on.
                self.budget.finding(
                    "archive.corrupt",
                    Severity::Low,
                    Some(&self.display("")),
                    format!("{what} (a nested archive; its bytes were scanned as a file): {e}"),
                );
                return;
            }
            self.budget.stop(
                "archive.corrupt",
                Severity::High,
                Some(&self.display("")),
                format!("{what}: {e}"),
            );
        }
    }

    /// Passes one file to the visitor, opening it as a nested archive when it is one; then reads
    /// whatever the visitor left, so limits hold whatever the visitor does.
    fn deliver(
        &mut self,
        path: &str,
        size: u64,
        mode: Option<u32>,
        content: &mut dyn Read,
        visit: &mut Visitor,
    ) -> io::Result<()> {
        let info = EntryInfo {
            path: self.display(path),
            size,
            mode,
        };
        let nested = Format::from_name(path);
        if let Some(format) = nested {
            if self.depth + 1 > self.budget.limits.max_depth {
                self.budget.finding(
                    "archive.nesting-too-deep",
                    Severity::Medium,
                    Some(&info.path),
                    format!(
                        "an archive nested more than {} levels deep was not opened",
                        self.budget.limits.max_depth
                    ),
                );
            } else if size <= self.budget.limits.max_nested_bytes {
                let mut buf = Vec::new();
                content
                    .take(self.budget.limits.max_nested_bytes + 1)
                    .read_to_end(&mut buf)?;
                visit(&info, &mut io::Cursor::new(&buf))?;
                if buf.len() as u64 <= self.budget.limits.max_nested_bytes
                    && !self.budget.is_stopped()
                {
                    let prefix = format!("{}!/", info.path);
                    open_level(
                        self.budget,
                        format,
                        io::Cursor::new(buf),
                        prefix,
                        self.depth + 1,
                        visit,
                    );
                }
                return Ok(());
            }
        }
        visit(&info, content)?;
        io::copy(content, &mut io::sink())?;
        Ok(())
    }
}

fn open_level<R: Read + io::Seek>(
    budget: &Budget,
    format: Format,
    reader: R,
    prefix: String,
    depth: u32,
    visit: &mut Visitor,
) {
    let mut level = Level::new(budget, prefix, depth);
    match format {
        Format::Zip => zip::read(reader, &mut level, visit),
        Format::TarGz => tar::read_gz(reader, &mut level, visit),
        Format::Tar => tar::read_plain(reader, &mut level, visit),
    }
}

/// Reads the archive at `path` (format from its first bytes, else from `name`), passing every
/// readable entry to `visit`.
pub fn unpack_path(
    path: &Path,
    name: &str,
    limits: &Limits,
    visit: &mut Visitor,
) -> io::Result<UnpackReport> {
    let mut file = std::fs::File::open(path)?;
    let mut head = [0u8; 512];
    let n = read_up_to(&mut file, &mut head)?;
    let Some(format) = Format::detect(&head[..n], name) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{name}: not a zip, tar or tar.gz archive"),
        ));
    };
    let file = std::fs::File::open(path)?;
    Ok(unpack(
        io::BufReader::with_capacity(64 << 10, file),
        format,
        limits,
        visit,
    ))
}

/// [`unpack_path`] for an archive already open.
pub fn unpack<R: Read + io::Seek>(
    reader: R,
    format: Format,
    limits: &Limits,
    visit: &mut Visitor,
) -> UnpackReport {
    let budget = Budget {
        limits,
        entries: Cell::new(0),
        bytes: Cell::new(0),
        findings: RefCell::new(Vec::new()),
        stopped: Cell::new(false),
    };
    open_level(&budget, format, reader, String::new(), 1, visit);
    UnpackReport {
        entries: budget.entries.get(),
        bytes: budget.bytes.get(),
        complete: !budget.stopped.get(),
        findings: budget.findings.into_inner(),
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

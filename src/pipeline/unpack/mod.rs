//! Unpack: read wheels, zips, sdists and npm tarballs entry by entry, without extracting to disk,
//! under hard limits. Archives are hostile input: every limit hit is a finding (`archive.bomb`,
//! `archive.path-traversal`, …) and never a panic, an unbounded allocation or a hang.
//!
//! One strict reading: an archive whose bytes installers could read in different ways (pip with
//! Python's `tarfile`/`zipfile`, uv, npm's node-tar) is refused with an `archive.ambiguous`
//! finding, never read one way and installed another. What is delivered to the scanners is
//! exactly the set of (path, bytes) an installer writes: links are delivered under their own
//! names with the content they point at, or refused.
//!
//! Memory stays bounded by construction: content reaches the visitor through a reader, never as
//! a whole; only a nested archive small enough to scan is held in memory; names are kept as
//! hashes; headers, the zip central directory and the link-target cache have their own caps.

mod guard;
mod names;
mod tar;
mod zip;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;

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
    /// Entries read (files, directories, links), counted against `max_entries`.
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

/// What kind of entry a name belongs to, for the duplicate and root checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    File,
    Dir,
    Link,
}

/// An error that ends one archive level because it was refused as ambiguous; the finding is
/// already recorded, so it is not reported again as `archive.corrupt`.
#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused as ambiguous")
    }
}

impl std::error::Error for Refused {}

/// Regular files kept in memory as link targets: a link is delivered under its own name with the
/// content it points at, as installers write it.
const CACHE_FILE_BYTES: usize = 64 << 10;
const CACHE_TOTAL_BYTES: usize = 2 << 20;
/// What one kept file costs beyond its bytes (map slot, allocations), so many tiny files stay
/// within the total too.
const CACHE_ENTRY_OVERHEAD: usize = 96;

/// What keeping a file as a link target costs against [`CACHE_TOTAL_BYTES`].
fn cache_cost(path: &str, size: usize) -> usize {
    size + path.len() + CACHE_ENTRY_OVERHEAD
}

/// How every refusal ends, so a user knows the rule behind it.
const REFUSAL: &str = "airlock refuses an archive it cannot read exactly as every installer would";

/// Per-archive-level state: where its entries sit in the whole, and the names seen so far.
pub(crate) struct Level<'b, 'l> {
    budget: &'b Budget<'l>,
    prefix: String,
    depth: u32,
    /// Every name seen, as a keyed hash (bounded memory whatever the names' length), and
    /// whether it was a directory.
    seen: HashMap<u64, EntryKind>,
    hasher: RandomState,
    /// Source packages (sdists, npm tarballs) must have exactly one top-level directory:
    /// pip strips it only when all entries share it, node-tar's `strip: 1` strips whatever comes
    /// first, so two roots put two files on one path.
    single_root: bool,
    root: Option<String>,
    /// Symlinks seen (hashed): nothing may be written through one.
    symlinks: HashSet<u64>,
    /// Small regular files read so far, as link targets.
    cache: HashMap<String, (Rc<[u8]>, Option<u32>)>,
    cache_bytes: usize,
    /// Links whose target comes later in the archive, by target path: delivered when it is read.
    pending: HashMap<String, Vec<PendingLink>>,
    pending_count: usize,
    /// Symlinks that resolved to a file, so a link to a link follows it.
    resolved: HashMap<String, String>,
}

/// A link waiting for its target.
pub(crate) struct PendingLink {
    pub path: String,
    pub target: String,
    pub kind: &'static str,
    pub mode: Option<u32>,
}

/// Links waiting for targets, at most (each holds a name of up to 4 KiB).
const MAX_PENDING_LINKS: usize = 10_000;

impl<'b, 'l> Level<'b, 'l> {
    fn new(budget: &'b Budget<'l>, prefix: String, depth: u32, single_root: bool) -> Self {
        Self {
            budget,
            prefix,
            depth,
            seen: HashMap::new(),
            hasher: RandomState::new(),
            single_root,
            root: None,
            symlinks: HashSet::new(),
            cache: HashMap::new(),
            cache_bytes: 0,
            pending: HashMap::new(),
            pending_count: 0,
            resolved: HashMap::new(),
        }
    }

    /// What an earlier entry at `path` was, if any.
    fn kind_of(&self, path: &str) -> Option<EntryKind> {
        self.seen.get(&self.hash(path)).copied()
    }

    /// Queues a link until its target is read; false when too many wait.
    fn wait_for(&mut self, target: String, link: PendingLink) -> bool {
        if self.pending_count >= MAX_PENDING_LINKS {
            return false;
        }
        self.pending_count += 1;
        self.pending.entry(target).or_default().push(link);
        true
    }

    fn waiting_for(&mut self, path: &str) -> Vec<PendingLink> {
        let links = self.pending.remove(path).unwrap_or_default();
        self.pending_count -= links.len();
        links
    }

    /// Links whose target never came: dangling once extracted.
    fn never_resolved(&mut self) -> Vec<PendingLink> {
        self.pending_count = 0;
        self.pending.drain().flat_map(|(_, v)| v).collect()
    }

    fn note_resolved(&mut self, link: &str, file: &str) {
        if self.resolved.len() < MAX_PENDING_LINKS {
            self.resolved.insert(link.to_string(), file.to_string());
        }
    }

    fn resolve(&self, path: &str) -> String {
        self.resolved
            .get(path)
            .cloned()
            .unwrap_or_else(|| path.to_string())
    }

    fn display(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    fn hash(&self, path: &str) -> u64 {
        self.hasher.hash_one(path)
    }

    /// Refuses the archive as ambiguous: a denying finding that stops reading. Inside a nested
    /// archive (data no installer opens; its bytes were scanned as a file) it is Low and ends
    /// only that level. Returns the error that ends the reader.
    fn refuse(&self, path: Option<&str>, evidence: String) -> io::Error {
        let shown = self.display(path.unwrap_or(""));
        if self.depth > 1 {
            self.budget.finding(
                "archive.ambiguous",
                Severity::Low,
                Some(&shown),
                format!("{evidence} (a nested archive; its bytes were scanned as a file)"),
            );
        } else {
            self.budget.stop(
                "archive.ambiguous",
                Severity::High,
                Some(&shown),
                format!("{evidence}; {REFUSAL}"),
            );
        }
        io::Error::other(Refused)
    }

    /// Checks a raw entry name; the normalised path if the entry may be read. `Err` when the
    /// archive is refused.
    fn check_name(&mut self, raw: &[u8], kind: EntryKind) -> io::Result<Option<String>> {
        let path = match names::check(raw) {
            Ok(path) => path,
            Err((rule, severity, evidence)) => {
                let shown = String::from_utf8_lossy(raw).into_owned();
                if rule == "archive.ambiguous" {
                    return Err(self.refuse(Some(&shown), evidence));
                }
                self.budget
                    .finding(rule, severity, Some(&self.display(&shown)), evidence);
                return Ok(None);
            }
        };
        let key = self.hash(&path);
        if let Some(before) = self.seen.insert(key, kind)
            && !(before == EntryKind::Dir && kind == EntryKind::Dir)
        {
            return Err(self.refuse(
                Some(&path),
                "the same path appears twice; installers differ on which copy wins".into(),
            ));
        }
        if self.single_root {
            let (first, rest) = path.split_once('/').unwrap_or((&path, ""));
            if rest.is_empty() && kind != EntryKind::Dir {
                return Err(self.refuse(
                    Some(&path),
                    "an entry outside the package's top-level directory".into(),
                ));
            }
            match &self.root {
                None => self.root = Some(first.to_string()),
                Some(root) if root != first => {
                    return Err(self.refuse(
                        Some(&path),
                        format!(
                            "more than one top-level directory ({root:?} and {first:?}): pip keeps both, npm's tar strips each and writes them onto one another"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if !self.symlinks.is_empty() {
            let mut end = 0;
            while let Some(i) = path[end..].find('/') {
                end += i;
                if self.symlinks.contains(&self.hash(&path[..end])) {
                    return Err(self.refuse(
                        Some(&path),
                        format!(
                            "written through the symlink {:?}: where it lands depends on how each extractor resolves links",
                            &path[..end]
                        ),
                    ));
                }
                end += 1;
            }
        }
        Ok(Some(path))
    }

    fn note_symlink(&mut self, path: &str) {
        let key = self.hash(path);
        self.symlinks.insert(key);
    }

    /// Keeps a small regular file as a possible link target.
    fn remember(&mut self, path: &str, content: Vec<u8>, mode: Option<u32>) {
        if self.has_room(path, content.len() as u64) {
            self.cache_bytes += cache_cost(path, content.len());
            self.cache
                .insert(path.to_string(), (Rc::from(content), mode));
        }
    }

    /// Whether a file of `size` bytes at `path` would still be kept (so nothing is copied in
    /// vain).
    fn has_room(&self, path: &str, size: u64) -> bool {
        size <= CACHE_FILE_BYTES as u64
            && self.cache_bytes + cache_cost(path, size as usize) <= CACHE_TOTAL_BYTES
    }

    fn remembered(&self, path: &str) -> Option<(Rc<[u8]>, Option<u32>)> {
        self.cache.get(path).cloned()
    }

    /// An error that ended reading early is an `archive.corrupt` finding, unless a limit already
    /// stopped it (the limit is the finding then).
    fn corrupt_unless_stopped(&self, result: io::Result<()>, what: &str) {
        if let Err(e) = result
            && !self.budget.is_stopped()
            && !e.get_ref().is_some_and(|inner| inner.is::<Refused>())
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
    // Only the outermost archive is what an installer extracts as a package.
    let single_root = depth == 1 && format != Format::Zip;
    let mut level = Level::new(budget, prefix, depth, single_root);
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
    // pip picks the extractor by name (and zip by content too), npm by content: a file whose
    // name and content disagree on zip or tar is read differently by the two.
    if let Some(by_name) = Format::from_name(name)
        && (by_name == Format::Zip) != (format == Format::Zip)
    {
        return Ok(refused_whole(format!(
            "{name} is named as a {} but its content is a {}",
            if by_name == Format::Zip { "zip" } else { "tar" },
            if format == Format::Zip { "zip" } else { "tar" },
        )));
    }
    let file = std::fs::File::open(path)?;
    Ok(unpack(
        io::BufReader::with_capacity(64 << 10, file),
        format,
        limits,
        visit,
    ))
}

fn refused_whole(evidence: String) -> UnpackReport {
    UnpackReport {
        findings: vec![Finding {
            rule: "archive.ambiguous".into(),
            severity: Severity::High,
            file: None,
            line: None,
            evidence: Some(format!("{evidence}; {REFUSAL}")),
        }],
        ..Default::default()
    }
}

/// Whether Python's `zipfile.is_zipfile` says yes: an end-of-central-directory signature with a
/// whole record after it in the last 64 KiB. pip's `unpack_file` asks that before it looks at
/// the name, so a `.tar.gz` it holds for true is unzipped, not untarred.
fn looks_like_zip_to_python<R: Read + io::Seek>(r: &mut R) -> io::Result<bool> {
    let (_, tail) = read_tail(r)?;
    r.seek(io::SeekFrom::Start(0))?;
    Ok(tail.len() >= 22 && (0..=tail.len() - 22).any(|i| &tail[i..i + 4] == b"PK\x05\x06"))
}

/// The file's length and its last bytes, where a zip end record can be (22 bytes and a comment
/// of up to 64 KiB).
fn read_tail<R: Read + io::Seek>(r: &mut R) -> io::Result<(u64, Vec<u8>)> {
    let len = r.seek(io::SeekFrom::End(0))?;
    let tail_len = len.min(22 + 65535);
    r.seek(io::SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    r.read_exact(&mut tail)?;
    Ok((len, tail))
}

/// [`unpack_path`] for an archive already open.
pub fn unpack<R: Read + io::Seek>(
    mut reader: R,
    format: Format,
    limits: &Limits,
    visit: &mut Visitor,
) -> UnpackReport {
    if format != Format::Zip && looks_like_zip_to_python(&mut reader).unwrap_or(false) {
        return refused_whole(
            "a tar archive that Python's zipfile.is_zipfile accepts: pip unzips it instead of untarring it".into(),
        );
    }
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

//! A streaming tar reader (ustar, GNU long names, PAX headers) with every allocation bounded: a
//! hand-written reader, because general-purpose ones read long-name and PAX records whole,
//! whatever size the header claims.
//!
//! It reads strictly: wherever Python's `tarfile` (what pip extracts sdists with) and node-tar
//! (what npm extracts packages with) could take the same bytes differently, the archive is
//! refused. Cases, each seen in the wild or in a differential test:
//! - a directory, link or device entry with a size: `tarfile` and node-tar do not skip that data
//!   and read headers hidden in it;
//! - sparse, unknown or vendor typeflags: `tarfile` writes unknown types as plain files;
//! - two GNU long names, two PAX headers, or both for one entry: the precedence differs;
//! - a PAX `size` that disagrees with the header, sparse or charset keys, a global header that
//!   sets a path or a size (node-tar applies it to every later entry, `tarfile` does not);
//! - a ustar prefix in a non-POSIX header (`tarfile` applies it, node-tar does not);
//! - anything but zeros after the end-of-archive marker (`tarfile` stops at one zero block,
//!   node-tar reads on), or after the gzip member; the gzip CRC and length are checked.

use std::cell::Cell;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use flate2::bufread::GzDecoder;

use super::guard::{Counting, EntryGuard, StreamGuard};
use super::{CACHE_FILE_BYTES, EntryKind, Level, PendingLink, Visitor, names};
use crate::api::package_request::Severity;

const BLOCK: usize = 512;
/// GNU long names and link names.
const MAX_LONG_NAME: u64 = 64 << 10;
/// PAX extended headers.
const MAX_PAX: u64 = 1 << 20;
const POSIX_MAGIC: &[u8] = b"ustar\x0000";

pub(crate) fn read_gz<R: Read>(reader: R, level: &mut Level, visit: &mut Visitor) {
    let compressed = Rc::new(Cell::new(0));
    let counting = Counting {
        inner: reader,
        count: compressed.clone(),
    };
    let name = if level.prefix.is_empty() {
        "(archive)".to_string()
    } else {
        level.prefix.trim_end_matches("!/").to_string()
    };
    // One gzip member, read to its trailer (so flate2 checks the CRC and length), then nothing:
    // Python's gzip reads a second member as more of the tar, node's zlib may not.
    let mut stream = StreamGuard {
        inner: GzDecoder::new(io::BufReader::with_capacity(64 << 10, counting)),
        budget: level.budget,
        compressed,
        produced: 0,
        name: &name,
    };
    let result = entries(&mut stream, level, visit).and_then(|()| {
        if level.budget.is_stopped() {
            return Ok(());
        }
        drain_zeros(&mut stream, level)?;
        let rest = stream.inner.get_mut().fill_buf()?;
        if !rest.is_empty() {
            return Err(level.refuse(
                None,
                "data after the gzip member (a second member or appended bytes, which pip and npm read differently)".into(),
            ));
        }
        Ok(())
    });
    level.corrupt_unless_stopped(result, "the tar stream could not be read to its end");
}

pub(crate) fn read_plain<R: Read>(mut reader: R, level: &mut Level, visit: &mut Visitor) {
    let result = entries(&mut reader, level, visit);
    level.corrupt_unless_stopped(result, "the tar stream could not be read to its end");
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

/// A numeric header field as Python's `tarfile` reads it, refusing what node-tar would read
/// differently: base-256 (GNU, for sizes beyond 8 GiB), or octal digits cut at the first NUL
/// with surrounding spaces only.
fn octal(field: &[u8]) -> Option<u64> {
    if field.first() == Some(&0x80) {
        let mut v: u64 = 0;
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(v);
    }
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    let text = std::str::from_utf8(cstr(field)).ok()?;
    let digits = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if digits.is_empty() {
        return Some(0);
    }
    if !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u64::from_str_radix(digits, 8).ok()
}

fn cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    &field[..end]
}

fn checksum_ok(h: &[u8; BLOCK]) -> bool {
    let Some(stored) = octal(&h[148..156]) else {
        return false;
    };
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(*b)
            }
        })
        .sum();
    sum == stored
}

/// Reads exactly one block; `Ok(false)` at a clean end of stream.
fn read_block(r: &mut impl Read, buf: &mut [u8; BLOCK]) -> io::Result<bool> {
    let mut n = 0;
    while n < BLOCK {
        match r.read(&mut buf[n..])? {
            0 if n == 0 => return Ok(false),
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "truncated tar header",
                ));
            }
            k => n += k,
        }
    }
    Ok(true)
}

fn skip(r: &mut impl Read, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), &mut io::sink())?;
    if copied < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "truncated tar entry",
        ));
    }
    Ok(())
}

fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

/// Reads a small record (long name, PAX) whole, refusing one larger than `max`.
fn read_record(r: &mut impl Read, size: u64, max: u64) -> io::Result<Option<Vec<u8>>> {
    if size > max {
        return Ok(None);
    }
    let mut v = Vec::with_capacity(size as usize);
    r.take(size).read_to_end(&mut v)?;
    if (v.len() as u64) < size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "truncated tar record",
        ));
    }
    skip(r, padding(size))?;
    Ok(Some(v))
}

/// The PAX keys that change what an entry is.
#[derive(Default, Debug, PartialEq)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
}

/// Why a PAX header cannot be taken at its word.
#[derive(Debug, PartialEq)]
enum PaxError {
    /// Malformed records: `tarfile` refuses them, node-tar skips them.
    Corrupt(&'static str),
    Ambiguous(String),
}

/// PAX records (`LEN key=value\n`), strictly.
fn pax_fields(data: &[u8]) -> Result<Pax, PaxError> {
    let mut pax = Pax::default();
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest
            .iter()
            .position(|b| *b == b' ')
            .ok_or(PaxError::Corrupt("a PAX record without a length"))?;
        let len = std::str::from_utf8(&rest[..sp])
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or(PaxError::Corrupt(
                "a PAX record length that is not a number",
            ))?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(PaxError::Corrupt("a PAX record whose length is wrong"));
        }
        let record = &rest[sp + 1..len - 1];
        let eq = record
            .iter()
            .position(|b| *b == b'=')
            .ok_or(PaxError::Corrupt("a PAX record without `=`"))?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        let shown = String::from_utf8_lossy(key).into_owned();
        let twice = || PaxError::Ambiguous(format!("the PAX key {shown:?} appears twice"));
        match key {
            b"path" | b"linkpath" => {
                let slot = if key == b"path" {
                    &mut pax.path
                } else {
                    &mut pax.linkpath
                };
                if slot.replace(value.to_vec()).is_some() {
                    return Err(twice());
                }
            }
            b"size" => {
                // Python's int() also takes spaces, `_` and signs; node's parseInt stops at the
                // first non-digit. Only plain digits mean the same to both.
                let n = std::str::from_utf8(value)
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| {
                        PaxError::Ambiguous(format!(
                            "a PAX size {:?} that is not a plain number",
                            String::from_utf8_lossy(value)
                        ))
                    })?;
                if pax.size.replace(n).is_some() {
                    return Err(twice());
                }
            }
            b"hdrcharset" if value != b"ISO-IR 10646 2000 UTF-8" => {
                return Err(PaxError::Ambiguous(
                    "a PAX hdrcharset other than UTF-8: names are then decoded differently".into(),
                ));
            }
            k if k.starts_with(b"GNU.sparse.") => {
                return Err(PaxError::Ambiguous(
                    "a GNU sparse file: installers reassemble it differently, or not at all".into(),
                ));
            }
            _ => {}
        }
        rest = &rest[len..];
    }
    Ok(pax)
}

/// Extended headers waiting for the entry they describe.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Pax>,
}

/// After the first zero block: only zeros may follow (GNU tar pads to a record with them).
fn drain_zeros(r: &mut impl Read, level: &Level) -> io::Result<()> {
    let mut buf = [0u8; 8192];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if buf[..n].iter().any(|b| *b != 0) {
            return Err(level.refuse(
                None,
                "data after the end-of-archive marker: Python's tarfile stops at the first zero block, node-tar reads on".into(),
            ));
        }
    }
}

/// Copies what passes through it, up to a bound, so a small file can be kept as a link target.
struct Tee<'a, R> {
    inner: R,
    copy: Option<&'a mut Vec<u8>>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(copy) = self.copy.as_mut() {
            copy.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

fn entries(r: &mut impl Read, level: &mut Level, visit: &mut Visitor) -> io::Result<()> {
    let mut header = [0u8; BLOCK];
    let mut pending = Pending::default();
    loop {
        if level.budget.is_stopped() {
            return Ok(());
        }
        if !read_block(r, &mut header)? {
            dangling(level);
            return Ok(());
        }
        if header.iter().all(|b| *b == 0) {
            dangling(level);
            return drain_zeros(r, level);
        }
        if !checksum_ok(&header) {
            return Err(invalid("a tar header checksum does not match"));
        }
        let typeflag = header[156];
        let header_size =
            octal(&header[124..136]).ok_or_else(|| invalid("a tar size field is not a number"))?;
        if matches!(typeflag, b'L' | b'K' | b'x' | b'g') {
            let max = if matches!(typeflag, b'L' | b'K') {
                MAX_LONG_NAME
            } else {
                MAX_PAX
            };
            let Some(data) = read_record(r, header_size, max)? else {
                level.budget.stop(
                    "archive.corrupt",
                    Severity::High,
                    Some(&level.display("")),
                    format!("a tar metadata record of {header_size} bytes (more than {max})"),
                );
                return Ok(());
            };
            metadata(typeflag, &data, &mut pending, level)?;
            continue;
        }
        let Pending {
            long_name,
            long_link,
            pax,
        } = std::mem::take(&mut pending);
        let pax = pax.unwrap_or_default();
        if long_name.is_some() && pax.path.is_some() {
            return Err(level.refuse(
                None,
                "an entry named by both a GNU long name and a PAX path, which installers rank differently".into(),
            ));
        }
        if long_link.is_some() && pax.linkpath.is_some() {
            return Err(level.refuse(
                None,
                "a link target given by both a GNU long link and a PAX linkpath".into(),
            ));
        }
        let size = match pax.size {
            Some(p) if header_size != 0 && header_size != p => {
                return Err(level.refuse(
                    None,
                    format!("the PAX size ({p}) and the header's size ({header_size}) disagree"),
                ));
            }
            Some(p) => p,
            None => header_size,
        };
        let posix = &header[257..265] == POSIX_MAGIC;
        let prefix = cstr(&header[345..500]);
        if !posix && !prefix.is_empty() {
            return Err(level.refuse(
                None,
                "a ustar prefix in a header that is not POSIX ustar: Python's tarfile joins it to the name, node-tar does not".into(),
            ));
        }
        let raw_name = match pax.path.or(long_name) {
            Some(p) => p,
            None => {
                let name = cstr(&header[0..100]);
                if prefix.is_empty() {
                    name.to_vec()
                } else {
                    [prefix, b"/", name].concat()
                }
            }
        };
        let shown = level.display(&String::from_utf8_lossy(&raw_name));
        let mode = octal(&header[100..108]).map(|m| m as u32);
        let carries_no_data = matches!(typeflag, b'1'..=b'6');
        if carries_no_data && size != 0 {
            return Err(level.refuse(
                Some(&String::from_utf8_lossy(&raw_name)),
                format!(
                    "a tar entry of type {:?} that carries no data declares {size} bytes: Python's tarfile and node-tar read headers from them, airlock would skip them",
                    typeflag as char
                ),
            ));
        }
        match typeflag {
            b'0' | 0 | b'7' => {}
            b'5' => {
                if level.check_name(&raw_name, EntryKind::Dir)?.is_some()
                    && !level.budget.admit_entry(&shown)
                {
                    return Ok(());
                }
                continue;
            }
            b'1' | b'2' => {
                let target = pax
                    .linkpath
                    .or(long_link)
                    .unwrap_or_else(|| cstr(&header[157..257]).to_vec());
                if !link(level, &raw_name, &target, typeflag == b'2', mode, visit)? {
                    return Ok(());
                }
                continue;
            }
            b'3' | b'4' | b'6' => {
                level.budget.finding(
                    "archive.device",
                    Severity::High,
                    Some(&shown),
                    "a device or FIFO entry, which no package needs".into(),
                );
                continue;
            }
            other => {
                return Err(level.refuse(
                    Some(&String::from_utf8_lossy(&raw_name)),
                    format!(
                        "a tar entry of type {:?} (sparse, vendor or unknown): Python's tarfile writes such entries as files, node-tar skips them",
                        other as char
                    ),
                ));
            }
        }
        if raw_name.ends_with(b"/") {
            return Err(level.refuse(
                Some(&String::from_utf8_lossy(&raw_name)),
                "a regular file whose name ends in `/`: Python's tarfile makes it a directory"
                    .into(),
            ));
        }
        let data_len = size + padding(size);
        let Some(path) = level.check_name(&raw_name, EntryKind::File)? else {
            skip(r, data_len)?;
            continue;
        };
        if !level.budget.admit_entry(&shown) {
            return Ok(());
        }
        if size > level.budget.limits.max_entry_bytes {
            level.budget.stop(
                "archive.entry-too-large",
                Severity::High,
                Some(&shown),
                format!(
                    "an entry of {size} bytes (limit {})",
                    level.budget.limits.max_entry_bytes
                ),
            );
            return Ok(());
        }
        let display = level.display(&path);
        let mut content = r.take(size);
        let mut kept = Vec::new();
        let waiting = level.waiting_for(&path);
        let keep =
            level.has_room(&path, size) || (!waiting.is_empty() && size <= CACHE_FILE_BYTES as u64);
        let delivered = {
            let mut guard = EntryGuard::exact(&mut content, level.budget, &display, size);
            let mut tee = Tee {
                inner: &mut guard,
                copy: keep.then_some(&mut kept),
            };
            level.deliver(&path, size, mode, &mut tee, visit)
        };
        if level.budget.is_stopped() {
            return Ok(());
        }
        delivered?;
        if content.limit() > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "truncated tar entry",
            ));
        }
        for link in waiting {
            let delivered = if keep {
                deliver_link(level, link, &kept, mode, visit)?
            } else {
                too_large(level, &link);
                true
            };
            if !delivered {
                return Ok(());
            }
        }
        if keep {
            level.remember(&path, kept, mode);
        }
        skip(r, padding(size))?;
    }
}

fn too_large(level: &Level, link: &PendingLink) {
    level.budget.finding(
        "archive.link",
        Severity::High,
        Some(&level.display(&link.path)),
        format!(
            "a {} to {:?}, a file larger than airlock keeps to scan it again under the link's name",
            link.kind, link.target
        ),
    );
}

/// Links whose target never came: installers leave them dangling, or fail.
fn dangling(level: &mut Level) {
    for link in level.never_resolved() {
        level.budget.finding(
            "archive.link",
            Severity::Medium,
            Some(&level.display(&link.path)),
            format!(
                "a {} to {:?}, which the archive does not contain (dangling once extracted)",
                link.kind, link.target
            ),
        );
    }
}

/// A GNU long name or link, or a PAX header: kept for the next entry, refused when it would be
/// ranked differently by different readers.
fn metadata(typeflag: u8, data: &[u8], pending: &mut Pending, level: &Level) -> io::Result<()> {
    let pax = match typeflag {
        b'L' | b'K' => {
            let (slot, what) = if typeflag == b'L' {
                (&mut pending.long_name, "long names")
            } else {
                (&mut pending.long_link, "long link names")
            };
            if slot.replace(cstr(data).to_vec()).is_some() {
                return Err(level.refuse(
                    None,
                    format!("two GNU {what} for one entry: readers keep different ones"),
                ));
            }
            return Ok(());
        }
        _ => match pax_fields(data) {
            Ok(pax) => pax,
            Err(PaxError::Corrupt(why)) => return Err(invalid(why)),
            Err(PaxError::Ambiguous(why)) => return Err(level.refuse(None, why)),
        },
    };
    if typeflag == b'g' {
        // git archive writes a global header with a comment; one that sets a path or a size is
        // applied to every later entry by node-tar and ignored by Python's tarfile.
        if pax != Pax::default() {
            return Err(level.refuse(
                None,
                "a PAX global header that sets a path, link or size: node-tar applies it to every later entry, Python's tarfile ignores it".into(),
            ));
        }
        return Ok(());
    }
    if pending.pax.replace(pax).is_some() {
        return Err(level.refuse(
            None,
            "two PAX extended headers for one entry: the nearer one wins in some readers, the first in others".into(),
        ));
    }
    Ok(())
}

/// A hard link or symlink: delivered under its own name with the content of the file it points
/// at (what the installer writes there) — now if that file was read, or when it is — or a
/// finding. `Ok(false)` when a limit stopped reading.
fn link(
    level: &mut Level,
    raw_name: &[u8],
    raw_target: &[u8],
    symlink: bool,
    mode: Option<u32>,
    visit: &mut Visitor,
) -> io::Result<bool> {
    let kind = if symlink { "symlink" } else { "hard link" };
    let shown = level.display(&String::from_utf8_lossy(raw_name));
    let Some(path) = level.check_name(raw_name, EntryKind::Link)? else {
        return Ok(true);
    };
    if !level.budget.admit_entry(&shown) {
        return Ok(false);
    }
    let display = level.display(&path);
    if symlink {
        level.note_symlink(&path);
    }
    let target = match std::str::from_utf8(raw_target) {
        Ok(t) if !t.chars().any(char::is_control) => t.to_string(),
        _ => {
            return Err(level.refuse(
                Some(&path),
                format!("a {kind} target that is not valid UTF-8 text"),
            ));
        }
    };
    let Some(resolved) = names::link_target(&path, &target, symlink) else {
        level.budget.finding(
            "archive.link",
            Severity::High,
            Some(&display),
            format!("a {kind} to {target:?}, outside the package: extracting it writes or reads outside the install directory"),
        );
        return Ok(true);
    };
    let resolved = level.resolve(&resolved);
    let pending = PendingLink {
        path,
        target,
        kind,
        mode,
    };
    if let Some((content, file_mode)) = level.remembered(&resolved) {
        if symlink {
            level.note_resolved(&pending.path, &resolved);
        }
        return deliver_link(level, pending, &content, file_mode, visit);
    }
    match level.kind_of(&resolved) {
        Some(EntryKind::File) => too_large(level, &pending),
        Some(_) => level.budget.finding(
            "archive.link",
            Severity::High,
            Some(&display),
            format!(
                "a {kind} to {:?}, a directory or another link: installers follow it, so the files behind it would be installed under names airlock did not scan",
                pending.target
            ),
        ),
        None => {
            if symlink {
                level.note_resolved(&pending.path, &resolved);
            }
            if !level.wait_for(resolved, pending) {
                level.budget.finding(
                    "archive.link",
                    Severity::High,
                    Some(&display),
                    format!("more than {} links wait for files later in the archive", super::MAX_PENDING_LINKS),
                );
            }
        }
    }
    Ok(true)
}

/// Delivers a link under its own name with its target's content, then every link that waited
/// for this one (a chain resolves to the same file). `Ok(false)` when a limit stopped reading.
fn deliver_link(
    level: &mut Level,
    link: PendingLink,
    content: &[u8],
    mode: Option<u32>,
    visit: &mut Visitor,
) -> io::Result<bool> {
    let mut work = vec![link];
    while let Some(link) = work.pop() {
        let display = level.display(&link.path);
        level.budget.finding(
            "archive.link",
            Severity::Low,
            Some(&display),
            format!(
                "a {} to {:?}, inside the package; scanned under both names",
                link.kind, link.target
            ),
        );
        let size = content.len() as u64;
        let mut cursor = io::Cursor::new(content);
        let mut guard = EntryGuard::exact(&mut cursor, level.budget, &display, size);
        let delivered = level.deliver(&link.path, size, link.mode.or(mode), &mut guard, visit);
        if level.budget.is_stopped() {
            return Ok(false);
        }
        delivered?;
        work.extend(level.waiting_for(&link.path));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_python_reads_them_or_refused() {
        assert_eq!(octal(b"0000644\0"), Some(0o644));
        assert_eq!(octal(b"00000001750 "), Some(1000));
        assert_eq!(octal(b" 1750\0\0"), Some(1000));
        assert_eq!(octal(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(octal(b"12x"), None, "node-tar would read 10");
        assert_eq!(octal(b"1 2"), None);
        assert_eq!(octal(&[0xff; 12]), None, "negative base-256");
    }

    #[test]
    fn pax_records_strictly() {
        let p = pax_fields(b"29 path=a/very/long/name.txt\n13 size=1234\n").expect("pax");
        assert_eq!(p.path.as_deref(), Some(&b"a/very/long/name.txt"[..]));
        assert_eq!(p.size, Some(1234));
        assert!(matches!(
            pax_fields(b"999 path=x\n"),
            Err(PaxError::Corrupt(_))
        ));
        for ambiguous in [
            &b"11 size=+1\n"[..],
            b"11 path=ab\n11 path=cd\n",
            b"25 GNU.sparse.name=a.txt\n",
        ] {
            assert!(
                matches!(pax_fields(ambiguous), Err(PaxError::Ambiguous(_))),
                "{ambiguous:?}"
            );
        }
        assert_eq!(
            pax_fields(b"52 comment=4c6f1b0d7e0b4d2c8a1e2f3a4b5c6d7e8f90a1b2\n"),
            Ok(Pax::default())
        );
    }
}

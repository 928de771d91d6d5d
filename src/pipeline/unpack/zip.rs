//! A zip reader (wheels, zip sdists) driven by the central directory, with ZIP64, that checks
//! what zip bombs and confusion attacks rely on: sizes that lie, entries that overlap, ratios no
//! real file has, CRCs that do not match, names that differ between the two directories.

use std::io::{self, Read, Seek, SeekFrom};

use flate2::read::DeflateDecoder;

use super::guard::EntryGuard;
use super::{EntryKind, Level, Visitor};
use crate::api::package_request::Severity;

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;
const UTF8_FLAG: u16 = 0x0800;
const DESCRIPTOR_FLAG: u16 = 0x0008;
const UNICODE_PATH_EXTRA: u16 = 0x7075;
/// All entry names together.
const MAX_NAME_BYTES: u64 = 32 << 20;

struct CentralEntry {
    name: Vec<u8>,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    offset: u64,
    unix_mode: Option<u32>,
    /// Where the data starts, from the local header.
    data_at: u64,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

fn corrupt(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

pub(crate) fn read<R: Read + Seek>(mut r: R, level: &mut Level, visit: &mut Visitor) {
    let result = entries(&mut r, level, visit);
    level.corrupt_unless_stopped(result, "the zip could not be read");
}

/// Where the central directory is, from the end records, checked so that every reader finds the
/// same one: Python's `zipfile` corrects offsets by the bytes it finds unaccounted for before
/// the end record (so a second directory there is what it reads), uv and others do not.
struct Directory {
    count: u64,
    offset: u64,
    size: u64,
}

fn find_directory<R: Read + Seek>(r: &mut R, level: &Level) -> io::Result<Directory> {
    let (len, tail) = super::read_tail(r)?;
    let tail_len = tail.len() as u64;
    let records: Vec<usize> = (0..tail.len().saturating_sub(21))
        .filter(|i| u32_at(&tail, *i) == EOCD_SIG)
        .collect();
    let pos = *records
        .last()
        .ok_or_else(|| corrupt("no end of central directory record"))?;
    // An end record's comment runs to the end of the file; another record that also does is a
    // second way to read the archive.
    let ends_file = |p: usize| p + 22 + usize::from(u16_at(&tail, p + 20)) == tail.len();
    if !ends_file(pos) {
        return Err(level.refuse(
            None,
            "the end record's comment length does not match the bytes after it".into(),
        ));
    }
    if records[..records.len() - 1].iter().any(|p| ends_file(*p)) {
        return Err(level.refuse(
            None,
            "two end-of-central-directory records, each valid: readers that search differently see different archives".into(),
        ));
    }
    let eocd_at = len - tail_len + pos as u64;
    let e = &tail[pos..];
    if u16_at(e, 4) != 0 || u16_at(e, 6) != 0 || u16_at(e, 8) != u16_at(e, 10) {
        return Err(level.refuse(
            None,
            "a multi-disk zip: readers ignore the disk fields differently".into(),
        ));
    }
    let mut count = u64::from(u16_at(e, 10));
    let mut size = u64::from(u32_at(e, 12));
    let mut offset = u64::from(u32_at(e, 16));
    let mut directory_end = eocd_at;
    if (count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF) && eocd_at >= 20 {
        let mut loc = [0u8; 20];
        r.seek(SeekFrom::Start(eocd_at - 20))?;
        r.read_exact(&mut loc)?;
        if u32_at(&loc, 0) == ZIP64_LOCATOR_SIG {
            let at = u64_at(&loc, 8);
            let mut rec = [0u8; 56];
            r.seek(SeekFrom::Start(at))?;
            r.read_exact(&mut rec)?;
            if u32_at(&rec, 0) != ZIP64_EOCD_SIG {
                return Err(corrupt("bad ZIP64 end of central directory"));
            }
            if at
                .checked_add(12)
                .and_then(|v| v.checked_add(u64_at(&rec, 4)))
                != Some(eocd_at - 20)
            {
                return Err(level.refuse(
                    None,
                    "bytes between the ZIP64 end record and its locator".into(),
                ));
            }
            count = u64_at(&rec, 32);
            size = u64_at(&rec, 40);
            offset = u64_at(&rec, 48);
            directory_end = at;
        }
    }
    match offset.checked_add(size) {
        Some(end) if end == directory_end => {}
        Some(end) if end < directory_end => {
            return Err(level.refuse(
                None,
                format!(
                    "{} bytes between the central directory and its end record: Python's zipfile then shifts every offset and may read another directory",
                    directory_end - end
                ),
            ));
        }
        _ => return Err(corrupt("the central directory lies outside the file")),
    }
    Ok(Directory {
        count,
        offset,
        size,
    })
}

fn read_central<R: Read + Seek>(
    r: &mut R,
    level: &Level,
    dir: &Directory,
) -> io::Result<Option<Vec<CentralEntry>>> {
    let limits = level.budget.limits;
    let count = dir.count;
    if count > limits.max_entries {
        level.budget.stop(
            "archive.too-many-entries",
            Severity::High,
            Some(&level.display("")),
            format!(
                "{count} entries (limit {}); nothing was scanned",
                limits.max_entries
            ),
        );
        return Ok(None);
    }
    r.seek(SeekFrom::Start(dir.offset))?;
    let mut cd = io::BufReader::new(r.by_ref().take(dir.size));
    let mut out = Vec::with_capacity(count as usize);
    let mut name_bytes = 0u64;
    let mut fixed = [0u8; 46];
    for _ in 0..count {
        cd.read_exact(&mut fixed)?;
        if u32_at(&fixed, 0) != CENTRAL_SIG {
            return Err(corrupt("bad central directory entry"));
        }
        let (name_len, extra_len, comment_len) = (
            u64::from(u16_at(&fixed, 28)),
            u64::from(u16_at(&fixed, 30)),
            u64::from(u16_at(&fixed, 32)),
        );
        name_bytes += name_len;
        if name_bytes > MAX_NAME_BYTES {
            return Err(corrupt("entry names exceed 32 MiB in all"));
        }
        let mut name = vec![0u8; name_len as usize];
        cd.read_exact(&mut name)?;
        let mut extra = vec![0u8; extra_len as usize];
        cd.read_exact(&mut extra)?;
        io::copy(&mut cd.by_ref().take(comment_len), &mut io::sink())?;
        let flags = u16_at(&fixed, 8);
        let shown = || String::from_utf8_lossy(&name).into_owned();
        if flags & UTF8_FLAG == 0 && !name.is_ascii() {
            return Err(level.refuse(
                Some(&shown()),
                "a non-ASCII name without the UTF-8 flag: Python's zipfile decodes it as cp437, other readers as UTF-8".into(),
            ));
        }
        if extra_fields(&extra).any(|(id, _)| id == UNICODE_PATH_EXTRA) {
            return Err(level.refuse(
                Some(&shown()),
                "an Info-ZIP Unicode path field, which some readers use instead of the name and Python's zipfile ignores".into(),
            ));
        }
        let mut e = CentralEntry {
            name,
            flags,
            method: u16_at(&fixed, 10),
            crc: u32_at(&fixed, 16),
            compressed: u64::from(u32_at(&fixed, 20)),
            uncompressed: u64::from(u32_at(&fixed, 24)),
            offset: u64::from(u32_at(&fixed, 42)),
            unix_mode: (fixed[5] == 3).then(|| u32_at(&fixed, 38) >> 16),
            data_at: 0,
        };
        apply_zip64_extra(
            &extra,
            [&mut e.uncompressed, &mut e.compressed, &mut e.offset],
        );
        out.push(e);
    }
    // Python's zipfile reads entries until the directory's size is used up, whatever the count.
    let mut probe = [0u8; 1];
    if cd.read(&mut probe)? != 0 {
        return Err(level.refuse(
            None,
            format!("the central directory holds more than the {count} entries its end record counts: Python's zipfile reads them all"),
        ));
    }
    Ok(Some(out))
}

fn extra_fields(extra: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut i = 0;
    std::iter::from_fn(move || {
        if i + 4 > extra.len() {
            return None;
        }
        let id = u16_at(extra, i);
        let len = usize::from(u16_at(extra, i + 2));
        let data = &extra[i + 4..(i + 4 + len).min(extra.len())];
        i += 4 + len;
        Some((id, data))
    })
}

/// ZIP64 extended information: the 64-bit values of the fields that hold 0xFFFFFFFF, in order.
fn apply_zip64_extra(extra: &[u8], fields: [&mut u64; 3]) {
    if let Some((_, data)) = extra_fields(extra).find(|(id, _)| *id == 1) {
        let mut j = 0;
        for field in fields {
            if *field == 0xFFFF_FFFF && j + 8 <= data.len() {
                *field = u64_at(data, j);
                j += 8;
            }
        }
    }
}

/// Reads every local header in file order and checks that the entries tile the file: the first
/// at offset 0, each right after the one before (and its data descriptor), the last right before
/// the central directory, each local header agreeing with its central entry. Readers that walk
/// local headers (streaming installers) then see exactly what the central directory says.
/// Records where each entry's data starts. `Ok(false)` when it stopped on a finding.
fn check_layout<R: Read + Seek>(
    r: &mut R,
    level: &Level,
    central: &mut [CentralEntry],
    cd_offset: u64,
) -> io::Result<bool> {
    let mut order: Vec<usize> = (0..central.len()).collect();
    order.sort_by_key(|i| central[*i].offset);
    let mut expected = 0u64;
    for (k, &i) in order.iter().enumerate() {
        let next = order.get(k + 1).map_or(cd_offset, |j| central[*j].offset);
        let e = &mut central[i];
        let shown = level.display(&String::from_utf8_lossy(&e.name));
        if e.offset < expected {
            level.budget.stop(
                "archive.bomb",
                Severity::Critical,
                Some(&shown),
                "entries whose data overlap (the overlapping-file zip bomb)".into(),
            );
            return Ok(false);
        }
        if e.offset > expected {
            return Err(level.refuse(
                Some(&shown),
                format!(
                    "{} bytes before this entry that no entry accounts for: readers that walk local headers find other files there",
                    e.offset - expected
                ),
            ));
        }
        let mut local = [0u8; 30];
        r.seek(SeekFrom::Start(e.offset))?;
        r.read_exact(&mut local)?;
        if u32_at(&local, 0) != LOCAL_SIG {
            return Err(corrupt(format!("{shown}: bad local header")));
        }
        let local_name_len = u64::from(u16_at(&local, 26));
        let local_extra_len = u64::from(u16_at(&local, 28));
        let mut local_name = vec![0u8; local_name_len as usize];
        r.read_exact(&mut local_name)?;
        if local_name != e.name {
            level.budget.stop(
                "archive.name-mismatch",
                Severity::High,
                Some(&shown),
                format!(
                    "the local header names it {:?}; tools that read local headers see another file",
                    String::from_utf8_lossy(&local_name)
                ),
            );
            return Ok(false);
        }
        let mut local_extra = vec![0u8; local_extra_len as usize];
        r.read_exact(&mut local_extra)?;
        let local_flags = u16_at(&local, 6);
        let descriptor = e.flags & DESCRIPTOR_FLAG != 0;
        let mut agrees = local_flags == e.flags && u16_at(&local, 8) == e.method;
        if agrees && !descriptor {
            let mut sizes = [
                u64::from(u32_at(&local, 22)),
                u64::from(u32_at(&local, 18)),
                0,
            ];
            let [u, c, o] = &mut sizes;
            apply_zip64_extra(&local_extra, [u, c, o]);
            agrees = u32_at(&local, 14) == e.crc
                && sizes[0] == e.uncompressed
                && sizes[1] == e.compressed;
        }
        if !agrees {
            return Err(level.refuse(
                Some(&shown),
                "the local header and the central directory disagree on flags, method, size or CRC: streaming installers read the local one".into(),
            ));
        }
        e.data_at = e.offset + 30 + local_name_len + local_extra_len;
        let data_end = e
            .data_at
            .checked_add(e.compressed)
            .filter(|end| *end <= cd_offset)
            .ok_or_else(|| corrupt(format!("{shown}: data runs into the central directory")))?;
        expected = data_end;
        if descriptor {
            // CRC and sizes after the data: 12 or 20 bytes, 4 more with the optional signature.
            let gap = next.saturating_sub(data_end);
            let mut d = [0u8; 24];
            r.seek(SeekFrom::Start(data_end))?;
            let n = super::read_up_to(r, &mut d)?;
            let signed = n >= 4 && u32_at(&d, 0) == DESCRIPTOR_SIG;
            let crc_at = if signed { 4 } else { 0 };
            let lengths: &[u64] = if signed { &[16, 24] } else { &[12, 20] };
            if lengths.contains(&gap) && n as u64 >= gap && u32_at(&d, crc_at) == e.crc {
                expected = data_end + gap;
            } else {
                return Err(level.refuse(
                    Some(&shown),
                    "a data descriptor that does not match the central directory".into(),
                ));
            }
        }
    }
    if expected < cd_offset {
        return Err(level.refuse(
            None,
            format!(
                "{} bytes between the last entry and the central directory that no entry accounts for",
                cd_offset - expected
            ),
        ));
    }
    Ok(true)
}

fn entries<R: Read + Seek>(r: &mut R, level: &mut Level, visit: &mut Visitor) -> io::Result<()> {
    let dir = find_directory(r, level)?;
    let Some(mut central) = read_central(r, level, &dir)? else {
        return Ok(());
    };
    let cd_offset = dir.offset;
    if !check_layout(r, level, &mut central, cd_offset)? {
        return Ok(());
    }
    let limits = level.budget.limits;
    for e in &central {
        if level.budget.is_stopped() {
            return Ok(());
        }
        let shown = level.display(&String::from_utf8_lossy(&e.name));
        let file_type = e.unix_mode.map(|m| m & 0o170000);
        if file_type == Some(0o120000) {
            level.budget.finding(
                "archive.link",
                Severity::High,
                Some(&shown),
                "a symlink entry: zip readers write it as a file holding the target's name, tar-minded tools as a link".into(),
            );
            continue;
        }
        if matches!(file_type, Some(0o020000 | 0o060000 | 0o010000 | 0o140000)) {
            level.budget.finding(
                "archive.device",
                Severity::High,
                Some(&shown),
                "a device, FIFO or socket entry, which no package needs".into(),
            );
            continue;
        }
        let is_dir = e.name.ends_with(b"/");
        if is_dir && (e.uncompressed != 0 || e.compressed > 2) {
            return Err(level.refuse(
                Some(&String::from_utf8_lossy(&e.name)),
                "a directory entry that carries data".into(),
            ));
        }
        let kind = if is_dir {
            EntryKind::Dir
        } else {
            EntryKind::File
        };
        let Some(path) = level.check_name(&e.name, kind)? else {
            continue;
        };
        if is_dir {
            if !level.budget.admit_entry(&shown) {
                return Ok(());
            }
            continue;
        }
        if e.flags & 1 != 0 {
            level.budget.finding(
                "archive.encrypted",
                Severity::High,
                Some(&shown),
                "an encrypted entry, which cannot be scanned".into(),
            );
            continue;
        }
        if e.method != 0 && e.method != 8 {
            level.budget.finding(
                "archive.unsupported-entry",
                Severity::High,
                Some(&shown),
                format!(
                    "compression method {} is not read by airlock, so the entry was not scanned (Python's zipfile extracts bzip2 and LZMA)",
                    e.method
                ),
            );
            continue;
        }
        if e.uncompressed > limits.ratio_floor
            && e.uncompressed > e.compressed.max(1).saturating_mul(limits.max_ratio)
        {
            level.budget.stop(
                "archive.bomb",
                Severity::Critical,
                Some(&shown),
                format!(
                    "declares {} bytes from {} compressed (ratio limit {}:1)",
                    e.uncompressed, e.compressed, limits.max_ratio
                ),
            );
            return Ok(());
        }
        if e.uncompressed > limits.max_entry_bytes {
            level.budget.stop(
                "archive.entry-too-large",
                Severity::High,
                Some(&shown),
                format!(
                    "declares {} bytes (limit {})",
                    e.uncompressed, limits.max_entry_bytes
                ),
            );
            return Ok(());
        }
        if !level.budget.admit_entry(&shown) {
            return Ok(());
        }
        r.seek(SeekFrom::Start(e.data_at))?;
        let mut raw = r.by_ref().take(e.compressed);
        let mut inflate;
        let inner: &mut dyn Read = if e.method == 8 {
            inflate = DeflateDecoder::new(&mut raw);
            &mut inflate
        } else {
            &mut raw
        };
        let display = level.display(&path);
        let budget = level.budget;
        let mut guard = EntryGuard {
            inner,
            budget,
            path: &display,
            read: 0,
            declared: Some(e.uncompressed),
            compressed: Some(e.compressed),
            crc: Some(flate2::Crc::new()),
        };
        let delivered = level.deliver(
            &path,
            e.uncompressed,
            e.unix_mode.map(|m| m & 0o7777),
            &mut guard,
            visit,
        );
        if budget.is_stopped() {
            return Ok(());
        }
        delivered?;
        if guard.read != e.uncompressed {
            budget.finding(
                "archive.size-mismatch",
                Severity::High,
                Some(&display),
                format!("declares {} bytes but holds {}", e.uncompressed, guard.read),
            );
        } else if guard.crc.as_ref().is_some_and(|c| c.sum() != e.crc) {
            budget.finding(
                "archive.crc-mismatch",
                Severity::High,
                Some(&display),
                "the content does not match its CRC-32; the archive was altered or is damaged"
                    .into(),
            );
        }
    }
    Ok(())
}

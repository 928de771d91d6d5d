//! A zip reader (wheels, zip sdists) driven by the central directory, with ZIP64, that checks
//! what zip bombs and confusion attacks rely on: sizes that lie, entries that overlap, ratios no
//! real file has, CRCs that do not match, names that differ between the two directories.

use std::io::{self, Read, Seek, SeekFrom};

use flate2::read::DeflateDecoder;

use super::guard::EntryGuard;
use super::{Level, Visitor};
use crate::api::package_request::Severity;

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
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

/// (entries, central directory offset, its size) from the end records.
fn find_directory<R: Read + Seek>(r: &mut R) -> io::Result<(u64, u64, u64)> {
    let len = r.seek(SeekFrom::End(0))?;
    let tail_len = len.min(22 + 65535);
    r.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    r.read_exact(&mut tail)?;
    let pos = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|i| u32_at(&tail, *i) == EOCD_SIG)
        .ok_or_else(|| corrupt("no end of central directory record"))?;
    let eocd_at = len - tail_len + pos as u64;
    let e = &tail[pos..];
    let mut count = u64::from(u16_at(e, 10));
    let mut size = u64::from(u32_at(e, 12));
    let mut offset = u64::from(u32_at(e, 16));
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
            count = u64_at(&rec, 32);
            size = u64_at(&rec, 40);
            offset = u64_at(&rec, 48);
        }
    }
    if offset.checked_add(size).is_none_or(|end| end > eocd_at) {
        return Err(corrupt("the central directory lies outside the file"));
    }
    Ok((count, offset, size))
}

fn read_central<R: Read + Seek>(
    r: &mut R,
    level: &Level,
    offset: u64,
    size: u64,
    count: u64,
) -> io::Result<Option<Vec<CentralEntry>>> {
    let limits = level.budget.limits;
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
    r.seek(SeekFrom::Start(offset))?;
    let mut cd = io::BufReader::new(r.by_ref().take(size));
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
        let mut e = CentralEntry {
            name,
            flags: u16_at(&fixed, 8),
            method: u16_at(&fixed, 10),
            crc: u32_at(&fixed, 16),
            compressed: u64::from(u32_at(&fixed, 20)),
            uncompressed: u64::from(u32_at(&fixed, 24)),
            offset: u64::from(u32_at(&fixed, 42)),
            unix_mode: (fixed[5] == 3).then(|| u32_at(&fixed, 38) >> 16),
        };
        apply_zip64_extra(&mut e, &extra);
        out.push(e);
    }
    Ok(Some(out))
}

/// ZIP64 extended information: the 64-bit values of the fields that hold 0xFFFFFFFF, in order.
fn apply_zip64_extra(e: &mut CentralEntry, extra: &[u8]) {
    let mut i = 0;
    while i + 4 <= extra.len() {
        let id = u16_at(extra, i);
        let len = usize::from(u16_at(extra, i + 2));
        let data = &extra[i + 4..(i + 4 + len).min(extra.len())];
        if id == 1 {
            let mut j = 0;
            for field in [&mut e.uncompressed, &mut e.compressed, &mut e.offset] {
                if *field == 0xFFFF_FFFF && j + 8 <= data.len() {
                    *field = u64_at(data, j);
                    j += 8;
                }
            }
        }
        i += 4 + len;
    }
}

/// Entries whose data overlap share compressed bytes: the "better zip bomb" of overlapping
/// files, and a way to show different tools different content.
fn find_overlap(entries: &[CentralEntry]) -> Option<usize> {
    let mut spans: Vec<(u64, u64, usize)> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                e.offset,
                e.offset
                    .saturating_add(30 + e.name.len() as u64)
                    .saturating_add(e.compressed),
                i,
            )
        })
        .collect();
    spans.sort_unstable();
    spans.windows(2).find(|w| w[1].0 < w[0].1).map(|w| w[1].2)
}

fn entries<R: Read + Seek>(r: &mut R, level: &mut Level, visit: &mut Visitor) -> io::Result<()> {
    let (count, cd_offset, cd_size) = find_directory(r)?;
    let Some(central) = read_central(r, level, cd_offset, cd_size, count)? else {
        return Ok(());
    };
    if let Some(i) = find_overlap(&central) {
        level.budget.stop(
            "archive.bomb",
            Severity::Critical,
            Some(&level.display(&String::from_utf8_lossy(&central[i].name))),
            "entries whose data overlap (the overlapping-file zip bomb)".into(),
        );
        return Ok(());
    }
    let limits = level.budget.limits;
    for e in &central {
        if level.budget.is_stopped() {
            return Ok(());
        }
        let shown = level.display(&String::from_utf8_lossy(&e.name));
        if e.offset.saturating_add(e.compressed) > cd_offset {
            return Err(corrupt(format!(
                "{shown}: data runs into the central directory"
            )));
        }
        let file_type = e.unix_mode.map(|m| m & 0o170000);
        if file_type == Some(0o120000) {
            level.budget.finding(
                "archive.link",
                Severity::High,
                Some(&shown),
                "a symlink entry; links can point outside the install directory".into(),
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
        let Some(path) = level.check_name(&e.name) else {
            continue;
        };
        if e.name.ends_with(b"/") {
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
                Severity::Medium,
                Some(&shown),
                format!(
                    "compression method {} is not read by airlock, so the entry was not scanned",
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
        // The local header repeats the name; its own lengths say where the data starts.
        let mut local = [0u8; 30];
        r.seek(SeekFrom::Start(e.offset))?;
        r.read_exact(&mut local)?;
        if u32_at(&local, 0) != LOCAL_SIG {
            return Err(corrupt(format!("{shown}: bad local header")));
        }
        let local_name_len = u64::from(u16_at(&local, 26));
        let mut local_name = vec![0u8; local_name_len as usize];
        r.read_exact(&mut local_name)?;
        if local_name != e.name {
            level.budget.finding("archive.name-mismatch", Severity::High, Some(&shown), format!("the local header names it {:?}; tools that read local headers see another file", String::from_utf8_lossy(&local_name)));
        }
        let data_at = e.offset + 30 + local_name_len + u64::from(u16_at(&local, 28));
        if data_at.saturating_add(e.compressed) > cd_offset {
            return Err(corrupt(format!(
                "{shown}: data runs into the central directory"
            )));
        }
        r.seek(SeekFrom::Start(data_at))?;
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

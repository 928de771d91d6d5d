//! A streaming tar reader (ustar, GNU long names, PAX headers) with every allocation bounded: a
//! hand-written reader, because general-purpose ones read long-name and PAX records whole,
//! whatever size the header claims.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

use flate2::read::MultiGzDecoder;

use super::guard::{Counting, EntryGuard, StreamGuard};
use super::{Level, Visitor, names};
use crate::api::package_request::Severity;

const BLOCK: usize = 512;
/// GNU long names and link names.
const MAX_LONG_NAME: u64 = 64 << 10;
/// PAX extended headers.
const MAX_PAX: u64 = 1 << 20;

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
    let stream = StreamGuard {
        inner: MultiGzDecoder::new(counting),
        budget: level.budget,
        compressed,
        produced: 0,
        name: &name,
    };
    read_entries(stream, level, visit);
}

pub(crate) fn read_plain<R: Read>(reader: R, level: &mut Level, visit: &mut Visitor) {
    read_entries(reader, level, visit);
}

fn octal(field: &[u8]) -> Option<u64> {
    // GNU base-256 for sizes beyond 8 GiB.
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(v);
    }
    let s: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|b| *b != 0)
        .filter(|b| *b != b' ')
        .collect();
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&s).ok()?, 8).ok()
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

/// `path` and `size` from PAX records (`LEN key=value\n`).
fn pax_fields(data: &[u8]) -> (Option<Vec<u8>>, Option<u64>) {
    let mut path = None;
    let mut size = None;
    let mut rest = data;
    while !rest.is_empty() {
        let Some(sp) = rest.iter().position(|b| *b == b' ') else {
            break;
        };
        let Some(len) = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            break;
        };
        if len <= sp || len > rest.len() {
            break;
        }
        let record = &rest[sp + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|b| *b == b'=') {
            let (k, v) = (&record[..eq], &record[eq + 1..]);
            match k {
                b"path" => path = Some(v.to_vec()),
                b"size" => size = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()),
                _ => {}
            }
        }
        rest = &rest[len..];
    }
    (path, size)
}

fn read_entries(mut r: impl Read, level: &mut Level, visit: &mut Visitor) {
    let result = entries(&mut r, level, visit);
    level.corrupt_unless_stopped(result, "the tar stream could not be read to its end");
}

fn entries(r: &mut impl Read, level: &mut Level, visit: &mut Visitor) -> io::Result<()> {
    let mut header = [0u8; BLOCK];
    let mut long_name: Option<Vec<u8>> = None;
    let mut pax_path: Option<Vec<u8>> = None;
    let mut pax_size: Option<u64> = None;
    loop {
        if level.budget.is_stopped() || !read_block(r, &mut header)? {
            return Ok(());
        }
        if header.iter().all(|b| *b == 0) {
            return Ok(());
        }
        if !checksum_ok(&header) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a tar header checksum does not match",
            ));
        }
        let typeflag = header[156];
        let size = match pax_size.take() {
            Some(s) => s,
            None => octal(&header[124..136]).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a tar size field is not a number",
                )
            })?,
        };
        let mode = octal(&header[100..108]).map(|m| m as u32);
        match typeflag {
            b'L' | b'K' | b'x' | b'g' => {
                let max = if matches!(typeflag, b'L' | b'K') {
                    MAX_LONG_NAME
                } else {
                    MAX_PAX
                };
                let Some(data) = read_record(r, size, max)? else {
                    level.budget.stop(
                        "archive.corrupt",
                        Severity::High,
                        Some(&level.display("")),
                        format!("a tar metadata record of {size} bytes (more than {max})"),
                    );
                    return Ok(());
                };
                match typeflag {
                    b'L' => long_name = Some(cstr(&data).to_vec()),
                    b'x' => {
                        let (p, s) = pax_fields(&data);
                        if p.is_some() {
                            pax_path = p;
                        }
                        pax_size = s;
                    }
                    _ => {}
                }
                continue;
            }
            _ => {}
        }
        let raw_name = match (pax_path.take(), long_name.take()) {
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => {
                let name = cstr(&header[0..100]);
                let prefix = if &header[257..262] == b"ustar" {
                    cstr(&header[345..500])
                } else {
                    &[]
                };
                if prefix.is_empty() {
                    name.to_vec()
                } else {
                    [prefix, b"/", name].concat()
                }
            }
        };
        let data_len = size + padding(size);
        let shown = level.display(&String::from_utf8_lossy(&raw_name));
        match typeflag {
            b'0' | 0 | b'7' => {}
            b'5' => {
                // Directories carry no content; their names are still checked.
                level.check_name(&raw_name);
                skip(r, data_len)?;
                continue;
            }
            b'1' | b'2' => {
                let target = String::from_utf8_lossy(cstr(&header[157..257])).into_owned();
                let kind = if typeflag == b'2' {
                    "symlink"
                } else {
                    "hard link"
                };
                let link = String::from_utf8_lossy(&raw_name).into_owned();
                if names::link_stays_inside(
                    link.trim_start_matches("./"),
                    &target,
                    typeflag == b'2',
                ) {
                    level.budget.finding(
                        "archive.link",
                        Severity::Low,
                        Some(&shown),
                        format!("a {kind} to {target:?}, inside the package"),
                    );
                } else {
                    level.budget.finding(
                        "archive.link",
                        Severity::High,
                        Some(&shown),
                        format!("a {kind} to {target:?}, outside the package: extracting it writes or reads outside the install directory"),
                    );
                }
                skip(r, data_len)?;
                continue;
            }
            b'3' | b'4' | b'6' => {
                level.budget.finding(
                    "archive.device",
                    Severity::High,
                    Some(&shown),
                    "a device or FIFO entry, which no package needs".into(),
                );
                skip(r, data_len)?;
                continue;
            }
            other => {
                level.budget.finding(
                    "archive.unsupported-entry",
                    Severity::Medium,
                    Some(&shown),
                    format!(
                        "a tar entry of type {:?} that airlock does not read",
                        other as char
                    ),
                );
                skip(r, data_len)?;
                continue;
            }
        }
        let Some(path) = level.check_name(&raw_name) else {
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
        let mut guard = EntryGuard {
            inner: &mut content,
            budget: level.budget,
            path: &display,
            read: 0,
            declared: Some(size),
            compressed: None,
            crc: None,
        };
        let delivered = level.deliver(&path, size, mode, &mut guard, visit);
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
        skip(r, padding(size))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_both_encodings() {
        assert_eq!(octal(b"0000644\0"), Some(0o644));
        assert_eq!(octal(b"00000001750 "), Some(1000));
        assert_eq!(octal(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(octal(b"12x"), None);
    }

    #[test]
    fn pax_records() {
        let (p, s) = pax_fields(b"29 path=a/very/long/name.txt\n13 size=1234\n");
        assert_eq!(p.as_deref(), Some(&b"a/very/long/name.txt"[..]));
        assert_eq!(s, Some(1234));
        assert_eq!(pax_fields(b"999 path=x\n"), (None, None));
    }
}

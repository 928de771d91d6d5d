//! Builders for the archives the tests need, honest and hostile: zips (with ZIP64 and lying
//! headers), tars (with GNU long names, links, traversal), gzip, wheels, sdists and npm tarballs.

#![allow(dead_code)]

use std::io::Write;

use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder};

pub struct ZipEntry {
    pub name: Vec<u8>,
    pub data: Vec<u8>,
    pub deflate: bool,
    pub unix_mode: Option<u32>,
    /// Overrides the uncompressed size written in the headers (a lying header).
    pub declared_size: Option<u64>,
}

impl ZipEntry {
    pub fn file(name: &str, data: &[u8]) -> ZipEntry {
        ZipEntry {
            name: name.as_bytes().to_vec(),
            data: data.to_vec(),
            deflate: true,
            unix_mode: Some(0o100644),
            declared_size: None,
        }
    }
}

pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).expect("deflate");
    e.finish().expect("deflate")
}

/// Deflate of `n` zero bytes without holding them all (a bomb's payload).
pub fn deflate_zeros(n: usize) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::best());
    let chunk = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        e.write_all(&chunk[..k]).expect("deflate");
        left -= k;
    }
    e.finish().expect("deflate")
}

fn crc(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

/// One entry of [`zip_raw`]: name, payload as stored, declared size, CRC-32, deflated, Unix mode.
pub type RawEntry = (Vec<u8>, Vec<u8>, u64, u32, bool, Option<u32>);

/// A zip with entries whose compressed payload is given as is (for bombs and lying headers).
pub fn zip_raw(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, payload, size, crc, deflated, mode) in entries {
        let offset = out.len() as u64;
        let zip64 = *size >= 0xFFFF_FFFF;
        let mut extra = Vec::new();
        if zip64 {
            extra.extend_from_slice(&1u16.to_le_bytes());
            extra.extend_from_slice(&16u16.to_le_bytes());
            extra.extend_from_slice(&size.to_le_bytes());
            extra.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        }
        let size32 = if zip64 { 0xFFFF_FFFF } else { *size as u32 };
        let csize32 = if zip64 {
            0xFFFF_FFFF
        } else {
            payload.len() as u32
        };
        let method: u16 = if *deflated { 8 } else { 0 };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[45, 0, 0, 8]); // version, flags (UTF-8 names)
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0x21, 0]); // time, date
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&csize32.to_le_bytes());
        out.extend_from_slice(&size32.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&extra);
        out.extend_from_slice(payload);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[45, if mode.is_some() { 3 } else { 0 }, 45, 0, 0, 8]);
        central.extend_from_slice(&method.to_le_bytes());
        central.extend_from_slice(&[0, 0, 0x21, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&csize32.to_le_bytes());
        central.extend_from_slice(&size32.to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // comment len, disk, internal attrs
        central.extend_from_slice(&(mode.unwrap_or(0) << 16).to_le_bytes());
        central.extend_from_slice(&(offset as u32).to_le_bytes());
        central.extend_from_slice(name);
        central.extend_from_slice(&extra);
    }
    let cd_offset = out.len() as u32;
    let cd_len = central.len() as u32;
    out.extend_from_slice(&central);
    // More entries than the classic end record can count (an osv.dev export): a ZIP64 end
    // record and its locator first, as Go's archive/zip and Python's zipfile write them.
    let many = entries.len() >= 0xFFFF;
    if many {
        let at = out.len() as u64;
        out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&[45, 0, 45, 0]);
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        out.extend_from_slice(&(cd_len as u64).to_le_bytes());
        out.extend_from_slice(&(cd_offset as u64).to_le_bytes());
        out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&at.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    let n = if many { 0xFFFF } else { entries.len() as u16 };
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

pub fn zip(entries: &[ZipEntry]) -> Vec<u8> {
    let raw: Vec<_> = entries
        .iter()
        .map(|e| {
            let payload = if e.deflate {
                deflate(&e.data)
            } else {
                e.data.clone()
            };
            (
                e.name.clone(),
                payload,
                e.declared_size.unwrap_or(e.data.len() as u64),
                crc(&e.data),
                e.deflate,
                e.unix_mode,
            )
        })
        .collect();
    zip_raw(&raw)
}

pub enum TarKind {
    File,
    Dir,
    Symlink(String),
    HardLink(String),
    CharDevice,
}

pub struct TarEntry {
    pub name: Vec<u8>,
    pub data: Vec<u8>,
    pub kind: TarKind,
    pub mode: u32,
}

impl TarEntry {
    pub fn file(name: &str, data: &[u8]) -> TarEntry {
        TarEntry {
            name: name.as_bytes().to_vec(),
            data: data.to_vec(),
            kind: TarKind::File,
            mode: 0o644,
        }
    }
}

fn octal_field(out: &mut [u8], value: u64) {
    let s = format!("{:0width$o}\0", value, width = out.len() - 1);
    out.copy_from_slice(s.as_bytes());
}

/// A ustar header; `size` is what the header declares.
pub fn tar_header(name: &[u8], size: u64, typeflag: u8, link: &str, mode: u32) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    octal_field(&mut h[100..108], u64::from(mode));
    octal_field(&mut h[108..116], 0);
    octal_field(&mut h[116..124], 0);
    octal_field(&mut h[124..136], size);
    octal_field(&mut h[136..148], 0);
    h[156] = typeflag;
    h[157..157 + link.len().min(100)].copy_from_slice(&link.as_bytes()[..link.len().min(100)]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(512) {
        out.push(0);
    }
}

pub fn tar(entries: &[TarEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        if e.name.len() > 100 {
            let mut long = e.name.clone();
            long.push(0);
            out.extend_from_slice(&tar_header(
                b"././@LongLink",
                long.len() as u64,
                b'L',
                "",
                0,
            ));
            out.extend_from_slice(&long);
            pad(&mut out);
        }
        let (flag, link, data): (u8, &str, &[u8]) = match &e.kind {
            TarKind::File => (b'0', "", &e.data),
            TarKind::Dir => (b'5', "", &[]),
            TarKind::Symlink(t) => (b'2', t, &[]),
            TarKind::HardLink(t) => (b'1', t, &[]),
            TarKind::CharDevice => (b'3', "", &[]),
        };
        out.extend_from_slice(&tar_header(&e.name, data.len() as u64, flag, link, e.mode));
        out.extend_from_slice(data);
        pad(&mut out);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

pub fn tar_gz(entries: &[TarEntry]) -> Vec<u8> {
    gzip(&tar(entries))
}

/// A wheel: `pkg/__init__.py` plus the `.dist-info` files.
pub fn wheel(name: &str, version: &str, module: &str) -> Vec<u8> {
    let dist = format!("{}-{version}.dist-info", name.replace('-', "_"));
    zip(&with_record(&dist, vec![
        ZipEntry::file(&format!("{}/__init__.py", name.replace('-', "_")), module.as_bytes()),
        ZipEntry::file(&format!("{dist}/METADATA"), core_metadata(name, version).as_bytes()),
        ZipEntry::file(&format!("{dist}/WHEEL"), b"Wheel-Version: 1.0\nGenerator: airlock-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
    ]))
}

/// `entries` as a wheel: the `.dist-info/RECORD` naming every file with its digest is added, as
/// a build tool writes it.
pub fn with_record(dist_info: &str, mut entries: Vec<ZipEntry>) -> Vec<ZipEntry> {
    use base64::Engine;
    let mut record = String::new();
    for e in &entries {
        let digest = ring::digest::digest(&ring::digest::SHA256, &e.data);
        record.push_str(&format!(
            "{},sha256={},{}\n",
            String::from_utf8_lossy(&e.name),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest),
            e.data.len()
        ));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    entries.push(ZipEntry::file(
        &format!("{dist_info}/RECORD"),
        record.as_bytes(),
    ));
    entries
}

pub fn core_metadata(name: &str, version: &str) -> String {
    format!(
        "Metadata-Version: 2.4\nName: {name}\nVersion: {version}\nLicense-Expression: MIT\nRequires-Dist: requests>=2\n\nA fixture.\n"
    )
}

pub fn sdist(name: &str, version: &str) -> Vec<u8> {
    let root = format!("{}-{version}", name.replace('-', "_"));
    tar_gz(&[
        TarEntry::file(
            &format!("{root}/PKG-INFO"),
            core_metadata(name, version).as_bytes(),
        ),
        TarEntry::file(
            &format!("{root}/setup.py"),
            b"from setuptools import setup\nsetup()\n",
        ),
    ])
}

pub fn npm_tarball(package_json: &str, index_js: &str) -> Vec<u8> {
    tar_gz(&[
        TarEntry::file("package/package.json", package_json.as_bytes()),
        TarEntry::file("package/index.js", index_js.as_bytes()),
    ])
}

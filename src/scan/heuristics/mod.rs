//! Heuristics: the content rules of [`rules`] over every file of a package, plus the checks that
//! look at the package as a whole — executables in source packages, npm install scripts and
//! manifest confusion ([`npm_manifest`]), typosquatting ([`typosquat`]).

pub mod commands;
pub mod npm_manifest;
pub mod rules;
pub mod typosquat;

use std::sync::LazyLock;

use regex::bytes::Regex;

use crate::api::package_request::Severity;
use crate::package::file::FileKind;
use crate::pipeline::unpack::Finding;
use rules::{Check, RULES, Scope};

/// Text files larger than this are read only this far.
pub const MAX_TEXT_BYTES: usize = 16 << 20;

/// Each pattern compiled alone, not as one `RegexSet`: alone, each gets the literal prefilters
/// (`memchr`, Teddy) that make a pass over text run at memory speed, where the set's combined
/// automaton must walk every byte — measured 30 to 100 times slower on real packages.
struct Compiled {
    patterns: Vec<(usize, Regex)>,
}

static COMPILED: LazyLock<Result<Compiled, String>> = LazyLock::new(|| {
    let mut patterns = Vec::new();
    for (i, rule) in RULES.iter().enumerate() {
        if let Check::Pattern(p) | Check::PublicIp(p) = rule.check {
            let re = Regex::new(p).map_err(|e| format!("rule {}: {e}", rule.id))?;
            patterns.push((i, re));
        }
    }
    Ok(Compiled { patterns })
});

/// Checks the rule table compiles (a test runs this, so a bad pattern never ships).
pub fn validate_rules() -> Result<usize, String> {
    COMPILED
        .as_ref()
        .map(|c| c.patterns.len())
        .map_err(Clone::clone)
}

/// What a file is, for the rules that apply only to some.
pub fn scopes_of(path: &str) -> Vec<Scope> {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let mut s = Vec::new();
    match ext {
        "py" | "pyw" => s.extend([Scope::Python, Scope::Program, Scope::Code]),
        "js" | "cjs" | "mjs" | "ts" => s.extend([Scope::JavaScript, Scope::Program, Scope::Code]),
        "sh" | "bash" | "ps1" | "bat" | "cmd" => s.extend([Scope::Shell, Scope::Code]),
        "pth" => s.push(Scope::Pth),
        "gyp" | "gypi" => s.push(Scope::Gyp),
        _ => {}
    }
    if name == "setup.py" {
        s.push(Scope::SetupPy);
    }
    s
}

/// Whether the rules need the file's text (otherwise only its first bytes are looked at).
pub fn wants_text(path: &str) -> bool {
    !scopes_of(path).is_empty()
}

/// An executable format from the first bytes.
pub fn executable_kind(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\x7fELF") {
        return Some("ELF");
    }
    if head.starts_with(b"MZ") && head.len() >= 0x40 {
        let off = u32::from_le_bytes([head[0x3c], head[0x3d], head[0x3e], head[0x3f]]) as usize;
        if head.get(off..off + 4) == Some(b"PE\0\0") {
            return Some("PE (Windows)");
        }
    }
    const MACHO: [[u8; 4]; 4] = [
        [0xfe, 0xed, 0xfa, 0xce],
        [0xfe, 0xed, 0xfa, 0xcf],
        [0xce, 0xfa, 0xed, 0xfe],
        [0xcf, 0xfa, 0xed, 0xfe],
    ];
    if MACHO.iter().any(|m| head.starts_with(m)) {
        return Some("Mach-O");
    }
    None
}

/// The 1-based line number of `offset`, its line, and where in that line `offset` falls.
fn line_of(content: &[u8], offset: usize) -> (u32, &[u8], usize) {
    let start = content[..offset]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let end = content[offset..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(content.len(), |p| offset + p);
    let line = content[..offset].iter().filter(|b| **b == b'\n').count() as u32 + 1;
    (line, &content[start..end], offset - start)
}

/// A short, printable snippet around the match.
fn evidence(line: &[u8], match_start_in_line: usize) -> String {
    let from = match_start_in_line.saturating_sub(40);
    let to = (match_start_in_line + 120).min(line.len());
    let text = String::from_utf8_lossy(&line[from.min(to)..to]);
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    clean.trim().to_string()
}

fn public_ipv4(ip: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(ip) else {
        return false;
    };
    let Ok(addr) = text.parse::<std::net::Ipv4Addr>() else {
        return false;
    };
    !(addr.is_private()
        || addr.is_loopback()
        || addr.is_link_local()
        || addr.is_unspecified()
        || addr.is_broadcast()
        || addr.is_documentation()
        || addr.octets()[0] >= 224)
}

/// Whether a path is test code or test data, which installs never run.
///
/// Paths are as every installer reads them (the unpack layer refuses names they could read
/// differently, such as `tests\x.pth`). A `.pth` file is never test code: Python runs the ones
/// at the top of site-packages at every start, whatever they are called.
pub fn in_tests(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let (dirs, name) = lower.rsplit_once('/').unwrap_or(("", &lower));
    if name.ends_with(".pth") {
        return false;
    }
    dirs.split('/').any(|p| {
        matches!(
            p,
            "test" | "tests" | "testing" | "testdata" | "__tests__" | "test-data"
        )
    }) || (name.starts_with("test_") && name.ends_with(".py"))
        || name.ends_with("_test.py")
        || name.ends_with(".test.js")
        || name.ends_with(".spec.js")
}

/// One step less severe: for findings in test code, which is shipped but never run on install.
pub(crate) fn lowered(s: Severity) -> Severity {
    match s {
        Severity::Critical => Severity::High,
        Severity::High => Severity::Medium,
        Severity::Medium => Severity::Low,
        Severity::Low | Severity::Info => Severity::Info,
    }
}

fn finding(rule: &rules::Rule, path: &str, line: Option<u32>, evidence: String) -> Finding {
    let tests = in_tests(path);
    Finding {
        rule: rule.id.to_string(),
        severity: if tests {
            lowered(rule.severity)
        } else {
            rule.severity
        },
        file: Some(path.to_string()),
        line,
        evidence: Some(format!(
            "{}{}: {evidence}",
            rule.title,
            if tests { " (in test code)" } else { "" }
        )),
    }
}

/// Runs every content rule that applies to `path` over `content`: one finding per rule and file,
/// at the first match.
pub fn scan_text(path: &str, content: &[u8], out: &mut Vec<Finding>) {
    scan_text_except(path, content, &[], out);
}

/// [`scan_text`] without the rules named in `skip` (those the behaviour analysis decided for
/// this file).
pub fn scan_text_except(path: &str, content: &[u8], skip: &[&str], out: &mut Vec<Finding>) {
    let scopes = scopes_of(path);
    if scopes.is_empty() {
        return;
    }
    let in_scope = |r: &rules::Rule| scopes.contains(&r.scope) && !skip.contains(&r.id);
    if let Ok(compiled) = COMPILED.as_ref() {
        for (rule_idx, re) in &compiled.patterns {
            let rule = &RULES[*rule_idx];
            if !in_scope(rule) {
                continue;
            }
            let hit = match rule.check {
                Check::PublicIp(_) => re.captures_iter(content).find_map(|c| {
                    let ip = c.get(1)?;
                    let at = c.get(0).map_or(ip.start(), |m| m.start());
                    (public_ipv4(ip.as_bytes()) && !in_doctest(content, at)).then_some(at)
                }),
                _ => re.find(content).map(|m| m.start()),
            };
            if let Some(at) = hit {
                let (line, text, column) = line_of(content, at);
                out.push(finding(rule, path, Some(line), evidence(text, column)));
            }
        }
    }
    for rule in RULES.iter().filter(|r| in_scope(r)) {
        let hit = match rule.check {
            Check::LongLine(n) => content
                .split(|b| *b == b'\n')
                .scan(0usize, |off, l| {
                    let at = *off;
                    *off += l.len() + 1;
                    Some((at, l.len()))
                })
                .find(|(at, len)| {
                    let line = &content[*at..*at + *len];
                    *len >= n && !is_protobuf_descriptor(line) && looks_minified(line)
                })
                .map(|(at, _)| at),
            Check::EncodedRun(n) => encoded_run(content, n),
            Check::GypCommand => gyp_command(content),
            _ => None,
        };
        if let Some(at) = hit {
            let (line, text, _) = line_of(content, at);
            let shown = String::from_utf8_lossy(&text[..text.len().min(60)]).into_owned();
            out.push(finding(rule, path, Some(line), format!("{shown}…")));
        }
    }
}

/// The offset of the first run of `n` base64 characters, or of `n / 4` `\xNN` escapes, that is
/// not plain data: a base64 run that decodes to a whole PNG (nothing after its `IEND`: an icon
/// module, a notebook's figure) and the bytes literal of a protobuf descriptor are passed over.
fn encoded_run(content: &[u8], n: usize) -> Option<usize> {
    let is_base64 = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    let mut i = 0;
    while i < content.len() {
        if !is_base64(&content[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < content.len() && is_base64(&content[i]) {
            i += 1;
        }
        if i - start >= n && !is_whole_png(&content[start..i]) {
            return Some(start);
        }
    }
    let escapes = n / 4;
    let mut count = 0;
    let mut i = 0;
    let mut start = 0;
    while i + 4 <= content.len() {
        if content[i] == b'\\'
            && content[i + 1] == b'x'
            && content[i + 2].is_ascii_hexdigit()
            && content[i + 3].is_ascii_hexdigit()
        {
            if count == 0 {
                start = i;
            }
            count += 1;
            if count >= escapes {
                let (_, line, column) = line_of(content, start);
                if !is_protobuf_descriptor(line) {
                    return Some(start);
                }
                // The rest of the descriptor's line is data too.
                i = start - column + line.len();
                count = 0;
                continue;
            }
            i += 4;
        } else {
            count = 0;
            i += 1;
        }
    }
    None
}

/// The offset of the first gyp command expansion that is not the standard header look-up:
/// `<!(node -p "require('node-addon-api').include")`, `<!@(node -p "require('nan')")` and the
/// like only print where a dependency lives; anything else is a command run at install time.
fn gyp_command(content: &[u8]) -> Option<usize> {
    static LOOKUP: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r#"^<!@?\(\s*node\s+-(p|e)\s+(\\?["'])require\((\\?["'])[@\w./-]+(\\?["'])\)(\.\w+)*(\\?["'])\s*\)"#,
        )
        .ok()
    });
    let mut at = 0;
    while let Some(found) = content[at..]
        .windows(3)
        .position(|w| w == b"<!(" || w == b"<!@")
    {
        let start = at + found;
        let rest = &content[start..];
        let standard = LOOKUP.as_ref().is_some_and(|re| re.is_match(rest));
        if !standard && (rest.starts_with(b"<!(") || rest.starts_with(b"<!@(")) {
            return Some(start);
        }
        at = start + 3;
    }
    None
}

/// Whether base64 text decodes to one complete PNG with nothing appended: bytes after an image's
/// end marker are how payloads hide in pictures, so only a PNG whose chunks end exactly at
/// `IEND` counts as a picture.
fn is_whole_png(text: &[u8]) -> bool {
    use base64::Engine;
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    // The encoded signature: anything else is not worth decoding.
    if !text.starts_with(b"iVBORw0KGgo") {
        return false;
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let Ok(png) = engine.decode(text) else {
        return false;
    };
    let mut at = PNG.len();
    if !png.starts_with(PNG) {
        return false;
    }
    // Length, type, data, CRC; the chunk walk ends at IEND.
    while let Some(header) = png.get(at..at + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let end = at.saturating_add(12).saturating_add(len);
        if end > png.len() {
            return false;
        }
        if &header[4..8] == b"IEND" {
            return end == png.len();
        }
        at = end;
    }
    false
}

/// Whether a line is protoc's serialized descriptor and nothing else:
/// `DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(b'…')` (or the older
/// `serialized_pb=b'…'`), one bytes literal to the end of the line — data handed to protobuf,
/// never code.
/// Whether the line holding `at` is a doctest example (`>>> `, `... `): documentation, which
/// Python never runs as code (a line of code cannot start with `>>>`).
fn in_doctest(content: &[u8], at: usize) -> bool {
    let start = content[..at]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let line = content[start..].trim_ascii_start();
    line.starts_with(b">>> ") || line.starts_with(b"... ")
}

/// Whether a long Python line is code squeezed onto one line rather than one data literal
/// (a table of Unicode ranges, a set of names, a generated validator's schema): many statements,
/// almost no string content, or dynamic code outside the strings.
fn looks_minified(line: &[u8]) -> bool {
    let (mut quote, mut escaped) = (None::<u8>, false);
    let (mut outside, mut statements) = (Vec::with_capacity(256), 0usize);
    for &b in line {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == q {
                    quote = None;
                }
            }
            None => match b {
                b'\'' | b'"' => quote = Some(b),
                b';' => statements += 1,
                _ if outside.len() < 1 << 20 => outside.push(b),
                _ => {}
            },
        }
    }
    let dynamic = [&b"exec("[..], b"eval(", b"__import__", b"compile("]
        .iter()
        .any(|t| outside.windows(t.len()).any(|w| w == *t));
    statements >= 10 || dynamic || outside.len() * 10 >= line.len() * 9
}

fn is_protobuf_descriptor(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    let literal = ["AddSerializedFile(b'", "serialized_pb=b'"]
        .iter()
        .find_map(|prefix| {
            let at = line
                .windows(prefix.len())
                .position(|w| w == prefix.as_bytes())?;
            Some(&line[at + prefix.len()..])
        });
    let Some(rest) = literal else {
        return false;
    };
    let Some(body) = rest
        .strip_suffix(b"')")
        .or_else(|| rest.strip_suffix(b"',"))
        .or_else(|| rest.strip_suffix(b"'"))
    else {
        return false;
    };
    // No unescaped quote inside: the literal really runs to the end.
    let mut escaped = false;
    for b in body {
        match (escaped, b) {
            (false, b'\\') => escaped = true,
            (false, b'\'') => return false,
            _ => escaped = false,
        }
    }
    true
}

/// An executable inside a source package (an sdist or an npm tarball): binaries there were not
/// built from the source beside them and cannot be reviewed.
pub fn scan_head(path: &str, head: &[u8], kind: FileKind, out: &mut Vec<Finding>) {
    if kind == FileKind::Wheel {
        // Wheels carry compiled code by design; a binary named as data is hiding.
        if let Some(format) = executable_kind(head)
            && let Some(ext) = disguise(path)
        {
            out.push(Finding {
                rule: "heuristics.disguised-executable".into(),
                severity: if in_tests(path) {
                    Severity::Medium
                } else {
                    Severity::High
                },
                file: Some(path.to_string()),
                line: None,
                evidence: Some(format!(
                    "a {format} executable named as a .{ext} file: loaders read it as code while a reviewer sees data"
                )),
            });
        }
        return;
    }
    if let Some(format) = executable_kind(head) {
        // Medium: some sdists ship launchers (setuptools' cli.exe) or test binaries; a human
        // decides whether a binary nobody can rebuild from the source beside it belongs there.
        // Low for test data, and for npm's native addons where prebuildify and node-gyp put
        // them: a `.node` file runs only when the package's own JavaScript (which the rules
        // read) requires it, and shipping them is how native packages avoid a compiler.
        let tests = in_tests(path);
        let addon = native_addon(path, kind);
        let (severity, note) = match (tests, addon) {
            (true, _) => (Severity::Low, " (in test data)"),
            (false, true) => (Severity::Low, " (a prebuilt native addon)"),
            (false, false) => (Severity::Medium, ""),
        };
        out.push(Finding {
            rule: "heuristics.executable".into(),
            severity,
            file: Some(path.to_string()),
            line: None,
            evidence: Some(format!(
                "a prebuilt {format} executable inside a source package{note}"
            )),
        });
    }
}

/// The data-file extension an executable hides behind, if any.
fn disguise(path: &str) -> Option<&str> {
    const DATA: &[&str] = &[
        "png", "jpg", "jpeg", "gif", "ico", "bmp", "txt", "json", "dat", "csv", "wav", "mp3",
        "ttf", "woff", "woff2", "yaml", "yml", "xml", "html", "css", "js", "py", "md", "rst",
        "cfg", "ini", "toml",
    ];
    let name = path.rsplit('/').next().unwrap_or(path);
    let (_, ext) = name.rsplit_once('.')?;
    DATA.iter().find(|d| ext.eq_ignore_ascii_case(d)).copied()
}

/// A `.node` file where npm packages keep prebuilt addons: `prebuilds/<platform>/` (prebuildify,
/// node-gyp-build) or `build/Release/` (node-gyp).
fn native_addon(path: &str, kind: FileKind) -> bool {
    let lower = path.to_ascii_lowercase();
    kind == FileKind::Tarball
        && lower.ends_with(".node")
        && (lower.contains("/prebuilds/")
            || lower.starts_with("prebuilds/")
            || lower.contains("/build/release/")
            || lower.starts_with("build/release/"))
}

/// The weight each finding adds to the heuristic score the policy compares with its thresholds.
pub fn weight(severity: Severity) -> u32 {
    match severity {
        Severity::Critical => 10,
        Severity::High => 5,
        Severity::Medium => 2,
        Severity::Low => 1,
        Severity::Info => 0,
    }
}

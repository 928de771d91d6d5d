//! Heuristics: the content rules of [`rules`] over every file of a package, plus the checks that
//! look at the package as a whole — executables in source packages, npm install scripts and
//! manifest confusion ([`npm_manifest`]), typosquatting ([`typosquat`]).

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
fn lowered(s: Severity) -> Severity {
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
    let scopes = scopes_of(path);
    if scopes.is_empty() {
        return;
    }
    let in_scope = |r: &rules::Rule| scopes.contains(&r.scope);
    if let Ok(compiled) = COMPILED.as_ref() {
        for (rule_idx, re) in &compiled.patterns {
            let rule = &RULES[*rule_idx];
            if !in_scope(rule) {
                continue;
            }
            let hit = match rule.check {
                Check::PublicIp(_) => re.captures_iter(content).find_map(|c| {
                    let ip = c.get(1)?;
                    public_ipv4(ip.as_bytes()).then(|| c.get(0).map_or(ip.start(), |m| m.start()))
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
                .find(|(_, len)| *len >= n)
                .map(|(at, _)| at),
            Check::EncodedRun(n) => encoded_run(content, n),
            _ => None,
        };
        if let Some(at) = hit {
            let (line, text, _) = line_of(content, at);
            let shown = String::from_utf8_lossy(&text[..text.len().min(60)]).into_owned();
            out.push(finding(rule, path, Some(line), format!("{shown}…")));
        }
    }
}

/// The offset of the first run of `n` base64 characters, or of `n / 4` `\xNN` escapes.
fn encoded_run(content: &[u8], n: usize) -> Option<usize> {
    let mut run_start = 0;
    let mut run = 0;
    for (i, b) in content.iter().enumerate() {
        if b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/' {
            if run == 0 {
                run_start = i;
            }
            run += 1;
            if run >= n {
                return Some(run_start);
            }
        } else {
            run = 0;
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
                return Some(start);
            }
            i += 4;
        } else {
            count = 0;
            i += 1;
        }
    }
    None
}

/// An executable inside a source package (an sdist or an npm tarball): binaries there were not
/// built from the source beside them and cannot be reviewed.
pub fn scan_head(path: &str, head: &[u8], kind: FileKind, out: &mut Vec<Finding>) {
    if kind == FileKind::Wheel {
        return;
    }
    if let Some(format) = executable_kind(head) {
        // Medium: some sdists ship launchers (setuptools' cli.exe) or test binaries; a human
        // decides whether a binary nobody can rebuild from the source beside it belongs there.
        let tests = in_tests(path);
        out.push(Finding {
            rule: "heuristics.executable".into(),
            severity: if tests {
                Severity::Low
            } else {
                Severity::Medium
            },
            file: Some(path.to_string()),
            line: None,
            evidence: Some(format!(
                "a prebuilt {format} executable inside a source package{}",
                if tests { " (in test data)" } else { "" }
            )),
        });
    }
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

//! A wheel's `RECORD` against what the wheel holds: the build tool writes every file's digest
//! there, and pip installs whatever the archive holds without checking it, so a file changed or
//! added after the build (a tampered mirror copy, a file smuggled next to honest ones) shows only
//! here.

use std::collections::HashMap;
use std::io::{self, Read};

use base64::Engine;

use crate::api::package_request::Severity;
use crate::pipeline::unpack::Finding;

/// The longest `RECORD` read (a wheel of 100 000 files has a RECORD of a few MiB).
const MAX_RECORD: u64 = 16 << 20;

/// A reader that hashes what passes through it (when `digest` is set: only wheels have a
/// RECORD to check).
pub struct Hashing<'r> {
    inner: &'r mut dyn Read,
    digest: Option<ring::digest::Context>,
}

impl<'r> Hashing<'r> {
    pub fn new(inner: &'r mut dyn Read, hash: bool) -> Hashing<'r> {
        Hashing {
            inner,
            digest: hash.then(|| ring::digest::Context::new(&ring::digest::SHA256)),
        }
    }

    /// Reads what is left and returns the digest as RECORD writes it (urlsafe base64, no pad).
    pub fn finish(mut self) -> io::Result<Option<String>> {
        if self.digest.is_none() {
            return Ok(None);
        }
        io::copy(&mut self, &mut io::sink())?;
        Ok(self
            .digest
            .map(|d| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.finish())))
    }
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(d) = &mut self.digest {
            d.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// What one wheel holds, gathered entry by entry, and its RECORD.
#[derive(Default)]
pub struct RecordCheck {
    /// Top-level entries: path → digest.
    held: HashMap<String, String>,
    record: Option<(String, String)>,
}

impl RecordCheck {
    /// Whether `path` (an entry of the wheel itself, not of an archive inside it) is the RECORD.
    pub fn is_record(path: &str) -> bool {
        !path.contains("!/")
            && path.ends_with(".dist-info/RECORD")
            && path.matches('/').count() == 1
    }

    pub fn held(&mut self, path: &str, digest: String) {
        if !path.contains("!/") {
            self.held.insert(path.to_string(), digest);
        }
    }

    pub fn record(&mut self, path: &str, content: &mut dyn Read) -> io::Result<()> {
        let mut text = Vec::new();
        content.take(MAX_RECORD).read_to_end(&mut text)?;
        self.record = Some((
            path.to_string(),
            String::from_utf8_lossy(&text).into_owned(),
        ));
        Ok(())
    }

    /// Findings: files whose digest differs from RECORD's, files RECORD does not list, files it
    /// lists that are missing. `complete` is false when a limit stopped the unpacking (then
    /// missing files prove nothing).
    pub fn findings(&self, complete: bool) -> Vec<Finding> {
        let Some((record_path, text)) = &self.record else {
            // pip refuses to install a wheel without one, so nothing it holds runs.
            return vec![finding(
                Severity::Low,
                None,
                "the wheel has no .dist-info/RECORD (pip refuses to install it)".into(),
            )];
        };
        let dist_info = record_path.trim_end_matches("RECORD");
        let mut listed: HashMap<String, Option<String>> = HashMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Some((path, hash)) = split_row(line) else {
                continue;
            };
            listed.insert(path, hash);
        }
        if listed.is_empty() {
            // pip installs it all the same: an emptied RECORD hides any change.
            return vec![finding(
                Severity::Medium,
                Some(record_path.clone()),
                "the wheel's RECORD lists no files, so nothing it holds can be checked".into(),
            )];
        }
        let mut changed = Vec::new();
        let mut unlisted = Vec::new();
        let mut paths: Vec<&String> = self.held.keys().collect();
        paths.sort();
        for path in paths {
            let digest = &self.held[path];
            match listed.get(path.as_str()) {
                Some(Some(expected)) => {
                    let expected = expected.strip_prefix("sha256=");
                    if expected.is_some_and(|e| e != digest) {
                        changed.push(path.as_str());
                    }
                }
                // RECORD lists itself and signatures without digests.
                Some(None) => {}
                None if path.as_str() == record_path
                    || (path.starts_with(dist_info)
                        && (path.ends_with("RECORD.jws") || path.ends_with("RECORD.p7s"))) => {}
                None => unlisted.push(path.as_str()),
            }
        }
        let mut out = Vec::new();
        if !changed.is_empty() {
            out.push(finding(
                Severity::High,
                changed.first().map(|p| p.to_string()),
                format!(
                    "{} file(s) differ from the digest the wheel's RECORD gives (changed after the build): {}",
                    changed.len(),
                    list(&changed)
                ),
            ));
        }
        if !unlisted.is_empty() {
            out.push(finding(
                Severity::High,
                unlisted.first().map(|p| p.to_string()),
                format!(
                    "{} file(s) are not in the wheel's RECORD (added after the build): {}",
                    unlisted.len(),
                    list(&unlisted)
                ),
            ));
        }
        if complete {
            let mut missing: Vec<&str> = listed
                .keys()
                .filter(|p| *p != record_path && !self.held.contains_key(p.as_str()))
                .map(String::as_str)
                .collect();
            missing.sort();
            if !missing.is_empty() {
                out.push(finding(
                    Severity::Low,
                    Some(record_path.clone()),
                    format!(
                        "{} file(s) the RECORD lists are not in the wheel: {}",
                        missing.len(),
                        list(&missing)
                    ),
                ));
            }
        }
        out
    }
}

/// One RECORD row: a CSV path (quoted when it holds a comma) and the hash column.
fn split_row(line: &str) -> Option<(String, Option<String>)> {
    let (path, rest) = if let Some(quoted) = line.strip_prefix('"') {
        let mut path = String::new();
        let mut chars = quoted.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if quoted[i + 1..].starts_with('"') {
                    path.push('"');
                    chars.next();
                } else {
                    end = Some(i + 1);
                    break;
                }
            } else {
                path.push(c);
            }
        }
        (path, quoted[end?..].strip_prefix(',')?)
    } else {
        let (p, r) = line.split_once(',')?;
        (p.to_string(), r)
    };
    let hash = rest.split(',').next().filter(|h| !h.is_empty());
    Some((path, hash.map(str::to_string)))
}

fn list(paths: &[&str]) -> String {
    let mut s = paths.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    if paths.len() > 5 {
        s.push_str(&format!(" and {} more", paths.len() - 5));
    }
    s
}

fn finding(severity: Severity, file: Option<String>, evidence: String) -> Finding {
    Finding {
        rule: "heuristics.record-mismatch".into(),
        severity,
        file,
        line: None,
        evidence: Some(evidence),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_with_quoted_paths_split_like_csv() {
        assert_eq!(
            split_row("\"a,b/c.py\",sha256=x,3"),
            Some(("a,b/c.py".into(), Some("sha256=x".into())))
        );
        assert_eq!(
            split_row("p-1.dist-info/RECORD,,"),
            Some(("p-1.dist-info/RECORD".into(), None))
        );
    }
}

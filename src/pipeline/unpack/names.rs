//! Entry names: what a safe path inside an archive looks like.

use crate::api::package_request::Severity;

const MAX_NAME: usize = 4096;

/// Shortens text for evidence, on a character boundary.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The normalised relative path (`./a//b` → `a/b`), or the finding that refuses it.
pub fn check(raw: &[u8]) -> Result<String, (&'static str, Severity, String)> {
    let Ok(name) = std::str::from_utf8(raw) else {
        return Err((
            "archive.invalid-name",
            Severity::Medium,
            "a name that is not valid UTF-8".into(),
        ));
    };
    if name.len() > MAX_NAME || name.chars().any(|c| c.is_control()) {
        return Err((
            "archive.invalid-name",
            Severity::Medium,
            "a name with control characters or longer than 4096 bytes".into(),
        ));
    }
    let drive =
        name.len() >= 2 && name.as_bytes()[0].is_ascii_alphabetic() && name.as_bytes()[1] == b':';
    if name.starts_with(['/', '\\']) || drive {
        return Err((
            "archive.absolute-path",
            Severity::High,
            format!("an absolute path: {}", clip(name, 200)),
        ));
    }
    let parts: Vec<&str> = name
        .split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err((
            "archive.path-traversal",
            Severity::Critical,
            format!("a path that climbs out of the archive: {}", clip(name, 200)),
        ));
    }
    Ok(parts.join("/"))
}

/// Whether a link at `link` (a normalised entry path) pointing at `target` stays inside the
/// archive: symlink targets are relative to the link's directory, hard-link targets to the root.
pub fn link_stays_inside(link: &str, target: &str, symlink: bool) -> bool {
    if target.starts_with(['/', '\\']) || (target.len() >= 2 && target.as_bytes()[1] == b':') {
        return false;
    }
    let mut depth: Vec<&str> = if symlink {
        let mut parts: Vec<&str> = link.split('/').collect();
        parts.pop();
        parts
    } else {
        Vec::new()
    };
    for part in target.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            p => depth.push(p),
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_inside_and_out() {
        assert!(link_stays_inside("pkg/zoneinfo/GMT0", "GMT+0", false));
        assert!(link_stays_inside("pkg/a/link", "../b/file", true));
        assert!(!link_stays_inside(
            "pkg/link",
            "../../../home/u/.ssh/id_rsa",
            true
        ));
        assert!(!link_stays_inside("pkg/link", "/etc/passwd", true));
        assert!(!link_stays_inside("x", "../y", false));
    }

    #[test]
    fn refuses_escapes_and_normalises_the_rest() {
        assert_eq!(check(b"./pkg//a.py"), Ok("pkg/a.py".into()));
        for (raw, rule) in [
            (&b"../../etc/passwd"[..], "archive.path-traversal"),
            (b"pkg/..\\..\\x", "archive.path-traversal"),
            (b"/etc/passwd", "archive.absolute-path"),
            (b"C:\\Windows\\x", "archive.absolute-path"),
            (b"\\\\server\\share", "archive.absolute-path"),
            (b"bad\xff", "archive.invalid-name"),
            (b"a\nb", "archive.invalid-name"),
        ] {
            assert_eq!(check(raw).map_err(|e| e.0), Err(rule), "{raw:?}");
        }
    }
}

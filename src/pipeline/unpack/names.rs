//! Entry names: what a safe path inside an archive looks like, and when a name means different
//! things to different installers (then it is refused, never guessed).

use crate::api::package_request::Severity;

const MAX_NAME: usize = 4096;

/// Why a name is refused: the rule, its severity, and evidence a human can act on.
pub type Refusal = (&'static str, Severity, String);

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

fn ambiguous(why: String) -> Refusal {
    ("archive.ambiguous", Severity::High, why)
}

/// The relative path an entry name means (a trailing `/` marks a directory and is dropped), or
/// the finding that refuses it.
///
/// Refused, because installers read them differently or write outside the target: names that are
/// not UTF-8 (Python's `zipfile` decodes cp437, `tarfile` escapes surrogates, others replace),
/// control characters (Python's `zipfile` cuts a name at NUL), backslashes (a separator on
/// Windows, a plain character to pip on Linux, so `tests\x.pth` is a top-level `.pth` there),
/// empty or `.` components (normalised by some readers and not by others, e.g. node-tar's
/// `strip`), absolute paths and `..`.
pub fn check(raw: &[u8]) -> Result<String, Refusal> {
    let Ok(name) = std::str::from_utf8(raw) else {
        return Err((
            "archive.invalid-name",
            Severity::High,
            "a name that is not valid UTF-8: installers decode it differently (cp437, surrogate escapes), so the file they write is not the one scanned".into(),
        ));
    };
    if name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Err((
            "archive.invalid-name",
            Severity::High,
            "a name with control characters (Python's zipfile cuts names at NUL) or longer than 4096 bytes".into(),
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
    if name.split(['/', '\\']).any(|p| p == "..") {
        return Err((
            "archive.path-traversal",
            Severity::Critical,
            format!("a path that climbs out of the archive: {}", clip(name, 200)),
        ));
    }
    if name.contains('\\') {
        return Err(ambiguous(format!(
            "a backslash in {:?}: Windows tools read it as a directory separator, pip on Linux as part of the file name",
            clip(name, 200)
        )));
    }
    let body = name.strip_suffix('/').unwrap_or(name);
    if body.is_empty() || body.split('/').any(|p| p.is_empty() || p == ".") {
        return Err(ambiguous(format!(
            "{:?} has empty or `.` components, which some readers normalise and others keep (node-tar strips a `.` as the package directory)",
            clip(name, 200)
        )));
    }
    Ok(body.to_string())
}

/// Where a link at `link` (a checked entry path) pointing at `target` lands, as an archive path,
/// or `None` when it leaves the archive: symlink targets are relative to the link's directory,
/// hard-link targets to the root. Only meaningful when no component on the way is itself a link,
/// which the readers make sure of.
pub fn link_target(link: &str, target: &str, symlink: bool) -> Option<String> {
    if target.is_empty()
        || target.starts_with(['/', '\\'])
        || (target.len() >= 2 && target.as_bytes()[1] == b':')
    {
        return None;
    }
    let mut parts: Vec<&str> = if symlink {
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
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_inside_and_out() {
        assert_eq!(
            link_target("pkg/zoneinfo/GMT0", "pkg/zoneinfo/GMT", false).as_deref(),
            Some("pkg/zoneinfo/GMT")
        );
        assert_eq!(
            link_target("pkg/a/link", "../b/file", true).as_deref(),
            Some("pkg/b/file")
        );
        assert_eq!(
            link_target("pkg/link", "../../../home/u/.ssh/id_rsa", true),
            None
        );
        assert_eq!(link_target("pkg/link", "/etc/passwd", true), None);
        assert_eq!(link_target("x", "../y", false), None);
        assert_eq!(link_target("pkg/a", ".", true).as_deref(), Some("pkg"));
    }

    #[test]
    fn refuses_escapes_and_ambiguity() {
        assert_eq!(check(b"pkg/a.py"), Ok("pkg/a.py".into()));
        assert_eq!(check(b"pkg/dir/"), Ok("pkg/dir".into()));
        for (raw, rule) in [
            (&b"../../etc/passwd"[..], "archive.path-traversal"),
            (b"pkg/..\\..\\x", "archive.path-traversal"),
            (b"/etc/passwd", "archive.absolute-path"),
            (b"C:\\Windows\\x", "archive.absolute-path"),
            (b"\\\\server\\share", "archive.absolute-path"),
            (b"bad\xff", "archive.invalid-name"),
            (b"a\nb", "archive.invalid-name"),
            (b"evil.pth\0.txt", "archive.invalid-name"),
            (b"tests\\evil.pth", "archive.ambiguous"),
            (b"./pkg/a.py", "archive.ambiguous"),
            (b"pkg//a.py", "archive.ambiguous"),
            (b"./", "archive.ambiguous"),
        ] {
            assert_eq!(check(raw).map_err(|e| e.0), Err(rule), "{raw:?}");
        }
    }
}

//! PEP 440 versions: parsing every spelling the specification allows, normalising, and ordering
//! (so `1.0` equals `1.0.0`, `1.0rc1 < 1.0 < 1.0.post1`, and `1.0.dev1` sorts before `1.0a1`).

use std::cmp::Ordering;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PreKind {
    Alpha,
    Beta,
    Rc,
}

/// One segment of a local version label: numbers sort after strings, and numerically.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LocalSegment {
    Text(String),
    Number(u64),
}

#[derive(Clone, Debug)]
pub struct Version {
    pub epoch: u64,
    pub release: Vec<u64>,
    pub pre: Option<(PreKind, u64)>,
    pub post: Option<u64>,
    pub dev: Option<u64>,
    pub local: Vec<LocalSegment>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid PEP 440 version")]
pub struct InvalidVersion(pub String);

/// A cursor over the lower-cased version text.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn number(&mut self) -> Option<u64> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if start == self.i {
            return None;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }
    fn separator(&mut self) -> bool {
        if matches!(self.peek(), Some(b'.' | b'-' | b'_')) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn word(&mut self, words: &[&str]) -> Option<usize> {
        let rest = &self.s[self.i..];
        // Longest first, so `alpha` is not read as `a` + `lpha`.
        let mut best: Option<(usize, usize)> = None;
        for (n, w) in words.iter().enumerate() {
            if rest.starts_with(w.as_bytes()) && best.is_none_or(|(_, l)| w.len() > l) {
                best = Some((n, w.len()));
            }
        }
        let (n, len) = best?;
        self.i += len;
        Some(n)
    }
    /// Tries `f`; on `None` puts the cursor back.
    fn attempt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let save = self.i;
        let r = f(self);
        if r.is_none() {
            self.i = save;
        }
        r
    }
}

impl Version {
    pub fn parse(text: &str) -> Result<Version, InvalidVersion> {
        let invalid = || InvalidVersion(text.to_string());
        let lower = text.trim().to_ascii_lowercase();
        let mut c = Cursor {
            s: lower.as_bytes(),
            i: 0,
        };
        if c.peek() == Some(b'v') {
            c.i += 1;
        }
        let mut epoch = 0;
        if let Some(e) = c.attempt(|c| {
            let n = c.number()?;
            (c.peek() == Some(b'!')).then(|| {
                c.i += 1;
                n
            })
        }) {
            epoch = e;
        }
        let mut release = vec![c.number().ok_or_else(invalid)?];
        while let Some(n) = c.attempt(|c| {
            (c.peek() == Some(b'.')).then_some(())?;
            c.i += 1;
            c.number()
        }) {
            release.push(n);
        }
        let pre = c.attempt(|c| {
            c.separator();
            let kind = match c.word(&["a", "alpha", "b", "beta", "c", "rc", "pre", "preview"])? {
                0 | 1 => PreKind::Alpha,
                2 | 3 => PreKind::Beta,
                _ => PreKind::Rc,
            };
            c.separator();
            Some((kind, c.number().unwrap_or(0)))
        });
        let post = c
            .attempt(|c| {
                (c.peek() == Some(b'-')).then_some(())?;
                c.i += 1;
                c.number()
            })
            .or_else(|| {
                c.attempt(|c| {
                    c.separator();
                    c.word(&["post", "rev", "r"])?;
                    c.separator();
                    Some(c.number().unwrap_or(0))
                })
            });
        let dev = c.attempt(|c| {
            c.separator();
            c.word(&["dev"])?;
            c.separator();
            Some(c.number().unwrap_or(0))
        });
        let mut local = Vec::new();
        if c.peek() == Some(b'+') {
            c.i += 1;
            let rest = std::str::from_utf8(&c.s[c.i..]).map_err(|_| invalid())?;
            for seg in rest.split(['.', '-', '_']) {
                if seg.is_empty() || !seg.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(invalid());
                }
                local.push(match seg.parse::<u64>() {
                    Ok(n) if seg.bytes().all(|b| b.is_ascii_digit()) => LocalSegment::Number(n),
                    _ => LocalSegment::Text(seg.to_string()),
                });
            }
            c.i = c.s.len();
        }
        if c.i != c.s.len() {
            return Err(invalid());
        }
        Ok(Version {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    /// The release with trailing zeros removed, which is what ordering compares.
    fn trimmed_release(&self) -> &[u64] {
        let mut end = self.release.len();
        while end > 1 && self.release[end - 1] == 0 {
            end -= 1;
        }
        &self.release[..end]
    }

    /// The sort key of `packaging.version`: a dev-only release sorts before its pre-releases,
    /// a final release after them; no post sorts first; no dev sorts last; no local sorts first.
    fn key(&self) -> (u64, &[u64], PreKey, Option<u64>, DevKey, &[LocalSegment]) {
        let pre = match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => PreKey::DevOnly,
            (None, _, _) => PreKey::Final,
            (Some(p), _, _) => PreKey::Pre(p),
        };
        let dev = match self.dev {
            Some(d) => DevKey::Dev(d),
            None => DevKey::None,
        };
        (
            self.epoch,
            self.trimmed_release(),
            pre,
            self.post,
            dev,
            &self.local,
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PreKey {
    DevOnly,
    Pre((PreKind, u64)),
    Final,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum DevKey {
    Dev(u64),
    None,
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// The normalised form PEP 440 defines (`1.0-RC.1` → `1.0rc1`).
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}!", self.epoch)?;
        }
        let release: Vec<String> = self.release.iter().map(u64::to_string).collect();
        f.write_str(&release.join("."))?;
        if let Some((kind, n)) = self.pre {
            let k = match kind {
                PreKind::Alpha => "a",
                PreKind::Beta => "b",
                PreKind::Rc => "rc",
            };
            write!(f, "{k}{n}")?;
        }
        if let Some(p) = self.post {
            write!(f, ".post{p}")?;
        }
        if let Some(d) = self.dev {
            write!(f, ".dev{d}")?;
        }
        if !self.local.is_empty() {
            let local: Vec<String> = self
                .local
                .iter()
                .map(|s| match s {
                    LocalSegment::Text(t) => t.clone(),
                    LocalSegment::Number(n) => n.to_string(),
                })
                .collect();
            write!(f, "+{}", local.join("."))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn trailing_zeros_do_not_matter() {
        assert_eq!(v("1.0"), v("1.0.0"));
        assert_eq!(v("1"), v("1.0.0.0"));
        assert_ne!(v("1.0.1"), v("1.0"));
    }

    #[test]
    fn normalises_alternative_spellings() {
        for (input, normal) in [
            ("1.0-RC.1", "1.0rc1"),
            ("1.0alpha2", "1.0a2"),
            ("1.0.beta", "1.0b0"),
            ("1.0c1", "1.0rc1"),
            ("1.0-1", "1.0.post1"),
            ("1.0.rev3", "1.0.post3"),
            ("1.0-dev", "1.0.dev0"),
            ("v2!1.0_pre1", "2!1.0rc1"),
            ("1.0+Ubuntu-1", "1.0+ubuntu.1"),
        ] {
            assert_eq!(v(input).to_string(), normal, "{input}");
        }
    }

    #[test]
    fn orders_as_the_specification_does() {
        let ordered = [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
            "1!0.1",
        ];
        for w in ordered.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        for bad in [
            "", "latest", ">=1.0", "1.0.*", "1..0", "1.0+", "1.0+a..b", "abc",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
    }
}

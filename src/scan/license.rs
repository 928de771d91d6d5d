//! Licences: the package's SPDX expression (or what its metadata says instead) against the
//! policy's allow and deny lists.

use crate::api::package_request::Severity;
use crate::api::scan_policy::{LicenseAction, LicenseRules};
use crate::pipeline::unpack::Finding;

/// Trove licence classifiers (PyPI's `License ::` list) and free-text names packages write,
/// each with the SPDX id it means. Names the SPDX list itself carries (its ids and full names,
/// through the `spdx` crate) need no entry here. Ambiguous ones ("BSD License") take the
/// variant nearly every package using them means.
const NAMES: &[(&str, &str)] = &[
    // Trove classifiers, after "License :: OSI Approved :: ".
    ("Apache Software License", "Apache-2.0"),
    ("Apple Public Source License", "APSL-2.0"),
    ("Artistic License", "Artistic-2.0"),
    ("Boost Software License 1.0 (BSL-1.0)", "BSL-1.0"),
    ("BSD License", "BSD-3-Clause"),
    (
        "Common Development and Distribution License 1.0 (CDDL-1.0)",
        "CDDL-1.0",
    ),
    ("Common Public License", "CPL-1.0"),
    ("Eclipse Public License 1.0 (EPL-1.0)", "EPL-1.0"),
    ("Eclipse Public License 2.0 (EPL-2.0)", "EPL-2.0"),
    ("European Union Public Licence 1.1 (EUPL 1.1)", "EUPL-1.1"),
    ("European Union Public Licence 1.2 (EUPL 1.2)", "EUPL-1.2"),
    ("GNU Affero General Public License v3", "AGPL-3.0-only"),
    (
        "GNU Affero General Public License v3 or later (AGPLv3+)",
        "AGPL-3.0-or-later",
    ),
    ("GNU General Public License v2 (GPLv2)", "GPL-2.0-only"),
    (
        "GNU General Public License v2 or later (GPLv2+)",
        "GPL-2.0-or-later",
    ),
    ("GNU General Public License v3 (GPLv3)", "GPL-3.0-only"),
    (
        "GNU General Public License v3 or later (GPLv3+)",
        "GPL-3.0-or-later",
    ),
    (
        "GNU Lesser General Public License v2 (LGPLv2)",
        "LGPL-2.0-only",
    ),
    (
        "GNU Lesser General Public License v2 or later (LGPLv2+)",
        "LGPL-2.0-or-later",
    ),
    (
        "GNU Lesser General Public License v3 (LGPLv3)",
        "LGPL-3.0-only",
    ),
    (
        "GNU Lesser General Public License v3 or later (LGPLv3+)",
        "LGPL-3.0-or-later",
    ),
    ("ISC License (ISCL)", "ISC"),
    ("MIT License", "MIT"),
    ("MIT No Attribution License (MIT-0)", "MIT-0"),
    ("Mozilla Public License 1.1 (MPL 1.1)", "MPL-1.1"),
    ("Mozilla Public License 2.0 (MPL 2.0)", "MPL-2.0"),
    ("Python Software Foundation License", "PSF-2.0"),
    ("The Unlicense (Unlicense)", "Unlicense"),
    ("Universal Permissive License (UPL)", "UPL-1.0"),
    ("zlib/libpng License", "Zlib"),
    ("Zope Public License", "ZPL-2.1"),
    (
        "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication",
        "CC0-1.0",
    ),
    // Free text, as `License:` fields and package.json files spell it.
    ("BSD 3-Clause License", "BSD-3-Clause"),
    ("3-Clause BSD License", "BSD-3-Clause"),
    ("BSD 3-Clause", "BSD-3-Clause"),
    ("BSD-3", "BSD-3-Clause"),
    ("BSD3", "BSD-3-Clause"),
    ("New BSD License", "BSD-3-Clause"),
    ("New BSD", "BSD-3-Clause"),
    ("Modified BSD License", "BSD-3-Clause"),
    ("Revised BSD License", "BSD-3-Clause"),
    ("BSD", "BSD-3-Clause"),
    ("BSD 2-Clause License", "BSD-2-Clause"),
    ("2-Clause BSD License", "BSD-2-Clause"),
    ("BSD-2", "BSD-2-Clause"),
    ("Simplified BSD License", "BSD-2-Clause"),
    ("FreeBSD License", "BSD-2-Clause"),
    ("Apache License, Version 2.0", "Apache-2.0"),
    ("Apache License Version 2.0", "Apache-2.0"),
    ("Apache License 2", "Apache-2.0"),
    ("Apache 2.0", "Apache-2.0"),
    ("Apache 2", "Apache-2.0"),
    ("Apache2", "Apache-2.0"),
    ("Apache", "Apache-2.0"),
    ("ASL 2.0", "Apache-2.0"),
    ("The MIT License (MIT)", "MIT"),
    ("MIT/X11", "MIT"),
    ("Expat", "MIT"),
    ("PSF", "PSF-2.0"),
    ("PSF License", "PSF-2.0"),
    ("Python Software Foundation License Version 2", "PSF-2.0"),
    ("Mozilla Public License 2.0", "MPL-2.0"),
    ("MPL 2.0", "MPL-2.0"),
    ("MPL2", "MPL-2.0"),
    ("GPLv2", "GPL-2.0-only"),
    ("GPLv2+", "GPL-2.0-or-later"),
    ("GPLv3", "GPL-3.0-only"),
    ("GPLv3+", "GPL-3.0-or-later"),
    ("GNU GPLv3", "GPL-3.0-only"),
    ("LGPLv3", "LGPL-3.0-only"),
    ("LGPLv3+", "LGPL-3.0-or-later"),
    ("LGPLv2.1", "LGPL-2.1-only"),
    ("AGPLv3", "AGPL-3.0-only"),
    ("AGPLv3+", "AGPL-3.0-or-later"),
    ("ISCL", "ISC"),
    ("Unlicense", "Unlicense"),
    ("Zlib License", "Zlib"),
    ("Historical Permission Notice and Disclaimer (HPND)", "HPND"),
];

/// A name as compared: trove prefix gone, lower case, single spaces, no leading "the", no
/// trailing "license"/"licence".
fn normal(text: &str) -> String {
    let mut t = text.trim();
    for prefix in ["License :: OSI Approved :: ", "License :: "] {
        if let Some(rest) = t.strip_prefix(prefix) {
            t = rest;
            break;
        }
    }
    let mut t = t
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    if let Some(rest) = t.strip_prefix("the ") {
        t = rest.to_string();
    }
    for suffix in [" license", " licence"] {
        if let Some(rest) = t.strip_suffix(suffix) {
            t = rest.to_string();
        }
    }
    t
}

/// The SPDX id a licence name means: an SPDX id in any case, a name from [`NAMES`], an SPDX
/// full name ("Apache License 2.0"), or one of the `spdx` crate's imprecise names when it is the
/// whole text ("apache2", "gplv3"; a prefix alone could turn "BSD 4-Clause" into BSD-2-Clause).
pub fn spdx_for(text: &str) -> Option<&'static str> {
    let text = text.trim();
    if let Some(id) = spdx::license_id(text) {
        return Some(id.name);
    }
    let key = normal(text);
    if key.is_empty() {
        return None;
    }
    let licenses = spdx::identifiers::LICENSES;
    licenses
        .iter()
        .find(|l| l.name.eq_ignore_ascii_case(text))
        .map(|l| l.name)
        .or_else(|| {
            NAMES
                .iter()
                .find(|(n, _)| normal(n) == key)
                .map(|(_, id)| *id)
        })
        .or_else(|| {
            // The current id before a deprecated one of the same name (GPL-2.0-only, not GPL-2.0).
            let named = |l: &&spdx::License| normal(l.full_name) == key;
            let deprecated = |l: &&spdx::License| l.flags & spdx::flags::IS_DEPRECATED != 0;
            licenses
                .iter()
                .filter(named)
                .find(|l| !deprecated(l))
                .or_else(|| licenses.iter().find(named))
                .map(|l| l.name)
        })
        .or_else(|| match spdx::imprecise_license_id(text) {
            Some((id, len)) if len == text.len() => Some(id.name),
            _ => None,
        })
}

/// The most alternatives an expression expands to. `(A OR B) AND (C OR D) AND …` doubles with
/// every term; past this the rest are dropped, which can only make the check stricter (fewer
/// ways to be allowed), never let a denied licence through.
const MAX_ALTERNATIVES: usize = 256;

/// The SPDX ids of an expression as alternatives, each a set of licences that all apply:
/// `MIT AND (Apache-2.0 OR GPL-3.0-only)` → `[[MIT, Apache-2.0], [MIT, GPL-3.0-only]]`. `AND`
/// binds tighter than `OR`, as SPDX says; `WITH` exceptions are dropped (the licence is what the
/// lists name). Operators are also read in lower case, and `; ` or ` / ` between whole names
/// (several licence classifiers) mean the package is offered under each.
pub fn alternatives(expression: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for part in expression.split("; ").flat_map(|p| p.split(" / ")) {
        // A name that is not an expression ("GNU General Public License v3 (GPLv3)", "The MIT
        // License (MIT)") is one licence, parentheses and all.
        let alts = match spdx_for(part) {
            Some(id) => vec![vec![id.to_string()]],
            None => Parser::new(part).all(),
        };
        out.extend(alts.into_iter().filter(|a| !a.is_empty()));
    }
    out.truncate(MAX_ALTERNATIVES);
    out
}

/// A recursive-descent reader of licence expressions, producing disjunctive normal form.
/// How deep parentheses are followed.
const MAX_NESTING: usize = 32;

struct Parser<'a> {
    tokens: Vec<&'a str>,
    at: usize,
    depth: usize,
}

enum Token<'a> {
    Open,
    Close,
    Or,
    And,
    With,
    Word(&'a str),
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        let mut tokens = Vec::new();
        for word in text.split_whitespace() {
            // Parentheses need not be spaced: "(MIT OR Apache-2.0)".
            let mut rest = word;
            while let Some(r) = rest.strip_prefix('(') {
                tokens.push("(");
                rest = r;
            }
            let mut closes = 0;
            while let Some(r) = rest.strip_suffix(')') {
                closes += 1;
                rest = r;
            }
            if !rest.is_empty() {
                tokens.push(rest);
            }
            tokens.extend(std::iter::repeat_n(")", closes));
        }
        Parser {
            tokens,
            at: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<Token<'a>> {
        let t = *self.tokens.get(self.at)?;
        Some(match t {
            "(" => Token::Open,
            ")" => Token::Close,
            "OR" | "or" => Token::Or,
            "AND" | "and" => Token::And,
            "WITH" | "with" => Token::With,
            w => Token::Word(w),
        })
    }

    /// The whole text. Whatever a stray `)` leaves unread is joined with `AND`: the stricter
    /// reading, so a malformed expression can never drop a licence it names.
    fn all(&mut self) -> Vec<Vec<String>> {
        let mut alts = self.or();
        while self.at < self.tokens.len() {
            let before = self.at;
            if let Some(Token::Close) = self.peek() {
                self.at += 1;
                continue;
            }
            let more = self.or();
            alts = cross(&alts, &more);
            if self.at == before {
                self.at += 1;
            }
        }
        alts
    }

    /// `and (OR and)*`: the alternatives of each side, side by side.
    fn or(&mut self) -> Vec<Vec<String>> {
        let mut alts = self.and();
        while let Some(Token::Or) = self.peek() {
            self.at += 1;
            alts.extend(self.and());
            alts.truncate(MAX_ALTERNATIVES);
        }
        alts
    }

    /// `atom (AND atom)*`: every combination of one alternative from each side.
    fn and(&mut self) -> Vec<Vec<String>> {
        let mut alts = self.atom();
        while let Some(Token::And) = self.peek() {
            self.at += 1;
            let right = self.atom();
            alts = cross(&alts, &right);
        }
        alts
    }

    /// `( or )`, or a licence name of one or more words, with an optional `WITH exception`.
    fn atom(&mut self) -> Vec<Vec<String>> {
        // Nesting is bounded, so a hostile `((((…` cannot exhaust the stack: deeper parentheses
        // are dropped and what they hold is still read (a stray `)` is joined by `all` with AND).
        while self.depth == MAX_NESTING && matches!(self.peek(), Some(Token::Open)) {
            self.at += 1;
        }
        match self.peek() {
            Some(Token::Open) => {
                self.at += 1;
                self.depth += 1;
                let inner = self.or();
                self.depth -= 1;
                if let Some(Token::Close) = self.peek() {
                    self.at += 1;
                }
                inner
            }
            _ => {
                let mut words = Vec::new();
                while let Some(Token::Word(w)) = self.peek() {
                    words.push(w);
                    self.at += 1;
                }
                if let Some(Token::With) = self.peek() {
                    self.at += 1;
                    while let Some(Token::Word(_)) = self.peek() {
                        self.at += 1;
                    }
                }
                if words.is_empty() {
                    // A stray operator or parenthesis: skip it, so reading always moves on.
                    if self.at < self.tokens.len() && !matches!(self.peek(), Some(Token::Or)) {
                        self.at += 1;
                    }
                    return vec![Vec::new()];
                }
                let name = words.join(" ");
                let id = spdx_for(&name).map(str::to_string).unwrap_or(name);
                vec![vec![id]]
            }
        }
    }
}

/// Each alternative of `left` joined with each of `right`, at most [`MAX_ALTERNATIVES`].
fn cross(left: &[Vec<String>], right: &[Vec<String>]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for l in left {
        for r in right {
            if out.len() == MAX_ALTERNATIVES {
                return out;
            }
            let mut both = l.clone();
            both.extend(r.iter().filter(|id| !l.contains(id)).cloned());
            out.push(both);
        }
    }
    out
}

fn finding(rule: &str, severity: Severity, evidence: String) -> Finding {
    Finding {
        rule: rule.into(),
        severity,
        file: None,
        line: None,
        evidence: Some(evidence),
    }
}

/// `license.denied` (an alternative every path of which hits the deny list),
/// `license.not-allowed` / `license.unknown` (under `otherwise: Review` or `Deny`), or nothing.
pub fn check(license: Option<&str>, rules: &LicenseRules) -> Option<Finding> {
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let otherwise = |rule: &str, why: String| match rules.otherwise {
        LicenseAction::Allow => None,
        LicenseAction::Review => Some(finding(rule, Severity::Medium, why)),
        LicenseAction::Deny => Some(finding(rule, Severity::High, why)),
    };
    let Some(text) = license.map(str::trim).filter(|l| !l.is_empty()) else {
        return otherwise("license.unknown", "the package declares no licence".into());
    };
    let alts = alternatives(text);
    let denied = |alt: &Vec<String>| alt.iter().any(|id| rules.deny.iter().any(|d| eq(d, id)));
    let allowed = |alt: &Vec<String>| alt.iter().all(|id| rules.allow.iter().any(|a| eq(a, id)));
    if !alts.is_empty() && alts.iter().all(denied) {
        return Some(finding(
            "license.denied",
            Severity::High,
            format!("licence {text:?} is on the policy's deny list"),
        ));
    }
    if rules.allow.is_empty() || alts.iter().any(|a| !denied(a) && allowed(a)) {
        return None;
    }
    otherwise(
        "license.not-allowed",
        format!("licence {text:?} is not on the policy's allow list"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(otherwise: LicenseAction) -> LicenseRules {
        LicenseRules {
            allow: vec!["MIT".into(), "Apache-2.0".into(), "BSD-3-Clause".into()],
            deny: vec!["AGPL-3.0-only".into()],
            otherwise,
        }
    }

    #[test]
    fn expressions_against_allow_and_deny_lists() {
        let r = rules(LicenseAction::Review);
        assert_eq!(check(Some("MIT"), &r), None);
        assert_eq!(
            check(Some("Apache-2.0 OR AGPL-3.0-only"), &r),
            None,
            "a permitted alternative"
        );
        assert_eq!(
            check(Some("License :: OSI Approved :: BSD License"), &r),
            None
        );
        assert_eq!(
            check(Some("AGPL-3.0-only"), &r).map(|f| f.rule),
            Some("license.denied".into())
        );
        assert_eq!(
            check(Some("MIT AND GPL-3.0-only"), &r).map(|f| f.rule),
            Some("license.not-allowed".into())
        );
        assert_eq!(
            check(None, &r).map(|f| (f.rule, f.severity)),
            Some(("license.unknown".into(), Severity::Medium))
        );
        assert_eq!(
            check(None, &rules(LicenseAction::Deny)).map(|f| f.severity),
            Some(Severity::High)
        );
        assert_eq!(check(Some("WTFPL"), &rules(LicenseAction::Allow)), None);
    }

    /// `AND` binds tighter than `OR`, and parentheses group: a licence required on every path
    /// is denied however the rest is offered.
    #[test]
    fn expressions_keep_their_grouping() {
        assert_eq!(
            alternatives("MIT AND (Apache-2.0 OR GPL-3.0-only)"),
            vec![
                vec!["MIT".to_string(), "Apache-2.0".into()],
                vec!["MIT".to_string(), "GPL-3.0-only".into()]
            ]
        );
        assert_eq!(
            alternatives("(MIT OR Apache-2.0) AND BSD-3-Clause"),
            vec![
                vec!["MIT".to_string(), "BSD-3-Clause".into()],
                vec!["Apache-2.0".to_string(), "BSD-3-Clause".into()]
            ]
        );
        assert_eq!(
            alternatives("GPL-2.0-or-later WITH Classpath-exception-2.0 OR MIT"),
            vec![
                vec!["GPL-2.0-or-later".to_string()],
                vec!["MIT".to_string()]
            ]
        );
        let deny_mit = LicenseRules {
            allow: vec!["MIT".into(), "Apache-2.0".into()],
            deny: vec!["MIT".into()],
            otherwise: LicenseAction::Review,
        };
        assert_eq!(
            check(Some("MIT AND (Apache-2.0 OR GPL-3.0-only)"), &deny_mit).map(|f| f.rule),
            Some("license.denied".into()),
            "MIT applies on every path"
        );
        let r = rules(LicenseAction::Review);
        assert_eq!(
            check(Some("(MIT OR GPL-3.0-only) AND Apache-2.0"), &r),
            None
        );
        assert_eq!(
            check(Some("(MIT OR Apache-2.0) AND AGPL-3.0-only"), &r).map(|f| f.rule),
            Some("license.denied".into())
        );
        // Hostile input stays bounded and never panics.
        let deep = format!("{}MIT{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(alternatives(&deep), vec![vec!["MIT".to_string()]]);
        let deep_and = format!("{}MIT AND GPL-3.0-only{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(
            alternatives(&deep_and),
            vec![vec!["MIT".to_string(), "GPL-3.0-only".into()]],
            "past the nesting bound, what the parentheses hold is still read"
        );
        let wide = vec!["(MIT OR Apache-2.0)"; 64].join(" AND ");
        assert!(alternatives(&wide).len() <= MAX_ALTERNATIVES);
        assert_eq!(
            alternatives("MIT) AND AGPL-3.0-only"),
            vec![vec!["MIT".to_string(), "AGPL-3.0-only".into()]],
            "a stray parenthesis drops nothing"
        );
        for odd in ["AND", "(", ")", "OR OR", "MIT AND", "( AND )", "MIT WITH"] {
            let _ = alternatives(odd);
        }
    }

    /// Names as packages on PyPI and npm write them, each to the SPDX id it means.
    #[test]
    fn licence_names_as_people_write_them() {
        for (text, id) in [
            ("BSD 3-Clause License", "BSD-3-Clause"),
            ("new BSD", "BSD-3-Clause"),
            ("Apache Software License", "Apache-2.0"),
            ("Apache License, Version 2.0", "Apache-2.0"),
            ("Apache License 2.0", "Apache-2.0"),
            ("apache-2.0", "Apache-2.0"),
            ("The MIT License (MIT)", "MIT"),
            ("MIT License", "MIT"),
            ("License :: OSI Approved :: BSD License", "BSD-3-Clause"),
            (
                "License :: OSI Approved :: GNU General Public License v3 (GPLv3)",
                "GPL-3.0-only",
            ),
            (
                "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)",
                "MPL-2.0",
            ),
            (
                "License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication",
                "CC0-1.0",
            ),
            ("Python Software Foundation License", "PSF-2.0"),
            (
                "GNU Lesser General Public License v2.1 only",
                "LGPL-2.1-only",
            ),
            (
                "GNU General Public License v2.0 or later",
                "GPL-2.0-or-later",
            ),
            ("Mozilla Public License 2.0", "MPL-2.0"),
            ("apache2", "Apache-2.0"),
            ("gplv3", "GPL-3.0-only"),
            ("ISC License (ISCL)", "ISC"),
        ] {
            assert_eq!(spdx_for(text), Some(id), "{text:?}");
        }
        // A prefix is not a name.
        assert_eq!(spdx_for("BSD 4-Clause"), None);
        assert_eq!(spdx_for("Proprietary"), None);
        // scikit-learn 1.5.2's `License:` line, under the default allow list.
        let r = rules(LicenseAction::Review);
        assert_eq!(check(Some("BSD 3-Clause License"), &r), None);
        assert_eq!(
            check(
                Some(
                    "License :: OSI Approved :: MIT License; License :: OSI Approved :: Apache Software License"
                ),
                &r
            ),
            None
        );
        assert_eq!(
            check(Some("GNU Affero General Public License v3"), &r).map(|f| f.rule),
            Some("license.denied".into())
        );
    }
}

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

/// The SPDX ids of an expression, grouped as alternatives: `A OR (B AND C)` → `[[A], [B, C]]`.
/// Parentheses are flattened, which is exact for the expressions packages use.
pub fn alternatives(expression: &str) -> Vec<Vec<String>> {
    // A name that is not an expression ("GNU General Public License v3 (GPLv3)", "The MIT
    // License (MIT)") is one licence, parentheses and all.
    if let Some(id) = spdx_for(expression) {
        return vec![vec![id.to_string()]];
    }
    let cleaned = expression.replace(['(', ')'], " ");
    cleaned
        .split(" OR ")
        .flat_map(|alt| alt.split(" or "))
        // Several licence classifiers: the package is offered under each.
        .flat_map(|alt| alt.split("; "))
        .flat_map(|alt| alt.split(" / "))
        .map(|alt| {
            alt.split(" AND ")
                .flat_map(|p| p.split(" and "))
                .map(|id| {
                    let id = id.split(" WITH ").next().unwrap_or(id).trim();
                    spdx_for(id)
                        .map(str::to_string)
                        .unwrap_or_else(|| id.to_string())
                })
                .filter(|id| !id.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|a| !a.is_empty())
        .collect()
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

//! Licences: the package's SPDX expression (or what its metadata says instead) against the
//! policy's allow and deny lists.

use crate::api::package_request::Severity;
use crate::api::scan_policy::{LicenseAction, LicenseRules};
use crate::pipeline::unpack::Finding;

/// Common free-text licence names and trove classifiers, as SPDX ids.
fn spdx_for(text: &str) -> Option<&'static str> {
    let t = text
        .trim()
        .trim_start_matches("License :: ")
        .to_ascii_lowercase();
    let t = t.trim_start_matches("osi approved :: ");
    Some(match t {
        "mit" | "mit license" | "the mit license" | "mit-0" => "MIT",
        "apache 2.0"
        | "apache-2.0"
        | "apache license 2.0"
        | "apache software license"
        | "apache license, version 2.0"
        | "apache 2"
        | "apache license version 2.0" => "Apache-2.0",
        "bsd"
        | "bsd license"
        | "bsd-3-clause"
        | "new bsd license"
        | "bsd 3-clause"
        | "3-clause bsd license" => "BSD-3-Clause",
        "bsd-2-clause" | "simplified bsd" | "bsd 2-clause" => "BSD-2-Clause",
        "isc" | "isc license" | "isc license (iscl)" => "ISC",
        "python software foundation license" | "psf" | "psf license" | "psf-2.0" => "PSF-2.0",
        "mozilla public license 2.0 (mpl 2.0)" | "mpl-2.0" | "mpl 2.0" => "MPL-2.0",
        "gnu affero general public license v3" | "agpl-3.0" | "agplv3" => "AGPL-3.0-only",
        "gnu general public license v3 (gplv3)" | "gplv3" | "gpl-3.0" => "GPL-3.0-only",
        "gnu lesser general public license v3 (lgplv3)" | "lgpl-3.0" => "LGPL-3.0-only",
        "the unlicense (unlicense)" | "unlicense" => "Unlicense",
        _ => return None,
    })
}

/// The SPDX ids of an expression, grouped as alternatives: `A OR (B AND C)` → `[[A], [B, C]]`.
/// Parentheses are flattened, which is exact for the expressions packages use.
pub fn alternatives(expression: &str) -> Vec<Vec<String>> {
    let cleaned = expression.replace(['(', ')'], " ");
    cleaned
        .split(" OR ")
        .flat_map(|alt| alt.split(" or "))
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
}

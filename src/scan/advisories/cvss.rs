//! Scores of the CVSS vectors OSV records carry (`CVSS_V2`, `CVSS_V3`, `CVSS_V4`), and the
//! qualitative rating a policy compares against.
//!
//! Scoring is RustSec's `cvss` crate: v4.0 scores come from FIRST's macro-vector lookup table and
//! its interpolation, which is data from the specification's reference calculator, not a formula
//! worth re-deriving here.

use std::str::FromStr;

use crate::api::package_request::Severity;

/// A scored vector: the number and the name the specification asks it to be shown with
/// (`CVSS-B` for a v4 base score, `CVSS-BT` with threat metrics, …; the version for v2/v3).
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub score: f64,
    pub nomenclature: String,
}

/// The score of `vector` given as OSV severity `kind`; `None` when the kind is not a CVSS kind,
/// the vector does not parse, or its version is not the kind's (a `CVSS:3.1/…` string filed as
/// `CVSS_V4` is a broken record, not a v3 score).
pub fn score(kind: &str, vector: &str) -> Option<Scored> {
    let vector = vector.trim();
    let parsed = cvss::Cvss::from_str(vector).ok()?;
    let nomenclature = match (&parsed, kind) {
        (cvss::Cvss::CvssV20(_), "CVSS_V2") if has_all(vector, V2_BASE) => "CVSS v2.0".to_string(),
        (cvss::Cvss::CvssV30(_), "CVSS_V3") if has_all(vector, V3_BASE) => "CVSS v3.0".to_string(),
        (cvss::Cvss::CvssV31(_), "CVSS_V3") if has_all(vector, V3_BASE) => "CVSS v3.1".to_string(),
        // The v4 parser itself refuses a vector without its mandatory metrics.
        (cvss::Cvss::CvssV40(v), "CVSS_V4") => v.nomenclature().to_string(),
        _ => return None,
    };
    Some(Scored {
        score: parsed.score(),
        nomenclature,
    })
}

const V2_BASE: &[&str] = &["AV", "AC", "Au", "C", "I", "A"];
const V3_BASE: &[&str] = &["AV", "AC", "PR", "UI", "S", "C", "I", "A"];

/// The v2/v3 parsers score a missing base metric as zero, which would turn a truncated vector
/// into a harmless-looking score; such a vector is not scored at all.
fn has_all(vector: &str, metrics: &[&str]) -> bool {
    metrics.iter().all(|m| {
        vector
            .split('/')
            .any(|part| part.split_once(':').is_some_and(|(k, _)| k == *m))
    })
}

/// The CVSS qualitative rating (the same bands in v3.x and v4.0).
pub fn rating(score: f64) -> Severity {
    match score {
        s if s >= 9.0 => Severity::Critical,
        s if s >= 7.0 => Severity::High,
        s if s >= 4.0 => Severity::Medium,
        s if s > 0.0 => Severity::Low,
        _ => Severity::Info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(kind: &str, vector: &str) -> Option<f64> {
        score(kind, vector).map(|s| s.score)
    }

    #[test]
    fn v3_scores_match_the_nvd_calculator() {
        for (vector, expected) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.8),
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
        ] {
            assert_eq!(value("CVSS_V3", vector), Some(expected), "{vector}");
        }
        assert_eq!(
            value("CVSS_V3", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            None
        );
        assert_eq!(rating(9.8), Severity::Critical);
        assert_eq!(rating(6.1), Severity::Medium);
    }

    /// Values as FIRST's v4.0 calculator gives them (checked with Red Hat's `cvss` 3.6 for
    /// Python, by the calculator's authors; `tests/cvss_oracle.rs` compares thousands more).
    #[test]
    fn v4_scores_match_the_first_calculator() {
        for (vector, expected, nomenclature) in [
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                9.3,
                "CVSS-B",
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
                0.0,
                "CVSS-B",
            ),
            (
                "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                8.5,
                "CVSS-B",
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U",
                8.1,
                "CVSS-BT",
            ),
        ] {
            let s = score("CVSS_V4", vector).expect(vector);
            assert_eq!(s.score, expected, "{vector}");
            assert_eq!(s.nomenclature, nomenclature, "{vector}");
        }
    }

    #[test]
    fn a_vector_filed_under_the_wrong_kind_or_broken_is_not_scored() {
        let v3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
        let v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        assert_eq!(value("CVSS_V4", v3), None);
        assert_eq!(value("CVSS_V3", v4), None);
        assert_eq!(value("Ubuntu", "high"), None);
        assert_eq!(value("CVSS_V4", "CVSS:4.0/AV:N/AC:L"), None);
        assert_eq!(
            value("CVSS_V3", "CVSS:3.1/AV:N"),
            None,
            "truncated, not 0.0"
        );
        assert_eq!(
            value("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H"),
            None,
            "A is missing"
        );
        assert_eq!(value("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P"), None);
        assert_eq!(value("CVSS_V4", ""), None);
        assert_eq!(value("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P"), Some(7.5));
    }
}

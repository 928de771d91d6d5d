//! The regular expressions the CRD schemas enforce at admission.
//!
//! They are written in the RE2 subset both the Kubernetes API server (Go `regexp`) and the Rust
//! `regex` crate accept: no look-around, no back-references.

/// A PyPI project name as PEP 508 allows it (PEP 503 normalises it later; case and the `-_.`
/// separators are not significant).
pub const PYPI_NAME: &str = r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$";

/// An npm package name as the registry accepts new ones: lower case, URL-safe, optionally in a
/// `@scope/`.
pub const NPM_NAME: &str = r"^(@[a-z0-9~-][a-z0-9._~-]*/)?[a-z0-9~-][a-z0-9._~-]*$";

/// Either of the two above: the schema-level check of `PackageRequest.spec.name`. The CEL rules on
/// the spec then hold each ecosystem to its own pattern.
pub const PACKAGE_NAME: &str = r"^((@[a-z0-9~-][a-z0-9._~-]*/)?[a-z0-9~-][a-z0-9._~-]*|[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$";

/// An exact version pin: a PEP 440 public version or a SemVer 2.0 version. It refuses what is not a
/// single version (`>=1.0`, `^1.2`, `~1`, `1.x`, `*`, `latest`, `1.0 - 2.0`), so a request can only
/// ever mean one set of files.
pub const EXACT_VERSION: &str = r"^v?[0-9]+([.][0-9]+)*((a|b|rc|alpha|beta|c|pre|preview)[0-9]*)?([.]?(post|rev|r)[0-9]*)?([.]?dev[0-9]*)?([+][A-Za-z0-9]+([.-][A-Za-z0-9]+)*)?$|^(0|[1-9][0-9]*)[.](0|[1-9][0-9]*)[.](0|[1-9][0-9]*)(-[0-9A-Za-z-]+([.][0-9A-Za-z-]+)*)?([+][0-9A-Za-z-]+([.][0-9A-Za-z-]+)*)?$";

/// A SageMaker domain id.
pub const DOMAIN_ID: &str = r"^d-[a-z0-9]{12}$";
/// A SageMaker domain name (`DomainName` in the SageMaker API).
pub const DOMAIN_NAME: &str = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$";
/// An AWS region name.
pub const AWS_REGION: &str = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$";
/// A twelve-digit AWS account id.
pub const AWS_ACCOUNT_ID: &str = r"^[0-9]{12}$";
/// A VPC id (short or long form).
pub const VPC_ID: &str = r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$";
/// A subnet id (short or long form).
pub const SUBNET_ID: &str = r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$";
/// A security group id (short or long form).
pub const SECURITY_GROUP_ID: &str = r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$";
/// A KMS key as key id or key ARN (single- or multi-Region). Aliases are refused on purpose:
/// SageMaker reports the key itself, so an alias would show as drift on every resync.
pub const KMS_KEY: &str = r"^(([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})|(mrk-[0-9a-f]{32})|(arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:key/(([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})|(mrk-[0-9a-f]{32}))))$";
/// An IAM role ARN.
pub const IAM_ROLE_ARN: &str = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$";
/// A CodeArtifact domain or repository name.
pub const CODEARTIFACT_DOMAIN: &str = r"^[a-z][a-z0-9-]{0,48}[a-z0-9]$";
/// A CodeArtifact repository name.
pub const CODEARTIFACT_REPOSITORY: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,99}$";
/// A Kubernetes object name (RFC 1123 subdomain).
pub const K8S_NAME: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A namespace name (RFC 1123 label) or `*` for every namespace.
pub const NAMESPACE_OR_STAR: &str = r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$";
/// A Go `time.ParseDuration` string with a positive value, as `metav1.Duration` uses (`90s`, `5m`,
/// `1h30m`).
pub const DURATION: &str = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";
/// A filename glob for `spec.files`: no path separators, since registries list bare file names.
pub const FILE_GLOB: &str = r"^[^/\\]+$";
/// A policy exception target: an advisory id (`GHSA-…`, `PYSEC-…`, `CVE-…`, `MAL-…`) or a rule id
/// (`heuristics.install-script`).
pub const EXCEPTION_ID: &str = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$";
/// An SPDX licence id or `LicenseRef-…`.
pub const SPDX_ID: &str = r"^[A-Za-z0-9][A-Za-z0-9.+-]*$";

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn matches(p: &str, s: &str) -> bool {
        Regex::new(p).expect("pattern compiles").is_match(s)
    }

    #[test]
    fn exact_versions_accept_pins_and_refuse_ranges() {
        for ok in [
            "2.1.3",
            "1.0",
            "1.5.2",
            "2.0.0rc1",
            "1.0.post1",
            "1.0.dev3",
            "1.2.3-beta.1",
            "1.2.3+build.5",
            "2024.10.1",
            "0.0.1",
        ] {
            assert!(
                matches(EXACT_VERSION, ok),
                "{ok} should be an exact version"
            );
        }
        for bad in [
            ">=1.0",
            "^1.2.3",
            "~1.2",
            "1.x",
            "*",
            "latest",
            "1.0 - 2.0",
            "",
            "==1.0",
            "1.0,<2",
            "v",
        ] {
            assert!(!matches(EXACT_VERSION, bad), "{bad} should be refused");
        }
    }

    /// The CRD's CEL rule for `spec.version` uses this same expression.
    #[test]
    fn the_version_rule_in_the_crd_is_this_pattern() {
        let crd =
            serde_json::to_string(&<crate::api::PackageRequest as kube::CustomResourceExt>::crd())
                .expect("crd");
        let rule = format!("self.version.matches('{EXACT_VERSION}')");
        let encoded = serde_json::to_string(&rule).expect("json");
        assert!(
            crd.contains(&encoded),
            "the CRD's version rule differs from EXACT_VERSION"
        );
    }

    #[test]
    fn package_names_follow_each_ecosystem() {
        for ok in ["numpy", "scikit-learn", "zope.interface", "Django", "a"] {
            assert!(matches(PYPI_NAME, ok) && matches(PACKAGE_NAME, ok), "{ok}");
        }
        for ok in [
            "left-pad",
            "@types/node",
            "@aws-sdk/client-s3",
            "lodash.merge",
        ] {
            assert!(matches(NPM_NAME, ok) && matches(PACKAGE_NAME, ok), "{ok}");
        }
        for bad in [
            "@Types/node",
            "@/node",
            "@types",
            "@types/",
            "_numpy",
            ".numpy",
            "a b",
            "../x",
        ] {
            assert!(!matches(PACKAGE_NAME, bad), "{bad} should be refused");
        }
        assert!(!matches(NPM_NAME, "Lodash"));
        assert!(!matches(PYPI_NAME, "@types/node"));
    }

    #[test]
    fn aws_ids() {
        assert!(matches(SUBNET_ID, "subnet-0a1b2c3d4e5f60718"));
        assert!(matches(SUBNET_ID, "subnet-0a1b2c3d"));
        assert!(!matches(SUBNET_ID, "subnet-xyz"));
        assert!(!matches(SUBNET_ID, "sg-0a1b2c3d"));
        assert!(matches(KMS_KEY, "1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(matches(
            KMS_KEY,
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        ));
        assert!(matches(
            KMS_KEY,
            "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
        ));
        assert!(!matches(KMS_KEY, "alias/my-key"));
        assert!(matches(DOMAIN_ID, "d-abcdefgh1234"));
        assert!(matches(DURATION, "1h30m"));
        assert!(!matches(DURATION, "5 minutes"));
    }
}

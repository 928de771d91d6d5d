//! The domain's declared settings against what `DescribeDomain` says: which fields drifted, the
//! one `UpdateDomain` call that corrects those AWS can change in place, and the domain to create
//! when there is none yet.

use std::collections::BTreeSet;

use crate::api::sagemaker_domain::{
    AppNetworkAccessType, AuthMode, FieldDrift, SageMakerDomainSpec,
};
use crate::aws::sagemaker::{DomainUpdate, DomainView, NewDomain};

/// A declared field the controller compares. Matching on it is exhaustive, so a field that can
/// drift cannot be left out of the correction by a typo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    AppNetworkAccessType,
    VpcId,
    SubnetIds,
    SecurityGroupIds,
    DefaultUserSecurityGroupIds,
    DefaultSpaceSecurityGroupIds,
    KmsKeyId,
    /// The key of the home EFS volume, which the domain's key must match.
    HomeVolumeKmsKeyId,
}

impl Field {
    /// The spec path, as status and events name it.
    pub fn path(self) -> &'static str {
        match self {
            Field::AppNetworkAccessType => "network.appNetworkAccessType",
            Field::VpcId => "network.vpcId",
            Field::SubnetIds => "network.subnetIds",
            Field::SecurityGroupIds => "network.securityGroupIds",
            Field::DefaultUserSecurityGroupIds => "network.defaultUserSecurityGroupIds",
            Field::DefaultSpaceSecurityGroupIds => "network.defaultSpaceSecurityGroupIds",
            Field::KmsKeyId => "encryption.kmsKeyId",
            Field::HomeVolumeKmsKeyId => "encryption.kmsKeyId (home EFS volume)",
        }
    }

    /// Whether `UpdateDomain` can change it in place (AWS fixes the VPC and the keys at creation).
    pub fn correctable(self) -> bool {
        !matches!(
            self,
            Field::VpcId | Field::KmsKeyId | Field::HomeVolumeKmsKeyId
        )
    }
}

/// One field whose actual value differs from the declared one.
#[derive(Clone, Debug, PartialEq)]
pub struct Drift {
    pub field: Field,
    pub declared: String,
    pub actual: String,
}

impl Drift {
    /// As `status.drift` and `status.lastCorrection` record it.
    pub fn record(&self) -> FieldDrift {
        FieldDrift {
            field: self.field.path().into(),
            declared: self.declared.clone(),
            actual: self.actual.clone(),
            correctable: self.field.correctable(),
        }
    }
}

/// The KMS key id of a key id or key ARN (`arn:aws:kms:…:key/ID`), for comparing the two forms.
fn key_id(k: &str) -> &str {
    k.rsplit_once(":key/").map(|(_, id)| id).unwrap_or(k)
}

fn list(v: &[String]) -> String {
    format!("[{}]", v.join(", "))
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
}

fn network_name(n: AppNetworkAccessType) -> &'static str {
    match n {
        AppNetworkAccessType::VpcOnly => "VpcOnly",
        AppNetworkAccessType::PublicInternetOnly => "PublicInternetOnly",
    }
}

/// Every declared field whose actual value differs. Fields the spec leaves out are not compared.
pub fn diff(spec: &SageMakerDomainSpec, actual: &DomainView) -> Vec<Drift> {
    let mut out = Vec::new();
    let mut push = |field: Field, declared: String, actual: String| {
        out.push(Drift {
            field,
            declared,
            actual,
        })
    };
    let n = &spec.network;
    let declared = network_name(n.app_network_access_type);
    let actual_net = actual.network.as_deref().unwrap_or("PublicInternetOnly");
    if declared != actual_net {
        push(
            Field::AppNetworkAccessType,
            declared.into(),
            actual_net.into(),
        );
    }
    if let Some(vpc) = &n.vpc_id
        && actual.vpc_id.as_deref() != Some(vpc.as_str())
    {
        push(
            Field::VpcId,
            vpc.clone(),
            actual.vpc_id.clone().unwrap_or_else(|| "(none)".into()),
        );
    }
    let sets = [
        (Field::SubnetIds, &n.subnet_ids, &actual.subnet_ids),
        (
            Field::SecurityGroupIds,
            &n.security_group_ids,
            &actual.security_group_ids,
        ),
        (
            Field::DefaultUserSecurityGroupIds,
            &n.default_user_security_group_ids,
            &actual.user_security_groups,
        ),
        (
            Field::DefaultSpaceSecurityGroupIds,
            &n.default_space_security_group_ids,
            &actual.space_security_groups,
        ),
    ];
    for (field, declared, actual) in sets {
        if !declared.is_empty() && !same_set(declared, actual) {
            push(field, list(declared), list(actual));
        }
    }
    if let Some(key) = spec.encryption.as_ref().and_then(|e| e.kms_key_id.as_ref()) {
        match actual.kms_key_id.as_deref() {
            Some(actual_key) if key_id(key) == key_id(actual_key) => {
                if let Some(efs) = &actual.efs_kms_key_id
                    && key_id(efs) != key_id(key)
                {
                    push(Field::HomeVolumeKmsKeyId, key.clone(), efs.clone());
                }
            }
            Some(actual_key) if !actual_key.is_empty() => {
                push(Field::KmsKeyId, key.clone(), actual_key.to_string())
            }
            _ => push(
                Field::KmsKeyId,
                key.clone(),
                "(none: AWS managed key)".into(),
            ),
        }
    }
    out
}

/// The `UpdateDomain` call that corrects the correctable drift: switching to `VpcOnly` carries the
/// subnets and the VPC, as AWS requires them in the same call.
pub fn correction(
    spec: &SageMakerDomainSpec,
    actual: &DomainView,
    drift: &[Drift],
) -> DomainUpdate {
    let n = &spec.network;
    let mut u = DomainUpdate::default();
    for d in drift {
        match d.field {
            Field::AppNetworkAccessType => {
                u.network = Some(network_name(n.app_network_access_type).into());
                if n.app_network_access_type == AppNetworkAccessType::VpcOnly {
                    u.vpc_id = n.vpc_id.clone().or_else(|| actual.vpc_id.clone());
                    u.subnet_ids = Some(if n.subnet_ids.is_empty() {
                        actual.subnet_ids.clone()
                    } else {
                        n.subnet_ids.clone()
                    });
                }
            }
            Field::SubnetIds => u.subnet_ids = Some(n.subnet_ids.clone()),
            Field::SecurityGroupIds => u.security_group_ids = Some(n.security_group_ids.clone()),
            Field::DefaultUserSecurityGroupIds => {
                u.user_security_groups = Some(n.default_user_security_group_ids.clone())
            }
            Field::DefaultSpaceSecurityGroupIds => {
                u.space_security_groups = Some(n.default_space_security_group_ids.clone())
            }
            Field::VpcId | Field::KmsKeyId | Field::HomeVolumeKmsKeyId => {}
        }
    }
    u
}

pub fn describe(drift: &[Drift]) -> String {
    drift
        .iter()
        .map(|d| {
            format!(
                "{}: declared {}, actual {}",
                d.field.path(),
                d.declared,
                d.actual
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The domain `create: true` asks for. Admission requires the name, VPC, subnets and role with
/// `create`; a spec that reached the controller without them (a CRD installed without its rules)
/// is refused here, naming the field, rather than sent to AWS as an empty string.
pub fn new_domain(spec: &SageMakerDomainSpec) -> Result<NewDomain, String> {
    let required = |value: &Option<String>, field: &str| {
        value.clone().filter(|v| !v.is_empty()).ok_or_else(|| {
            format!(
                "spec.{field} is required to create a domain (create: true): set it, or set spec.domainId to adopt an existing domain"
            )
        })
    };
    let name = required(&spec.domain_name, "domainName")?;
    let vpc_id = required(&spec.network.vpc_id, "network.vpcId")?;
    let execution_role = required(&spec.execution_role_arn, "executionRoleArn")?;
    if spec.network.subnet_ids.is_empty() {
        return Err("spec.network.subnetIds is required to create a domain (create: true): list the subnets Studio runs in".into());
    }
    Ok(NewDomain {
        name,
        network: network_name(spec.network.app_network_access_type).into(),
        vpc_id,
        subnet_ids: spec.network.subnet_ids.clone(),
        security_group_ids: spec.network.security_group_ids.clone(),
        user_security_groups: spec.network.default_user_security_group_ids.clone(),
        space_security_groups: spec.network.default_space_security_group_ids.clone(),
        kms_key_id: spec.encryption.as_ref().and_then(|e| e.kms_key_id.clone()),
        execution_role,
        sso: spec.auth_mode == AuthMode::Sso,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SageMakerDomainSpec {
        serde_json::from_value(serde_json::json!({
            "domainId": "d-abcdefghijkl", "region": "us-east-1",
            "network": {"appNetworkAccessType": "VpcOnly", "vpcId": "vpc-1",
                        "subnetIds": ["subnet-1", "subnet-2"], "securityGroupIds": ["sg-1"]},
            "encryption": {"kmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/k1"},
        }))
        .expect("spec")
    }

    fn view() -> DomainView {
        DomainView {
            id: "d-abcdefghijkl".into(),
            status: "InService".into(),
            network: Some("VpcOnly".into()),
            vpc_id: Some("vpc-1".into()),
            subnet_ids: vec!["subnet-2".into(), "subnet-1".into()],
            security_group_ids: vec!["sg-1".into()],
            kms_key_id: Some("k1".into()),
            ..DomainView::default()
        }
    }

    #[test]
    fn in_sync_when_only_order_or_key_form_differ() {
        assert!(diff(&spec(), &view()).is_empty());
    }

    #[test]
    fn switching_back_to_vpc_only_carries_the_subnets_and_the_vpc() {
        let mut v = view();
        v.network = Some("PublicInternetOnly".into());
        v.security_group_ids.push("sg-extra".into());
        let d = diff(&spec(), &v);
        assert_eq!(
            d.iter().map(|d| d.field).collect::<Vec<_>>(),
            [Field::AppNetworkAccessType, Field::SecurityGroupIds]
        );
        assert!(d.iter().all(|d| d.record().correctable));
        let u = correction(&spec(), &v, &d);
        assert_eq!(u.network.as_deref(), Some("VpcOnly"));
        assert_eq!(
            u.vpc_id.as_deref(),
            Some("vpc-1"),
            "AWS requires the VPC with the switch"
        );
        assert_eq!(
            u.subnet_ids,
            Some(vec!["subnet-1".to_string(), "subnet-2".to_string()])
        );
        assert_eq!(u.security_group_ids, Some(vec!["sg-1".to_string()]));
    }

    #[test]
    fn kms_key_and_vpc_drift_cannot_be_corrected() {
        let mut v = view();
        v.kms_key_id = Some("arn:aws:kms:us-east-1:111122223333:key/k2".into());
        v.vpc_id = Some("vpc-9".into());
        let d = diff(&spec(), &v);
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| !d.record().correctable));
        assert!(correction(&spec(), &v, &d).is_empty());
        let text = describe(&d);
        assert!(text.contains("key/k1") && text.contains("key/k2"), "{text}");
    }

    /// A create without the fields AWS needs stops naming the field; nothing is sent to AWS
    /// with an empty name or role.
    #[test]
    fn a_domain_to_create_needs_its_name_vpc_subnets_and_role() {
        let mut s = spec();
        s.domain_id = None;
        s.create = true;
        s.domain_name = Some("team-a".into());
        s.execution_role_arn = Some("arn:aws:iam::111122223333:role/studio".into());
        let new = new_domain(&s).expect("complete");
        assert_eq!(
            (new.name.as_str(), new.vpc_id.as_str(), new.network.as_str()),
            ("team-a", "vpc-1", "VpcOnly")
        );
        for (field, clear) in [
            (
                "spec.domainName",
                (|s: &mut SageMakerDomainSpec| s.domain_name = None) as fn(&mut _),
            ),
            ("spec.executionRoleArn", |s| {
                s.execution_role_arn = Some(String::new())
            }),
            ("spec.network.vpcId", |s| s.network.vpc_id = None),
            ("spec.network.subnetIds", |s| s.network.subnet_ids.clear()),
        ] {
            let mut broken = s.clone();
            clear(&mut broken);
            let err = new_domain(&broken).expect_err(field);
            assert!(
                err.starts_with(field) && err.contains("create: true"),
                "{err}"
            );
        }
    }
}

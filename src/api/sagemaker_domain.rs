//! `SageMakerDomain`: a SageMaker Studio domain kept on its declared network and encryption.
//!
//! If a domain drifts back to `PublicInternetOnly`, or loses its customer KMS key, the airlock is
//! bypassed; this kind is how airlock notices and, where AWS allows, corrects it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::Duration;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::conditions::Condition;
use super::patterns;

/// A SageMaker domain to manage: adopted by `domainId`, or created from `domainName`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "airlock.dev",
    version = "v1alpha1",
    kind = "SageMakerDomain",
    plural = "sagemakerdomains",
    shortname = "smd",
    category = "airlock",
    namespaced,
    status = "SageMakerDomainStatus",
    printcolumn = r#"{"name": "Domain ID", "type": "string", "jsonPath": ".status.domainId"}"#,
    printcolumn = r#"{"name": "Network", "type": "string", "jsonPath": ".status.appNetworkAccessType"}"#,
    printcolumn = r#"{"name": "In Sync", "type": "boolean", "jsonPath": ".status.inSync"}"#,
    printcolumn = r#"{"name": "Policy", "type": "string", "jsonPath": ".spec.managementPolicy"}"#,
    printcolumn = r#"{"name": "Phase", "type": "string", "jsonPath": ".status.phase", "priority": 1}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("has(self.domainId) || (has(self.domainName) && self.create)").message("set spec.domainId to adopt an existing domain, or spec.domainName with create: true to create one"))]
#[x_kube(validation = Rule::new("!self.create || (has(self.domainName) && has(self.network.vpcId) && has(self.network.subnetIds) && size(self.network.subnetIds) > 0 && has(self.executionRoleArn))").message("create: true needs spec.domainName, spec.network.vpcId, spec.network.subnetIds and spec.executionRoleArn"))]
#[x_kube(validation = Rule::new("!has(oldSelf.domainId) || (has(self.domainId) && self.domainId == oldSelf.domainId)").message("spec.domainId is immutable: create a new SageMakerDomain to manage another domain").field_path(".domainId"))]
#[x_kube(validation = Rule::new("self.region == oldSelf.region").message("spec.region is immutable: a domain cannot move region").field_path(".region"))]
#[serde(rename_all = "camelCase")]
pub struct SageMakerDomainSpec {
    /// The id of an existing domain to adopt (`d-xxxxxxxxxxxx`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::DOMAIN_ID))]
    pub domain_id: Option<String>,

    /// The domain's name; with `create: true` and no `domainId`, a domain of this name is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::DOMAIN_NAME))]
    pub domain_name: Option<String>,

    /// Create the domain when it does not exist. Without it, a missing domain is reported, never
    /// silently created.
    #[serde(default)]
    pub create: bool,

    /// The AWS region of the domain.
    #[schemars(pattern(patterns::AWS_REGION))]
    pub region: String,

    /// `Enforce` corrects drift AWS lets it correct; `Observe` only reports it.
    #[serde(default)]
    pub management_policy: ManagementPolicy,

    /// How often to compare the domain with this spec even without a Kubernetes event (default
    /// `5m`), so out-of-band changes are caught.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::DURATION))]
    pub resync_period: Option<Duration>,

    /// The declared network settings.
    pub network: DomainNetwork,

    /// The declared encryption settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<DomainEncryption>,

    /// The default execution role for users (needed to create a domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::IAM_ROLE_ARN))]
    pub execution_role_arn: Option<String>,

    /// How users sign in to a created domain (default `IAM`).
    #[serde(default)]
    pub auth_mode: AuthMode,

    /// What deleting this resource does to the domain: `Retain` (default) or `Delete`.
    #[serde(default)]
    pub deletion_policy: DomainDeletionPolicy,
}

/// Correct drift, or only report it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ManagementPolicy {
    #[default]
    Enforce,
    Observe,
}

/// SageMaker's `AppNetworkAccessType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum AppNetworkAccessType {
    PublicInternetOnly,
    VpcOnly,
}

/// SageMaker's `AuthMode`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum AuthMode {
    #[default]
    #[serde(rename = "IAM")]
    Iam,
    #[serde(rename = "SSO")]
    Sso,
}

/// What deleting the resource does to the domain.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum DomainDeletionPolicy {
    #[default]
    Retain,
    Delete,
}

/// The domain's network, as declared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[x_kube(validation = Rule::new("self.appNetworkAccessType != 'VpcOnly' || (has(self.subnetIds) && size(self.subnetIds) > 0 && has(self.securityGroupIds) && size(self.securityGroupIds) > 0)").message("VpcOnly needs subnetIds and securityGroupIds: without them the domain has no network path at all"))]
#[serde(rename_all = "camelCase")]
pub struct DomainNetwork {
    /// `VpcOnly` keeps Studio traffic inside the VPC (no internet); `PublicInternetOnly` does not.
    pub app_network_access_type: AppNetworkAccessType,
    /// The VPC (AWS cannot change it in place; drift here stalls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::VPC_ID))]
    pub vpc_id: Option<String>,
    /// The subnets Studio uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(pattern(patterns::SUBNET_ID)))]
    pub subnet_ids: Vec<String>,
    /// The domain's security groups (for traffic between the domain and its EFS volume).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 3), inner(pattern(patterns::SECURITY_GROUP_ID)))]
    pub security_group_ids: Vec<String>,
    /// Security groups of the default user settings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(pattern(patterns::SECURITY_GROUP_ID)))]
    pub default_user_security_group_ids: Vec<String>,
    /// Security groups of the default space settings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(pattern(patterns::SECURITY_GROUP_ID)))]
    pub default_space_security_group_ids: Vec<String>,
}

/// The domain's encryption, as declared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DomainEncryption {
    /// The customer managed KMS key for the domain's storage: key id or key ARN. AWS cannot change
    /// it in place; drift here stalls with `ImmutableFieldDrift`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::KMS_KEY))]
    pub kms_key_id: Option<String>,
}

/// One field whose actual value differs from the declared one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldDrift {
    /// The spec field (`network.appNetworkAccessType`).
    pub field: String,
    pub declared: String,
    pub actual: String,
    /// Whether `UpdateDomain` can correct it in place.
    pub correctable: bool,
}

/// The last drift the controller corrected: when, and each field as it found it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Correction {
    pub time: Time,
    /// The fields `UpdateDomain` set back, with the out-of-band values it replaced.
    pub fields: Vec<FieldDrift>,
}

/// What the controller observed of a domain.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SageMakerDomainStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// `Ready`, `Reconciling`, `Stalled`, `Drifted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_arn: Option<String>,
    /// SageMaker's own status of the domain (`InService`, `Updating`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The network access type the domain actually has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_network_access_type: Option<String>,
    /// True when every declared field matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_sync: Option<bool>,
    /// Each field that differs from the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<FieldDrift>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// The last correction made, kept after the domain is back in sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_correction: Option<Correction>,
    /// The last `airlock.dev/reconcile-requested-at` value the controller acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

//! The SageMaker adapter the SageMakerDomain controller uses: describe, update, create and delete
//! a domain, find one by name, and list the apps that block a network change — with errors that
//! say which action failed and what to do.

use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemaker::types::{
    AppNetworkAccessType, AppStatus, AuthMode, DefaultSpaceSettings, DomainSettings,
    DomainSettingsForUpdate, UserSettings,
};

#[derive(Debug, thiserror::Error)]
pub enum SageMakerError {
    #[error(
        "SageMaker denied {action} on {resource}: grant the controller's role sagemaker:{action}"
    )]
    AccessDenied {
        action: &'static str,
        resource: String,
    },
    #[error("SageMaker {action}: {resource} does not exist")]
    NotFound {
        action: &'static str,
        resource: String,
    },
    #[error("SageMaker {action}: {message}")]
    InUse {
        action: &'static str,
        message: String,
    },
    #[error("SageMaker {action} refused the request: {message}")]
    Invalid {
        action: &'static str,
        message: String,
    },
    #[error("SageMaker {action} failed: {code}: {message}")]
    Aws {
        action: &'static str,
        code: String,
        message: String,
        retryable: bool,
    },
}

impl SageMakerError {
    /// Throttling, 5xx and network trouble: worth another attempt later.
    pub fn retryable(&self) -> bool {
        match self {
            SageMakerError::Aws { retryable, .. } => *retryable,
            SageMakerError::InUse { .. } => true,
            _ => false,
        }
    }

    /// The reason word for status and events.
    pub fn reason(&self) -> &'static str {
        match self {
            SageMakerError::AccessDenied { .. } => "AccessDenied",
            SageMakerError::NotFound { .. } => "DomainNotFound",
            SageMakerError::InUse { .. } => "ResourceInUse",
            SageMakerError::Invalid { .. } => "InvalidRequest",
            SageMakerError::Aws {
                retryable: true, ..
            } => "SageMakerUnavailable",
            SageMakerError::Aws { .. } => "SageMakerError",
        }
    }
}

fn classify<E, R>(action: &'static str, resource: &str, e: SdkError<E, R>) -> SageMakerError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.code().unwrap_or("") {
        "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => {
            SageMakerError::AccessDenied {
                action,
                resource: resource.to_string(),
            }
        }
        "ResourceNotFound" => SageMakerError::NotFound {
            action,
            resource: resource.to_string(),
        },
        "ResourceInUse" => SageMakerError::InUse {
            action,
            message: e.message().unwrap_or("").to_string(),
        },
        // AWS refuses a network change while apps run as invalid ("Unable to update Domain
        // [arn] with InService App. Delete all InService apps…"); it is a wait, not a mistake.
        "ValidationException" if e.message().is_some_and(|m| m.contains("InService App")) => {
            SageMakerError::InUse {
                action,
                message: e.message().unwrap_or("").to_string(),
            }
        }
        "ValidationException" => SageMakerError::Invalid {
            action,
            message: e.message().unwrap_or("").to_string(),
        },
        _ => {
            let f = super::failure(&e);
            SageMakerError::Aws {
                action,
                code: f.code,
                message: f.message,
                retryable: f.retryable,
            }
        }
    }
}

/// What airlock reads of a domain.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DomainView {
    pub id: String,
    pub arn: Option<String>,
    pub name: Option<String>,
    /// `Pending`, `InService`, `Updating`, `Deleting`, `Failed`, …
    pub status: String,
    pub url: Option<String>,
    pub network: Option<String>,
    pub vpc_id: Option<String>,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub user_security_groups: Vec<String>,
    pub space_security_groups: Vec<String>,
    pub kms_key_id: Option<String>,
    pub efs_kms_key_id: Option<String>,
}

/// The fields `UpdateDomain` can change in place; `None` leaves one alone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DomainUpdate {
    pub network: Option<String>,
    /// The domain's own VPC, which AWS requires with a switch to `VpcOnly`.
    pub vpc_id: Option<String>,
    pub subnet_ids: Option<Vec<String>>,
    pub security_group_ids: Option<Vec<String>>,
    pub user_security_groups: Option<Vec<String>>,
    pub space_security_groups: Option<Vec<String>>,
}

impl DomainUpdate {
    pub fn is_empty(&self) -> bool {
        *self == DomainUpdate::default()
    }
}

/// A domain to create.
#[derive(Clone, Debug, Default)]
pub struct NewDomain {
    pub name: String,
    pub network: String,
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub user_security_groups: Vec<String>,
    pub space_security_groups: Vec<String>,
    pub kms_key_id: Option<String>,
    pub execution_role: String,
    pub sso: bool,
}

pub struct Domains {
    client: Client,
}

impl Domains {
    pub fn new(client: Client) -> Domains {
        Domains { client }
    }

    pub async fn describe(&self, id: &str) -> Result<DomainView, SageMakerError> {
        let d = self
            .client
            .describe_domain()
            .domain_id(id)
            .send()
            .await
            .map_err(|e| classify("DescribeDomain", &format!("domain {id}"), e))?;
        Ok(DomainView {
            id: d.domain_id().unwrap_or(id).to_string(),
            arn: d.domain_arn().map(str::to_string),
            name: d.domain_name().map(str::to_string),
            status: d
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            url: d.url().map(str::to_string),
            network: d.app_network_access_type().map(|n| n.as_str().to_string()),
            vpc_id: d.vpc_id().map(str::to_string),
            subnet_ids: d.subnet_ids().to_vec(),
            security_group_ids: d
                .domain_settings()
                .map(|s| s.security_group_ids().to_vec())
                .unwrap_or_default(),
            user_security_groups: d
                .default_user_settings()
                .map(|s| s.security_groups().to_vec())
                .unwrap_or_default(),
            space_security_groups: d
                .default_space_settings()
                .map(|s| s.security_groups().to_vec())
                .unwrap_or_default(),
            kms_key_id: d.kms_key_id().map(str::to_string),
            #[allow(deprecated)]
            efs_kms_key_id: d.home_efs_file_system_kms_key_id().map(str::to_string),
        })
    }

    pub async fn update(&self, id: &str, u: &DomainUpdate) -> Result<(), SageMakerError> {
        let mut call = self.client.update_domain().domain_id(id);
        if let Some(n) = &u.network {
            call = call.app_network_access_type(AppNetworkAccessType::from(n.as_str()));
        }
        if let Some(s) = &u.subnet_ids {
            call = call.set_subnet_ids(Some(s.clone()));
        }
        call = call.set_vpc_id(u.vpc_id.clone());
        if let Some(g) = &u.security_group_ids {
            call = call.domain_settings_for_update(
                DomainSettingsForUpdate::builder()
                    .set_security_group_ids(Some(g.clone()))
                    .build(),
            );
        }
        if let Some(g) = &u.user_security_groups {
            call = call.default_user_settings(
                UserSettings::builder()
                    .set_security_groups(Some(g.clone()))
                    .build(),
            );
        }
        if let Some(g) = &u.space_security_groups {
            call = call.default_space_settings(
                DefaultSpaceSettings::builder()
                    .set_security_groups(Some(g.clone()))
                    .build(),
            );
        }
        call.send()
            .await
            .map_err(|e| classify("UpdateDomain", &format!("domain {id}"), e))?;
        Ok(())
    }

    /// Creates the domain; its id.
    pub async fn create(&self, d: &NewDomain) -> Result<String, SageMakerError> {
        let mut user = UserSettings::builder().execution_role(&d.execution_role);
        if !d.user_security_groups.is_empty() {
            user = user.set_security_groups(Some(d.user_security_groups.clone()));
        }
        let mut call = self
            .client
            .create_domain()
            .domain_name(&d.name)
            .auth_mode(if d.sso { AuthMode::Sso } else { AuthMode::Iam })
            .default_user_settings(user.build())
            .vpc_id(&d.vpc_id)
            .set_subnet_ids(Some(d.subnet_ids.clone()))
            .app_network_access_type(AppNetworkAccessType::from(d.network.as_str()))
            .set_kms_key_id(d.kms_key_id.clone());
        if !d.security_group_ids.is_empty() {
            call = call.domain_settings(
                DomainSettings::builder()
                    .set_security_group_ids(Some(d.security_group_ids.clone()))
                    .build(),
            );
        }
        if !d.space_security_groups.is_empty() {
            call = call.default_space_settings(
                DefaultSpaceSettings::builder()
                    .execution_role(&d.execution_role)
                    .set_security_groups(Some(d.space_security_groups.clone()))
                    .build(),
            );
        }
        let out = call
            .send()
            .await
            .map_err(|e| classify("CreateDomain", &format!("domain {}", d.name), e))?;
        out.domain_arn()
            .and_then(|arn| arn.rsplit('/').next())
            .map(str::to_string)
            .ok_or_else(|| SageMakerError::Aws {
                action: "CreateDomain",
                code: "NoDomainArn".into(),
                message: "the answer carried no DomainArn".into(),
                retryable: false,
            })
    }

    pub async fn delete(&self, id: &str) -> Result<(), SageMakerError> {
        self.client
            .delete_domain()
            .domain_id(id)
            .send()
            .await
            .map_err(|e| classify("DeleteDomain", &format!("domain {id}"), e))?;
        Ok(())
    }

    /// The id of the domain called `name` in the client's region, if there is one.
    pub async fn find_by_name(&self, name: &str) -> Result<Option<String>, SageMakerError> {
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .list_domains()
                .set_next_token(next.clone())
                .send()
                .await
                .map_err(|e| classify("ListDomains", "domains", e))?;
            if let Some(d) = out.domains().iter().find(|d| d.domain_name() == Some(name)) {
                return Ok(d.domain_id().map(str::to_string));
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => return Ok(None),
            }
        }
    }

    /// Apps of the domain that block a network change (`InService`, `Pending` or `Deleting`, as
    /// the UpdateDomain documentation lists them), as `owner type/name`.
    pub async fn running_apps(&self, id: &str) -> Result<Vec<String>, SageMakerError> {
        let mut apps = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .list_apps()
                .domain_id_equals(id)
                .set_next_token(next.clone())
                .send()
                .await
                .map_err(|e| classify("ListApps", &format!("apps of domain {id}"), e))?;
            for a in out.apps() {
                if matches!(
                    a.status(),
                    Some(AppStatus::InService)
                        | Some(AppStatus::Pending)
                        | Some(AppStatus::Deleting)
                ) {
                    let owner = a.user_profile_name().or(a.space_name()).unwrap_or("");
                    apps.push(format!(
                        "{owner} {}/{}",
                        a.app_type().map(|t| t.as_str()).unwrap_or(""),
                        a.app_name().unwrap_or("")
                    ));
                }
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => return Ok(apps),
            }
        }
    }
}

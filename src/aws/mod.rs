//! AWS adapters: client configuration from the default credential chain (IRSA, EKS Pod
//! Identity, environment, profile), with an endpoint override for emulators, one client per
//! region ([`Regional`]), AWS errors read alike ([`failure`]), and the [`sagemaker`] domain
//! operations. Publishing into CodeArtifact lives with the other targets, in
//! [`crate::publish::codeartifact`].

pub mod sagemaker;

/// Every AWS operation the controller calls, as `service:Operation` (IAM's action names): what
/// `deploy/iam-policy.json` must grant, and what the emulator's conformance test must cover.
pub const OPERATIONS: &[&str] = &[
    "codeartifact:GetAuthorizationToken",
    "codeartifact:GetRepositoryEndpoint",
    "codeartifact:DescribePackageVersion",
    "codeartifact:ListPackageVersionAssets",
    "codeartifact:PublishPackageVersion",
    "codeartifact:PutPackageOriginConfiguration",
    "codeartifact:UpdatePackageVersionsStatus",
    "codeartifact:DisposePackageVersions",
    "codeartifact:ListPackages",
    "codeartifact:ListPackageVersions",
    "sagemaker:CreateDomain",
    "sagemaker:DescribeDomain",
    "sagemaker:UpdateDomain",
    "sagemaker:DeleteDomain",
    "sagemaker:ListDomains",
    "sagemaker:ListApps",
];

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use tokio::sync::Mutex;

/// How the AWS clients are made: the endpoint override and credentials [`sdk_config`] takes.
#[derive(Clone, Debug, Default)]
pub struct ClientSettings {
    /// Every AWS client goes here instead (an emulator).
    pub endpoint_url: Option<String>,
    /// Sign with fixed credentials (`airlock dev`'s emulators) instead of the default chain.
    pub emulator_credentials: bool,
}

/// One client per region, made on first use and shared after: an SDK client holds its
/// connection pool and credential cache, which every reconcile in that region should reuse.
pub struct Regional<T> {
    settings: ClientSettings,
    make: fn(&SdkConfig) -> T,
    clients: Mutex<HashMap<String, Arc<T>>>,
}

impl<T> Regional<T> {
    pub fn new(settings: ClientSettings, make: fn(&SdkConfig) -> T) -> Regional<T> {
        Regional {
            settings,
            make,
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(&self, region: &str) -> Arc<T> {
        let mut map = self.clients.lock().await;
        if let Some(c) = map.get(region) {
            return c.clone();
        }
        let config = sdk_config(
            Some(region),
            self.settings.endpoint_url.as_deref(),
            self.settings.emulator_credentials,
        )
        .await;
        let c = Arc::new((self.make)(&config));
        map.insert(region.to_string(), c.clone());
        c
    }
}

/// SDK configuration from the default chain; `endpoint_url` points every client at an emulator
/// (`AWS_ENDPOINT_URL` does the same without code).
///
/// `emulator_credentials` signs with fixed, meaningless credentials: for `airlock dev`'s
/// emulators, which check that requests are signed but not by whom.
pub async fn sdk_config(
    region: Option<&str>,
    endpoint_url: Option<&str>,
    emulator_credentials: bool,
) -> SdkConfig {
    // rustls with ring, as the rest of airlock (the SDKs are built without a default client).
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https);
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    if let Some(e) = endpoint_url {
        loader = loader.endpoint_url(e);
    }
    if emulator_credentials {
        loader = loader.credentials_provider(aws_sdk_codeartifact::config::Credentials::new(
            "AKIDAIRLOCKDEV",
            "airlock-dev-emulator",
            None,
            None,
            "airlock-dev",
        ));
    }
    loader.load().await
}

/// What any SDK error comes down to: AWS's error code (`NoErrorCode` when there was none, as for
/// a timeout), its message (or the SDK's own description), and whether trying again later may
/// help (throttling, a 5xx, the network).
pub struct AwsFailure {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

pub fn failure<E, R>(e: &aws_sdk_codeartifact::error::SdkError<E, R>) -> AwsFailure
where
    E: aws_sdk_codeartifact::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_codeartifact::error::{ProvideErrorMetadata, SdkError};
    let code = e.code().unwrap_or("").to_string();
    let message = e.message().unwrap_or("").to_string();
    let retryable = matches!(
        code.as_str(),
        "ThrottlingException"
            | "Throttling"
            | "InternalServerException"
            | "InternalFailure"
            | "ServiceUnavailableException"
            | "ServiceUnavailable"
    ) || matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_));
    AwsFailure {
        code: if code.is_empty() {
            "NoErrorCode".into()
        } else {
            code
        },
        message: if message.is_empty() {
            e.to_string()
        } else {
            message
        },
        retryable,
    }
}

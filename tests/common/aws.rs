//! SDK clients for the emulators, as a user would configure them: an endpoint override, a region
//! and any credentials (the emulators check that requests are signed, not by whom).
#![allow(dead_code)]

use aws_sdk_sagemaker::config::{Credentials, Region, SharedHttpClient};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// What every emulator client shares: region, credentials, the rustls/ring HTTP client.
fn parts() -> (Region, Credentials, SharedHttpClient) {
    (
        Region::new("us-east-1"),
        Credentials::new("AKIDTEST", "not-a-secret", None, None, "test"),
        aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https(),
    )
}

pub fn sagemaker(endpoint: &str) -> aws_sdk_sagemaker::Client {
    let (region, credentials, http) = parts();
    aws_sdk_sagemaker::Client::from_conf(
        aws_sdk_sagemaker::Config::builder()
            .behavior_version(aws_sdk_sagemaker::config::BehaviorVersion::latest())
            .region(region)
            .endpoint_url(endpoint)
            .credentials_provider(credentials)
            .http_client(http)
            .build(),
    )
}

pub fn codeartifact(endpoint: &str) -> aws_sdk_codeartifact::Client {
    let (region, credentials, http) = parts();
    aws_sdk_codeartifact::Client::from_conf(
        aws_sdk_codeartifact::Config::builder()
            .behavior_version(aws_sdk_codeartifact::config::BehaviorVersion::latest())
            .region(region)
            .endpoint_url(endpoint)
            .credentials_provider(credentials)
            .http_client(http)
            .build(),
    )
}

/// The emulator's SageMaker call counters.
pub fn sagemaker_calls(endpoint: &str) -> std::collections::HashMap<String, u64> {
    let (_, body) = super::dev::http_get(&format!("{endpoint}/_emulator/sagemaker/calls"));
    serde_json::from_str(&body).unwrap_or_default()
}

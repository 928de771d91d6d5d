//! SDK clients for the emulators, as a user would configure them: an endpoint override, a region
//! and any credentials (the emulators check that requests are signed, not by whom).
#![allow(dead_code)]

use aws_sdk_sagemaker::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

pub fn sagemaker(endpoint: &str) -> aws_sdk_sagemaker::Client {
    let config = aws_sdk_sagemaker::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "AKIDTEST",
            "not-a-secret",
            None,
            None,
            "test",
        ))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https(),
        )
        .build();
    aws_sdk_sagemaker::Client::from_conf(config)
}

/// The emulator's SageMaker call counters.
pub fn sagemaker_calls(endpoint: &str) -> std::collections::HashMap<String, u64> {
    let (_, body) = super::dev::http_get(&format!("{endpoint}/_emulator/sagemaker/calls"));
    serde_json::from_str(&body).unwrap_or_default()
}

pub fn codeartifact(endpoint: &str) -> aws_sdk_codeartifact::Client {
    let config = aws_sdk_codeartifact::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "AKIDTEST",
            "not-a-secret",
            None,
            None,
            "test",
        ))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https(),
        )
        .build();
    aws_sdk_codeartifact::Client::from_conf(config)
}

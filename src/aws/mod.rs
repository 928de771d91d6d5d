//! AWS adapters: client configuration from the default credential chain (IRSA, EKS Pod
//! Identity, environment, profile), with an endpoint override for emulators, and the
//! [`codeartifact`] publisher.

pub mod codeartifact;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// SDK configuration from the default chain; `endpoint_url` points every client at an emulator
/// (`AWS_ENDPOINT_URL` does the same without code).
pub async fn sdk_config(region: Option<&str>, endpoint_url: Option<&str>) -> SdkConfig {
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
    loader.load().await
}

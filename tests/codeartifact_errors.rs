//! The CodeArtifact publisher's error paths with `aws-smithy-mocks`: throttling is retried,
//! tokens near expiry are renewed, missing resources and denied actions say what to fix.

use airlock::publish::codeartifact::{PublishError, Publisher, Repository};
use aws_sdk_codeartifact::Client;
use aws_sdk_codeartifact::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_codeartifact::error::ErrorMetadata;
use aws_sdk_codeartifact::operation::get_authorization_token::{
    GetAuthorizationTokenError, GetAuthorizationTokenOutput,
};
use aws_sdk_codeartifact::operation::get_repository_endpoint::GetRepositoryEndpointError;
use aws_sdk_codeartifact::operation::put_package_origin_configuration::PutPackageOriginConfigurationError;
use aws_sdk_codeartifact::primitives::DateTime;
use aws_sdk_codeartifact::types::PackageFormat;
use aws_sdk_codeartifact::types::error::{
    AccessDeniedException, ResourceNotFoundException, ThrottlingException,
};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};

fn client(rules: &[&Rule]) -> Client {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for r in rules {
        interceptor = interceptor.with_rule(r);
    }
    let config = aws_sdk_codeartifact::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDMOCK", "mock", None, None, "mock"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor)
        .build();
    Client::from_conf(config)
}

fn repo() -> Repository {
    Repository {
        domain: "airlock".into(),
        domain_owner: Some("111122223333".into()),
        repository: "pypi-approved".into(),
    }
}

/// What the real deserializer records from `x-amzn-ErrorType`.
fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

fn token_output(token: &str, seconds_from_now: i64) -> GetAuthorizationTokenOutput {
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
        + seconds_from_now;
    GetAuthorizationTokenOutput::builder()
        .authorization_token(token)
        .expiration(DateTime::from_secs(expires))
        .build()
}

#[tokio::test]
async fn throttling_is_retried_and_the_token_then_cached() {
    let rule = mock!(Client::get_authorization_token)
        .sequence()
        .error(|| {
            GetAuthorizationTokenError::ThrottlingException(
                ThrottlingException::builder()
                    .message("Rate exceeded")
                    .meta(meta("ThrottlingException", "Rate exceeded"))
                    .build()
                    .expect("error"),
            )
        })
        .times(2)
        .output(|| token_output("token-one", 12 * 3600))
        .build();
    let publisher = Publisher::new(client(&[&rule]));
    let token = publisher
        .token(&repo())
        .await
        .expect("retried past throttling");
    assert_eq!(token.expose(), "token-one");
    assert_eq!(format!("{token:?}"), "***", "tokens never print");
    assert_eq!(rule.num_calls(), 3);
    publisher.token(&repo()).await.expect("cached");
    assert_eq!(rule.num_calls(), 3, "a valid token is not asked for again");
}

#[tokio::test]
async fn a_token_close_to_expiry_is_renewed() {
    let rule = mock!(Client::get_authorization_token)
        .sequence()
        .output(|| token_output("about-to-expire", 5 * 60))
        .output(|| token_output("fresh", 12 * 3600))
        .build();
    let publisher = Publisher::new(client(&[&rule]));
    assert_eq!(
        publisher.token(&repo()).await.expect("first").expose(),
        "about-to-expire"
    );
    assert_eq!(
        publisher.token(&repo()).await.expect("second").expose(),
        "fresh"
    );
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn missing_resources_and_denied_actions_say_what_to_fix() {
    let not_found = mock!(Client::get_repository_endpoint).then_error(|| {
        GetRepositoryEndpointError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("Repository 'pypi-approved' not found")
                .meta(meta(
                    "ResourceNotFoundException",
                    "Repository 'pypi-approved' not found",
                ))
                .build()
                .expect("error"),
        )
    });
    let denied = mock!(Client::put_package_origin_configuration).then_error(|| {
        PutPackageOriginConfigurationError::AccessDeniedException(
            AccessDeniedException::builder()
                .message("not authorized")
                .meta(meta("AccessDeniedException", "not authorized"))
                .build()
                .expect("error"),
        )
    });
    let publisher = Publisher::new(client(&[&not_found, &denied]));
    let err = publisher
        .endpoint(&repo(), PackageFormat::Pypi)
        .await
        .expect_err("not found");
    assert!(
        matches!(err, PublishError::NotFound { .. }) && !err.retryable(),
        "{err}"
    );
    assert!(err.to_string().contains("PackageRepository"), "{err}");
    let err = publisher
        .block_upstream(&repo(), PackageFormat::Pypi, "demo-pkg")
        .await
        .expect_err("denied");
    assert!(matches!(err, PublishError::AccessDenied { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("codeartifact:PutPackageOriginConfiguration"),
        "{err}"
    );
}

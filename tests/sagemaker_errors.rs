//! The SageMaker adapter's error paths with `aws-smithy-mocks`: throttling is retried (and, when
//! it persists, reported as worth retrying later), a denied action is named, a missing domain and
//! a domain in use are told apart.

use airlock::aws::sagemaker::{DomainUpdate, Domains, SageMakerError};
use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sagemaker::error::ErrorMetadata;
use aws_sdk_sagemaker::operation::describe_domain::{DescribeDomainError, DescribeDomainOutput};
use aws_sdk_sagemaker::operation::update_domain::UpdateDomainError;
use aws_sdk_sagemaker::types::error::{ResourceInUse, ResourceNotFound};
use aws_sdk_sagemaker::types::{AppNetworkAccessType, DomainStatus};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};

fn client(rules: &[&Rule]) -> Client {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for r in rules {
        interceptor = interceptor.with_rule(r);
    }
    let config = aws_sdk_sagemaker::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDMOCK", "mock", None, None, "mock"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor)
        .build();
    Client::from_conf(config)
}

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

fn throttled() -> DescribeDomainError {
    DescribeDomainError::generic(meta("ThrottlingException", "Rate exceeded"))
}

fn in_service() -> DescribeDomainOutput {
    DescribeDomainOutput::builder()
        .domain_id("d-abcdefghijkl")
        .status(DomainStatus::InService)
        .app_network_access_type(AppNetworkAccessType::VpcOnly)
        .subnet_ids("subnet-1")
        .build()
}

#[tokio::test]
async fn throttling_is_retried_then_reported_as_retryable() {
    let rule = mock!(Client::describe_domain)
        .sequence()
        .error(throttled)
        .times(2)
        .output(in_service)
        .build();
    let domains = Domains::new(client(&[&rule]));
    let d = domains
        .describe("d-abcdefghijkl")
        .await
        .expect("retried past throttling");
    assert_eq!(d.status, "InService");
    assert_eq!(d.network.as_deref(), Some("VpcOnly"));
    assert_eq!(rule.num_calls(), 3);

    let always = mock!(Client::describe_domain).then_error(throttled);
    let domains = Domains::new(client(&[&always]));
    let e = domains
        .describe("d-abcdefghijkl")
        .await
        .expect_err("throttled");
    assert!(e.retryable(), "{e}");
    assert_eq!(e.reason(), "SageMakerUnavailable");
    assert!(e.to_string().contains("ThrottlingException"), "{e}");
}

#[tokio::test]
async fn access_denied_names_the_action_and_the_fix() {
    let rule = mock!(Client::update_domain).then_error(|| {
        UpdateDomainError::generic(meta(
            "AccessDeniedException",
            "User: arn:aws:sts::111122223333:assumed-role/airlock/x is not authorized to perform: sagemaker:UpdateDomain",
        ))
    });
    let domains = Domains::new(client(&[&rule]));
    let update = DomainUpdate {
        network: Some("VpcOnly".into()),
        subnet_ids: Some(vec!["subnet-1".into()]),
        ..DomainUpdate::default()
    };
    let e = domains
        .update("d-abcdefghijkl", &update)
        .await
        .expect_err("denied");
    assert!(
        matches!(
            e,
            SageMakerError::AccessDenied {
                action: "UpdateDomain",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.retryable());
    let text = e.to_string();
    assert!(
        text.contains("UpdateDomain")
            && text.contains("sagemaker:UpdateDomain")
            && text.contains("d-abcdefghijkl"),
        "{text}"
    );
}

#[tokio::test]
async fn a_missing_domain_and_a_domain_in_use_are_told_apart() {
    let missing = mock!(Client::describe_domain).then_error(|| {
        DescribeDomainError::ResourceNotFound(
            ResourceNotFound::builder()
                .message("Domain d-abcdefghijkl does not exist")
                .meta(meta(
                    "ResourceNotFound",
                    "Domain d-abcdefghijkl does not exist",
                ))
                .build(),
        )
    });
    let busy = mock!(Client::update_domain).then_error(|| {
        UpdateDomainError::ResourceInUse(
            ResourceInUse::builder()
                .message("Domain has apps in service")
                .meta(meta("ResourceInUse", "Domain has apps in service"))
                .build(),
        )
    });
    let domains = Domains::new(client(&[&missing, &busy]));
    let e = domains
        .describe("d-abcdefghijkl")
        .await
        .expect_err("missing");
    assert!(
        matches!(
            e,
            SageMakerError::NotFound {
                action: "DescribeDomain",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.reason(), "DomainNotFound");
    assert!(
        !e.retryable(),
        "a missing domain does not come back by retrying"
    );
    let e = domains
        .update(
            "d-abcdefghijkl",
            &DomainUpdate {
                network: Some("VpcOnly".into()),
                ..DomainUpdate::default()
            },
        )
        .await
        .expect_err("in use");
    assert!(matches!(e, SageMakerError::InUse { .. }), "{e:?}");
    assert!(e.retryable(), "apps stop; the change can go through later");
    assert!(e.to_string().contains("apps in service"));
}

#[tokio::test]
async fn running_apps_are_a_wait_not_an_invalid_request() {
    // What SageMaker answers to a network change while apps run: a ValidationException.
    let message = "Unable to update Domain [arn:aws:sagemaker:eu-west-1:111122223333:domain/d-abcdefghijkl] with InService App. Delete all InService apps for domain [arn:aws:sagemaker:eu-west-1:111122223333:domain/d-abcdefghijkl] and try again.";
    let apps = mock!(Client::update_domain)
        .then_error(move || UpdateDomainError::generic(meta("ValidationException", message)));
    let invalid = mock!(Client::update_domain)
        .match_requests(|r| r.vpc_id().is_none())
        .then_error(|| {
            UpdateDomainError::generic(meta(
                "ValidationException",
                "VpcId and Subnet IDs are required for updating domains to VpcOnly mode",
            ))
        });
    let domains = Domains::new(client(&[&invalid, &apps]));
    let switch = |vpc: Option<&str>| DomainUpdate {
        network: Some("VpcOnly".into()),
        vpc_id: vpc.map(str::to_string),
        subnet_ids: Some(vec!["subnet-1".into()]),
        ..DomainUpdate::default()
    };
    let e = domains
        .update("d-abcdefghijkl", &switch(None))
        .await
        .expect_err("no VPC");
    assert!(matches!(e, SageMakerError::Invalid { .. }), "{e:?}");
    assert!(!e.retryable());
    let e = domains
        .update("d-abcdefghijkl", &switch(Some("vpc-1")))
        .await
        .expect_err("apps");
    assert!(matches!(e, SageMakerError::InUse { .. }), "{e:?}");
    assert_eq!(e.reason(), "ResourceInUse");
    assert!(e.retryable(), "the change goes through once the apps stop");
}

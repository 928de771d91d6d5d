//! Status for `PackageRepository`: Ready when its policy exists and its target answers, with the
//! URLs clients install from. Requests publish whatever this says (their own status names what
//! fails); the status is for the people and tools that watch repositories.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use super::Shared;
use super::error::Error;
use super::kstatus::Progress;
use super::report::{Judged, Tracked};
use crate::api::{PackageRepository, PackageRepositoryStatus};
use crate::publish::target::{Endpoints, TargetError};

/// How often a reachable CodeArtifact repository is asked again (credentials and repositories
/// change outside the cluster).
const RECHECK: Duration = Duration::from_secs(300);
/// How soon an unreachable one is tried again.
const RETRY: Duration = Duration::from_secs(30);

/// What the repository controller reads: the policies' cache and the publishing targets.
pub struct Context {
    pub shared: Shared,
    pub policies: kube::runtime::reflector::Store<crate::api::ScanPolicy>,
    pub targets: Arc<crate::publish::target::Targets>,
}

impl std::ops::Deref for Context {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// What the controller makes of a repository.
#[derive(Debug, PartialEq)]
pub struct Judgement {
    pub progress: Progress,
    pub reason: &'static str,
    pub message: String,
    pub endpoints: Endpoints,
}

/// Judges a repository from whether its policy exists and what its target answered.
pub fn judge(
    repo: &PackageRepository,
    policy_found: bool,
    target: Result<Endpoints, TargetError>,
) -> Judgement {
    let policy = &repo.spec.policy_ref;
    if !policy_found {
        return Judgement {
            progress: Progress::Stalled,
            reason: "PolicyNotFound",
            message: format!(
                "spec.policyRef names ScanPolicy {policy}, which does not exist: nothing can be published here until it does. Create it, or point policyRef at an existing policy"
            ),
            endpoints: Endpoints::default(),
        };
    }
    match target {
        Ok(endpoints) => {
            let mut message = format!("{} repository, judged by ScanPolicy {policy}", kind(repo));
            for (what, url) in [
                ("pip index", &endpoints.pypi),
                ("npm registry", &endpoints.npm),
            ] {
                if let Some(url) = url {
                    message.push_str(&format!("; {what} {url}"));
                }
            }
            Judgement {
                progress: Progress::Done,
                reason: "Ready",
                message,
                endpoints,
            }
        }
        Err(e) if e.retryable => Judgement {
            progress: Progress::Working,
            reason: "TargetUnreachable",
            message: format!("cannot reach the repository, retrying: {e}"),
            endpoints: Endpoints::default(),
        },
        Err(e) => Judgement {
            progress: Progress::Stalled,
            reason: "TargetUnavailable",
            message: e.to_string(),
            endpoints: Endpoints::default(),
        },
    }
}

fn kind(repo: &PackageRepository) -> &'static str {
    if repo.spec.builtin.is_some() {
        "Builtin"
    } else {
        "CodeArtifact"
    }
}

/// The repositories a policy's change concerns.
pub fn of_policy(
    repositories: &kube::runtime::reflector::Store<PackageRepository>,
    policy: &str,
) -> Vec<ObjectRef<PackageRepository>> {
    repositories
        .state()
        .iter()
        .filter(|r| r.spec.policy_ref == policy)
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

pub fn error_policy(_: Arc<PackageRepository>, err: &Error, _: Arc<Context>) -> Action {
    if err.is_conflict() {
        return Action::requeue(Duration::from_millis(500));
    }
    tracing::warn!(error = %err, "repository status not written");
    Action::requeue(Duration::from_secs(10))
}

pub async fn reconcile(repo: Arc<PackageRepository>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _measure = ctx.metrics.count_and_measure("PackageRepository");
    // The cache first; a miss is asked of the API server, since the watch that brought this
    // reconcile may be ahead of the cache (a policy created a moment ago).
    let policy_found = ctx
        .policies
        .get(&ObjectRef::new(&repo.spec.policy_ref))
        .is_some()
        || Api::<crate::api::ScanPolicy>::all(ctx.client.clone())
            .get_opt(&repo.spec.policy_ref)
            .await?
            .is_some();
    let target = if policy_found {
        ctx.targets.endpoints(&repo).await
    } else {
        Ok(Endpoints::default())
    };
    let judgement = judge(&repo, policy_found, target);
    let judged = Judged {
        progress: judgement.progress,
        reason: judgement.reason,
        message: &judgement.message,
    };
    let api: Api<PackageRepository> = Api::all(ctx.client.clone());
    let mut t = Tracked::new(&api, &ctx.shared, (*repo).clone());
    let status: &mut PackageRepositoryStatus = t.status();
    status.type_ = Some(kind(&repo).into());
    status.phase = Some(
        match judgement.progress {
            Progress::Done => "Ready",
            Progress::Working => "Unreachable",
            Progress::Stalled => "Failed",
        }
        .into(),
    );
    status.pypi_endpoint = judgement.endpoints.pypi.clone();
    status.npm_endpoint = judgement.endpoints.npm.clone();
    t.settle(&judged, "Check", Some(judged.event_type()))
        .await?;
    tracing::debug!(repository = %repo.name_any(), reason = judgement.reason, "repository judged");
    Ok(match judgement.progress {
        // The built-in store is this process: nothing to re-ask until something changes.
        Progress::Done if repo.spec.builtin.is_some() => Action::await_change(),
        Progress::Done => Action::requeue(RECHECK),
        Progress::Working => Action::requeue(RETRY),
        // A missing policy is watched for (and looked for again, in case a watch event is
        // missed); anything else needs a change to the spec, or the periodic look for what
        // changed outside (an IAM grant).
        Progress::Stalled if !policy_found => Action::requeue(RETRY),
        Progress::Stalled => Action::requeue(RECHECK),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(spec: serde_json::Value) -> PackageRepository {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "airlock.dev/v1alpha1", "kind": "PackageRepository",
            "metadata": {"name": "approved", "generation": 3}, "spec": spec,
        }))
        .expect("repository")
    }

    #[test]
    fn ready_with_its_endpoints_or_named_why_not() {
        let builtin = repo(serde_json::json!({"builtin": {}, "policyRef": "default"}));
        let urls = Endpoints {
            pypi: Some("http://airlock:8081/simple/".into()),
            npm: Some("http://airlock:8081/npm/".into()),
        };
        let j = judge(&builtin, true, Ok(urls.clone()));
        assert_eq!((j.progress, j.reason), (Progress::Done, "Ready"));
        assert_eq!(j.endpoints, urls);
        assert!(
            j.message.contains("pip index http://airlock:8081/simple/"),
            "{}",
            j.message
        );

        let j = judge(&builtin, false, Ok(Endpoints::default()));
        assert_eq!(
            (j.progress, j.reason),
            (Progress::Stalled, "PolicyNotFound")
        );
        assert!(j.message.contains("ScanPolicy default"), "{}", j.message);

        let ca = repo(serde_json::json!({
            "codeArtifact": {"region": "us-east-1", "domain": "airlock", "repository": "pypi"},
            "policyRef": "default",
        }));
        let down = TargetError {
            message: "GetRepositoryEndpoint: throttled".into(),
            retryable: true,
        };
        assert_eq!(judge(&ca, true, Err(down)).progress, Progress::Working);
        let denied = TargetError {
            message: "AccessDeniedException: not authorized".into(),
            retryable: false,
        };
        let j = judge(&ca, true, Err(denied));
        assert_eq!(
            (j.progress, j.reason),
            (Progress::Stalled, "TargetUnavailable")
        );
        assert!(j.message.contains("not authorized"));
    }
}

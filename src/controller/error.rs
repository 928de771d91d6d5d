//! The controller's one error type, for both reconcilers, and the reason words metrics and
//! back-off read from it.

use kube::runtime::finalizer;

use crate::aws::sagemaker::SageMakerError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
    /// Already recorded in status and an event; retried with back-off.
    #[error("{reason}: {message}")]
    Retry {
        reason: &'static str,
        message: String,
        failures: u32,
    },
    #[error(transparent)]
    SageMaker(#[from] SageMakerError),
    #[error("an object without a namespace")]
    NoNamespace,
}

impl Error {
    /// The reason word for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(e)) if e.code == 409 => "Conflict",
            Error::Kube(_) => "KubernetesApiError",
            Error::Finalizer(inner) => match inner.as_ref() {
                finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e.reason(),
                _ => "FinalizerError",
            },
            Error::Retry { reason, .. } => reason,
            Error::SageMaker(e) => e.reason(),
            Error::NoNamespace => "NoNamespace",
        }
    }

    /// Consecutive failures so far, for the back-off.
    pub fn failures(&self) -> u32 {
        match self {
            Error::Retry { failures, .. } => *failures,
            Error::Finalizer(inner) => match inner.as_ref() {
                finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => {
                    e.failures()
                }
                _ => 1,
            },
            _ => 0,
        }
    }

    /// Someone else wrote the object meanwhile: read it again at once. Every reconcile error
    /// reaches the error policy wrapped in `Finalizer`, so the conflict is looked for inside it.
    pub fn is_conflict(&self) -> bool {
        let conflict = |e: &kube::Error| matches!(e, kube::Error::Api(s) if s.code == 409);
        match self {
            Error::Kube(e) => conflict(e),
            Error::Finalizer(inner) => match inner.as_ref() {
                finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => {
                    e.is_conflict()
                }
                finalizer::Error::AddFinalizer(e) | finalizer::Error::RemoveFinalizer(e) => {
                    conflict(e)
                }
                _ => false,
            },
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> kube::Error {
        let status: kube::core::Status =
            serde_json::from_value(serde_json::json!({"code": code})).expect("a status");
        kube::Error::Api(Box::new(status))
    }

    /// The reconcile's conflicts come wrapped by the finalizer helper; the fast retry must see them.
    #[test]
    fn a_conflict_is_seen_through_the_finalizer_wrapper() {
        assert!(Error::Kube(api(409)).is_conflict());
        let wrapped = |e| Error::Finalizer(Box::new(e));
        assert!(wrapped(finalizer::Error::ApplyFailed(Error::Kube(api(409)))).is_conflict());
        assert!(wrapped(finalizer::Error::CleanupFailed(Error::Kube(api(409)))).is_conflict());
        assert!(wrapped(finalizer::Error::AddFinalizer(api(409))).is_conflict());
        assert!(!wrapped(finalizer::Error::ApplyFailed(Error::Kube(api(500)))).is_conflict());
        assert!(!Error::NoNamespace.is_conflict());
    }
}

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

    /// Someone else wrote the object meanwhile: read it again at once.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Kube(kube::Error::Api(e)) if e.code == 409)
    }
}

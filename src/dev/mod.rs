//! `airlock dev`: everything local in one process, for development and tests only.
//!
//! It runs the in-memory Kubernetes-compatible API server with airlock's CRDs installed, the
//! built-in repository and the CodeArtifact emulator; the controller and the SageMaker emulator
//! join it in later issues.

pub mod apiserver;
pub mod codeartifact;
pub mod run;
pub mod sagemaker;

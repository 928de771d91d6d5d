//! `airlock dev`: everything local in one process, for development and tests only.
//!
//! It runs a Kubernetes API with airlock's CRDs installed — the in-memory API server, or the real
//! kube-apiserver and etcd with `--control-plane` — the built-in repository, the CodeArtifact and
//! SageMaker emulators, and the controller.

pub mod apiserver;
pub mod codeartifact;
pub mod control_plane;
pub mod ports;
pub mod run;
pub mod sagemaker;

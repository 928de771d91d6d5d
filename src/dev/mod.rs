//! `airlock dev`: everything local in one process, for development and tests only.
//!
//! Today it runs the in-memory Kubernetes-compatible API server with airlock's CRDs installed;
//! the controller, the AWS emulators and the built-in index join it in later issues.

pub mod apiserver;
pub mod run;

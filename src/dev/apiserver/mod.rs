//! The in-memory Kubernetes-compatible API server behind `airlock dev`.

pub mod validation;

//! The in-memory Kubernetes-compatible API server behind `airlock dev`: for development and tests
//! only (no authentication, loopback only). It holds the semantics the real API server has and
//! kube-rs or kubectl rely on, and nothing the controller could come to depend on that a real
//! cluster lacks.

pub mod cel_cost;
pub mod error;
pub mod managed_fields;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod resources;
pub mod selectors;
pub mod server;
pub mod store;
pub mod table;
pub mod validation;

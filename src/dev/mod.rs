//! `airlock dev`: everything local in one process, for development and tests only.
//!
//! Today it holds the admission logic of the in-memory API server (schema validation and pruning
//! of custom resources); the server itself, the AWS emulators and the built-in index follow.

pub mod apiserver;

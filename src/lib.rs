//! airlock: the airlock between public package registries and isolated SageMaker Studio domains.
//!
//! The crate is laid out as the architecture is: [`api`] holds the custom resources; [`cli`] the
//! command line; [`dev`] the local development environment (an in-memory API server); [`pipeline`] the
//! package pipeline (resolve, fetch, unpack); [`scan`] the scanners.

pub mod api;
pub mod approval;
pub mod aws;
pub mod cli;
pub mod controller;
pub mod dev;
pub mod pipeline;
pub mod publish;
pub mod reconcile;
pub mod scan;
pub mod serve;
pub mod status;

//! airlock: the airlock between public package registries and isolated SageMaker Studio domains.
//!
//! The crate is laid out as the architecture is: [`api`] holds the custom resources;
//! [`controller`] the reconcilers and their runtime; [`package`] the vocabulary every layer
//! speaks (names, versions, file kinds, digests); [`pipeline`] the package pipeline (resolve,
//! fetch, unpack); [`scan`] the scanners and the decision; [`publish`] the built-in repository and
//! the uploads in each ecosystem's protocol; [`aws`] the CodeArtifact and SageMaker adapters;
//! `dev` the local development environment (an in-memory API server and the AWS emulators;
//! the `dev` feature, on by default and left out of the controller image);
//! [`net`] HTTP both ways (the bounded server every endpoint runs on, the allow-listed client
//! every outbound request goes through); [`cli`] the command line, with
//! [`approval`], [`reconcile`] and [`status`] behind its `approve`/`deny`, `reconcile` and
//! `status` commands.

pub mod api;
pub mod approval;
pub mod aws;
pub mod cli;
pub mod controller;
#[cfg(feature = "dev")]
pub mod dev;
pub mod net;
pub mod package;
pub mod pipeline;
pub mod publish;
pub mod reconcile;
pub mod scan;
pub mod status;

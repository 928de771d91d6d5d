//! Publish: put scanned packages where `pip` and `npm` inside the isolated domain can install
//! them: the [`builtin`] repository, and [`upload`] in each ecosystem's own protocol (what
//! CodeArtifact, pypiserver and verdaccio accept).

pub mod builtin;
pub mod upload;

//! Publish: put scanned packages where `pip` and `npm` inside the isolated domain can install
//! them: the [`builtin`] repository, [`codeartifact`] (its token, endpoints, version statuses and
//! origin controls), [`upload`] in each ecosystem's own protocol (what CodeArtifact, pypiserver
//! and verdaccio accept), and [`target`], the one interface the controller publishes and
//! withdraws through.

pub mod builtin;
pub mod codeartifact;
pub mod target;
pub mod upload;

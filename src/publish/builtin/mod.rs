//! airlock's own repository: a content-addressed store on a volume ([`store`]) served over HTTP
//! as a PyPI simple index and an npm registry ([`server`]), for clusters without CodeArtifact and
//! for `airlock dev`.

pub mod server;
pub mod store;

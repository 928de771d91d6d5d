//! HTTP both ways: the bounded [`server`] every endpoint airlock serves runs on (metrics, the
//! built-in repository, the dev API server and emulators), and the allow-listed [`client`] every
//! request airlock makes goes through (registries, advisory feeds, uploads).

pub mod client;
pub mod server;

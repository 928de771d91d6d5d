//! The package pipeline of `../shared/DESIGN.md`, one module a step: [`resolve`] the exact files
//! of a version, [`fetch`] and verify them into the [`cache`], [`unpack`] them for the scanners.
//! [`package`] names what is asked for, [`version`] compares versions per ecosystem, [`http`] is
//! the one way out to a registry.

pub mod cache;
pub mod fetch;
pub mod http;
pub mod package;
pub mod resolve;
pub mod unpack;
pub mod version;

//! Shared test fixtures: archive builders and a fixture registry.

pub mod archives;
pub mod dev;
pub mod registry;

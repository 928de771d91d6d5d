//! Shared test fixtures: archive builders and a fixture registry.

pub mod archives;
pub mod aws;
pub mod dev;
pub mod hostile;
pub mod registry;

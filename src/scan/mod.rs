//! Scanners and the decision: [`advisories`] matches OSV records, [`heuristics`] reads the files,
//! [`license`] checks the licence, [`decide`] applies a `ScanPolicy`; [`package`] runs them all
//! over one package; [`command`] is `airlock scan` and [`report`] its output formats.

pub mod advisories;
pub mod analysis;
pub mod command;
pub mod decide;
pub mod heuristics;
pub mod license;
pub mod package;
pub mod report;

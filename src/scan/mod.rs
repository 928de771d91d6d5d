//! Scanners and the decision: [`advisories`] matches OSV records, [`heuristics`] reads the files,
//! [`analysis`] judges what the code does, [`record`] checks a wheel's RECORD,
//! [`license`] checks the licence, [`decide`] applies a `ScanPolicy`; [`package`] runs them all
//! over one package; [`command`] is `airlock scan` and [`report`] its output formats.

pub mod advisories;
pub mod analysis;
pub mod command;
pub mod decide;
pub mod heuristics;
pub mod license;
pub mod package;
pub mod record;
pub mod report;

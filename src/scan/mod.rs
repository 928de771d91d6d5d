//! Scanners: turn verified package contents into findings. So far: [`advisories`] (OSV records).
//! Heuristics, licence and age checks, and the policy decision follow in issue #5.

pub mod advisories;

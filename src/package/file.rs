//! What a file of a version is: its kind (a wheel, an sdist, an npm tarball) and the digests its
//! registry publishes for it.

use serde::Serialize;

/// Upstream digests of a file, lower-case hex.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Digests {
    pub sha256: Option<String>,
    /// From npm's `integrity` (SRI `sha512-…`).
    pub sha512: Option<String>,
    /// npm's legacy `shasum`.
    pub sha1: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Wheel,
    Sdist,
    Tarball,
}

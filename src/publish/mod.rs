//! Publish: put scanned packages where `pip` and `npm` inside the isolated domain can install
//! them. So far the [`builtin`] repository; CodeArtifact follows (issue #6).

pub mod builtin;

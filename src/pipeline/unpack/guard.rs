//! Readers that enforce the limits on the bytes that come out of an archive.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

use super::Budget;
use crate::api::package_request::Severity;

fn limit_error() -> io::Error {
    io::Error::other("archive limit reached")
}

/// Over one entry's content: its size limit, the size it declared, its compression ratio (zip),
/// the budget for all entries, and its CRC-32 (zip).
pub(crate) struct EntryGuard<'a, 'l> {
    pub inner: &'a mut dyn Read,
    pub budget: &'a Budget<'l>,
    pub path: &'a str,
    pub read: u64,
    /// The exact size the archive promises; more is a lie (the classic bomb trick).
    pub declared: Option<u64>,
    /// Compressed size, for the ratio check.
    pub compressed: Option<u64>,
    pub crc: Option<flate2::Crc>,
}

impl<'a, 'l> EntryGuard<'a, 'l> {
    /// Over content that must be exactly `size` bytes, uncompressed and without a CRC (a tar
    /// entry, or a link's target delivered again).
    pub fn exact(
        inner: &'a mut dyn Read,
        budget: &'a Budget<'l>,
        path: &'a str,
        size: u64,
    ) -> Self {
        Self {
            inner,
            budget,
            path,
            read: 0,
            declared: Some(size),
            compressed: None,
            crc: None,
        }
    }
}

impl Read for EntryGuard<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.budget.is_stopped() {
            return Err(limit_error());
        }
        // Never read past what may legitimately come out, so a lie is caught within one buffer.
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        let total = self.budget.bytes.get() + n as u64;
        self.budget.bytes.set(total);
        let limits = self.budget.limits;
        if let Some(d) = self.declared.filter(|d| self.read > *d) {
            self.budget.stop(
                "archive.bomb",
                Severity::Critical,
                Some(self.path),
                format!("the entry declares {d} bytes but decompresses to more"),
            );
        } else if self.read > limits.max_entry_bytes {
            self.budget.stop(
                "archive.entry-too-large",
                Severity::High,
                Some(self.path),
                format!("an entry larger than {} bytes", limits.max_entry_bytes),
            );
        } else if total > limits.max_total_bytes {
            self.budget.stop(
                "archive.too-large",
                Severity::High,
                Some(self.path),
                format!(
                    "more than {} uncompressed bytes in all",
                    limits.max_total_bytes
                ),
            );
        } else if let Some(c) = self.compressed
            && self.read > limits.ratio_floor
            && self.read > c.max(1).saturating_mul(limits.max_ratio)
        {
            self.budget.stop(
                "archive.bomb",
                Severity::Critical,
                Some(self.path),
                format!(
                    "compression ratio above {}:1 ({} bytes from {c})",
                    limits.max_ratio, self.read
                ),
            );
        }
        if self.budget.is_stopped() {
            return Err(limit_error());
        }
        if let Some(crc) = self.crc.as_mut() {
            crc.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Counts the bytes read through it (the compressed side of a stream).
pub(crate) struct Counting<R> {
    pub inner: R,
    pub count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Over a whole decompressed stream (tar.gz): total size and overall ratio, so even bytes the
/// tar structure itself consumes (headers, long names, padding) are bounded.
pub(crate) struct StreamGuard<'a, 'l, R> {
    pub inner: R,
    pub budget: &'a Budget<'l>,
    pub compressed: Rc<Cell<u64>>,
    pub produced: u64,
    pub name: &'a str,
}

impl<R: Read> Read for StreamGuard<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.budget.is_stopped() {
            return Err(limit_error());
        }
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        let limits = self.budget.limits;
        // Headers and padding count too: 512 bytes per entry at least.
        if self.produced
            > limits
                .max_total_bytes
                .saturating_add(limits.max_entries.saturating_mul(1024))
        {
            self.budget.stop(
                "archive.too-large",
                Severity::High,
                Some(self.name),
                format!(
                    "more than {} uncompressed bytes in all",
                    limits.max_total_bytes
                ),
            );
        } else if self.produced > limits.ratio_floor
            && self.produced
                > self
                    .compressed
                    .get()
                    .max(1)
                    .saturating_mul(limits.max_ratio)
        {
            self.budget.stop(
                "archive.bomb",
                Severity::Critical,
                Some(self.name),
                format!(
                    "compression ratio above {}:1 ({} bytes from {})",
                    limits.max_ratio,
                    self.produced,
                    self.compressed.get()
                ),
            );
        }
        if self.budget.is_stopped() {
            return Err(limit_error());
        }
        Ok(n)
    }
}

// Shared by the targets: unpack the input as one format, read every entry to its end (as the
// scanners do) and check what must hold whatever the input: no panic, no hang, nothing read
// past the limits, and no entry delivered with a name that is not a clean relative path.
use airlock::pipeline::unpack::{Format, Limits, unpack};

pub fn run(data: &[u8], format: Format) {
    // Small limits keep each execution fast; they are the same checks as the defaults.
    let limits = Limits {
        max_total_bytes: 16 << 20,
        max_entries: 2_000,
        max_entry_bytes: 8 << 20,
        max_ratio: 200,
        ratio_floor: 1 << 20,
        max_depth: 3,
        max_nested_bytes: 1 << 20,
    };
    let report = unpack(std::io::Cursor::new(data), format, &limits, &mut |entry, r| {
        let outer = entry.path.split("!/").next().unwrap_or_default();
        assert!(
            !outer.is_empty()
                && !outer.starts_with('/')
                && !outer.contains('\\')
                && outer.split('/').all(|p| !p.is_empty() && p != "." && p != ".."),
            "delivered an unclean path {:?}",
            entry.path
        );
        std::io::copy(r, &mut std::io::sink())?;
        Ok(())
    });
    assert!(report.bytes <= limits.max_total_bytes + (1 << 20), "read past the total limit");
    assert!(report.entries <= limits.max_entries, "read past the entry limit");
}

//! PEP 440 versions checked against an independent implementation, `pep440_rs` (uv's): OSV
//! matching turns on the order of versions, so every version string in the advisory records the
//! repository holds (and, beside a checkout with `../shared`, in all 2 600 of PyPA's) and a set
//! of odd spellings must parse alike, normalise alike and sort alike.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;

use airlock::package::version::pep440::Version;

/// Every version an OSV record names: in `versions` and in its ranges' events.
fn versions_in(dir: &Path, out: &mut BTreeSet<String>) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut records = 0;
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let Ok(record) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        records += 1;
        for affected in record["affected"].as_array().into_iter().flatten() {
            for v in affected["versions"].as_array().into_iter().flatten() {
                out.extend(v.as_str().map(str::to_string));
            }
            for range in affected["ranges"].as_array().into_iter().flatten() {
                for event in range["events"].as_array().into_iter().flatten() {
                    for key in ["introduced", "fixed", "last_affected"] {
                        out.extend(event[key].as_str().map(str::to_string));
                    }
                }
            }
        }
    }
    records
}

/// Spellings PEP 440 allows and normalises, and some it does not allow.
const ODD: &[&str] = &[
    "1.0",
    "1.0.0",
    "1",
    "v1.0",
    "V1.0",
    " 1.0 ",
    "1!1.0",
    "0!1.0",
    "2!0.1",
    "1.0a1",
    "1.0-a1",
    "1.0.a.1",
    "1.0alpha1",
    "1.0ALPHA1",
    "1.0b",
    "1.0beta2",
    "1.0c1",
    "1.0pre1",
    "1.0preview1",
    "1.0rc1",
    "1.0-rc.1",
    "1.0_rc_1",
    "1.0.post1",
    "1.0-post1",
    "1.0post",
    "1.0-1",
    "1.0.r1",
    "1.0rev1",
    "1.0.dev1",
    "1.0dev",
    "1.0-dev.2",
    "1.0a1.dev1",
    "1.0a1.post1.dev1",
    "1.0.post1.dev2",
    "1.0+local",
    "1.0+abc.5",
    "1.0+5.abc",
    "1.0+ABC-1_2",
    "1.0+1.0",
    "1.0.0.0.0.1",
    "01.02.003",
    "1.0a01",
    "1.0.post01",
    "1.0.dev010",
    "2024.10.31",
    "1.0.0-beta.1",
    "0.0.0",
    "999999999.1",
    "1.0+",
    "1.0+.a",
    "1..0",
    "1.0.",
    "a1.0",
    "1.0-",
    "1.0++1",
    "",
    "!1.0",
    "1!",
    "1.0 beta",
    "1.0-rc1-2",
    "latest",
    "1.0ab1",
    "1.0a1a2",
];

#[test]
fn versions_parse_normalise_and_sort_as_pep440_rs_does() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut strings: BTreeSet<String> = ODD.iter().map(|s| s.to_string()).collect();
    let ours = versions_in(&root.join("tests/data/osv/PyPI"), &mut strings);
    let shared = versions_in(&root.join("../shared/data/osv/PyPI"), &mut strings);
    assert!(
        ours > 50,
        "the repository's advisory records are read: {ours}"
    );
    eprintln!(
        "{} version strings from {ours} + {shared} advisory records and {} odd spellings",
        strings.len(),
        ODD.len()
    );

    let mut disagreements = Vec::new();
    let mut both: Vec<(Version, pep440_rs::Version, &str)> = Vec::new();
    for s in &strings {
        let mine = Version::parse(s);
        let theirs = pep440_rs::Version::from_str(s);
        match (mine, theirs) {
            (Ok(m), Ok(t)) => {
                if m.to_string() != t.to_string() {
                    disagreements.push(format!("{s:?} normalises to {m} here, {t} in pep440_rs"));
                }
                both.push((m, t, s));
            }
            (Err(_), Err(_)) => {}
            (Ok(m), Err(e)) => disagreements.push(format!(
                "{s:?} parses here (as {m}) but not in pep440_rs: {e}"
            )),
            (Err(e), Ok(t)) => disagreements.push(format!(
                "{s:?} parses in pep440_rs (as {t}) but not here: {e}"
            )),
        }
    }
    // Sorted by pep440_rs, then every neighbour compared here: two total orders that agree on
    // each adjacent pair of one sorted list agree on every pair.
    both.sort_by(|a, b| a.1.cmp(&b.1));
    for pair in both.windows(2) {
        let (theirs, mine) = (pair[0].1.cmp(&pair[1].1), pair[0].0.cmp(&pair[1].0));
        if theirs != mine {
            disagreements.push(format!(
                "{:?} vs {:?}: {mine:?} here, {theirs:?} in pep440_rs",
                pair[0].2, pair[1].2
            ));
        }
    }
    assert!(
        both.len() > 1000,
        "enough versions compared: {}",
        both.len()
    );
    assert!(
        both.windows(2)
            .any(|p| p[0].1.cmp(&p[1].1) == Ordering::Equal),
        "equal spellings (1.0 and 1.0.0) are among them"
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s) with pep440_rs:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

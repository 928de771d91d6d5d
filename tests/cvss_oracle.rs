//! CVSS scores checked against an independent implementation: Red Hat's `cvss` library for
//! Python (its authors wrote FIRST's v4.0 calculator), installed into `.venv` by `scripts/test-tools.sh`.
//! Thousands of generated vectors — v4.0 with threat and environmental metrics, v3.1 and v3.0 —
//! must score the same to one decimal, since a policy's `maxSeverity` turns on the rating.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use airlock::scan::advisories::cvss;

const ORACLE: &str = r#"
import sys
from cvss import CVSS3, CVSS4
for line in sys.stdin:
    v = line.strip()
    c = CVSS4(v) if v.startswith("CVSS:4.0/") else CVSS3(v)
    print(f"{float(c.base_score):.1f}")
"#;

/// A small deterministic generator (xorshift64*), so a failure names a vector that reproduces.
struct Rng(u64);

impl Rng {
    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let n = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33;
        options[(n % options.len() as u64) as usize]
    }
}

fn v4(rng: &mut Rng, extended: bool) -> String {
    let mut v = String::from("CVSS:4.0");
    let base: [(&str, &[&str]); 11] = [
        ("AV", &["N", "A", "L", "P"]),
        ("AC", &["L", "H"]),
        ("AT", &["N", "P"]),
        ("PR", &["N", "L", "H"]),
        ("UI", &["N", "P", "A"]),
        ("VC", &["H", "L", "N"]),
        ("VI", &["H", "L", "N"]),
        ("VA", &["H", "L", "N"]),
        ("SC", &["H", "L", "N"]),
        ("SI", &["H", "L", "N"]),
        ("SA", &["H", "L", "N"]),
    ];
    for (m, options) in base {
        v.push_str(&format!("/{m}:{}", rng.pick(options)));
    }
    if extended {
        let optional: [(&str, &[&str]); 14] = [
            ("E", &["X", "A", "P", "U"]),
            ("CR", &["X", "H", "M", "L"]),
            ("IR", &["X", "H", "M", "L"]),
            ("AR", &["X", "H", "M", "L"]),
            ("MAV", &["X", "N", "A", "L", "P"]),
            ("MAC", &["X", "L", "H"]),
            ("MAT", &["X", "N", "P"]),
            ("MPR", &["X", "N", "L", "H"]),
            ("MUI", &["X", "N", "P", "A"]),
            ("MVC", &["X", "H", "L", "N"]),
            ("MVI", &["X", "H", "L", "N"]),
            ("MVA", &["X", "H", "L", "N"]),
            ("MSI", &["X", "S", "H", "L", "N"]),
            ("MSA", &["X", "S", "H", "L", "N"]),
        ];
        for (m, options) in optional {
            let value = rng.pick(options);
            // Leave most metrics out, as real vectors do; "X" written out must also work.
            if rng.pick(&["in", "out", "out"]) == "in" {
                v.push_str(&format!("/{m}:{value}"));
            }
        }
    }
    v
}

fn v3(rng: &mut Rng, minor: &str) -> String {
    let mut v = format!("CVSS:3.{minor}");
    let base: [(&str, &[&str]); 8] = [
        ("AV", &["N", "A", "L", "P"]),
        ("AC", &["L", "H"]),
        ("PR", &["N", "L", "H"]),
        ("UI", &["N", "R"]),
        ("S", &["U", "C"]),
        ("C", &["H", "L", "N"]),
        ("I", &["H", "L", "N"]),
        ("A", &["H", "L", "N"]),
    ];
    for (m, options) in base {
        v.push_str(&format!("/{m}:{}", rng.pick(options)));
    }
    v
}

fn oracle(vectors: &[String]) -> Vec<String> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/test-tools.sh` (it installs the `cvss` library this test compares with)",
        python.display()
    );
    let mut child = Command::new(&python)
        .args(["-c", ORACLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = vectors.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("python runs");
    let written = writer.join().expect("writer");
    // Python's own error first: a broken pipe only says that it stopped reading.
    assert!(
        out.status.success(),
        "the oracle failed (is `cvss` installed in .venv? run `bash scripts/test-tools.sh`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    written.expect("write vectors");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn scores_agree_with_red_hats_cvss_library() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut vectors: Vec<(String, &str)> = Vec::new();
    for i in 0..4000 {
        vectors.push((v4(&mut rng, i % 2 == 1), "CVSS_V4"));
    }
    for i in 0..1500 {
        vectors.push((v3(&mut rng, if i % 3 == 0 { "0" } else { "1" }), "CVSS_V3"));
    }
    let expected = oracle(&vectors.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>());
    assert_eq!(expected.len(), vectors.len(), "one score per vector");

    let mut wrong = Vec::new();
    let mut ratings = std::collections::BTreeMap::new();
    for ((vector, kind), want) in vectors.iter().zip(&expected) {
        let got = cvss::score(kind, vector).map(|s| format!("{:.1}", s.score));
        if got.as_deref() != Some(want.as_str()) {
            wrong.push(format!("{vector}: airlock {got:?}, oracle {want}"));
        } else if let Ok(score) = want.parse::<f64>() {
            *ratings
                .entry(format!("{:?}", cvss::rating(score)))
                .or_insert(0) += 1;
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} vectors score differently, e.g.:\n{}",
        wrong.len(),
        vectors.len(),
        wrong[..wrong.len().min(10)].join("\n")
    );
    // The generated set reaches every rating band, so the comparison covers each boundary.
    assert_eq!(ratings.len(), 5, "ratings seen: {ratings:?}");
}

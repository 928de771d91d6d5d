//! Filename globs for narrowing a version's files: `*` any run of characters, `?` one character,
//! everything else literal. Matching is iterative, so hostile patterns cannot make it exponential.

pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ni));
            pi += 1;
        } else if let Some((bp, bn)) = backtrack {
            pi = bp + 1;
            ni = bn + 1;
            backtrack = Some((bp, bn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wheel_and_sdist_globs() {
        let wheel = "numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
        assert!(matches("*cp311*manylinux*x86_64*", wheel));
        assert!(!matches("*cp312*", wheel));
        assert!(matches("*.tar.gz", "numpy-2.1.3.tar.gz"));
        assert!(!matches("*.tar.gz", wheel));
        assert!(matches("numpy-2.1.?.tar.gz", "numpy-2.1.3.tar.gz"));
        assert!(matches("*", ""));
        assert!(!matches("a*b*c*d*e*f*g*h*x", &"ab".repeat(5000)));
    }
}

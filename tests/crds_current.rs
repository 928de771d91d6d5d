//! `crds/` must hold exactly what the code generates: a stale CRD would let `kubectl apply` admit
//! manifests the controller cannot read, or refuse ones it can. Regenerate with
//! `cargo run -- crd --write crds`.

use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn crds_directory_matches_the_generated_crds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut expected = BTreeSet::new();
    for crd in airlock::api::crds() {
        let file = airlock::api::crd_file_name(&crd);
        let want = airlock::api::crd_yaml(&crd).expect("CRD renders");
        let have = std::fs::read_to_string(dir.join(&file)).unwrap_or_else(|e| {
            panic!("crds/{file} missing ({e}): run `cargo run -- crd --write crds`")
        });
        assert!(
            have == want,
            "crds/{file} is stale: run `cargo run -- crd --write crds`"
        );
        expected.insert(file);
    }
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|f| f.ends_with(".yaml"))
        .collect();
    assert_eq!(
        present, expected,
        "crds/ holds a CRD the code no longer generates"
    );

    // The kustomization that deploy/ includes lists exactly these files.
    let kustomization =
        std::fs::read_to_string(dir.join("Kustomization")).expect("crds/Kustomization exists");
    let listed: BTreeSet<String> = kustomization
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(str::to_string)
        .collect();
    assert_eq!(
        listed, expected,
        "crds/Kustomization must list every CRD file"
    );
}

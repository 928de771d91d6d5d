//! `AIRLOCK_LIVE_TESTS=1` turns on the `airlock_live` cfg, so the tests that reach the real PyPI
//! and npm registries run; `AIRLOCK_CONTROL_PLANE=DIR` (kube-apiserver and etcd, from
//! `scripts/control-plane.sh`) turns on `airlock_control_plane`, so the tests that need the real
//! control plane run. Without them those tests are reported as ignored, never as passed.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(airlock_live)");
    println!("cargo::rustc-check-cfg=cfg(airlock_control_plane)");
    println!("cargo::rerun-if-env-changed=AIRLOCK_LIVE_TESTS");
    println!("cargo::rerun-if-env-changed=AIRLOCK_CONTROL_PLANE");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var("AIRLOCK_LIVE_TESTS").is_ok_and(|v| v == "1") {
        println!("cargo::rustc-cfg=airlock_live");
    }
    if std::env::var("AIRLOCK_CONTROL_PLANE").is_ok_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=airlock_control_plane");
    }
}

//! The controller under load: 1 000 requests for tiny fixture packages (half PyPI, half npm) from
//! a loopback upstream into the built-in repository. `cargo bench --bench controller` prints the
//! time until all are `Published`, the controller's peak RSS, and its CPU use while idle after.
//!
//! `airlock dev --no-controller` is the API server and the controller a separate
//! `airlock controller` process, so its memory and CPU are its own.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use airlock::api::PackageRequest;
use common::archives;
use common::dev::Dev;
use common::registry::{Fault, FixtureRegistry};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

const REQUESTS: usize = 1000;

fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let concurrency = std::env::var("AIRLOCK_BENCH_CONCURRENCY").unwrap_or_else(|_| "8".into());
    let reg = FixtureRegistry::start().await;
    let started = Instant::now();
    for i in 0..REQUESTS / 2 {
        let name = format!("tiny-py-{i}");
        reg.add_wheel_with_metadata(
            &name,
            &format!("tiny_py_{i}-1.0.0-py3-none-any.whl"),
            archives::wheel(&name, "1.0.0", "X = 1\n"),
            &archives::core_metadata(&name, "1.0.0"),
        );
        let js = format!("tiny-js-{i}");
        let manifest =
            json!({"name": js, "version": "1.0.0", "main": "index.js", "license": "MIT"});
        reg.add_npm_version(
            &js,
            "1.0.0",
            archives::npm_tarball(&manifest.to_string(), "module.exports = 1;\n"),
            Fault::default(),
            json!({}),
        );
    }
    eprintln!("fixtures ready in {:.1}s", started.elapsed().as_secs_f64());
    let (pypi, npm) = (
        format!("{}/simple/", reg.base()),
        format!("{}/npm/", reg.base()),
    );
    let conc = concurrency.clone();
    // Advisory data as the controller gets it by default: exports it downloads (here, from the
    // fixture registry); without it every package would wait for review.
    let feed = reg.serve_osv_exports(&[common::registry::npm_placeholder_record()]);
    let (dev, mut controller) = tokio::task::spawn_blocking(move || {
        let dev = Dev::start("bench-controller", &["--no-controller", "--pypi-index", &pypi, "--npm-registry", &npm, "--advisories-url", &feed]);
        dev.apply("apiVersion: airlock.dev/v1alpha1\nkind: ScanPolicy\nmetadata: {name: bench}\nspec: {approvalMode: Automatic, licenses: {allow: [MIT]}}\n---\napiVersion: airlock.dev/v1alpha1\nkind: PackageRepository\nmetadata: {name: bench}\nspec: {builtin: {}, policyRef: bench, allowedNamespaces: [\"*\"]}\n");
        let controller = dev.controller("bench", &["--metrics-addr", "127.0.0.1:0", "--concurrency", &conc, "--no-leader-election"], &[("RUST_LOG", "warn")]);
        (dev, controller)
    })
    .await
    .expect("join");
    let pid = controller.id();
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(dev.var("KUBECONFIG")).expect("kubeconfig"),
            &Default::default(),
        )
        .await
        .expect("config"),
    )
    .expect("client");
    let api: Api<PackageRequest> = Api::namespaced(client, "default");
    let started = Instant::now();
    for i in 0..REQUESTS / 2 {
        for (eco, name) in [
            ("pypi", format!("tiny-py-{i}")),
            ("npm", format!("tiny-js-{i}")),
        ] {
            let r: PackageRequest = serde_json::from_value(json!({
                "apiVersion": "airlock.dev/v1alpha1", "kind": "PackageRequest",
                "metadata": {"name": name},
                "spec": {"ecosystem": eco, "name": name, "version": "1.0.0", "repositoryRef": "bench"},
            }))
            .expect("request");
            api.create(&PostParams::default(), &r)
                .await
                .expect("create");
        }
    }
    let created = started.elapsed();
    let mut peak_kib = 0;
    loop {
        peak_kib = peak_kib.max(proc_status(pid, "VmHWM:").unwrap_or(0));
        let list = api.list(&ListParams::default()).await.expect("list");
        let mut phases: BTreeMap<String, usize> = BTreeMap::new();
        for r in &list.items {
            let phase = r
                .status
                .as_ref()
                .and_then(|s| s.phase)
                .map(|p| format!("{p:?}"))
                .unwrap_or_else(|| "None".into());
            *phases.entry(phase).or_default() += 1;
        }
        if phases.get("Published") == Some(&REQUESTS) {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            panic!("not all published after 600s: {phases:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let total = started.elapsed();
    peak_kib = peak_kib.max(proc_status(pid, "VmHWM:").unwrap_or(0));
    // Idle: CPU used over 10 s once everything is done.
    let before = cpu_ticks(pid).unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle_ticks = cpu_ticks(pid).unwrap_or(0) - before;
    let ticks_per_s = 100.0; // USER_HZ on Linux
    println!("controller: {REQUESTS} requests (500 PyPI + 500 npm), concurrency {concurrency}");
    println!(
        "  created in {:.1}s; all Published after {:.1}s ({:.0} requests/s)",
        created.as_secs_f64(),
        total.as_secs_f64(),
        REQUESTS as f64 / total.as_secs_f64()
    );
    println!("  controller peak RSS {:.1} MiB", peak_kib as f64 / 1024.0);
    println!(
        "  idle CPU over 10 s after: {:.2}% of one core",
        idle_ticks as f64 / ticks_per_s / 10.0 * 100.0
    );
    common::dev::terminate(&mut controller);
    drop(dev);
}

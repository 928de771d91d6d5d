//! How many SageMaker domains one controller keeps in sync per minute against the emulator, and
//! how many API calls a resync costs when nothing drifted. `cargo bench --bench domains`.
//!
//! `AIRLOCK_BENCH_DOMAINS` domains (default 300) are created out of band, each declared with a
//! 1 s resync so the controller is the bottleneck; the emulator's call counters are read over a
//! 30 s window once all are in sync.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_sagemaker::types::{AppNetworkAccessType, AuthMode, DomainSettings, UserSettings};
use common::dev::Dev;

fn calls(dev: &Dev) -> HashMap<String, u64> {
    common::aws::sagemaker_calls(dev.var("AWS_ENDPOINT_URL"))
}

fn total(c: &HashMap<String, u64>) -> u64 {
    c.values().sum()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("AIRLOCK_BENCH_DOMAINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let dev = tokio::task::spawn_blocking(|| Dev::start("bench-domains", &["--no-controller"]))
        .await
        .expect("join");
    let sm = common::aws::sagemaker(dev.var("AWS_ENDPOINT_URL"));
    let mut yaml = String::new();
    for i in 0..n {
        let out = sm
            .create_domain()
            .domain_name(format!("bench-{i}"))
            .auth_mode(AuthMode::Iam)
            .default_user_settings(
                UserSettings::builder()
                    .execution_role("arn:aws:iam::111122223333:role/x")
                    .build(),
            )
            .domain_settings(
                DomainSettings::builder()
                    .security_group_ids("sg-0a1b2c3d4e5f60718")
                    .build(),
            )
            .vpc_id("vpc-0a1b2c3d4e5f60718")
            .subnet_ids("subnet-0123456789abcdef0")
            .app_network_access_type(AppNetworkAccessType::VpcOnly)
            .send()
            .await
            .expect("CreateDomain");
        let id = out
            .domain_arn()
            .and_then(|a| a.rsplit('/').next())
            .expect("id")
            .to_string();
        yaml.push_str(&format!(
            "---\napiVersion: airlock.dev/v1alpha1\nkind: SageMakerDomain\nmetadata: {{name: bench-{i}, namespace: default}}\nspec:\n  domainId: {id}\n  region: us-east-1\n  resyncPeriod: 1s\n  network: {{appNetworkAccessType: VpcOnly, vpcId: vpc-0a1b2c3d4e5f60718, subnetIds: [subnet-0123456789abcdef0], securityGroupIds: [sg-0a1b2c3d4e5f60718]}}\n"
        ));
    }
    // The API server and the emulator are another process: blocking here stalls nothing.
    dev.apply(&yaml);
    let mut controller = dev.controller(
        "bench",
        &["--metrics-addr", "127.0.0.1:0", "--no-leader-election"],
        &[
            ("RUST_LOG", "warn"),
            ("AWS_ACCESS_KEY_ID", "AKIDBENCH"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    let started = Instant::now();
    loop {
        let list = dev.get_json(&["smd", "-n", "default"]).expect("list");
        let ready = list["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter(|d| {
                        d["status"]["conditions"].as_array().is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        })
                    })
                    .count()
            })
            .unwrap_or(0);
        if ready == n {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "only {ready}/{n} in sync"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let first_sync = started.elapsed();
    let before = calls(&dev);
    let window = Duration::from_secs(30);
    tokio::time::sleep(window).await;
    let after = calls(&dev);
    let describes = after.get("DescribeDomain").copied().unwrap_or(0)
        - before.get("DescribeDomain").copied().unwrap_or(0);
    let all = total(&after) - total(&before);
    let updates = after.get("UpdateDomain").copied().unwrap_or(0)
        - before.get("UpdateDomain").copied().unwrap_or(0);
    println!("domains: {n} domains, 1 s resync each, one controller");
    println!(
        "  all in sync (Ready) {:.1}s after the controller started",
        first_sync.as_secs_f64()
    );
    println!(
        "  {:.0} domain resyncs per minute ({describes} DescribeDomain in {}s; asked for {:.0}/min)",
        describes as f64 * 60.0 / window.as_secs_f64(),
        window.as_secs(),
        n as f64 * 60.0
    );
    println!(
        "  API calls per resync with nothing drifted: {:.3} ({all} calls, {updates} UpdateDomain)",
        all as f64 / describes.max(1) as f64
    );
    common::dev::terminate(&mut controller);
    drop(dev);
}

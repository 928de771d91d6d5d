//! The controller as a platform team runs it: separate `airlock controller` processes against
//! `airlock dev --no-controller`, killed mid-publish, and two replicas electing one leader.

mod common;

use std::time::{Duration, Instant};

use common::archives;
use common::dev::{Dev, free_port, http_get, terminate, venv_tool};
use common::registry::FixtureRegistry;
use serde_json::Value;

const SETUP: &str = r#"
apiVersion: airlock.dev/v1alpha1
kind: ScanPolicy
metadata: {name: e2e}
spec:
  approvalMode: Automatic
  licenses: {allow: [MIT]}
---
apiVersion: airlock.dev/v1alpha1
kind: PackageRepository
metadata: {name: local}
spec:
  builtin: {}
  policyRef: e2e
  allowedNamespaces: ["*"]
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
"#;

fn request(name: &str, package: &str) -> String {
    format!(
        "apiVersion: airlock.dev/v1alpha1\nkind: PackageRequest\nmetadata: {{name: {name}, namespace: team-a}}\nspec: {{ecosystem: pypi, name: {package}, version: \"1.0.0\", repositoryRef: local}}\n"
    )
}

async fn start(name: &str, packages: &[&str]) -> (FixtureRegistry, Dev) {
    let reg = FixtureRegistry::start().await;
    for p in packages {
        reg.add_wheel_with_metadata(
            p,
            &format!("{}-1.0.0-py3-none-any.whl", p.replace('-', "_")),
            archives::wheel(p, "1.0.0", "X = 1\n"),
            &archives::core_metadata(p, "1.0.0"),
        );
    }
    let pypi = format!("{}/simple/", reg.base());
    let feed = reg.serve_osv_exports(&[common::registry::npm_placeholder_record()]);
    let name = name.to_string();
    let dev = tokio::task::spawn_blocking(move || {
        let dev = Dev::start(
            &name,
            &[
                "--no-controller",
                "--pypi-index",
                &pypi,
                "--advisories-url",
                &feed,
            ],
        );
        dev.apply(SETUP);
        dev
    })
    .await
    .expect("join");
    (reg, dev)
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn events_of(dev: &Dev, name: &str) -> Vec<Value> {
    dev.get_json(&[
        "events",
        "-n",
        "team-a",
        "--field-selector",
        &format!("involvedObject.name={name}"),
    ])
    .and_then(|l| l["items"].as_array().cloned())
    .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_killed_mid_publish_publishes_exactly_once_after_restart() {
    let (_reg, dev) = start("crash", &["tidy-lib"]).await;
    tokio::task::spawn_blocking(move || {
        dev.apply(&request("tidy-lib", "tidy-lib"));
        let mut crashy = dev.controller(
            "crashy",
            &["--metrics-addr", "127.0.0.1:0"],
            &[("AIRLOCK_FAULT", "exit-after-publish")],
        );
        let mut code = None;
        wait_until("the injected crash", Duration::from_secs(60), || {
            code = crashy.try_wait().ok().flatten().map(|s| s.code());
            code.is_some()
        });
        assert_eq!(
            code,
            Some(Some(86)),
            "the controller died right after publishing"
        );
        let r = dev.request("team-a", "tidy-lib");
        assert_eq!(
            r["status"]["phase"], "Publishing",
            "status never said Published"
        );
        let index = format!("{}tidy-lib/", dev.var("PIP_INDEX_URL"));
        let (code, before) = http_get(&index);
        assert_eq!(code, 200, "the files were published before the crash");
        assert_eq!(
            before
                .matches("\"filename\":\"tidy_lib-1.0.0-py3-none-any.whl\"")
                .count(),
            1,
            "{before}"
        );

        // A single replica may run without leader election.
        let mut steady = dev.controller(
            "steady",
            &["--metrics-addr", "127.0.0.1:0", "--no-leader-election"],
            &[],
        );
        let r = dev.wait_phase("team-a", "tidy-lib", "Published");
        let msg = r["status"]["conditions"].to_string();
        assert!(msg.contains("0 new file(s), 1 already there"), "{msg}");
        let (_, after) = http_get(&index);
        assert_eq!(
            after, before,
            "the index is byte for byte what the first publish wrote"
        );
        let published: Vec<Value> = events_of(&dev, "tidy-lib")
            .into_iter()
            .filter(|e| e["reason"] == "Published")
            .collect();
        assert_eq!(published.len(), 1, "one Published event");
        assert_eq!(published[0]["reportingInstance"], "steady");
        assert_eq!(terminate(&mut steady), Some(0));
    })
    .await
    .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_elect_one_leader_and_the_standby_takes_over() {
    let (_reg, dev) = start("leader", &["first-lib", "second-lib"]).await;
    tokio::task::spawn_blocking(move || {
        let (pa, pb) = (free_port(), free_port());
        let mut a = dev.controller(
            "replica-a",
            &["--metrics-addr", &format!("127.0.0.1:{pa}")],
            &[],
        );
        wait_until("replica-a to lead", Duration::from_secs(30), || {
            dev.lease_holder().as_deref() == Some("replica-a")
        });
        let mut b = dev.controller(
            "replica-b",
            &["--metrics-addr", &format!("127.0.0.1:{pb}")],
            &[],
        );
        let metrics = |port: u16| http_get(&format!("http://127.0.0.1:{port}/metrics")).1;
        wait_until("replica-b to serve", Duration::from_secs(30), || {
            http_get(&format!("http://127.0.0.1:{pb}/healthz")).0 == 200
        });
        assert_eq!(
            http_get(&format!("http://127.0.0.1:{pb}/readyz")).0,
            200,
            "a standby is ready"
        );
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(
            dev.lease_holder().as_deref(),
            Some("replica-a"),
            "the standby does not steal a renewed lease"
        );
        assert!(metrics(pa).contains("airlock_leader 1"));
        assert!(metrics(pb).contains("airlock_leader 0"));

        dev.apply(&request("first-lib", "first-lib"));
        dev.wait_phase("team-a", "first-lib", "Published");
        let events = events_of(&dev, "first-lib");
        assert!(!events.is_empty());
        assert!(
            events.iter().all(|e| e["reportingInstance"] == "replica-a"),
            "only the leader acts: {events:?}"
        );
        let m = metrics(pa);
        assert!(m.contains("airlock_publications_total 1"), "{m}");
        assert!(
            m.contains("airlock_package_requests{phase=\"Published\"} 1"),
            "{m}"
        );
        assert!(m.contains("airlock_scan_duration_seconds_count 1"), "{m}");
        assert!(
            m.contains("airlock_publish_duration_seconds_count 1"),
            "{m}"
        );
        let samples = openmetrics_samples(&m);
        assert!(
            samples
                .iter()
                .any(|s| s
                    .starts_with("airlock_reconcile_duration_seconds_count{kind=PackageRequest}")),
            "the Prometheus parser reads a reconcile duration per kind: {samples:?}"
        );

        // Graceful shutdown hands the lease over; the standby takes it and carries on.
        assert_eq!(terminate(&mut a), Some(0), "SIGTERM is a clean exit");
        wait_until("replica-b to lead", Duration::from_secs(15), || {
            dev.lease_holder().as_deref() == Some("replica-b")
        });
        dev.apply(&request("second-lib", "second-lib"));
        dev.wait_phase("team-a", "second-lib", "Published");
        let events = events_of(&dev, "second-lib");
        assert!(
            events.iter().all(|e| e["reportingInstance"] == "replica-b"),
            "{events:?}"
        );
        assert!(metrics(pb).contains("airlock_leader 1"));

        // Logs are JSON, and every line of a reconcile names the request and its namespace.
        let log = std::fs::read_to_string(dev.dir.join("controller-replica-a.log")).expect("log");
        let lines: Vec<Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        assert!(
            lines
                .iter()
                .any(|l| l["fields"]["message"] == "became the leader")
        );
        let steps: Vec<&Value> = lines
            .iter()
            .filter(|l| l["span"]["name"] == "reconcile")
            .collect();
        assert!(
            steps.iter().any(|l| l["fields"]["reason"] == "Published"),
            "each step is logged: {log}"
        );
        for l in &steps {
            assert_eq!(l["span"]["namespace"], "team-a", "{l}");
            assert_eq!(l["span"]["request"], "first-lib", "{l}");
        }
        // A replica killed without a goodbye: the other waits out the lease, then leads.
        let mut c = dev.controller("replica-c", &["--metrics-addr", "127.0.0.1:0"], &[]);
        std::thread::sleep(Duration::from_secs(1));
        let _ = b.kill();
        let _ = b.wait();
        wait_until(
            "replica-c to lead after the lease expires",
            Duration::from_secs(20),
            || dev.lease_holder().as_deref() == Some("replica-c"),
        );
        assert_eq!(terminate(&mut c), Some(0));
    })
    .await
    .expect("join");
}

/// Failover keeps the built-in repository: both replicas serve it from the one data directory
/// (as `deploy/` mounts one ReadWriteMany volume in both), the standby already serves what the
/// leader published, and once the leader is killed the new leader serves the same index and
/// publishes more; a replacement replica serves all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_serves_the_same_index_and_loses_nothing() {
    let (_reg, dev) = start("failover", &["first-lib", "second-lib"]).await;
    tokio::task::spawn_blocking(move || {
        let replica = |id: &str| {
            let port = free_port();
            let c = dev.controller(
                id,
                &[
                    "--metrics-addr",
                    "127.0.0.1:0",
                    "--builtin-addr",
                    &format!("127.0.0.1:{port}"),
                    "--builtin-url",
                    &format!("http://127.0.0.1:{port}"),
                ],
                &[],
            );
            (c, port)
        };
        // The project's files as one replica's index lists them, each downloaded from it.
        let served = |port: u16, project: &str| -> Vec<String> {
            let page_url = format!("http://127.0.0.1:{port}/simple/{project}/");
            let (code, body) = http_get(&page_url);
            if code != 200 {
                return Vec::new();
            }
            let page: Value = serde_json::from_str(&body).unwrap_or_default();
            let files = page["files"].as_array().cloned().unwrap_or_default();
            for f in &files {
                let url = url::Url::parse(&page_url)
                    .and_then(|base| base.join(f["url"].as_str().unwrap_or_default()))
                    .expect("a file URL");
                assert_eq!(http_get(url.as_str()).0, 200, "{url} downloads");
            }
            files
                .iter()
                .filter_map(|f| f["filename"].as_str().map(str::to_string))
                .collect()
        };
        let (mut a, pa) = replica("replica-a");
        wait_until("replica-a to lead", Duration::from_secs(30), || {
            dev.lease_holder().as_deref() == Some("replica-a")
        });
        let (mut b, pb) = replica("replica-b");
        dev.apply(&request("first-lib", "first-lib"));
        dev.wait_phase("team-a", "first-lib", "Published");
        let first = vec!["first_lib-1.0.0-py3-none-any.whl".to_string()];
        assert_eq!(served(pa, "first-lib"), first, "the leader serves it");
        wait_until("the standby to serve", Duration::from_secs(30), || {
            served(pb, "first-lib") == first
        });

        // The leader dies without a goodbye; the standby leads and still serves everything.
        let _ = a.kill();
        let _ = a.wait();
        assert_eq!(
            served(pb, "first-lib"),
            first,
            "nothing lost while nobody leads"
        );
        wait_until("replica-b to lead", Duration::from_secs(30), || {
            dev.lease_holder().as_deref() == Some("replica-b")
        });
        dev.apply(&request("second-lib", "second-lib"));
        dev.wait_phase("team-a", "second-lib", "Published");
        let second = vec!["second_lib-1.0.0-py3-none-any.whl".to_string()];
        assert_eq!(served(pb, "second-lib"), second);
        assert_eq!(served(pb, "first-lib"), first);

        // A replacement replica (the pod the Deployment starts again) serves all of it.
        let (mut c, pc) = replica("replica-c");
        wait_until("the replacement to serve", Duration::from_secs(30), || {
            served(pc, "second-lib") == second
        });
        assert_eq!(served(pc, "first-lib"), first);
        assert_eq!(terminate(&mut c), Some(0));
        assert_eq!(terminate(&mut b), Some(0));
    })
    .await
    .expect("join");
}

/// The samples of an OpenMetrics text as the Prometheus project's own Python parser reads them
/// (`name{label=value,...} value`, one per line); the parser rejects text that breaks the format.
fn openmetrics_samples(text: &str) -> Vec<String> {
    use std::io::Write;
    let python = venv_tool("python").expect(".venv: run scripts/test-tools.sh");
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("parser");
    assert!(
        out.status.success(),
        "the OpenMetrics parser rejects /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

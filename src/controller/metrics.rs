//! `/metrics` (Prometheus text format), `/healthz` and `/readyz`.
//!
//! A handful of counters and two histograms do not justify a metrics crate: they are kept here
//! behind one mutex and written out in the exposition format on each scrape.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use kube::runtime::reflector::Store;

use crate::api::PackageRequest;
use crate::serve::respond;

/// Histogram buckets in seconds: from a cached tiny package to a large wheel over a slow link.
const BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", self.counts[i]);
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    reconciles: u64,
    errors: BTreeMap<String, u64>,
    published: u64,
    scan: Histogram,
    publish: Histogram,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    pub ready: AtomicBool,
    pub leader: AtomicBool,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn reconciled(&self) {
        self.with(|i| i.reconciles += 1);
    }

    /// An error, by the reason word status and events use.
    pub fn error(&self, reason: &str) {
        self.with(|i| *i.errors.entry(reason.to_string()).or_default() += 1);
    }

    pub fn scanned(&self, took: Duration) {
        self.with(|i| i.scan.observe(took.as_secs_f64()));
    }

    pub fn published(&self, took: Duration) {
        self.with(|i| {
            i.published += 1;
            i.publish.observe(took.as_secs_f64())
        });
    }

    /// The exposition text; request counts by phase come from the controller's cache.
    pub fn render(&self, requests: Option<&Store<PackageRequest>>) -> String {
        let mut out = String::new();
        let mut phases: BTreeMap<String, u64> = [
            "Pending",
            "Fetching",
            "Scanning",
            "AwaitingApproval",
            "Publishing",
            "Published",
            "Rejected",
            "Failed",
            "Quarantined",
        ]
        .into_iter()
        .map(|p| (p.to_string(), 0))
        .collect();
        if let Some(store) = requests {
            for r in store.state() {
                let phase = r
                    .status
                    .as_ref()
                    .and_then(|s| s.phase)
                    .map(|p| format!("{p:?}"))
                    .unwrap_or_else(|| "Pending".into());
                *phases.entry(phase).or_default() += 1;
            }
        }
        let _ = writeln!(
            out,
            "# HELP airlock_package_requests PackageRequests by phase.\n# TYPE airlock_package_requests gauge"
        );
        for (phase, n) in &phases {
            let _ = writeln!(out, "airlock_package_requests{{phase=\"{phase}\"}} {n}");
        }
        let leader = u8::from(self.leader.load(Ordering::Relaxed));
        self.with(|i| {
            let _ = writeln!(
                out,
                "# HELP airlock_reconciles_total Reconciles run.\n# TYPE airlock_reconciles_total counter\nairlock_reconciles_total {}",
                i.reconciles
            );
            let _ = writeln!(
                out,
                "# HELP airlock_publications_total Package versions published.\n# TYPE airlock_publications_total counter\nairlock_publications_total {}",
                i.published
            );
            let _ = writeln!(
                out,
                "# HELP airlock_errors_total Errors by reason.\n# TYPE airlock_errors_total counter"
            );
            for (reason, n) in &i.errors {
                let _ = writeln!(out, "airlock_errors_total{{reason=\"{reason}\"}} {n}");
            }
            i.scan.write(
                &mut out,
                "airlock_scan_duration_seconds",
                "Time to scan and decide one request.",
            );
            i.publish.write(
                &mut out,
                "airlock_publish_duration_seconds",
                "Time to publish one request's files.",
            );
        });
        let _ = writeln!(
            out,
            "# HELP airlock_leader Whether this replica holds the leader lease.\n# TYPE airlock_leader gauge\nairlock_leader {leader}"
        );
        out
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `addr`; the address it listens on.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    requests: Arc<Mutex<Option<Store<PackageRequest>>>>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    crate::serve::spawn(listener, move |req| {
        let metrics = metrics.clone();
        let requests = requests.clone();
        async move {
            let plain = "text/plain; charset=utf-8";
            Ok::<_, Infallible>(match req.uri().path() {
                "/healthz" => respond(StatusCode::OK, plain, "ok\n"),
                "/readyz" if metrics.ready.load(Ordering::Relaxed) => {
                    respond(StatusCode::OK, plain, "ok\n")
                }
                "/readyz" => respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    plain,
                    "not ready: the caches are not synced yet\n",
                ),
                "/metrics" => {
                    let store = requests.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    respond(
                        StatusCode::OK,
                        "text/plain; version=0.0.4; charset=utf-8",
                        metrics.render(store.as_ref()),
                    )
                }
                _ => respond(
                    StatusCode::NOT_FOUND,
                    plain,
                    "not found: /metrics, /healthz, /readyz\n",
                ),
            })
        }
    });
    Ok(local)
}

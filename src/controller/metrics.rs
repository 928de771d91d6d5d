//! `/metrics` (OpenMetrics text, through `prometheus-client`), `/healthz` and `/readyz`.
//!
//! As in controller-rs: a reconcile counter and duration histogram per kind, the duration taken
//! by a guard dropped when the reconcile ends (whichever way it ends), failures by reason, and
//! the pipeline's own stage durations. Request counts by phase are read from the controller's
//! cache at each scrape, so they are never out of step with what `kubectl get` shows.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;
use kube::runtime::reflector::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::api::PackageRequest;
use crate::api::package_request::PackageRequestPhase;
use crate::net::server::respond;

/// Histogram buckets in seconds: from a cached tiny package to a large wheel over a slow link.
const BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: String,
}

/// Every metric the controller exports, registered once.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<KindLabel, Counter>,
    reconcile_duration: Family<KindLabel, Histogram, fn() -> Histogram>,
    errors: Family<ReasonLabel, Counter>,
    publications: Counter,
    scan: Histogram,
    publish: Histogram,
    requests: Family<PhaseLabel, Gauge>,
    leader_gauge: Gauge,
    pub ready: AtomicBool,
    pub leader: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("airlock");
        let reconciles = Family::<KindLabel, Counter>::default();
        let reconcile_duration =
            Family::<KindLabel, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        let errors = Family::<ReasonLabel, Counter>::default();
        let publications = Counter::default();
        let (scan, publish) = (histogram(), histogram());
        let requests = Family::<PhaseLabel, Gauge>::default();
        let leader_gauge = Gauge::default();
        registry.register("reconciles", "Reconciles run, by kind", reconciles.clone());
        registry.register_with_unit(
            "reconcile_duration",
            "Time one reconcile took, by kind",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        registry.register(
            "errors",
            "Failures by the reason word status and events use",
            errors.clone(),
        );
        registry.register(
            "publications",
            "Package versions published",
            publications.clone(),
        );
        registry.register_with_unit(
            "scan_duration",
            "Time to scan and decide one request",
            Unit::Seconds,
            scan.clone(),
        );
        registry.register_with_unit(
            "publish_duration",
            "Time to publish one request's files",
            Unit::Seconds,
            publish.clone(),
        );
        registry.register(
            "package_requests",
            "PackageRequests by phase",
            requests.clone(),
        );
        registry.register(
            "leader",
            "Whether this replica holds the leader lease",
            leader_gauge.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_duration,
            errors,
            publications,
            scan,
            publish,
            requests,
            leader_gauge,
            ready: AtomicBool::new(false),
            leader: AtomicBool::new(false),
        }
    }
}

/// Counts a reconcile when made and observes its duration when dropped: however the reconcile
/// returns (an error, a `?`, a panic unwinding), its time is recorded.
pub struct ReconcileMeasurer {
    started: Instant,
    histogram: Histogram,
}

impl Drop for ReconcileMeasurer {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

impl Metrics {
    /// Counts one reconcile of `kind` and measures it until the guard is dropped.
    pub fn count_and_measure(&self, kind: &'static str) -> ReconcileMeasurer {
        let label = KindLabel { kind };
        self.reconciles.get_or_create(&label).inc();
        ReconcileMeasurer {
            started: Instant::now(),
            histogram: self.reconcile_duration.get_or_create(&label).clone(),
        }
    }

    /// A failure, by the reason word status and events use.
    pub fn error(&self, reason: &str) {
        self.errors
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn scanned(&self, took: Duration) {
        self.scan.observe(took.as_secs_f64());
    }

    pub fn published(&self, took: Duration) {
        self.publications.inc();
        self.publish.observe(took.as_secs_f64());
    }

    /// The exposition text; request counts by phase come from the controller's cache.
    pub fn render(&self, requests: Option<&Store<PackageRequest>>) -> String {
        use PackageRequestPhase::*;
        let mut counts: Vec<(PackageRequestPhase, i64)> = [
            Pending,
            Fetching,
            Scanning,
            AwaitingApproval,
            Publishing,
            Published,
            Rejected,
            Failed,
            Quarantined,
        ]
        .into_iter()
        .map(|p| (p, 0))
        .collect();
        if let Some(store) = requests {
            for r in store.state() {
                let phase = r.status.as_ref().and_then(|s| s.phase).unwrap_or(Pending);
                if let Some(entry) = counts.iter_mut().find(|(p, _)| *p == phase) {
                    entry.1 += 1;
                }
            }
        }
        for (phase, n) in counts {
            self.requests
                .get_or_create(&PhaseLabel {
                    phase: format!("{phase:?}"),
                })
                .set(n);
        }
        self.leader_gauge
            .set(i64::from(self.leader.load(Ordering::Relaxed)));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
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
    crate::net::server::spawn(listener, move |req| {
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
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn reconciles_are_counted_and_timed_per_kind_however_they_end() {
        let m = Metrics::default();
        {
            let _a = m.count_and_measure("PackageRequest");
        }
        let failing = || -> Result<(), ()> {
            let _b = m.count_and_measure("PackageRequest");
            Err(())
        };
        assert!(failing().is_err());
        drop(m.count_and_measure("SageMakerDomain"));
        m.error("DownloadFailed");
        m.published(Duration::from_millis(20));
        let text = m.render(None);
        assert_eq!(
            line(&text, "airlock_reconciles_total{kind=\"PackageRequest\"}"),
            Some("airlock_reconciles_total{kind=\"PackageRequest\"} 2"),
            "{text}"
        );
        assert_eq!(
            line(
                &text,
                "airlock_reconcile_duration_seconds_count{kind=\"PackageRequest\"}"
            ),
            Some("airlock_reconcile_duration_seconds_count{kind=\"PackageRequest\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("airlock_reconcile_duration_seconds_count{kind=\"SageMakerDomain\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("airlock_errors_total{reason=\"DownloadFailed\"} 1"),
            "{text}"
        );
        assert!(text.contains("airlock_publications_total 1"), "{text}");
        assert!(
            text.contains("airlock_publish_duration_seconds_bucket{le=\"0.05\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("airlock_package_requests{phase=\"Published\"} 0"),
            "{text}"
        );
        assert!(text.contains("airlock_leader 0"), "{text}");
        assert!(text.ends_with("# EOF\n"), "OpenMetrics text ends with EOF");
    }
}

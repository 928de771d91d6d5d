//! `airlock controller`: the reconcilers, and the runtime around them — leader election, the
//! metrics and health endpoints, bounded concurrency, graceful shutdown.
//!
//! The layout follows kube-rs's `controller-rs`: one reconcile function per kind
//! ([`package_request`]), a context per controller around what they all [`Shared`], finalizers through
//! `kube::runtime::finalizer`, events through a `Recorder`, one error enum with an
//! `error_policy` that backs off.

/// The value of a reconcile step that went on; otherwise returns its action from the reconcile.
macro_rules! step {
    ($step:expr) => {
        match $step {
            $crate::controller::Step::Next(value) => value,
            $crate::controller::Step::End(action) => return Ok(action),
        }
    };
}

pub mod advisories;
pub mod error;
pub mod fairness;
#[cfg(test)]
pub mod fake_api;
pub mod holdings;
pub mod kstatus;
pub mod leader;
pub mod metrics;
pub mod package_repository;
pub mod package_request;
pub mod report;
pub mod sagemaker_domain;
pub mod scan_policy;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use kube::runtime::controller::{self, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::watch;

use crate::api::{PackageRepository, PackageRequest, SageMakerDomain, ScanPolicy};
use crate::pipeline::resolve::Registries;
use crate::pipeline::unpack::Limits;

use crate::publish::target::{Builtin, Targets};
use advisories::AdvisorySource;
use fairness::Slots;
use metrics::Metrics;

/// The name events and field managers carry.
pub const CONTROLLER_NAME: &str = "airlock-controller";

/// Everything the controller is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How many requests may fetch, scan or publish at once.
    pub concurrency: usize,
    pub registries: Registries,
    /// Further hosts files may be downloaded from (a mirror's file host).
    pub allow_hosts: Vec<String>,
    /// OSV data: directories of JSON records or osv.dev `all.zip` files.
    pub advisories: Vec<PathBuf>,
    /// osv.dev's exports, downloaded and refreshed by the controller itself.
    pub advisory_feed: Option<AdvisoryFeedSettings>,
    /// How long one package download may take.
    pub download_deadline: crate::pipeline::fetch::Deadline,
    /// The download cache.
    pub cache_dir: PathBuf,
    pub aws: AwsSettings,
    /// How often a SageMakerDomain is compared with AWS when its spec does not say.
    pub default_resync: Duration,
    pub metrics_addr: SocketAddr,
    /// This replica's name: in the Lease and in the events it records.
    pub identity: String,
    /// `None` runs without leader election (one replica only).
    pub lease: Option<LeaseSettings>,
    /// Fault injection for the crash-recovery tests: `exit-after-publish` exits the process right
    /// after the files are published and before status says so. Only in builds with `dev`.
    #[cfg(feature = "dev")]
    pub fault: Option<String>,
}

/// Where the controller downloads advisory exports from, how often, and where it keeps them.
#[derive(Clone, Debug)]
pub struct AdvisoryFeedSettings {
    pub base: url::Url,
    pub every: Duration,
    pub dir: PathBuf,
}

/// How the AWS clients are made.
pub use crate::aws::ClientSettings as AwsSettings;

#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    pub duration: Duration,
    pub retry: Duration,
}

/// What a reconcile step did: produced what the next step needs, or ended this reconcile with
/// an action (a requeue, or a wait for a change once done or stalled).
pub enum Step<T> {
    Next(T),
    End(kube::runtime::controller::Action),
}

/// What every controller shares: the API client, the event recorder and the metrics. Each
/// controller's own context holds it and what only that controller needs.
#[derive(Clone)]
pub struct Shared {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
}

impl Shared {
    pub fn new(client: Client, identity: &str, metrics: Arc<Metrics>) -> Shared {
        Shared {
            recorder: Recorder::new(
                client.clone(),
                Reporter {
                    controller: CONTROLLER_NAME.into(),
                    instance: Some(identity.to_string()),
                },
            ),
            client,
            metrics,
        }
    }
}

/// Records an event on `reference` and logs it (inside the reconcile's span, which names the
/// object): each event is one step a user can follow.
pub async fn record(
    ctx: &Shared,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    type_: kube::runtime::events::EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    use kube::runtime::events::{Event, EventType};
    match type_ {
        EventType::Normal => tracing::info!(reason, "{note}"),
        EventType::Warning => tracing::warn!(reason, "{note}"),
    }
    // The Events API takes at most 1 kB of note.
    let note: String = note.chars().take(1000).collect();
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, reference).await {
        tracing::warn!(error = %e, reason, "could not record an event");
    }
}

/// Hashes what every kind's reconcile reacts to — the spec's generation, deletion and the
/// finalizers — for the trigger predicates, which ignore the controller's own status writes.
pub fn hash_lifecycle(meta: &kube::api::ObjectMeta, h: &mut impl std::hash::Hasher) {
    use std::hash::Hash;
    meta.generation.hash(h);
    meta.deletion_timestamp.is_some().hash(h);
    meta.finalizers.hash(h);
    reconcile_requested(meta).hash(h);
}

/// [`hash_lifecycle`] as a trigger predicate, for kinds that react to nothing else.
fn lifecycle_hash<K: kube::Resource>(obj: &K) -> Option<u64> {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    hash_lifecycle(obj.meta(), &mut h);
    Some(h.finish())
}

/// The `airlock.dev/reconcile-requested-at` annotation: a request for a reconcile now.
pub fn reconcile_requested(meta: &kube::api::ObjectMeta) -> Option<String> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(crate::api::RECONCILE_REQUESTED_AT))
        .cloned()
}

/// Replaces `obj`'s status, guarded by the resourceVersion it carries: a write that raced
/// another (an approver's, a stale cache's) fails with 409 and the reconcile starts again.
pub async fn write_status<K>(api: &Api<K>, obj: &K) -> Result<K, kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.replace_status(
        &obj.name_any(),
        &kube::api::PostParams {
            field_manager: Some(CONTROLLER_NAME.into()),
            ..kube::api::PostParams::default()
        },
        obj,
    )
    .await
}

/// SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The shutdown signal the runtime listens to: set to `true` once.
pub type Shutdown = watch::Receiver<bool>;

/// Resolves once `stop` turns true; never, if its sender is gone without saying so (as the
/// lease-lost signal's is when there is no leader election).
async fn stopped(mut stop: Shutdown) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            futures::future::pending::<()>().await;
        }
    }
}

/// Runs the controller until `stop` turns true (graceful: reconciles in flight finish) or the
/// leader lease is lost (an error: the process must exit so it cannot act beside the new leader).
pub async fn run(
    client: Client,
    settings: Settings,
    builtin: Option<Builtin>,
    stop: Shutdown,
) -> Result<(), String> {
    let metrics = Arc::new(Metrics::default());
    let requests_cache: Arc<Mutex<Option<Store<PackageRequest>>>> = Arc::default();
    let addr = metrics::serve(
        settings.metrics_addr,
        metrics.clone(),
        requests_cache.clone(),
    )
    .await
    .map_err(|e| {
        format!(
            "cannot serve /metrics on {}: {e} (choose another with --metrics-addr)",
            settings.metrics_addr
        )
    })?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");

    let election = settings.lease.as_ref().map(|l| {
        leader::LeaderElection::new(
            Api::<Lease>::namespaced(client.clone(), &l.namespace),
            &l.name,
            &settings.identity,
            l.duration,
            l.retry,
        )
    });
    // Until it leads, a standby replica is healthy and ready; it just does not reconcile.
    metrics
        .ready
        .store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(e) = &election {
        tracing::info!(identity = %e.identity, "waiting to become the leader");
        let mut s = stop.clone();
        if !e.acquire(&mut s).await {
            return Ok(());
        }
        tracing::info!(identity = %e.identity, "became the leader");
    }
    metrics
        .leader
        .store(true, std::sync::atomic::Ordering::Relaxed);

    // Stop on request, or when the lease is lost.
    let (lost_tx, lost_rx) = watch::channel(false);
    let (inner_tx, inner_rx) = watch::channel(false);
    let election = election.map(Arc::new);
    let holder = election.clone().map(|e| {
        let mut s = stop.clone();
        tokio::spawn(async move {
            if !e.hold(&mut s).await {
                let _ = lost_tx.send(true);
            }
        })
    });
    {
        let (stop, lost_rx) = (stop.clone(), lost_rx.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = stopped(stop) => {}
                _ = stopped(lost_rx) => {}
            }
            let _ = inner_tx.send(true);
        });
    }

    let result = run_controllers(
        client,
        &settings,
        builtin,
        metrics.clone(),
        requests_cache,
        inner_rx,
    )
    .await;
    if let Some(h) = holder {
        h.abort();
    }
    if *lost_rx.borrow() {
        return Err("lost the leader lease; exiting so the new leader acts alone".into());
    }
    if let Some(e) = &election {
        e.release().await;
        tracing::info!("released the leader lease");
    }
    result
}

/// Which requests a change of `repo` concerns.
fn requests_of_repository(
    requests: &Store<PackageRequest>,
    repo: &str,
) -> Vec<ObjectRef<PackageRequest>> {
    requests
        .state()
        .iter()
        .filter(|r| r.spec.repository_ref == repo)
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

/// SageMaker domains: resynced on a timer, and on changes to their spec. The controller, and
/// its cache for the readiness check.
fn domain_controller(
    shared: Shared,
    settings: &Settings,
    stop: Shutdown,
) -> (
    impl std::future::Future<Output = ()>,
    Store<SageMakerDomain>,
) {
    let domains_api = Api::<SageMakerDomain>::all(shared.client.clone());
    let ctx = Arc::new(sagemaker_domain::Context {
        shared,
        sagemaker: sagemaker_domain::sagemaker_clients(settings.aws.clone()),
        default_resync: settings.default_resync,
    });
    let (domains, domains_writer) = reflector::store();
    let domains_stream = watcher(domains_api, watcher::Config::default())
        .default_backoff()
        .reflect(domains_writer)
        .applied_objects()
        .predicate_filter(sagemaker_domain::trigger_hash, Default::default());
    let domains_ready = domains.clone();
    let domain_controller = Controller::for_stream(domains_stream, domains)
        .with_config(
            controller::Config::default().concurrency(settings.concurrency.max(1) as u16 * 4),
        )
        .graceful_shutdown_on(stopped(stop.clone()))
        .run(
            sagemaker_domain::reconcile,
            sagemaker_domain::error_policy,
            ctx,
        )
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "domain reconcile did not finish");
            }
        });
    (domain_controller, domains_ready)
}

/// Repositories and policies: their own status, from their own watches (the caches the request
/// reconcile reads are fed by streams its controller consumes).
fn status_controllers(
    ctx: package_repository::Context,
    repositories: Store<PackageRepository>,
    stop: Shutdown,
) -> impl std::future::Future<Output = ()> {
    let repos_api = Api::<PackageRepository>::all(ctx.client.clone());
    let policies_api = Api::<ScanPolicy>::all(ctx.client.clone());
    let shared = Arc::new(ctx.shared.clone());
    let (repo_cache, repo_writer) = reflector::store();
    let repo_changes = watcher(repos_api, watcher::Config::default())
        .default_backoff()
        .reflect(repo_writer)
        .applied_objects()
        .predicate_filter(lifecycle_hash, Default::default());
    let policy_changes = watcher(policies_api.clone(), watcher::Config::default())
        .default_backoff()
        .touched_objects();
    let repository_controller = Controller::for_stream(repo_changes, repo_cache)
        .watches_stream(policy_changes, move |policy: ScanPolicy| {
            package_repository::of_policy(&repositories, &policy.name_any())
        })
        .graceful_shutdown_on(stopped(stop.clone()))
        .run(
            package_repository::reconcile,
            package_repository::error_policy,
            Arc::new(ctx),
        )
        .for_each(|_| async {});
    let (policy_cache, policy_writer) = reflector::store();
    let own_policy_changes = watcher(policies_api, watcher::Config::default())
        .default_backoff()
        .reflect(policy_writer)
        .applied_objects()
        .predicate_filter(lifecycle_hash, Default::default());
    let policy_controller = Controller::for_stream(own_policy_changes, policy_cache)
        .graceful_shutdown_on(stopped(stop))
        .run(scan_policy::reconcile, scan_policy::error_policy, shared)
        .for_each(|_| async {});
    async {
        futures::join!(repository_controller, policy_controller);
    }
}

async fn run_controllers(
    client: Client,
    settings: &Settings,
    builtin: Option<Builtin>,
    metrics: Arc<Metrics>,
    requests_cache: Arc<Mutex<Option<Store<PackageRequest>>>>,
    stop: Shutdown,
) -> Result<(), String> {
    let shared = Shared::new(client, &settings.identity, metrics);
    let targets = Arc::new(Targets::new(builtin, settings.aws.clone()));
    let (request_controller, caches) =
        request_controller(shared.clone(), settings, targets.clone(), stop.clone()).await?;
    *requests_cache.lock().unwrap_or_else(|p| p.into_inner()) = Some(caches.requests.clone());
    let (domain_controller, domains) = domain_controller(shared.clone(), settings, stop.clone());
    let status_controllers = status_controllers(
        package_repository::Context {
            shared,
            policies: caches.policies.clone(),
            targets,
        },
        caches.repositories.clone(),
        stop.clone(),
    );
    let synced = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let synced = synced.clone();
        tokio::spawn(async move {
            let _ = caches.repositories.wait_until_ready().await;
            let _ = caches.policies.wait_until_ready().await;
            let _ = caches.requests.wait_until_ready().await;
            let _ = domains.wait_until_ready().await;
            synced.store(true, std::sync::atomic::Ordering::Relaxed);
            tracing::info!("caches synced");
        });
    }
    let controllers = async {
        futures::join!(request_controller, domain_controller, status_controllers);
    };
    // A stop that comes before the caches have synced finds nothing in flight, but the
    // controllers would wait for a sync their stopped watches can no longer bring: return then.
    // Otherwise in-flight reconciles get the grace period to finish.
    let deadline = async {
        stopped(stop).await;
        if !synced.load(std::sync::atomic::Ordering::Relaxed) {
            return "before the caches synced";
        }
        tokio::time::sleep(Duration::from_secs(20)).await;
        "with reconciles still running after 20s"
    };
    tokio::select! {
        _ = controllers => tracing::info!("controller stopped"),
        why = deadline => tracing::warn!("controller stopped {why}"),
    }
    Ok(())
}

/// The caches the request controller's watches feed, which the other controllers and the
/// readiness check read too.
#[derive(Clone)]
struct Caches {
    repositories: Store<PackageRepository>,
    policies: Store<ScanPolicy>,
    requests: Store<PackageRequest>,
}

/// Where the controller downloads advisory exports from, when it does.
fn advisory_feed(settings: &Settings) -> Result<Option<advisories::Feed>, String> {
    let Some(f) = &settings.advisory_feed else {
        return Ok(None);
    };
    Ok(Some(advisories::Feed {
        exports: crate::scan::advisories::download::Exports::new(f.base.clone(), f.dir.clone())?,
        every: f.every,
    }))
}

/// Loads the advisory data once before the first scan (not on the first request to arrive), then
/// keeps it fresh and re-checks what the repositories hold as it changes.
async fn start_advisories(ctx: &Arc<package_request::Context>, stop: &Shutdown) {
    if !ctx.advisories.configured() {
        tracing::warn!(
            "no advisory data configured (--advisories-url off and no --advisories): known vulnerabilities are not checked, and policies that require the data hold every package for review"
        );
        return;
    }
    ctx.advisories.current().await;
    let (fresh, stop_fresh) = (ctx.clone(), stop.clone());
    tokio::spawn(async move { fresh.advisories.keep_fresh(stop_fresh).await });
    tokio::spawn(holdings::keep_checked(ctx.clone(), stop.clone()));
}

/// Package requests: reconciled when their spec, finalizers or approval change, when their
/// repository or its policy changes, and when new advisory data arrives.
async fn request_controller(
    shared: Shared,
    settings: &Settings,
    targets: Arc<Targets>,
    stop: Shutdown,
) -> Result<(impl std::future::Future<Output = ()>, Caches), String> {
    let client = shared.client.clone();
    let (resolver, mut fetcher) = crate::pipeline::intake(
        settings.registries.clone(),
        &settings.allow_hosts,
        &settings.cache_dir,
    )?;
    fetcher.deadline = settings.download_deadline;

    // Repositories and policies are read from caches, not fetched per reconcile.
    let (repositories, repos_writer) = reflector::store();
    let (policies, policies_writer) = reflector::store();
    let repos_stream = watcher(
        Api::<PackageRepository>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(repos_writer)
    .applied_objects();
    let policies_stream = watcher(
        Api::<ScanPolicy>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(policies_writer)
    .applied_objects();

    // Requests trigger a reconcile when something the reconcile reads changes: the spec, the
    // finalizers and deletion, and an approver's decision. The controller's own status writes do
    // not, so a back-off is a back-off rather than a hot loop.
    let (requests, requests_writer) = reflector::store();
    let requests_stream = watcher(
        Api::<PackageRequest>::all(client),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(requests_writer)
    .applied_objects()
    .predicate_filter(package_request::trigger_hash, Default::default());

    let ctx = Arc::new(package_request::Context {
        shared,
        resolver,
        fetcher,
        advisories: AdvisorySource::new(settings.advisories.clone(), advisory_feed(settings)?),
        targets,
        repositories: repositories.clone(),
        policies: policies.clone(),
        requests: requests.clone(),
        slots: Slots::new(settings.concurrency),
        limits: Limits::default(),
        #[cfg(feature = "dev")]
        fault: settings.fault.clone(),
    });
    start_advisories(&ctx, &stop).await;
    // New advisory data: every request is looked at again — those held for want of data are
    // decided, the published ones re-checked when due.
    let advisory_changes =
        futures::stream::unfold(ctx.advisories.subscribe(), |mut rx| async move {
            rx.changed().await.ok()?;
            Some(((), rx))
        });

    let by_repo = requests.clone();
    let by_policy = requests.clone();
    let repos_for_policy = repositories.clone();
    let controller = Controller::for_stream(requests_stream, requests.clone())
        // Bounded by the pipeline slots instead, so the limit can be fair between ecosystems.
        .with_config(controller::Config::default().concurrency(0))
        .watches_stream(repos_stream, move |repo: PackageRepository| {
            requests_of_repository(&by_repo, &repo.name_any())
        })
        .watches_stream(policies_stream, move |policy: ScanPolicy| {
            let name = policy.name_any();
            repos_for_policy
                .state()
                .iter()
                .filter(|r| r.spec.policy_ref == name)
                .flat_map(|r| requests_of_repository(&by_policy, &r.name_any()))
                .collect::<Vec<_>>()
        })
        .reconcile_all_on(advisory_changes)
        .graceful_shutdown_on(stopped(stop))
        .run(
            package_request::reconcile,
            package_request::error_policy,
            ctx,
        )
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile did not finish");
            }
        });
    Ok((
        controller,
        Caches {
            repositories,
            policies,
            requests,
        },
    ))
}

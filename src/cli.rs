//! The `airlock` command line. Each subcommand is one entry point of the architecture; those not
//! built yet say so and exit non-zero rather than pretend to work.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for a command that could not do its job (bad input, I/O, not built yet).
pub const EXIT_ERROR: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "airlock",
    version,
    about = "The airlock between public package registries and isolated SageMaker Studio domains"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller against the cluster of the current kubeconfig.
    Controller(Box<ControllerCommand>),
    /// Resolve, fetch, scan and decide on packages without Kubernetes (for CI gates).
    #[command(
        after_help = "Exit codes: 0 approved, 1 denied, 2 needs a human's approval, 3 error (nothing was decided)."
    )]
    Scan(Box<ScanCommand>),
    /// Start everything locally: an in-memory Kubernetes API server, the controller, the built-in
    /// repository and the AWS emulators (development and tests only).
    #[cfg(feature = "dev")]
    Dev(Box<DevCommand>),
    /// Print airlock's CustomResourceDefinitions as YAML.
    Crd {
        /// Write one file per CRD into this directory instead of printing them.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
    /// Approve a PackageRequest that awaits a human decision.
    Approve {
        /// The PackageRequest's name (`kubectl get pkgreq` lists them).
        name: String,
        /// Its namespace (default: the kubeconfig context's).
        #[arg(short, long)]
        namespace: Option<String>,
        /// Why: recorded in the condition's message with who decided.
        #[arg(long, required = true)]
        reason: String,
    },
    /// Deny a PackageRequest that awaits a human decision.
    Deny {
        /// The PackageRequest's name (`kubectl get pkgreq` lists them).
        name: String,
        /// Its namespace (default: the kubeconfig context's).
        #[arg(short, long)]
        namespace: Option<String>,
        /// Why: recorded in the condition's message with who decided.
        #[arg(long, required = true)]
        reason: String,
    },
    /// Reconcile an object now (a PackageRequest re-checked, a SageMakerDomain compared with AWS)
    /// and wait until the controller has: sets the airlock.dev/reconcile-requested-at annotation.
    Reconcile {
        /// What kind of object.
        #[arg(value_enum)]
        kind: crate::reconcile::Kind,
        /// Its name.
        name: String,
        /// Its namespace (default: the kubeconfig context's).
        #[arg(short, long)]
        namespace: Option<String>,
        /// How long to wait for the controller, e.g. 30s or 2m.
        #[arg(long, default_value = "1m", value_parser = go_duration)]
        timeout: std::time::Duration,
    },
    /// What waits: requests and domains by phase, and the requests that need a human.
    Status {
        /// Only this namespace (default: all namespaces).
        #[arg(short, long)]
        namespace: Option<String>,
    },
    /// Print a shell completion script, e.g. `airlock completions bash > /etc/bash_completion.d/airlock`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where packages come from; shared by `controller`, `dev` and `scan`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpstreamArgs {
    /// The PyPI Simple API base.
    #[arg(
        long,
        default_value = "https://pypi.org/simple/",
        env = "AIRLOCK_PYPI_INDEX"
    )]
    pub pypi_index: url::Url,
    /// The npm registry base.
    #[arg(
        long,
        default_value = "https://registry.npmjs.org/",
        env = "AIRLOCK_NPM_REGISTRY"
    )]
    pub npm_registry: url::Url,
    /// Another host files may be downloaded from (a mirror's file host; repeatable).
    #[arg(long = "allow-host", value_name = "HOST[:PORT]")]
    pub allow_hosts: Vec<String>,
    /// OSV advisories: a directory of JSON records or an osv.dev all.zip (repeatable). The
    /// controller reloads them when they change, for the periodic re-scan.
    #[arg(
        long,
        value_name = "DIR|ZIP",
        env = "AIRLOCK_ADVISORIES",
        value_delimiter = ','
    )]
    pub advisories: Vec<PathBuf>,
    /// A download may take this long plus its size at --download-min-rate, retries included
    /// (then it fails and is retried with back-off, giving its pipeline slot to others).
    #[arg(long, default_value = "2m", value_parser = go_duration, env = "AIRLOCK_DOWNLOAD_DEADLINE")]
    pub download_deadline: std::time::Duration,
    /// The slowest a download may be on average, in KiB/s, for its deadline.
    #[arg(
        long,
        default_value_t = 512,
        value_name = "KIB_PER_SEC",
        env = "AIRLOCK_DOWNLOAD_MIN_RATE"
    )]
    pub download_min_rate: u64,
}

impl UpstreamArgs {
    /// The deadline every download is held to.
    pub fn deadline(&self) -> crate::pipeline::fetch::Deadline {
        crate::pipeline::fetch::Deadline {
            base: self.download_deadline,
            min_bytes_per_sec: self.download_min_rate.max(1) << 10,
        }
    }

    pub fn registries(&self) -> crate::pipeline::resolve::Registries {
        crate::pipeline::resolve::Registries {
            pypi_index: self.pypi_index.clone(),
            npm_registry: self.npm_registry.clone(),
            ..crate::pipeline::resolve::Registries::default()
        }
    }
}

/// Where the controller gets advisory data by itself; shared by `controller` and `dev`.
#[derive(Debug, Clone, clap::Args)]
pub struct AdvisoryFeedArgs {
    /// Download osv.dev's exports (`PyPI/all.zip`, `npm/all.zip`) from this base and keep them
    /// fresh; `off` downloads nothing. Default: osv.dev's bucket, unless `--advisories` is given
    /// (an air-gapped cluster that syncs its own copy).
    #[arg(long, value_name = "URL|off", env = "AIRLOCK_ADVISORIES_URL", value_parser = feed_url)]
    pub advisories_url: Option<FeedUrl>,
    /// How often the exports are checked for a newer copy (a conditional request: an unchanged
    /// export is not downloaded again).
    #[arg(long, default_value = "1h", value_parser = go_duration, env = "AIRLOCK_ADVISORIES_REFRESH")]
    pub advisories_refresh: std::time::Duration,
}

/// `--advisories-url`: a base URL, or `off`.
#[derive(Debug, Clone)]
pub enum FeedUrl {
    Off,
    Base(url::Url),
}

fn feed_url(s: &str) -> Result<FeedUrl, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(FeedUrl::Off);
    }
    let mut url = url::Url::parse(s).map_err(|e| {
        format!(
            "{s:?} is not a URL ({e}); give the base the exports sit under, e.g. {}, or off",
            crate::scan::advisories::download::DEFAULT_BASE
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{s:?}: only http and https URLs are downloaded from"
        ));
    }
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(FeedUrl::Base(url))
}

impl AdvisoryFeedArgs {
    /// The feed to run, given the `--advisories` paths and the directory to keep it in.
    pub fn settings(
        &self,
        advisories: &[PathBuf],
        dir: PathBuf,
    ) -> Option<crate::controller::AdvisoryFeedSettings> {
        let base = match &self.advisories_url {
            Some(FeedUrl::Off) => return None,
            Some(FeedUrl::Base(u)) => u.clone(),
            None if !advisories.is_empty() => return None,
            None => url::Url::parse(crate::scan::advisories::download::DEFAULT_BASE).ok()?,
        };
        Some(crate::controller::AdvisoryFeedSettings {
            base,
            every: self.advisories_refresh,
            dir,
        })
    }
}

fn go_duration(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<kube::core::Duration>()
        .map(std::time::Duration::from)
        .map_err(|e| format!("{s:?} is not a duration such as 15s or 1m: {e}"))
}

/// `airlock controller`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ControllerCommand {
    #[command(flatten)]
    pub upstream: UpstreamArgs,
    #[command(flatten)]
    pub feed: AdvisoryFeedArgs,
    /// How many requests may fetch, scan or publish at once (each ecosystem gets at most three
    /// quarters of them, so neither can starve the other).
    #[arg(long, default_value_t = 4, env = "AIRLOCK_CONCURRENCY")]
    pub concurrency: usize,
    /// The download cache and the built-in repository live here.
    #[arg(long, value_name = "DIR", env = "AIRLOCK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Serve the built-in repository (PEP 503/691 index and npm registry) on this address.
    #[arg(long, value_name = "ADDR", env = "AIRLOCK_BUILTIN_ADDR")]
    pub builtin_addr: Option<std::net::SocketAddr>,
    /// The URL clients reach the built-in repository at, shown in status (e.g. the Service URL).
    #[arg(long, value_name = "URL", env = "AIRLOCK_BUILTIN_URL")]
    pub builtin_url: Option<String>,
    /// `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, default_value = "0.0.0.0:8080", env = "AIRLOCK_METRICS_ADDR")]
    pub metrics_addr: std::net::SocketAddr,
    /// The namespace of the leader-election Lease.
    #[arg(
        long,
        default_value = "airlock-system",
        env = "AIRLOCK_LEASE_NAMESPACE"
    )]
    pub lease_namespace: String,
    /// The name of the leader-election Lease (one per controller deployment).
    #[arg(long, default_value = "airlock-controller")]
    pub lease_name: String,
    /// This replica's name in the Lease (default: the pod name, else host name and pid).
    #[arg(long, env = "AIRLOCK_POD_NAME")]
    pub identity: Option<String>,
    /// How long a leader's lease lasts without renewal before another replica may take it.
    #[arg(long, default_value = "15s", value_parser = go_duration)]
    pub lease_duration: std::time::Duration,
    /// How often the leader renews and standbys retry.
    #[arg(long, default_value = "2s", value_parser = go_duration)]
    pub lease_retry: std::time::Duration,
    /// Run without leader election (only ever one replica).
    #[arg(long)]
    pub no_leader_election: bool,
    /// How often a SageMakerDomain is compared with AWS when its spec sets no resyncPeriod.
    #[arg(long, default_value = "5m", value_parser = go_duration, env = "AIRLOCK_RESYNC_PERIOD")]
    pub resync_period: std::time::Duration,
    /// Point the AWS clients at an emulator.
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    /// `json` (default) or `text`.
    #[arg(long, default_value = "json")]
    pub log_format: String,
    /// Fault injection for crash-recovery tests (builds with the `dev` feature only).
    #[cfg(feature = "dev")]
    #[arg(long, env = "AIRLOCK_FAULT", hide = true)]
    pub fault: Option<String>,
}

/// `airlock dev`'s arguments.
#[cfg(feature = "dev")]
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DevCommand {
    #[command(subcommand)]
    pub action: Option<DevAction>,
    /// The port of the API server on 127.0.0.1 (default: the one the last run in this data
    /// directory used, else 7443; 0 picks any free port). The other servers keep their ports
    /// across restarts too.
    #[arg(long)]
    pub port: Option<u16>,
    /// Where to write the kubeconfig and keep the built-in repository (default:
    /// $XDG_RUNTIME_DIR/airlock-dev, else a directory of your own in the temp dir,
    /// airlock-dev-UID).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub upstream: UpstreamArgs,
    #[command(flatten)]
    pub feed: AdvisoryFeedArgs,
    /// Do not run the controller in-process (run `airlock controller` against it instead).
    #[arg(long)]
    pub no_controller: bool,
    /// How many requests the in-process controller works on at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Run the real kube-apiserver and etcd from this directory instead of the embedded API
    /// server: TLS, RBAC, the controller as its own ServiceAccount. `scripts/control-plane.sh`
    /// builds them and prints the directory.
    #[arg(long, value_name = "DIR", env = "KUBEBUILDER_ASSETS")]
    pub control_plane: Option<PathBuf>,
}

/// What `airlock dev` can do besides serving.
#[cfg(feature = "dev")]
#[derive(Debug, clap::Subcommand)]
pub enum DevAction {
    /// Print the environment of the running `airlock dev` (for `eval "$(airlock dev env)"` in
    /// another terminal).
    Env {
        /// The data directory it was started with (default: as `airlock dev`'s).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

/// `airlock scan`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ScanCommand {
    /// `pypi:NAME==VERSION`, `npm:NAME@VERSION`, or a local .whl/.tar.gz/.zip/.tgz path.
    #[arg(required = true)]
    specs: Vec<String>,
    /// Only the files matching this glob (repeatable), e.g. '*cp311*manylinux*x86_64*'.
    #[arg(long = "files", value_name = "GLOB")]
    files: Vec<String>,
    #[command(flatten)]
    upstream: UpstreamArgs,
    /// How to print the result: a table for people, JSON for scripts, SARIF for code-scanning
    /// tools (GitHub, GitLab).
    #[arg(long, value_enum, default_value = "table")]
    output: crate::scan::report::Output,
    /// A ScanPolicy manifest (default: the built-in defaults).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The OSV API to query per package as well (e.g. https://api.osv.dev/).
    #[arg(long, value_name = "URL", env = "AIRLOCK_OSV_API")]
    osv_api: Option<url::Url>,
    /// Where downloads are cached (default: the temp dir).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Crd { write } => crd(write),
        Command::Controller(args) => controller(*args),
        Command::Scan(args) => {
            let ScanCommand {
                specs,
                files,
                upstream,
                output,
                policy,
                osv_api,
                cache_dir,
            } = *args;
            scan(crate::scan::command::ScanArgs {
                specs,
                files,
                pypi_index: upstream.pypi_index,
                npm_registry: upstream.npm_registry,
                allowed_hosts: upstream.allow_hosts,
                output,
                policy,
                advisories: upstream.advisories,
                osv_api,
                cache_dir: cache_dir.unwrap_or_else(|| std::env::temp_dir().join("airlock-cache")),
            })
        }
        #[cfg(feature = "dev")]
        Command::Dev(args) => dev(*args),
        Command::Approve {
            name,
            namespace,
            reason,
        } => approval(&name, namespace, &reason, true),
        Command::Deny {
            name,
            namespace,
            reason,
        } => approval(&name, namespace, &reason, false),
        Command::Status { namespace } => status(namespace),
        Command::Reconcile {
            kind,
            name,
            namespace,
            timeout,
        } => reconcile(kind, &name, namespace, timeout),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "airlock",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
    }
}

/// Runs one command against the cluster of the current kubeconfig: `work` gets a client and the
/// namespace to use (`namespace`, else the context's) and returns what to print on success.
fn kube_command<F, Fut>(command: &str, namespace: Option<String>, work: F) -> ExitCode
where
    F: FnOnce(kube::Client, String) -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let Some(rt) = runtime(command) else {
        return ExitCode::from(EXIT_ERROR);
    };
    let result = rt.block_on(async {
        let config = kube::Config::infer()
            .await
            .map_err(|e| format!("no usable kubeconfig: {e}"))?;
        let namespace = namespace.unwrap_or_else(|| config.default_namespace.clone());
        let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
        work(client, namespace).await
    });
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("airlock {command}: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn reconcile(
    kind: crate::reconcile::Kind,
    name: &str,
    namespace: Option<String>,
    timeout: std::time::Duration,
) -> ExitCode {
    kube_command("reconcile", namespace, |client, namespace| async move {
        crate::reconcile::run(client, kind, &namespace, name, timeout)
            .await
            .map(|line| format!("{line}\n"))
    })
}

fn status(namespace: Option<String>) -> ExitCode {
    // Every namespace unless one is named: not the context's default.
    let all = namespace.is_none();
    kube_command("status", namespace, |client, namespace| async move {
        crate::status::report(client, (!all).then_some(namespace.as_str())).await
    })
}

fn approval(name: &str, namespace: Option<String>, reason: &str, approve: bool) -> ExitCode {
    let (command, done) = if approve {
        ("approve", "approved")
    } else {
        ("deny", "denied")
    };
    kube_command(command, namespace, |client, namespace| async move {
        let who = crate::approval::identity(&client).await;
        crate::approval::decide(client, &namespace, name, approve, reason, &who)
            .await
            .map(|_| format!("packagerequest {namespace}/{name} {done} by {who}\n"))
            .map_err(|e| e.to_string())
    })
}

/// Logs to standard error: JSON for the controller (with the request's namespace and name on
/// every line of a reconcile), text for humans at a terminal.
/// Whether an event would print wire data: the AWS SDK and the HTTP stack log whole requests
/// and responses at TRACE (signed headers, session tokens, a CodeArtifact authorization token in
/// a response body), which no `RUST_LOG` may turn on.
pub fn prints_wire_data(target: &str, level: tracing::Level) -> bool {
    level == tracing::Level::TRACE
        && ["aws_", "hyper", "h2"]
            .iter()
            .any(|prefix| target.starts_with(prefix))
}

pub fn init_logging(json: bool) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let no_wire =
        tracing_subscriber::filter::filter_fn(|m| !prints_wire_data(m.target(), *m.level()));
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let layer = if json {
        layer
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        layer.compact().boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer.with_filter(no_wire))
        .try_init();
}

/// This replica's identity when the pod name is not given.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "airlock".into());
    format!("{host}-{}", std::process::id())
}

fn controller(args: ControllerCommand) -> ExitCode {
    init_logging(args.log_format != "text");
    let Some(rt) = runtime("controller") else {
        return ExitCode::from(EXIT_ERROR);
    };
    let result = rt.block_on(async move {
        let client = kube::Client::try_default()
            .await
            .map_err(|e| format!("no usable kubeconfig or in-cluster config: {e}"))?;
        let data = args
            .data_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("airlock"));
        let store = std::sync::Arc::new(
            crate::publish::builtin::store::Store::open(data.join("builtin"))
                .map_err(|e| e.to_string())?,
        );
        let mut builtin_url = args.builtin_url.clone();
        if let Some(addr) = args.builtin_addr {
            // The URLs the index writes name the repository as its clients reach it, never as
            // a request's Host header claims.
            if addr.ip().is_unspecified() && builtin_url.is_none() {
                return Err(format!(
                    "--builtin-addr {addr} listens on every interface: give --builtin-url, the URL clients reach it at (e.g. http://airlock.airlock-system.svc:8081), for the URLs its index writes"
                ));
            }
            let server = crate::publish::builtin::server::RepositoryServer::start_at(
                addr,
                store.clone(),
                builtin_url.clone(),
            )
            .await
            .map_err(|e| format!("cannot serve the built-in repository on {addr}: {e}"))?;
            tracing::info!(addr = %server.addr, "serving the built-in repository");
            builtin_url.get_or_insert_with(|| format!("http://{}", server.addr));
        }
        let settings = crate::controller::Settings {
            concurrency: args.concurrency,
            registries: args.upstream.registries(),
            allow_hosts: args.upstream.allow_hosts.clone(),
            advisories: args.upstream.advisories.clone(),
            download_deadline: args.upstream.deadline(),
            advisory_feed: args
                .feed
                .settings(&args.upstream.advisories, data.join("advisories")),
            cache_dir: data.join("cache"),
            aws: crate::controller::AwsSettings {
                endpoint_url: args.aws_endpoint_url.clone(),
                emulator_credentials: false,
            },
            default_resync: args.resync_period,
            metrics_addr: args.metrics_addr,
            identity: args.identity.clone().unwrap_or_else(default_identity),
            lease: (!args.no_leader_election).then(|| crate::controller::LeaseSettings {
                namespace: args.lease_namespace.clone(),
                name: args.lease_name.clone(),
                duration: args.lease_duration,
                retry: args.lease_retry,
            }),
            #[cfg(feature = "dev")]
            fault: args.fault.clone(),
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            crate::controller::shutdown_signal().await;
            tracing::info!("shutting down: finishing the reconciles in flight");
            let _ = stop_tx.send(true);
            // Inside Kubernetes' default 30 s grace period, whatever is still running.
            tokio::time::sleep(std::time::Duration::from_secs(25)).await;
            tracing::error!("reconciles still running 25s after the shutdown signal; exiting");
            std::process::exit(i32::from(EXIT_ERROR));
        });
        let builtin = crate::publish::target::Builtin {
            store,
            base_url: builtin_url,
        };
        crate::controller::run(client, settings, Some(builtin), stop_rx).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the controller stopped");
            eprintln!("airlock controller: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn runtime(command: &str) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("airlock {command}: cannot start the async runtime: {e}");
            None
        }
    }
}

fn scan(args: crate::scan::command::ScanArgs) -> ExitCode {
    match runtime("scan") {
        Some(rt) => ExitCode::from(rt.block_on(crate::scan::command::main(args))),
        None => ExitCode::from(EXIT_ERROR),
    }
}

#[cfg(feature = "dev")]
impl DevCommand {
    /// What `airlock dev` runs with.
    fn settings(&self) -> crate::dev::run::DevSettings {
        crate::dev::run::DevSettings {
            port: self.port,
            data_dir: self.data_dir.clone(),
            control_plane: self.control_plane.clone(),
            run_controller: !self.no_controller,
            concurrency: self.concurrency,
            registries: self.upstream.registries(),
            allow_hosts: self.upstream.allow_hosts.clone(),
            advisories: self.upstream.advisories.clone(),
            download_deadline: self.upstream.deadline(),
            advisory_feed: self
                .feed
                .settings(&self.upstream.advisories, PathBuf::new())
                .map(|f| (f.base, f.every)),
        }
    }
}

#[cfg(feature = "dev")]
fn dev(args: DevCommand) -> ExitCode {
    if let Some(DevAction::Env { data_dir }) = &args.action {
        let dir = data_dir
            .clone()
            .unwrap_or_else(crate::dev::run::default_data_dir);
        return match std::fs::read_to_string(dir.join("env")) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(_) => {
                eprintln!(
                    "airlock dev env: no airlock dev has run with the data directory {}; start one with `airlock dev` (or give its --data-dir)",
                    dir.display()
                );
                ExitCode::from(EXIT_ERROR)
            }
        };
    }
    init_logging(false);
    let Some(runtime) = runtime("dev") else {
        return ExitCode::from(EXIT_ERROR);
    };
    match runtime.block_on(crate::dev::run::run(args.settings())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("airlock dev: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn crd(write: Option<PathBuf>) -> ExitCode {
    let result = match write {
        None => crate::api::all_crds_yaml()
            .map(|yaml| print!("{yaml}"))
            .map_err(|e| e.to_string()),
        Some(dir) => write_crds(&dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("airlock crd: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn write_crds(dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for crd in crate::api::crds() {
        let path = dir.join(crate::api::crd_file_name(&crd));
        let yaml = crate::api::crd_yaml(&crd).map_err(|e| e.to_string())?;
        std::fs::write(&path, yaml).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

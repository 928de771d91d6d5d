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
    Controller,
    /// Resolve, fetch, scan and decide on packages without Kubernetes (for CI gates).
    Scan(Box<ScanCommand>),
    /// Start everything locally: an in-memory Kubernetes API server, the controller, the built-in
    /// repository and the AWS emulators (development and tests only).
    Dev {
        /// The port of the API server on 127.0.0.1 (0 picks any free port).
        #[arg(long, default_value_t = 7443)]
        port: u16,
        /// Where to write the kubeconfig (default: $XDG_RUNTIME_DIR/airlock-dev or the temp dir).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Print airlock's CustomResourceDefinitions as YAML.
    Crd {
        /// Write one file per CRD into this directory instead of printing them.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
    /// Approve a PackageRequest that awaits a human decision.
    Approve {
        name: String,
        #[arg(short, long)]
        namespace: Option<String>,
        /// Why (required; recorded in the condition's message with who decided).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Deny a PackageRequest that awaits a human decision.
    Deny {
        name: String,
        #[arg(short, long)]
        namespace: Option<String>,
        #[arg(long)]
        reason: Option<String>,
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
    /// The PyPI Simple API base.
    #[arg(
        long,
        default_value = "https://pypi.org/simple/",
        env = "AIRLOCK_PYPI_INDEX"
    )]
    pypi_index: url::Url,
    /// The npm registry base.
    #[arg(
        long,
        default_value = "https://registry.npmjs.org/",
        env = "AIRLOCK_NPM_REGISTRY"
    )]
    npm_registry: url::Url,
    /// Another host files may be downloaded from (a mirror's file host; repeatable).
    #[arg(long = "allow-host", value_name = "HOST[:PORT]")]
    allow_hosts: Vec<String>,
    #[arg(long, value_enum, default_value = "table")]
    output: crate::scan::report::Output,
    /// A ScanPolicy manifest (default: the built-in defaults).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// OSV advisories: a directory of JSON records or an osv.dev all.zip (repeatable).
    #[arg(long, value_name = "DIR|ZIP")]
    advisories: Vec<PathBuf>,
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
        Command::Controller => not_built("controller", 7),
        Command::Scan(args) => {
            let ScanCommand {
                specs,
                files,
                pypi_index,
                npm_registry,
                allow_hosts,
                output,
                policy,
                advisories,
                osv_api,
                cache_dir,
            } = *args;
            scan(crate::scan::command::ScanArgs {
                specs,
                files,
                pypi_index,
                npm_registry,
                allowed_hosts: allow_hosts,
                output,
                policy,
                advisories,
                osv_api,
                cache_dir: cache_dir.unwrap_or_else(|| std::env::temp_dir().join("airlock-cache")),
            })
        }
        Command::Dev { port, data_dir } => dev(port, data_dir),
        Command::Approve {
            name,
            namespace,
            reason,
        } => approval(&name, namespace, reason, true),
        Command::Deny {
            name,
            namespace,
            reason,
        } => approval(&name, namespace, reason, false),
    }
}

fn approval(
    name: &str,
    namespace: Option<String>,
    reason: Option<String>,
    approve: bool,
) -> ExitCode {
    let (command, done) = if approve {
        ("approve", "approved")
    } else {
        ("deny", "denied")
    };
    let Some(rt) = runtime(command) else {
        return ExitCode::from(EXIT_ERROR);
    };
    let result = rt.block_on(async {
        let config = kube::Config::infer()
            .await
            .map_err(|e| format!("no usable kubeconfig: {e}"))?;
        let namespace = namespace.unwrap_or_else(|| config.default_namespace.clone());
        let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
        let who = crate::approval::identity();
        crate::approval::decide(
            client,
            &namespace,
            name,
            approve,
            reason.as_deref().unwrap_or(""),
            &who,
        )
        .await
        .map(|_| format!("packagerequest {namespace}/{name} {done} by {who}"))
        .map_err(|e| e.to_string())
    });
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("airlock {command}: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn not_built(command: &str, issue: u32) -> ExitCode {
    eprintln!("airlock {command}: not built yet (tracked in issue #{issue}); nothing was done");
    ExitCode::from(EXIT_ERROR)
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

fn dev(port: u16, data_dir: Option<PathBuf>) -> ExitCode {
    let Some(runtime) = runtime("dev") else {
        return ExitCode::from(EXIT_ERROR);
    };
    match runtime.block_on(crate::dev::run::run(port, data_dir)) {
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

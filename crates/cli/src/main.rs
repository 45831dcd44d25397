//! The `unmogrowp` binary. Only wiring lives here: parse the command line, load the
//! configuration, hand over to the server or the tools.

mod admin;
mod loadgen;

/// mimalloc: the ingestion path allocates many small, short-lived buffers; measured faster
/// than the system allocator here (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use unmogrowp_server::config::{Config, Overrides, ServerRole};
use unmogrowp_server::{Application, telemetry};

#[derive(Parser)]
#[command(name = "unmogrowp", version, about = "Self-hostable mobile attribution and analytics")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (every role in one process unless --role says otherwise).
    Serve(ServeArgs),
    /// Serve with a seeded demo organization (30 days of traffic); prints the URL and login.
    Demo(DemoArgs),
    /// Apply pending database migrations and exit.
    Migrate(MigrateArgs),
    /// Send realistic events to a running server and report throughput and latency.
    Loadgen(LoadgenArgs),
    /// Operator commands: key rotation, deleting an organization.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
}

#[derive(Args)]
struct LoadgenArgs {
    /// The server's address, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// An app's token (X-App-Token).
    #[arg(long)]
    app_token: String,
    /// Most events to send.
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Events per request (1 to 1000).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Stop after this many seconds even if events are left.
    #[arg(long, default_value_t = 60)]
    duration_seconds: u64,
    /// Seconds to measure the baseline endpoint first (0 to skip).
    #[arg(long, default_value_t = 5)]
    baseline_seconds: u64,
    /// The baseline endpoint.
    #[arg(long, default_value = "/healthz")]
    baseline_path: String,
}

#[derive(Args)]
struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<SocketAddr>,
    /// Directory for embedded data [default: ./data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Which parts of the server to run [default: all].
    #[arg(long, value_enum)]
    role: Option<RoleArg>,
}

#[derive(Args)]
struct DemoArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<SocketAddr>,
    /// Directory for embedded data [default: ./data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Days of traffic to seed.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Traffic volume (1.0: a few thousand installs a month per app).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
}

#[derive(Args)]
struct MigrateArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for embedded data [default: ./data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    All,
    Api,
    Ingest,
    Worker,
}

impl From<RoleArg> for ServerRole {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::All => ServerRole::All,
            RoleArg::Api => ServerRole::Api,
            RoleArg::Ingest => ServerRole::Ingest,
            RoleArg::Worker => ServerRole::Worker,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Demo(args) => demo(args).await,
        Command::Migrate(args) => migrate(args).await,
        Command::Admin(command) => admin::run(command, announce).await,
        Command::Loadgen(args) => {
            let report = loadgen::run(loadgen::Options {
                url: args.url,
                app_token: args.app_token,
                events: args.events,
                batch: args.batch,
                concurrency: args.concurrency,
                duration: std::time::Duration::from_secs(args.duration_seconds),
                baseline_path: args.baseline_path,
                baseline_duration: std::time::Duration::from_secs(args.baseline_seconds),
            })
            .await?;
            for line in report.lines {
                announce(&line);
            }
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        addr: args.addr,
        data_dir: args.data_dir,
        role: args.role.map(ServerRole::from),
    };
    let config = Config::load(args.config.as_deref(), &overrides)?;
    let tracing = telemetry::init_logging(&config)?;
    let application = Application::build(config).await?;
    tracing::info!(url = %application.url(), role = application.state().config.role.as_str(),
        backend = application.state().store.backend().as_str(), "listening");
    announce(&format!("url: {}/", application.url()));
    let served = application.run_until_stopped(shutdown_signal()).await;
    finish_tracing(tracing).await;
    served
}

/// Exports the last spans (bounded by `otel.export_timeout_ms`) on a blocking thread.
async fn finish_tracing(tracing: Option<unmogrowp_server::otel::Tracing>) {
    if let Some(tracing) = tracing {
        let _ = tokio::task::spawn_blocking(move || tracing.shutdown()).await;
    }
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=90).contains(&args.days), "--days must be between 1 and 90");
    anyhow::ensure!(
        args.scale > 0.0 && args.scale <= 100.0,
        "--scale must be above 0 and at most 100"
    );
    let overrides = Overrides { addr: args.addr, data_dir: args.data_dir, role: None };
    let config = Config::load(args.config.as_deref(), &overrides)?;
    let tracing = telemetry::init_logging(&config)?;
    let application = Application::build(config).await?;
    let login = unmogrowp_demo::seed(application.state(), args.days, args.scale).await?;
    if login.records > 0 {
        announce(&format!(
            "demo: seeded {} records of traffic (the dashboard fills in as they are processed)",
            login.records
        ));
    } else {
        announce("demo: the demo organization already exists in this data dir");
    }
    announce(&format!("url: {}/", application.url()));
    announce(&format!("login: {} {}", login.email, login.password));
    let served = application.run_until_stopped(shutdown_signal()).await;
    finish_tracing(tracing).await;
    served
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let overrides = Overrides { data_dir: args.data_dir, ..Overrides::default() };
    let config = Config::load(args.config.as_deref(), &overrides)?;
    let tracing = telemetry::init_logging(&config)?;
    let options = unmogrowp_server::app::store_options(&config);
    let report = unmogrowp_storage::Store::migrate(&options).await.context("migrating")?;
    let backend = report.backend.map_or("unknown", |b| b.as_str());
    if report.applied.is_empty() {
        announce(&format!("{backend}: schema is up to date (version {})", report.current_version));
    } else {
        for (version, name) in &report.applied {
            announce(&format!("{backend}: applied migration {version} ({name})"));
        }
        announce(&format!("{backend}: schema is at version {}", report.current_version));
    }
    finish_tracing(tracing).await;
    Ok(())
}

/// A line for the person at the terminal (stdout), apart from the structured logs.
#[allow(clippy::print_stdout)]
fn announce(line: &str) {
    println!("{line}");
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received SIGINT"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}

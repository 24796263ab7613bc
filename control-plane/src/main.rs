//! `vane`: the control plane's command line. `serve` runs the HTTP server, `migrate` applies
//! the schema, `key create` mints an API key, `eval` evaluates a snapshot file offline, `export`
//! prints every definition as JSON, `import unleash` turns Unleash's flags into a snapshot,
//! `edge` runs the self-hosted edge.
//! Every option can also come from the environment variable named in `--help`.
#![allow(clippy::print_stdout)] // a command-line tool prints its results

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use vane_control_plane::store::keys::parse_scope;
use vane_control_plane::{AppState, MIGRATOR, app, domain, publish};
use vane_core::{Context, Resolution, compile_json, datetime::parse_rfc3339_ms};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "vane", version, about = "Vane control plane")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the admin and delivery HTTP server (migrates first).
    Serve(ServeArgs),
    /// Apply pending schema migrations and publish missing snapshots.
    Migrate(DbArgs),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Evaluate flags of a snapshot file offline (for debugging).
    Eval(EvalArgs),
    /// Print every definition (applications, environments, flags, segments, configs, services,
    /// API keys without their hashes; secrets stay encrypted) as one JSON document.
    Export(ExportArgs),
    /// Import feature flags from another system.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Print the HTTP API's OpenAPI document (what `GET /api/v1/openapi.json` serves); needs no
    /// database.
    Openapi,
    /// Run the self-hosted edge: OFREP, the original service's evaluate/config/registry routes
    /// and client snapshots (with push) from snapshots kept in memory, as the Cloudflare Worker
    /// serves them; needs no database, only a control plane to follow.
    Edge(EdgeArgs),
}

/// The Worker's settings, by the same names (flags or environment variables).
#[derive(Debug, Args)]
struct EdgeArgs {
    /// Address to listen on.
    #[arg(long, env = "VANE_EDGE_LISTEN", default_value = "127.0.0.1:8789")]
    listen: SocketAddr,
    /// The control plane to follow (plain HTTP).
    #[arg(long, env = "VANE_CONTROL_PLANE_URL", default_value = "http://127.0.0.1:8080")]
    control_plane_url: String,
    /// An `edge` key (admin and read keys work too) for fetching snapshots.
    #[arg(long, env = "VANE_EDGE_KEY", hide_env_values = true)]
    edge_key: String,
    /// The application OFREP requests without `X-Vane-Application` read.
    #[arg(long, env = "VANE_DEFAULT_APPLICATION", default_value = "demo")]
    application: String,
    /// The environment OFREP requests without `X-Vane-Environment` read.
    #[arg(long, env = "VANE_DEFAULT_ENVIRONMENT", default_value = "production")]
    environment: String,
    /// A snapshot used by requests is confirmed with the control plane once it is this old (ms).
    #[arg(long, env = "VANE_REFRESH_MS", default_value_t = 1_000)]
    refresh_ms: u64,
    /// Each long-poll waits this long for a new version (s; 0 turns the long-poll off).
    #[arg(long, env = "VANE_WATCH_S", default_value_t = 20)]
    watch_s: u64,
    /// Requests per API key and second (0: unlimited).
    #[arg(long, env = "VANE_RATE_LIMIT_RPS", default_value_t = 0)]
    rate_limit_rps: u32,
    /// Where last known good snapshots are kept, so a restart while the control plane is away
    /// still serves (`none`: keep none).
    #[arg(long, env = "VANE_EDGE_DATA_DIR", default_value = "vane-edge-data")]
    data_dir: PathBuf,
    /// Worker threads (default: one per core). Fewer leave cores to what shares the machine.
    #[arg(long, env = "VANE_EDGE_THREADS")]
    threads: Option<usize>,
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// Unleash's client API state (`GET /api/client/features`, or a delta `{events}`) → a Vane
    /// snapshot file. Users keep their rollout buckets (Unleash's murmur3 hashing). Everything
    /// that cannot be carried over exactly is reported per item on standard error.
    Unleash(ImportUnleashArgs),
}

#[derive(Debug, Args)]
struct ImportUnleashArgs {
    /// The Unleash JSON document.
    file: PathBuf,
    /// Write the snapshot here instead of standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Application key recorded in the snapshot.
    #[arg(long, default_value = "unleash")]
    application: String,
    /// Environment key recorded in the snapshot.
    #[arg(long, default_value = "production")]
    environment: String,
    /// Snapshot version recorded in the snapshot.
    #[arg(long, default_value_t = 1)]
    snapshot_version: u64,
    /// Fail (no output) when anything is unsupported or approximated.
    #[arg(long)]
    strict: bool,
}

#[derive(Debug, Args)]
struct ExportArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DbArgs {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "VANE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Seconds between active health-check rounds of the service registry (0 disables them).
    #[arg(long, env = "VANE_HEALTH_INTERVAL_S", default_value_t = 10)]
    health_interval_s: u64,
    /// Seconds a console session lasts after sign-in.
    #[arg(long, env = "VANE_SESSION_TTL_S", default_value_t = 12 * 3600, value_parser = clap::value_parser!(u64).range(60..))]
    session_ttl_s: u64,
    /// Seconds a client has to send a request's headers (also how long an idle keep-alive
    /// connection is kept).
    #[arg(long, env = "VANE_HEADER_TIMEOUT_S", default_value_t = 10)]
    header_timeout_s: u64,
    /// Most connections open at once; more wait to be accepted.
    #[arg(long, env = "VANE_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Base64 of 32 random bytes; enables secret configs (AES-256-GCM at rest).
    #[arg(long, env = "VANE_ENCRYPTION_KEY", hide_env_values = true)]
    encryption_key: Option<String>,
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create a key and print it (it is shown only once).
    Create(KeyCreateArgs),
}

#[derive(Debug, Args)]
struct KeyCreateArgs {
    #[command(flatten)]
    db: DbArgs,
    /// admin, read, edge or client.
    #[arg(long)]
    scope: String,
    /// Bind the key to one application (key or id).
    #[arg(long)]
    application: Option<String>,
    /// Bind the key to one environment (key or id).
    #[arg(long)]
    environment: Option<String>,
    /// A label for people.
    #[arg(long, default_value = "")]
    name: String,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// A snapshot document (as served by GET /api/v1/snapshots/…).
    #[arg(long)]
    snapshot: PathBuf,
    /// The flag to evaluate; all flags when omitted.
    #[arg(long)]
    flag: Option<String>,
    /// Evaluation context as JSON.
    #[arg(long, default_value = "{}")]
    context: String,
    /// Evaluation time (RFC 3339); now when omitted.
    #[arg(long)]
    now: Option<String>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VANE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Command::Edge(EdgeArgs { threads: Some(n), .. }) = &cli.command {
        builder.worker_threads((*n).max(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vane: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vane: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(db) => {
            let pool = connect(&db.database_url).await?;
            migrate(&pool).await
        }
        Command::Key(KeyCommand::Create(args)) => create_key(args).await,
        Command::Eval(args) => eval(args),
        Command::Export(args) => export(args).await,
        Command::Import(ImportCommand::Unleash(args)) => import_unleash(args),
        Command::Edge(args) => edge(args).await,
        Command::Openapi => {
            let document = vane_control_plane::openapi_document();
            println!("{}", serde_json::to_string_pretty(&document).map_err(|e| e.to_string())?);
            Ok(())
        }
    }
}

fn import_unleash(args: ImportUnleashArgs) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let (snapshot, notes) =
        vane_core::unleash::import_str(&text, &args.application, &args.environment, args.snapshot_version)
            .map_err(|e| format!("{}: {e}", args.file.display()))?;
    for n in &notes {
        eprintln!("{:?}: {} {}: {}", n.kind, n.feature, n.path, n.message);
    }
    let (_, problems) = vane_core::compile(&snapshot);
    if !problems.is_empty() {
        // The importer folds everything it cannot express; a problem here is a bug.
        let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(format!("the imported snapshot does not compile cleanly: {}", listed.join("; ")));
    }
    if args.strict && !notes.is_empty() {
        return Err(format!("{} item(s) could not be imported exactly (see above); --strict", notes.len()));
    }
    let text = serde_json::to_string_pretty(&snapshot).map_err(|e| e.to_string())?;
    eprintln!(
        "imported {} flag(s) and {} segment(s); {} note(s)",
        snapshot.flags.len(),
        snapshot.segments.len(),
        notes.len()
    );
    match args.out {
        Some(path) => std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display())),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

async fn export(args: ExportArgs) -> Result<(), String> {
    let pool = connect(&args.db.database_url).await?;
    let doc = vane_control_plane::export::consistent(&pool).await.map_err(|e| e.to_string())?;
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    match args.output {
        Some(path) => std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display())),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

/// A lazily connecting pool: the server starts (and answers 503) while PostgreSQL is down, and
/// recovers by itself when it comes back.
fn pool(url: &str) -> Result<PgPool, String> {
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy(url)
        .map_err(|e| format!("invalid DATABASE_URL: {e}"))
}

/// Waits up to 30 s for PostgreSQL to answer.
async fn connect(url: &str) -> Result<PgPool, String> {
    let pool = pool(url)?;
    let mut last = String::new();
    for _ in 0..30 {
        match vane_control_plane::store::ready(&pool).await {
            Ok(()) => return Ok(pool),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(format!("PostgreSQL did not answer within 30 s: {last}"))
}

async fn migrate(pool: &PgPool) -> Result<(), String> {
    MIGRATOR.run(pool).await.map_err(|e| format!("migrations failed: {e}"))?;
    let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
    publish::publish_missing(&mut tx).await.map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let pool = connect(&args.db.database_url).await?;
    migrate(&pool).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    tracing::info!(listen = %args.listen, "vane control plane ready");
    // Snapshot fragments no kept snapshot uses any more.
    publish::spawn_collector(pool.clone(), Duration::from_secs(300));
    let mut state = AppState::new(pool);
    match args.encryption_key.as_deref() {
        Some(key) => state = state.with_cipher(vane_control_plane::crypto::Cipher::from_base64(key)?),
        None => tracing::warn!("VANE_ENCRYPTION_KEY is not set: secret configs are refused"),
    }
    state.vane.session_ttl = Duration::from_secs(args.session_ttl_s);
    if args.health_interval_s > 0 {
        domain::registry::spawn_checker(state.vane.clone(), Duration::from_secs(args.health_interval_s));
    }
    let limits = vane_control_plane::http::server::Limits {
        header_timeout: Duration::from_secs(args.header_timeout_s.max(1)),
        max_connections: args.max_connections,
    };
    vane_control_plane::http::server::serve(listener, app(state), limits, shutdown_signal())
        .await
        .map_err(|e| format!("server failed: {e}"))
}

async fn edge(args: EdgeArgs) -> Result<(), String> {
    let EdgeArgs { control_plane_url, edge_key, application, environment, .. } = &args;
    let (refresh, watch, rate) =
        (args.refresh_ms.to_string(), args.watch_s.to_string(), args.rate_limit_rps.to_string());
    let settings = vane_edge::cache::Settings::from_lookup(|name| {
        Some(
            match name {
                "VANE_CONTROL_PLANE_URL" => control_plane_url,
                "VANE_EDGE_KEY" => edge_key,
                "VANE_DEFAULT_APPLICATION" => application,
                "VANE_DEFAULT_ENVIRONMENT" => environment,
                "VANE_REFRESH_MS" => &refresh,
                "VANE_WATCH_S" => &watch,
                "VANE_RATE_LIMIT_RPS" => &rate,
                _ => return None,
            }
            .clone(),
        )
    });
    let data_dir = Some(args.data_dir).filter(|d| d.as_os_str() != "none");
    let options = vane_edge::native::Options { settings, listen: args.listen, data_dir };
    vane_edge::native::serve(options, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

async fn create_key(args: KeyCreateArgs) -> Result<(), String> {
    let scope =
        parse_scope(&args.scope).ok_or(format!("--scope must be admin, read, edge or client, not {}", args.scope))?;
    let pool = connect(&args.db.database_url).await?;
    let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
    let new =
        domain::keys::mint(&mut tx, None, scope, &args.name, args.application.as_deref(), args.environment.as_deref())
            .await
            .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    println!("{}", new.key);
    Ok(())
}

fn eval(args: EvalArgs) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.snapshot).map_err(|e| format!("{}: {e}", args.snapshot.display()))?;
    let (snapshot, warnings) = compile_json(&text).map_err(|e| e.to_string())?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let context: serde_json::Value =
        serde_json::from_str(&args.context).map_err(|e| format!("--context is not JSON: {e}"))?;
    let ctx = Context::from_json(&context).map_err(|e| format!("--context: {e}"))?;
    let now_ms = match &args.now {
        Some(t) => parse_rfc3339_ms(t).ok_or(format!("--now is not an RFC 3339 datetime: {t}"))?,
        None => chrono::Utc::now().timestamp_millis(),
    };
    let print = |key: &str, e: &vane_core::Evaluation<'_>| -> Result<(), String> {
        let r = Resolution { key, evaluation: e, snapshot_version: snapshot.version() };
        println!("{}", serde_json::to_string(&r).map_err(|e| e.to_string())?);
        Ok(())
    };
    match &args.flag {
        Some(key) => print(key, &snapshot.evaluate(key, &ctx, now_ms)),
        None => snapshot.evaluate_all(&ctx, now_ms).try_for_each(|(k, e)| print(k, &e)),
    }
}

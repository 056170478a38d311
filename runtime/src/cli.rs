//! The `pgbisync` command line. The generated crate's `main` hands its compiled program to [`main`].

use std::io::IsTerminal;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, ConfigError};
use crate::connect::connect;
pub use crate::engine::SyncOptions;
use crate::engine::{run_direction, Connections, DirectionReport};
use crate::lock::{self, Lock};
use crate::metadata::Scope;
use crate::pipeline::{Status, TableReport};
use crate::program::Program;
use crate::spec::{Direction, Side};

/// Exit codes (SPEC 9).
pub mod exit {
    /// Every requested table synced.
    pub const OK: i32 = 0;
    /// At least one table failed or was partial; the others synced.
    pub const PARTIAL: i32 = 1;
    /// Usage or configuration error.
    pub const USAGE: i32 = 2;
    /// Cannot connect, or another run holds the lock.
    pub const UNAVAILABLE: i32 = 3;
}

#[derive(Debug, Parser)]
#[command(
    name = "pgbisync",
    version,
    about = "Keeps a desktop PostgreSQL and a cloud PostgreSQL in step, table by table, both ways.",
    long_about = "Keeps a desktop PostgreSQL and a cloud PostgreSQL in step, table by table, both ways.\n\n\
                  Connection URLs come from the environment (or a .env file in the working directory), as named \
                  in sync-schema.yaml (default DESKTOP_DATABASE_URL and CLOUD_DATABASE_URL), or from the flags.\n\n\
                  Exit codes: 0 all requested tables synced; 1 a table failed or was partial; 2 usage or \
                  configuration error; 3 cannot connect, or another run holds the lock. `verify` exits 0 when both \
                  sides match, 1 on any difference."
)]
pub struct Cli {
    /// Desktop database URL (overrides the environment).
    #[arg(long, global = true, value_name = "URL")]
    desktop_url: Option<String>,
    /// Cloud database URL (overrides the environment).
    #[arg(long, global = true, value_name = "URL")]
    cloud_url: Option<String>,
    /// Print one machine-readable JSON document on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// More detail on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors on stderr, and only the summary on stdout.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sync desktop -> cloud.
    Forward(SyncArgs),
    /// Sync cloud -> desktop (rows born in the cloud).
    Reverse(SyncArgs),
    /// Forward, then reverse; with --every, repeat until interrupted.
    Run(RunArgs),
    /// Per table and direction: watermark, last run, rows, status, last error, rejects.
    Status,
    /// Compare both live databases with the manifest; exit 1 on any difference.
    Check,
    /// Create or upgrade the metadata tables now (every sync also does this itself).
    Bootstrap,
    /// Set watermarks back so the next run is a full pass.
    Reset {
        /// Only this direction (default: both).
        #[arg(long, value_enum)]
        direction: Option<DirectionArg>,
        /// Tables to reset (manifest, desktop or cloud names).
        #[arg(required = true)]
        tables: Vec<String>,
    },
    /// The compiled tables: names, direction, mode, strategy, key, in sync order.
    Tables,
    /// Compare both sides' rows for each table (keys and value checksums); exit 1 on any difference.
    Verify {
        /// Only these tables (manifest, desktop or cloud names); repeatable.
        #[arg(long = "table", value_name = "T")]
        tables: Vec<String>,
    },
    /// Start two throwaway local PostgreSQL servers, load sample data, sync both ways, show status, stop them.
    Demo(DemoArgs),
    /// Print the code generated from the manifest.
    Codegen,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DirectionArg {
    Forward,
    Reverse,
}

#[derive(Debug, Args)]
struct SyncArgs {
    /// Read every table completely, ignoring watermarks.
    #[arg(long)]
    full: bool,
    /// Only these tables (manifest, desktop or cloud names); repeatable.
    #[arg(long = "table", value_name = "T")]
    tables: Vec<String>,
    /// Do everything, then roll the target back.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    sync: SyncArgs,
    /// Repeat at this interval (e.g. 30s, 5m, 1h) until interrupted; Ctrl-C finishes the table in hand.
    #[arg(long, value_parser = parse_interval)]
    every: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Rows per transactional table in the sample data.
    #[arg(long, default_value_t = 2000)]
    pub rows: u32,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("`{s}` is not an interval such as 30s, 5m or 1h"))?;
    let secs = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{s}`: use s, m or h (e.g. 5m)")),
    };
    if secs == 0 {
        return Err("the interval must be positive".into());
    }
    Ok(Duration::from_secs(secs))
}

/// Runs the CLI; returns the process exit code.
pub fn main(program: &Program) -> i32 {
    main_with_args(program, std::env::args_os())
}

/// Runs the CLI with the given arguments (the first is the program name); returns the exit code.
pub fn main_with_args<I, T>(program: &Program, args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return code;
        }
    };
    init_logging(cli.verbose, cli.quiet);
    config::load_dotenv();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::UNAVAILABLE;
        }
    };
    runtime.block_on(dispatch(program, cli))
}

pub fn init_logging(verbose: u8, quiet: bool) {
    let level = if quiet {
        "warn"
    } else {
        match verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PGBISYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("warn,pgbisync_runtime={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

async fn dispatch(program: &Program, cli: Cli) -> i32 {
    let result = match &cli.command {
        Command::Tables => Ok(print_tables(program, cli.json)),
        Command::Codegen => {
            print!("{}", program.generated_source);
            Ok(exit::OK)
        }
        Command::Verify { tables } => verify(program, &cli, tables).await,
        Command::Forward(args) => sync(program, &cli, &[Direction::Forward], args).await,
        Command::Reverse(args) => sync(program, &cli, &[Direction::Reverse], args).await,
        Command::Run(args) => run(program, &cli, args).await,
        Command::Status => status(program, &cli).await,
        Command::Check => check(program, &cli).await,
        Command::Bootstrap => bootstrap(program, &cli).await,
        Command::Reset { direction, tables } => reset(program, &cli, *direction, tables).await,
        Command::Demo(args) => crate::demo::run(program, args.rows, cli.json).await,
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            failure.code
        }
    }
}

/// A command that could not run at all, with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure { code: exit::USAGE, message: e.to_string() }
    }
}

impl From<crate::connect::ConnectError> for Failure {
    fn from(e: crate::connect::ConnectError) -> Self {
        // A URL that does not parse is a configuration error; a server that does not answer is not.
        let code = match e {
            crate::connect::ConnectError::BadUrl { .. } => exit::USAGE,
            crate::connect::ConnectError::Unreachable { .. } => exit::UNAVAILABLE,
        };
        Failure { code, message: e.to_string() }
    }
}

fn print_tables(program: &Program, json: bool) -> i32 {
    let rows: Vec<serde_json::Value> = program
        .tables
        .iter()
        .map(|t| {
            let s = t.spec();
            serde_json::json!({
                "table": s.name,
                "direction": s.direction,
                "desktop": if s.direction == Direction::Forward { s.source.name } else { s.target.name },
                "cloud": if s.direction == Direction::Forward { s.target.name } else { s.source.name },
                "mode": s.mode,
                "strategy": s.strategy,
                "key": s.key,
                "tracking": s.tracking,
            })
        })
        .collect();
    if json {
        println!("{}", serde_json::json!({ "manifest": program.manifest.path, "tables": rows }));
        return exit::OK;
    }
    println!(
        "{:<9} {:<20} {:<20} {:<20} {:<12} {:<15} key",
        "direction", "table", "desktop", "cloud", "mode", "strategy"
    );
    for t in program.tables {
        let s = t.spec();
        let (desktop, cloud) = if s.direction == Direction::Forward {
            (s.source.name, s.target.name)
        } else {
            (s.target.name, s.source.name)
        };
        let key = if s.key.is_empty() { "(none: target generates it)".to_string() } else { s.key.join(", ") };
        println!(
            "{:<9} {:<20} {:<20} {:<20} {:<12} {:<15} {}",
            s.direction.as_str(),
            s.name,
            desktop,
            cloud,
            s.mode.as_str(),
            s.strategy.as_str(),
            key
        );
    }
    exit::OK
}

async fn open(program: &Program, cli: &Cli) -> Result<Connections, Failure> {
    let desktop = config::url(program.manifest, Side::Desktop, cli.desktop_url.as_deref())?;
    let cloud = config::url(program.manifest, Side::Cloud, cli.cloud_url.as_deref())?;
    Ok(Connections::open(desktop, cloud).await?)
}

const LOCK_BUSY: &str = "another pgbisync run holds the lock";

async fn take_lock(program: &Program, cli: &Cli) -> Result<tokio_postgres::Client, Failure> {
    let url = config::url(program.manifest, Side::Desktop, cli.desktop_url.as_deref())?;
    let client = connect(&url).await?;
    match lock::acquire(client).await {
        Ok(Lock::Held(client)) => Ok(client),
        Ok(Lock::Busy { holder }) => Err(Failure {
            code: exit::UNAVAILABLE,
            message: format!(
                "{LOCK_BUSY} on the desktop database{}; this run did nothing. Wait for it to finish",
                holder.map(|p| format!(" (server pid {p})")).unwrap_or_default()
            ),
        }),
        Err(e) => Err(Failure {
            code: exit::UNAVAILABLE,
            message: format!("taking the run lock: {}", crate::error::describe(&e)),
        }),
    }
}

/// Runs the given directions once; returns the exit code.
pub async fn sync_once(
    program: &Program,
    connections: &mut Connections,
    directions: &[Direction],
    args: &SyncOptions,
    json: bool,
    quiet: bool,
) -> Result<(i32, Vec<DirectionReport>), Failure> {
    known_tables(program, directions, &args.tables)?;
    let mut reports = Vec::new();
    for direction in directions {
        let tables = program.tables(*direction, &args.tables);
        if tables.is_empty() {
            continue;
        }
        let mut print = |r: &TableReport| {
            if !json && !quiet {
                println!("{}", table_line(r));
            }
        };
        let report = run_direction(program.manifest, connections, *direction, &tables, args, &mut print)
            .await
            .map_err(|e| Failure { code: exit::UNAVAILABLE, message: e.to_string() })?;
        reports.push(report);
    }
    let all: Vec<&TableReport> = reports.iter().flat_map(|r| &r.tables).collect();
    let code = if all.iter().all(|t| t.status == Status::Ok) { exit::OK } else { exit::PARTIAL };
    if json {
        println!("{}", serde_json::json!({ "dry_run": args.dry_run, "directions": reports, "exit_code": code }));
    } else {
        println!("{}", summary(&all, args.dry_run));
        for t in all.iter().filter(|t| t.status == Status::Failed) {
            eprintln!("error: {} {}: {}", t.direction, t.table, t.error.as_deref().unwrap_or("failed"));
        }
    }
    Ok((code, reports))
}

/// A usage error naming every table that is not a compiled table of these directions.
fn known_tables(program: &Program, directions: &[Direction], tables: &[String]) -> Result<(), Failure> {
    let unknown = program.unknown_tables(directions, tables);
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Failure {
        code: exit::USAGE,
        message: format!("unknown table(s): {}; `pgbisync tables` lists the compiled tables", unknown.join(", ")),
    })
}

/// Checks the configuration before anything connects, so a usage error exits 2 whatever the network.
fn sync_options(program: &Program, cli: &Cli, directions: &[Direction], a: &SyncArgs) -> Result<SyncOptions, Failure> {
    known_tables(program, directions, &a.tables)?;
    let tenant = config::tenant(program, None)?;
    let progress = !cli.json && !cli.quiet;
    Ok(SyncOptions { full: a.full, tables: a.tables.clone(), dry_run: a.dry_run, tenant, progress })
}

fn table_line(r: &TableReport) -> String {
    let mut line = format!(
        "{:<7} {:<20} {:<11} read {:>8}  written {:>8}",
        r.direction.as_str(),
        r.table,
        r.mode,
        r.rows_read,
        r.rows_written
    );
    if r.duplicates_dropped > 0 {
        line.push_str(&format!("  duplicates dropped {}", r.duplicates_dropped));
    }
    if r.rejected > 0 {
        line.push_str(&format!("  set aside {}", r.rejected));
    }
    line.push_str(&format!("  {:>6.2}s  {}", r.millis as f64 / 1000.0, r.status.as_str()));
    if let Some((key, reason)) = r.reject_samples.first() {
        line.push_str(&format!("  (e.g. {key}: {reason})"));
    }
    if let Some(e) = &r.error {
        line.push_str(&format!("  {e}"));
    }
    line
}

fn summary(all: &[&TableReport], dry_run: bool) -> String {
    let count = |s: Status| all.iter().filter(|t| t.status == s).count();
    format!(
        "{}{} table(s): {} ok, {} partial, {} failed; {} rows read, {} written, {} set aside",
        if dry_run { "dry run (rolled back): " } else { "" },
        all.len(),
        count(Status::Ok),
        count(Status::Partial),
        count(Status::Failed),
        all.iter().map(|t| t.rows_read).sum::<u64>(),
        all.iter().map(|t| t.rows_written).sum::<u64>(),
        all.iter().map(|t| t.rejected).sum::<u64>(),
    )
}

async fn sync(program: &Program, cli: &Cli, directions: &[Direction], args: &SyncArgs) -> Result<i32, Failure> {
    let options = sync_options(program, cli, directions, args)?;
    let _lock = take_lock(program, cli).await?;
    let mut connections = open(program, cli).await?;
    Ok(sync_once(program, &mut connections, directions, &options, cli.json, cli.quiet).await?.0)
}

async fn run(program: &Program, cli: &Cli, args: &RunArgs) -> Result<i32, Failure> {
    let options = sync_options(program, cli, &[Direction::Forward, Direction::Reverse], &args.sync)?;
    let mut lock = take_lock(program, cli).await?;
    let mut connections = open(program, cli).await?;
    let both = [Direction::Forward, Direction::Reverse];
    let Some(every) = args.every else {
        return Ok(sync_once(program, &mut connections, &both, &options, cli.json, cli.quiet).await?.0);
    };
    loop {
        // The lock lives as long as its session: if the desktop dropped it between passes, take it
        // again before the next pass, or stop if another run took it meanwhile.
        if lock.is_closed() {
            match take_lock(program, cli).await {
                Ok(client) => lock = client,
                Err(f) if f.code == exit::UNAVAILABLE && f.message.starts_with(LOCK_BUSY) => return Err(f),
                Err(f) => {
                    eprintln!("error: {}; trying again in {every:?}", f.message);
                    tokio::select! {
                        _ = tokio::time::sleep(every) => continue,
                        _ = tokio::signal::ctrl_c() => return Ok(f.code),
                    }
                }
            }
        }
        // Ctrl-C during a pass lets the pass finish (each table commits or rolls back as a whole).
        let pass = sync_once(program, &mut connections, &both, &options, cli.json, cli.quiet);
        tokio::pin!(pass);
        let mut interrupted = false;
        let result = loop {
            tokio::select! {
                r = &mut pass => break r,
                _ = tokio::signal::ctrl_c(), if !interrupted => {
                    interrupted = true;
                    tracing::warn!("interrupted: finishing the current pass, then exiting");
                }
            }
        };
        let last = match result {
            Ok((code, _)) => code,
            Err(f) => {
                eprintln!("error: {}", f.message);
                f.code
            }
        };
        if interrupted {
            return Ok(last);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = tokio::signal::ctrl_c() => return Ok(last),
        }
    }
}

async fn status(program: &Program, cli: &Cli) -> Result<i32, Failure> {
    let scope = Scope::of(config::tenant(program, None)?.as_deref());
    let mut connections = open(program, cli).await?;
    let mut all = Vec::new();
    for direction in [Direction::Forward, Direction::Reverse] {
        let names: Vec<&str> = program.tables(direction, &[]).iter().map(|t| t.spec().name).collect();
        let (_, target) = connections.for_direction(direction);
        match crate::status::read(target, program.manifest, direction, &scope, &names).await {
            Ok(Some(rows)) => all.extend(rows),
            Ok(None) => {
                if !cli.json {
                    println!("{direction}: no metadata table {} yet on the {} (it is created by the first sync or `pgbisync bootstrap`)", program.manifest.metadata_table(direction), direction.target());
                }
            }
            Err(e) => return Err(Failure { code: exit::UNAVAILABLE, message: crate::error::describe(&e) }),
        }
    }
    print_status(&all, cli.json);
    Ok(exit::OK)
}

pub fn print_status(rows: &[crate::status::StatusRow], json: bool) {
    if json {
        println!("{}", serde_json::json!({ "tables": rows }));
        return;
    }
    println!(
        "{:<9} {:<20} {:<26} {:<26} {:>9} {:<8} {:>7}  last error",
        "direction", "table", "watermark", "last run", "rows", "status", "rejects"
    );
    let ts = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()).unwrap_or_else(|| "-".into())
    };
    for r in rows {
        println!(
            "{:<9} {:<20} {:<26} {:<26} {:>9} {:<8} {:>7}  {}",
            r.direction.as_str(),
            r.table,
            ts(r.watermark),
            ts(r.last_run_at),
            r.rows_copied.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            r.status.as_deref().unwrap_or("never"),
            r.rejects,
            r.last_error.as_deref().unwrap_or("")
        );
    }
}

async fn check(program: &Program, cli: &Cli) -> Result<i32, Failure> {
    let connections = open(program, cli).await?;
    let mut differences = Vec::new();
    for (client, side) in [(&connections.desktop, Side::Desktop), (&connections.cloud, Side::Cloud)] {
        let mut sides: Vec<&crate::spec::SideTable> = Vec::new();
        for t in program.tables {
            let s = t.spec();
            for st in [&s.source, &s.target] {
                if st.side == side && !sides.iter().any(|x| x.name == st.name) {
                    sides.push(st);
                }
            }
        }
        let names: Vec<&str> = sides.iter().map(|s| s.name).collect();
        let live = crate::schema_check::live_columns(client, &names)
            .await
            .map_err(|e| Failure { code: exit::UNAVAILABLE, message: crate::error::describe(&e) })?;
        for st in sides {
            let is_source =
                program.tables.iter().any(|t| t.spec().source.side == side && t.spec().source.name == st.name);
            differences.extend(crate::schema_check::compare(st, &live, is_source));
        }
    }
    if cli.json {
        println!("{}", serde_json::json!({ "differences": differences }));
    } else if differences.is_empty() {
        println!("both databases match the manifest ({} table-directions)", program.tables.len());
    } else {
        for d in &differences {
            println!("{d}");
        }
        println!("{} difference(s) from the manifest {}", differences.len(), program.manifest.path);
    }
    Ok(if differences.is_empty() { exit::OK } else { exit::PARTIAL })
}

async fn bootstrap(program: &Program, cli: &Cli) -> Result<i32, Failure> {
    let scope = Scope::of(config::tenant(program, None)?.as_deref());
    let mut connections = open(program, cli).await?;
    let mut code = exit::OK;
    for direction in [Direction::Forward, Direction::Reverse] {
        let names: Vec<&str> = program.tables(direction, &[]).iter().map(|t| t.spec().name).collect();
        let (_, target) = connections.for_direction(direction);
        match crate::bootstrap::ensure(target, program.manifest, direction, &names, Some(&scope)).await {
            Ok(crate::bootstrap::Bootstrap::Ready { created, upgraded, seeded }) => println!(
                "{direction}: {} on the {}: {}{}{} row(s) seeded",
                program.manifest.metadata_table(direction),
                direction.target(),
                if created { "created, " } else { "" },
                if upgraded.is_empty() { String::new() } else { format!("upgraded (added {}), ", upgraded.join(", ")) },
                seeded
            ),
            Ok(crate::bootstrap::Bootstrap::Degraded { reason }) => {
                println!(
                    "{direction}: cannot create {} on the {}: {reason}; syncs will run in full mode",
                    program.manifest.metadata_table(direction),
                    direction.target()
                );
                code = exit::PARTIAL;
            }
            Err(e) => return Err(Failure { code: exit::UNAVAILABLE, message: crate::error::describe(&e) }),
        }
    }
    Ok(code)
}

async fn reset(
    program: &Program,
    cli: &Cli,
    direction: Option<DirectionArg>,
    tables: &[String],
) -> Result<i32, Failure> {
    let directions: Vec<Direction> = match direction {
        Some(DirectionArg::Forward) => vec![Direction::Forward],
        Some(DirectionArg::Reverse) => vec![Direction::Reverse],
        None => vec![Direction::Forward, Direction::Reverse],
    };
    known_tables(program, &directions, tables)?;
    let scope = Scope::of(config::tenant(program, None)?.as_deref());
    let mut connections = open(program, cli).await?;
    for direction in directions {
        let names: Vec<&str> = program.tables(direction, tables).iter().map(|t| t.spec().name).collect();
        if names.is_empty() {
            continue;
        }
        let (_, target) = connections.for_direction(direction);
        let n = crate::metadata::reset(target, program.manifest.metadata_table(direction), &scope, &names)
            .await
            .map_err(|e| Failure { code: exit::UNAVAILABLE, message: crate::error::describe(&e) })?;
        println!(
            "{direction}: {n} watermark(s) set back to 1970-01-01; the next run reads {} in full",
            names.join(", ")
        );
    }
    Ok(exit::OK)
}

async fn verify(program: &Program, cli: &Cli, tables: &[String]) -> Result<i32, Failure> {
    let both = [Direction::Forward, Direction::Reverse];
    known_tables(program, &both, tables)?;
    let tenant = config::tenant(program, None)?;
    let mut connections = open(program, cli).await?;
    let selected: Vec<&dyn crate::codec::CompiledTable> =
        both.iter().flat_map(|d| program.tables(*d, tables)).collect();
    let (json, quiet) = (cli.json, cli.quiet);
    let mut print = |r: &crate::verify::VerifyReport| {
        if !json && (!quiet || r.differs()) {
            println!("{}", verify_line(r));
        }
    };
    let reports =
        crate::verify::verify_tables(program.manifest, &mut connections, &selected, tenant.as_deref(), &mut print)
            .await
            .map_err(|e| Failure { code: exit::UNAVAILABLE, message: e.to_string() })?;
    let differing = reports.iter().filter(|r| r.differs()).count();
    let code = if differing == 0 { exit::OK } else { exit::PARTIAL };
    if json {
        println!("{}", serde_json::json!({ "tables": reports, "exit_code": code }));
    } else {
        println!(
            "{} table-direction(s) verified: {} match, {} differ",
            reports.len(),
            reports.len() - differing,
            differing
        );
    }
    Ok(code)
}

pub(crate) fn verify_line(r: &crate::verify::VerifyReport) -> String {
    let direction = r.direction.map(|d| d.as_str()).unwrap_or("");
    if let Some(e) = &r.error {
        return format!("{direction:<7} {:<20} cannot compare: {e}", r.table);
    }
    let mut line = format!(
        "{direction:<7} {:<20} source {:>8}  target {:>8}  missing {}  extra {}  different {}",
        r.table, r.source_rows, r.target_rows, r.missing, r.extra, r.different
    );
    if r.rejects > 0 {
        line.push_str(&format!("  set aside {}", r.rejects));
    }
    if r.held_by_target > 0 {
        line.push_str(&format!(
            "  held by the {}'s own rows {}",
            r.direction.map(|d| d.target().to_string()).unwrap_or_default(),
            r.held_by_target
        ));
    }
    let samples: Vec<String> =
        [("missing", &r.missing_keys), ("extra", &r.extra_keys), ("different", &r.different_keys)]
            .iter()
            .filter(|(_, keys)| !keys.is_empty())
            .map(|(kind, keys)| format!("{kind} {}", keys.join(" ")))
            .collect();
    if !samples.is_empty() {
        line.push_str(&format!("  (e.g. {})", samples.join("; ")));
    }
    line
}

//! The command line's grammar (clap).

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "pgbisync",
    version,
    about = "Keeps a desktop PostgreSQL and a cloud PostgreSQL in step, table by table, both ways.",
    long_about = "Keeps a desktop PostgreSQL and a cloud PostgreSQL in step, table by table, both ways.\n\n\
                  Connection URLs come from the environment (or a .env file in the working directory), as named \
                  in sync-schema.yaml (default DESKTOP_DATABASE_URL and CLOUD_DATABASE_URL), or from the flags.\n\n\
                  Exit codes: 0 all requested tables synced; 1 a table failed or was partial; 2 usage or \
                  configuration error; 3 cannot connect, a server was lost mid-run, or another run holds the lock. `verify` exits 0 when both \
                  sides match, 1 on any difference."
)]
pub struct Cli {
    /// Desktop database URL (overrides the environment).
    #[arg(long, global = true, value_name = "URL")]
    pub desktop_url: Option<String>,
    /// Cloud database URL (overrides the environment).
    #[arg(long, global = true, value_name = "URL")]
    pub cloud_url: Option<String>,
    /// Read the environment from this file of NAME=value lines instead of ./.env (the service's
    /// env file, e.g. /etc/pgbisync/pgbisync.env); variables already set win.
    #[arg(long, global = true, value_name = "PATH", env = "PGBISYNC_ENV_FILE")]
    pub env_file: Option<std::path::PathBuf>,
    /// Print one machine-readable JSON document on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// More detail on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors on stderr, and only the summary on stdout.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// How stderr logs: `human` lines, or `json`, one object per line (fields such as table,
    /// direction, rows, duration_ms at the top level) for a log collector.
    #[arg(long, global = true, value_enum, value_name = "FORMAT", default_value = "human")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sync desktop -> cloud.
    Forward(SyncArgs),
    /// Sync cloud -> desktop (rows born in the cloud).
    Reverse(SyncArgs),
    /// Forward, then reverse; with --every, repeat until interrupted.
    Run(RunArgs),
    /// Ask the `run --every` going against this desktop database for a pass now (exit 3 when none
    /// is going). Works from any process or machine that reaches the desktop database.
    Trigger,
    /// Per table and direction: watermark, last run, rows, status, last error, rejects.
    Status,
    /// Compare both live databases with the manifest; exit 1 on any difference.
    Check,
    /// Preflight: connections (TLS, pooler), server versions, time zones and clocks, privileges,
    /// indexes and `check`'s differences, as one list with a fix for each; exit 1 on a problem.
    Doctor,
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
    /// Put rows that forward deletes removed from the cloud back on the desktop (from the
    /// deleted-rows table); the next forward run brings them back to the cloud.
    Restore {
        /// The table (manifest, desktop or cloud name).
        #[arg(long = "table", value_name = "T")]
        table: String,
        /// The kept row with this key, as `status` and the deleted-rows table show it
        /// (e.g. '{"client_id" : 7}'); repeatable.
        #[arg(long = "key", value_name = "KEY", required_unless_present = "since")]
        keys: Vec<String>,
        /// Every kept row deleted at or after this time (RFC 3339, e.g. 2026-12-02T09:00:00Z).
        #[arg(long, value_name = "TIME", conflicts_with = "keys")]
        since: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// The compiled tables: names, direction, mode, strategy, key, in sync order.
    Tables,
    /// Compare both sides' rows for each table (keys and value checksums); exit 1 on any difference.
    Verify {
        /// Only these tables (manifest, desktop or cloud names); repeatable.
        #[arg(long = "table", value_name = "T")]
        tables: Vec<String>,
    },
    /// Read live tables from the catalog and print the manifest entry that syncs them, ready to paste
    /// under `tables:` in sync-schema.yaml (its guesses explained in comments).
    Introspect(IntrospectArgs),
    /// Print the SQL that creates one side's tables as the manifest declares them, for a database
    /// that does not have them yet (pipe it to psql).
    Schema(SchemaArgs),
    /// Start two throwaway local PostgreSQL servers, load sample data, sync both ways, show status, stop them.
    Demo(DemoArgs),
    /// Print the code generated from the manifest.
    Codegen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DirectionArg {
    Forward,
    Reverse,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Read every table completely, ignoring watermarks.
    #[arg(long)]
    pub full: bool,
    /// Only these tables (manifest, desktop or cloud names); repeatable.
    #[arg(long = "table", value_name = "T")]
    pub tables: Vec<String>,
    /// Do everything, then roll the target back.
    #[arg(long)]
    pub dry_run: bool,
    /// Let this pass delete rows that the mass-delete guard (`delete_guard` in the manifest) would
    /// keep: use it once, after checking the source really lost them.
    #[arg(long)]
    pub allow_mass_delete: bool,
    /// How long a statement may wait for a lock another session holds (e.g. an idle-in-transaction
    /// session, a migration) before its table fails, naming the session, and the others go on.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_interval)]
    pub lock_timeout: Duration,
    /// How long one table may take, all statements included, before it fails with exit 3 and both
    /// connections are opened again (a server that stopped answering mid-statement).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_interval)]
    pub table_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sync: SyncArgs,
    /// Repeat at this interval (e.g. 30s, 5m, 1h) until interrupted; Ctrl-C finishes the table in hand.
    #[arg(long, value_parser = parse_interval)]
    pub every: Option<Duration>,
    /// With --every, serve /healthz and /metrics (Prometheus) over HTTP on this port of 127.0.0.1,
    /// or on an address given in full (e.g. 0.0.0.0:9750, reachable from other machines).
    #[arg(long, value_name = "[ADDRESS:]PORT", requires = "every", value_parser = super::monitor::parse_listen)]
    pub listen: Option<std::net::SocketAddr>,
    /// With --every, start passes only in this window of this machine's local time (the desktop's):
    /// `08:00-20:00`, `Mon-Fri 08:00-18:30`, `22:00-06:00`; repeat for more windows. A pass that
    /// starts inside runs to its end; a manual trigger (SIGHUP, `pgbisync trigger`) runs one at any hour.
    #[arg(long, value_name = "[DAYS ]HH:MM-HH:MM", requires = "every", value_parser = super::schedule::parse_window)]
    pub between: Vec<super::schedule::Window>,
    /// After a pass that did not fully succeed, run this shell command (`sh -c`; `cmd /C` on Windows)
    /// with the failed tables: a summary in PGBISYNC_SUMMARY, PGBISYNC_FAILED_TABLES,
    /// PGBISYNC_EXIT_CODE and PGBISYNC_CONSECUTIVE_FAILURES, a report on stdin, JSON in
    /// PGBISYNC_FAILURE_JSON. It gets 60 s; the database URLs are not passed to it.
    #[arg(long, value_name = "COMMAND")]
    pub on_failure: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("side").required(true).multiple(true).args(["desktop", "cloud"])))]
pub struct IntrospectArgs {
    /// A desktop table to read (exact name, through the search path); repeatable. Given with
    /// --cloud, the n-th desktop table and the n-th cloud table are one table.
    #[arg(long = "desktop", value_name = "TABLE")]
    pub desktop: Vec<String>,
    /// A cloud table to read; repeatable. Alone, the desktop is assumed to have the same table.
    #[arg(long = "cloud", value_name = "TABLE")]
    pub cloud: Vec<String>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("schema_side").required(true).multiple(false).args(["desktop", "cloud"])))]
pub struct SchemaArgs {
    /// The desktop's tables (shaped like the legacy database: no keys).
    #[arg(long)]
    pub desktop: bool,
    /// The cloud's tables (keys, origin column, touch triggers).
    #[arg(long)]
    pub cloud: bool,
    /// Only this table (its name on that side).
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Rows per transactional table in the sample data.
    #[arg(long, default_value_t = 2000)]
    pub rows: u32,
}

pub fn parse_interval(s: &str) -> Result<Duration, String> {
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

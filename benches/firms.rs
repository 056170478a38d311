//! Many firms at once into one cloud, as the shared deployment runs: FIRMS desktops (one database
//! each on one desktop server, each with its own firm's masters and JOBS jobs) sync both ways
//! through a PgBouncer in transaction mode in front of the cloud, all at the same moment, each on
//! its own connections (as separate `pgbisync run` processes would be):
//! - the first sync, then an incremental day in which 1% of every firm's jobs changed;
//! - against the same work of one more firm, alone, measured just before in the same run.
//!
//! Reports the total throughput, each firm's time (median, min-max), the errors (there must be
//! none, and each firm's rows must all be in the cloud) and the lock waits the cloud logged
//! (`log_lock_waits`, `deadlock_timeout` 100 ms), told apart: the bootstrap's advisory lock, which
//! serializes the creation of the metadata; the extension of a shared table that several firms'
//! first loads copy into at once (PostgreSQL grows a table one writer at a time); and any other,
//! which is named.
//!
//! Run: `cargo bench --bench firms -- [firms] [jobs]` (default 20 firms x 25000 jobs). Prints a
//! table and writes it as JSON to `target/bench-firms.json` (`PGBISYNC_BENCH_JSON` to choose).
//! Run by `cargo test` (no `--bench` argument), it is the small variant CI runs: 3 firms x 300
//! jobs, checking what must hold (no error, every row arrived), not timings.

#[allow(dead_code)]
#[path = "../tests/support/pooler.rs"]
mod pooler;

use std::time::{Duration, Instant};

use pgbisync_runtime::program::Program;
use pgbisync_runtime::{sync, Cluster, ConnectionUrl, Connections, Direction, Side, Silent, SyncOptions};
use tokio_postgres::Client;

mod common;
use common::{connect, start_servers, COLUMNS};

/// Server connections the pooler keeps to the cloud, as a small Supabase project's pool.
const POOL_SIZE: u32 = 15;

/// Locations per firm (loc_id is one key space for every firm: numeric(3)).
const LOCATIONS: i64 = 20;

/// Makes firm `firm`'s desktop database from the template: its org, its locations, `jobs` jobs
/// changed a day ago, job ids in a range of its own.
async fn load_firm(desktop: &Cluster, d: &Client, firm: i64, jobs: i64) -> String {
    let database = format!("firm_{firm}");
    d.batch_execute(&format!("CREATE DATABASE {database} TEMPLATE firms_template")).await.unwrap();
    let client = connect(&desktop.url(&database)).await;
    client
        .execute("INSERT INTO orgmaster (org_id, orgname) VALUES ($1::int8, 'firm ' || $1::int8::text)", &[&firm])
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO locmaster (org_id, loc_id, locname) SELECT $1::int8, ($1::int8 - 1) * $2::int8 + g, \
             'loc ' || g FROM generate_series(1, $2::int8) g",
            &[&firm, &LOCATIONS],
        )
        .await
        .unwrap();
    client
        .execute(
            &format!(
                "INSERT INTO jobshead ({COLUMNS}, jctincharge, updated_at) SELECT $1::int8, g % 500, \
                 ($1::int8 - 1) * $3::int8 + 1 + g % $3::int8, $1::int8 * 10000000 + g, 2024, 1 + g % 730, \
                 DATE '2024-01-01' + (g % 365)::int, DATE '2024-06-01' + (g % 365)::int, 'A', \
                 'work description ' || g, 'office', g % 600, '/drive/folder/' || g, 'key-' || md5(g::text), \
                 'O', 'staff', now() - interval '1 day' FROM generate_series(1, $2::bigint) g"
            ),
            &[&firm, &jobs, &LOCATIONS],
        )
        .await
        .unwrap();
    client.batch_execute("CREATE INDEX ON jobshead (updated_at); ANALYZE").await.unwrap();
    database
}

/// What one firm's pass did.
struct FirmRun {
    elapsed: Duration,
    written: u64,
    errors: Vec<String>,
}

/// One firm's pass, both directions, through the pooler.
async fn run_firm(program: &Program, desktop_url: String, cloud_url: String, firm: i64) -> FirmRun {
    let mut connections =
        Connections::open(ConnectionUrl::new(Side::Desktop, desktop_url), ConnectionUrl::new(Side::Cloud, cloud_url))
            .await
            .unwrap();
    let options = SyncOptions { tenant: Some(firm.to_string()), ..SyncOptions::default() };
    let both = [Direction::Forward, Direction::Reverse];
    let started = Instant::now();
    let run = sync(program, &mut connections, &both, &options, &Silent).await;
    let elapsed = started.elapsed();
    let Ok(run) = run else { return FirmRun { elapsed, written: 0, errors: vec![format!("{:?}", run.err())] } };
    let mut errors = Vec::new();
    let mut written = 0;
    for d in &run.directions {
        for t in &d.tables {
            written += t.rows_written;
            if let Some(e) = &t.error {
                errors.push(format!("firm {firm} {} {}: {e}", t.direction, t.table));
            }
        }
        for x in d.deletes.iter().filter(|x| x.is_failure()) {
            errors.push(format!("firm {firm} deletes {}: {:?}", x.table, x.error));
        }
    }
    FirmRun { elapsed, written, errors }
}

/// Lock waits the cloud logged, by what was waited for.
#[derive(Debug, Default, Clone, Copy)]
struct Waits {
    /// The bootstrap's advisory lock.
    bootstrap: usize,
    /// The extension of a table several sessions write at once.
    extension: usize,
    other: usize,
}

/// Lock waits the cloud logged since `offset`, and the new offset. An unexpected one is printed
/// with the statement the server names with it.
fn lock_waits(cloud: &Cluster, offset: usize) -> (Waits, usize) {
    let log = std::fs::read_to_string(cloud.log_file()).unwrap_or_default();
    let since = &log[offset.min(log.len())..];
    let mut waits = Waits::default();
    for (i, line) in since.lines().enumerate().filter(|(_, l)| l.contains("still waiting for")) {
        if line.contains("advisory lock") {
            waits.bootstrap += 1;
        } else if line.contains("on extension of relation") {
            waits.extension += 1;
        } else {
            waits.other += 1;
            let context: Vec<&str> = since.lines().skip(i + 1).take(3).collect();
            eprintln!("lock wait: {line}\n  {}", context.join("\n  "));
        }
    }
    (waits, log.len())
}

struct Round {
    work: String,
    alone: Duration,
    firms: Vec<Duration>,
    wall: Duration,
    rows: u64,
    waits: Waits,
}

fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

impl Round {
    fn median(&self) -> Duration {
        let mut v = self.firms.clone();
        v.sort();
        v[v.len() / 2]
    }

    fn row(&self) -> String {
        let (min, max) = (self.firms.iter().min().unwrap(), self.firms.iter().max().unwrap());
        let throughput = self.rows as f64 / self.wall.as_secs_f64();
        format!(
            "| {} | {} | {} ({}-{}) | {} | {:.0} | {:.1}x | {} | {} | {} |",
            self.work,
            seconds(self.alone),
            seconds(self.median()),
            seconds(*min),
            seconds(*max),
            seconds(self.wall),
            throughput,
            self.median().as_secs_f64() / self.alone.as_secs_f64(),
            self.waits.bootstrap,
            self.waits.extension,
            self.waits.other
        )
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "work": self.work,
            "alone_s": self.alone.as_secs_f64(),
            "firms_s": self.firms.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
            "wall_s": self.wall.as_secs_f64(),
            "rows_written": self.rows,
            "rows_per_s": self.rows as f64 / self.wall.as_secs_f64(),
            "bootstrap_lock_waits": self.waits.bootstrap,
            "table_extension_lock_waits": self.waits.extension,
            "other_lock_waits": self.waits.other,
        })
    }
}

struct Firms {
    program: Program,
    desktop: Cluster,
    cloud: Cluster,
    pooler: pooler::Pooler,
    databases: Vec<(i64, String)>,
    /// The firm measured alone, not one of the concurrent ones.
    alone: (i64, String),
    log_offset: usize,
}

impl Firms {
    /// Runs the lone firm, then every other firm at once; `work` names the round.
    async fn round(&mut self, work: String) -> Round {
        let url = |db: &str| self.desktop.url(db);
        let lone = run_firm(&self.program, url(&self.alone.1), self.pooler.url(), self.alone.0).await;
        assert_eq!(lone.errors, Vec::<String>::new(), "the lone firm");
        let (_, offset) = lock_waits(&self.cloud, self.log_offset);
        let started = Instant::now();
        let runs = futures_util::future::join_all(
            self.databases.iter().map(|(firm, db)| run_firm(&self.program, url(db), self.pooler.url(), *firm)),
        )
        .await;
        let wall = started.elapsed();
        let errors: Vec<&String> = runs.iter().flat_map(|r| &r.errors).collect();
        assert!(errors.is_empty(), "{work}: {errors:#?}");
        let (waits, offset) = lock_waits(&self.cloud, offset);
        self.log_offset = offset;
        Round {
            work,
            alone: lone.elapsed,
            firms: runs.iter().map(|r| r.elapsed).collect(),
            wall,
            rows: runs.iter().map(|r| r.written).sum(),
            waits,
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let numbers: Vec<i64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (firms, jobs) = match (numbers.first(), numbers.get(1)) {
        (Some(&f), Some(&j)) => (f, j),
        (Some(&f), None) => (f, if benching { 25_000 } else { 300 }),
        _ if benching => (20, 25_000),
        _ => (3, 300),
    };
    pgbisync_runtime::cli::init_logging(0, true);
    println!(
        "{firms} firms x {jobs} jobs, at once through PgBouncer (transaction mode, pool {POOL_SIZE}) into one cloud"
    );

    let program = pgbisync_generated::program();
    let (desktop, cloud, d, c) = start_servers().await;
    // One statement each: ALTER SYSTEM refuses a multi-statement (implicit transaction) query.
    for setting in [
        "ALTER SYSTEM SET log_lock_waits = on",
        "ALTER SYSTEM SET deadlock_timeout = '100ms'",
        "SELECT pg_reload_conf()",
    ] {
        c.batch_execute(setting).await.unwrap();
    }
    d.batch_execute("CREATE DATABASE firms_template").await.unwrap();
    let template = connect(&desktop.url("firms_template")).await;
    pgbisync_runtime::demo::sample::create_schema(&program, &template, &c).await.unwrap();
    drop(template);
    // A cloud shared by firms indexes the firm's column: each firm's delete check reads its own
    // rows, not every firm's.
    c.batch_execute("CREATE INDEX ON jobshead (org_id); CREATE INDEX ON jobshead (updated_at)").await.unwrap();
    let mut databases = Vec::new();
    for firm in 1..=firms + 1 {
        databases.push((firm, load_firm(&desktop, &d, firm, jobs).await));
    }
    let alone = databases.pop().unwrap();
    let upstream = cloud.port();
    let pooler = tokio::task::spawn_blocking(move || pooler::Pooler::start_with(upstream, POOL_SIZE)).await.unwrap();
    let log_offset = lock_waits(&cloud, 0).1;
    let mut bench = Firms { program, desktop, cloud, pooler, databases, alone, log_offset };

    let first = bench.round(format!("first sync, {firms} firms x {jobs} jobs")).await;
    for firm in 1..=firms + 1 {
        let n = scalar(&c, &format!("SELECT count(*) FROM jobshead WHERE org_id = {firm}")).await;
        assert_eq!(n, jobs, "firm {firm}: every job in the cloud");
    }
    // An incremental day: 1% of every firm's jobs changed on its desktop.
    for (_, db) in bench.databases.iter().chain(std::iter::once(&bench.alone)) {
        let client = connect(&bench.desktop.url(db)).await;
        client
            .batch_execute(
                "UPDATE jobshead SET work_desc = work_desc || ' (revised)', updated_at = now() WHERE job_id % 100 = 0",
            )
            .await
            .unwrap();
    }
    let day = bench.round("incremental day, 1% of each firm's jobs changed".to_string()).await;
    let changed = jobs / 100;
    assert_eq!(day.rows, changed as u64 * firms as u64, "each firm's changed jobs, and nothing else, rewritten");

    println!();
    println!("| work | one firm alone, s | each firm at once, s: median (min-max) | all at once, wall s | rows/s, all | median / alone | lock waits: bootstrap | table extension | other |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in [&first, &day] {
        println!("{}", r.row());
    }
    let json = serde_json::json!({
        "firms": firms,
        "jobs_per_firm": jobs,
        "pool_size": POOL_SIZE,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "results": [first.json(), day.json()],
    });
    let path = std::env::var("PGBISYNC_BENCH_JSON")
        .unwrap_or_else(|_| format!("{}/target/bench-firms.json", env!("CARGO_MANIFEST_DIR")));
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap_or_else(|e| panic!("{path}: {e}"));
    println!("written to {path}");
    let Firms { desktop, cloud, pooler, .. } = bench;
    drop(pooler);
    let _ = desktop.stop();
    let _ = cloud.stop();
}

async fn scalar(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

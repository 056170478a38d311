//! The engine's speed, side by side with references measured in the same run (these machines are
//! noisy; only the ratios mean something), in alternating rounds:
//! - a full forward sync of a jobshead-shaped table, against a binary COPY pipe between the same
//!   two servers into the cloud's own `jobshead` (the same constraints) and into an FK-less copy;
//! - re-syncing the same rows unchanged (nothing may be rewritten), against the FK-less pipe;
//! - an incremental run of all 24 table-directions in which nothing changed;
//! - reverse: rows/4 mobile-born rows into a desktop table without a key, against the pipe, and
//!   against the old system's loop (SPEC 10: a check, then an insert, each a round trip, per row),
//!   timed on its first rows for a few seconds and scaled to all of them: a lower bound, since
//!   each check scans a table that only grows.
//!
//! The cloud's `jobshead` has the shipped cloud's constraints: its primary key and foreign keys to
//! `orgmaster` and `locmaster`.
//!
//! Run: `cargo bench --bench forward -- [rows] [forward|resync|empty|reverse]...` (default 100000
//! rows, every measurement; naming some runs only those). Prints a table and writes it as
//! JSON to `target/bench-forward.json` (`PGBISYNC_BENCH_JSON` to choose the file). Run by
//! `cargo test` (no `--bench` argument), it is the small variant CI runs: 2,000 rows, one round,
//! checking that every measurement ran, not its figures.

use std::time::{Duration, Instant};

use pgbisync_runtime::{sync, Direction, Silent, SyncOptions};
use tokio_postgres::Client;

mod common;
use common::{copy_pipe, open, Servers, COLUMNS};

/// Reads `filter`'s rows of the source's jobshead as binary COPY and writes them straight into
/// `table` (emptied first) on the other server: the fastest any tool could move them.
async fn copy_pipe_into(from: &Client, to: &Client, filter: &str, table: &str) -> Duration {
    to.batch_execute(&format!("TRUNCATE {table}")).await.unwrap();
    copy_pipe(from, to, &format!("SELECT {COLUMNS} FROM jobshead {filter}"), &format!("{table} ({COLUMNS})")).await
}

/// What the issue holds an unchanged re-sync to: the rows piped into a temporary table on the
/// cloud, then compared with the cloud's `jobshead` in one hash join on the key (the engine's
/// `work_mem`), the count of rows that differ read back (none).
async fn stage_and_compare(from: &Client, to: &Client) -> Duration {
    to.batch_execute("SET work_mem = '128MB'; CREATE TEMPORARY TABLE stage_ref (LIKE jobshead_pipe)").await.unwrap();
    let piped =
        copy_pipe(from, to, &format!("SELECT {COLUMNS} FROM jobshead"), &format!("stage_ref ({COLUMNS})")).await;
    let started = Instant::now();
    let cols: Vec<&str> = COLUMNS.split(',').map(str::trim).collect();
    let side = |alias: &str| cols.iter().map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT count(*) FROM stage_ref s JOIN jobshead t ON t.job_id = s.job_id WHERE ({}) IS DISTINCT FROM ({})",
        side("t"),
        side("s")
    );
    let differing: i64 = to.query_one(&sql, &[]).await.unwrap().get(0);
    assert_eq!(differing, 0, "the reference compares the same, unchanged rows");
    let compared = started.elapsed();
    to.batch_execute("DROP TABLE stage_ref; RESET work_mem").await.unwrap();
    piped + compared
}

/// The old system's reverse (SPEC 10): for each mobile-born row, ask the desktop whether its key is
/// there, then insert it, each a round trip, into a copy of the desktop table without a key. Timed
/// for a few seconds, or until every row is in, and scaled to all `mobile` rows, with how many were
/// timed: a lower bound, as every check scans the whole table, which only grows. Rows are fetched a
/// batch at a time, so this process's peak memory stays the engine's.
async fn old_reverse_loop(servers: &Servers, mobile: u64) -> (Duration, u64) {
    const BUDGET: Duration = Duration::from_secs(5);
    const BATCH: i64 = 200;
    let Servers { d, c, .. } = servers;
    d.batch_execute("CREATE TABLE jobshead_old AS SELECT * FROM jobshead WHERE job_id <= 100000000").await.unwrap();
    let check = d.prepare("SELECT 1 FROM jobshead_old WHERE job_id = $1::text::numeric").await.unwrap();
    let insert = d
        .prepare("INSERT INTO jobshead_old SELECT * FROM json_populate_record(NULL::jobshead_old, $1::text::json)")
        .await
        .unwrap();
    let started = Instant::now();
    let mut done: u64 = 0;
    while done < mobile && started.elapsed() < BUDGET {
        let rows = c
            .query(
                &format!(
                    "SELECT job_id::text, row_to_json(r)::text FROM (SELECT {COLUMNS} FROM jobshead \
                     WHERE source = 'M' ORDER BY job_id OFFSET $1 LIMIT $2) r"
                ),
                &[&(done as i64), &BATCH],
            )
            .await
            .unwrap();
        for row in &rows {
            let (key, json): (String, String) = (row.get(0), row.get(1));
            if d.query_opt(&check, &[&key]).await.unwrap().is_none() {
                d.execute(&insert, &[&json]).await.unwrap();
            }
            done += 1;
            if started.elapsed() >= BUDGET {
                break;
            }
        }
    }
    let elapsed = started.elapsed();
    d.batch_execute("DROP TABLE jobshead_old").await.unwrap();
    (elapsed.mul_f64(mobile as f64 / done.max(1) as f64), done)
}

/// One pgbisync pass of `directions` over `tables` (all when empty); its time and what it wrote.
async fn pass(bench: &Bench, directions: &[Direction], tables: &[&str], full: bool) -> (Duration, u64) {
    let mut connections = open(&bench.servers.desktop, &bench.servers.cloud).await;
    let options = SyncOptions {
        full,
        tables: tables.iter().map(|t| t.to_string()).collect(),
        tenant: Some("1".into()),
        ..SyncOptions::default()
    };
    let started = Instant::now();
    let run = sync(&bench.servers.program, &mut connections, directions, &options, &Silent).await.unwrap();
    let elapsed = started.elapsed();
    let mut written = 0;
    for table in run.directions.iter().flat_map(|d| &d.tables) {
        assert_eq!(table.error, None, "{}", table.table);
        written += table.rows_written;
    }
    (elapsed, written)
}

/// What one measurement is held to.
#[derive(Clone, Copy)]
enum Target {
    /// pgbisync's throughput is at least this share of the reference's.
    Throughput(f64),
    /// pgbisync takes at most this many times the reference's time.
    Times(f64),
    /// pgbisync takes at most this many milliseconds.
    Millis(f64),
    /// No target: the reference shows what pgbisync replaces.
    Shown,
}

struct Measurement {
    work: String,
    reference: &'static str,
    references: Vec<Duration>,
    pgbisync: Vec<Duration>,
    target: Target,
}

impl Measurement {
    fn ratio(&self) -> Option<f64> {
        let (r, p) = (median(&self.references)?, median(&self.pgbisync)?);
        Some(match self.target {
            Target::Throughput(_) => r.as_secs_f64() / p.as_secs_f64(),
            Target::Times(_) | Target::Millis(_) | Target::Shown => p.as_secs_f64() / r.as_secs_f64(),
        })
    }

    /// Whether the target is met; `None` without one.
    fn met(&self) -> Option<bool> {
        Some(match (self.target, self.ratio()) {
            (Target::Shown, _) => return None,
            (Target::Throughput(t), Some(r)) => r >= t,
            (Target::Times(t), Some(r)) => r <= t,
            (Target::Millis(t), _) => median(&self.pgbisync).is_some_and(|p| p.as_secs_f64() * 1000.0 <= t),
            _ => false,
        })
    }

    fn target_text(&self) -> String {
        match self.target {
            Target::Throughput(t) => format!(">= {:.0}% of the reference's throughput", t * 100.0),
            Target::Times(t) => format!("<= {t}x the reference's time"),
            Target::Millis(t) => format!("<= {t} ms"),
            Target::Shown => "-".into(),
        }
    }

    fn ratio_text(&self) -> String {
        match (self.target, self.ratio()) {
            (Target::Throughput(_), Some(r)) => format!("{:.0}%", r * 100.0),
            (Target::Shown, Some(r)) if r < 1.0 => format!("{:.0}x faster", 1.0 / r),
            (_, Some(r)) => format!("{r:.2}x"),
            _ => "-".into(),
        }
    }
}

fn median(v: &[Duration]) -> Option<Duration> {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied()
}

/// `median (min-max)` in seconds, or `-` when there is no reference.
fn spread(v: &[Duration]) -> String {
    match (median(v), v.iter().min(), v.iter().max()) {
        (Some(m), Some(lo), Some(hi)) => {
            format!("{:.3} ({:.3}-{:.3})", m.as_secs_f64(), lo.as_secs_f64(), hi.as_secs_f64())
        }
        _ => "-".into(),
    }
}

fn seconds(v: &[Duration]) -> Vec<f64> {
    v.iter().map(Duration::as_secs_f64).collect()
}

struct Bench {
    servers: Servers,
    rows: u64,
    rounds: usize,
    results: Vec<Measurement>,
}

impl Bench {
    fn record(&mut self, work: String, reference: &'static str, target: Target) -> &mut Measurement {
        self.results.push(Measurement { work, reference, references: Vec::new(), pgbisync: Vec::new(), target });
        self.results.last_mut().unwrap()
    }

    /// Full forward into an emptied cloud table, alternating with the two pipes.
    async fn forward(&mut self) {
        let Servers { d, c, .. } = &self.servers;
        let (mut same, mut fk_less, mut synced) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..self.rounds {
            let f = copy_pipe_into(d, c, "", "jobshead_pipe").await;
            let s = copy_pipe_into(d, c, "", "jobshead").await;
            let c = &self.servers.c;
            c.batch_execute("TRUNCATE jobshead").await.unwrap();
            // Absent before the first round's bootstrap.
            c.batch_execute("DELETE FROM _sync_metadata").await.ok();
            let (p, written) = pass(self, &[Direction::Forward], &["jobshead"], true).await;
            assert_eq!(written, self.rows);
            println!(
                "  forward round {round}: pipe, FK-less copy {:.3}s; pipe, same table {:.3}s; pgbisync {:.3}s",
                f.as_secs_f64(),
                s.as_secs_f64(),
                p.as_secs_f64()
            );
            fk_less.push(f);
            same.push(s);
            synced.push(p);
        }
        let rows = self.rows;
        let m = self.record(format!("full forward, {rows} jobshead rows"), "pipe, same table", Target::Throughput(0.8));
        (m.references, m.pgbisync) = (same, synced.clone());
        let m =
            self.record(format!("full forward, {rows} jobshead rows"), "pipe, FK-less copy", Target::Throughput(0.5));
        (m.references, m.pgbisync) = (fk_less, synced);
    }

    /// The same rows read again in full, unchanged: nothing may be rewritten.
    async fn resync(&mut self) {
        let (mut pipe, mut compared, mut synced) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..self.rounds {
            pipe.push(copy_pipe_into(&self.servers.d, &self.servers.c, "", "jobshead_pipe").await);
            compared.push(stage_and_compare(&self.servers.d, &self.servers.c).await);
            let (p, written) = pass(self, &[Direction::Forward], &["jobshead"], true).await;
            assert_eq!(written, 0, "an unchanged re-sync rewrites no row");
            synced.push(p);
        }
        let work = format!("re-sync, {} unchanged rows (0 written)", self.rows);
        let m = self.record(work.clone(), "pipe, FK-less copy", Target::Times(1.5));
        (m.references, m.pgbisync) = (pipe, synced.clone());
        let m = self.record(work, "pipe into staging + one hashed comparison", Target::Times(1.0));
        (m.references, m.pgbisync) = (compared, synced);
    }

    /// Every table, both directions, nothing changed since the last run.
    async fn empty_run(&mut self) {
        let both = [Direction::Forward, Direction::Reverse];
        let d = &self.servers.d;
        d.batch_execute("CREATE INDEX IF NOT EXISTS jobshead_updated_at ON jobshead (updated_at)").await.unwrap();
        // The shipped cloud schema has it too: reverse's probe of the 1M-row cloud table uses it.
        let c = &self.servers.c;
        c.batch_execute("CREATE INDEX IF NOT EXISTS jobshead_updated_at ON jobshead (updated_at); ANALYZE jobshead")
            .await
            .unwrap();
        // Nothing may have changed: a session that wrote less than 11 s ago may hold changes its
        // server has not counted yet, so no run trusts the change counters while one does (see
        // runtime/src/engine/counters.rs), and rows written within the lookback (the 1M rows the
        // forward rounds wrote in the cloud) are read again by reverse's probe. The bench waits
        // both out, as a run in a quiet hour finds them; the small variant, which times nothing,
        // does not wait.
        if self.rounds > 1 {
            let lookback = self.servers.program.manifest.lookback_seconds as u64;
            tokio::time::sleep(Duration::from_secs(lookback.max(11) + 1)).await;
        }
        pass(self, &both, &[], false).await;
        let mut synced = Vec::new();
        for _ in 0..self.rounds {
            let (p, written) = pass(self, &both, &[], false).await;
            assert_eq!(written, 0, "nothing changed");
            synced.push(p);
        }
        let m = self.record(
            format!("incremental run, nothing changed, 24 table-directions ({} jobs)", self.rows),
            "",
            Target::Millis(50.0),
        );
        m.pgbisync = synced;
    }

    /// Mobile-born rows come back to a desktop table with no key and no index (as the legacy
    /// tables), against the pipe of the same rows.
    async fn reverse(&mut self) {
        let mobile = (self.rows / 4).max(1) as i64;
        let Servers { d, c, .. } = &self.servers;
        c.execute(
            &format!(
                "INSERT INTO jobshead ({COLUMNS}, source) SELECT 1, g % 500, 1 + g % 20, 100000000 + g, 2024, \
                 1 + g % 730, DATE '2024-01-01' + (g % 365)::int, NULL, 'M', 'from the phone ' || g, 'site', g % 600, \
                 NULL, NULL, 'O', 'M' FROM generate_series(1, $1::bigint) g"
            ),
            &[&mobile],
        )
        .await
        .unwrap();
        c.batch_execute("ANALYZE jobshead").await.unwrap();
        d.batch_execute("CREATE TABLE jobshead_pipe (LIKE jobshead)").await.unwrap();
        // A first reverse pass creates the reverse metadata and ledger, which each round empties.
        pass(self, &[Direction::Reverse], &["jobshead"], false).await;
        let (mut pipe, mut synced) = (Vec::new(), Vec::new());
        for _ in 0..self.rounds {
            let Servers { d, c, .. } = &self.servers;
            pipe.push(copy_pipe_into(c, d, "WHERE source = 'M'", "jobshead_pipe").await);
            // Vacuumed, as autovacuum leaves them: a unique index still holding the dead entries of
            // the keys the round inserts again visits each one's heap row, which a run bringing new
            // mobile rows never does.
            d.batch_execute(
                "DELETE FROM jobshead WHERE job_id > 100000000; DELETE FROM _reverse_sync_ledger; \
                 DELETE FROM _reverse_sync_metadata",
            )
            .await
            .unwrap();
            d.batch_execute("VACUUM jobshead, _reverse_sync_ledger").await.unwrap();
            let (p, written) = pass(self, &[Direction::Reverse], &["jobshead"], false).await;
            assert_eq!(written, mobile as u64);
            synced.push(p);
        }
        let old = old_reverse_loop(&self.servers, mobile as u64).await;
        let desktop_rows = self.rows + mobile as u64;
        let m = self.record(
            format!("reverse, {mobile} mobile-born rows into a keyless {desktop_rows}-row desktop table"),
            "pipe",
            Target::Times(2.0),
        );
        (m.references, m.pgbisync) = (pipe, synced.clone());
        let m = self.record(
            format!("reverse, {mobile} mobile-born rows, against the old system's loop ({} rows timed, scaled)", old.1),
            "old per-row check, then insert",
            Target::Shown,
        );
        (m.references, m.pgbisync) = (vec![old.0], synced);
    }

    fn print(&self) {
        println!("\n| work | reference | reference s, median (min-max) | pgbisync s, median (min-max) | ratio | target | met |");
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        for m in &self.results {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} |",
                m.work,
                if m.reference.is_empty() { "-" } else { m.reference },
                spread(&m.references),
                spread(&m.pgbisync),
                m.ratio_text(),
                m.target_text(),
                match m.met() {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "-",
                }
            );
        }
        println!("peak resident memory of this process (pgbisync's engine and the pipes): {:.1} MiB", peak_rss_mib());
    }

    fn json(&self) -> serde_json::Value {
        let results: Vec<serde_json::Value> = self
            .results
            .iter()
            .map(|m| {
                serde_json::json!({
                    "work": m.work,
                    "reference": m.reference,
                    "reference_seconds": seconds(&m.references),
                    "pgbisync_seconds": seconds(&m.pgbisync),
                    "ratio": m.ratio(),
                    "target": m.target_text(),
                    "met": m.met(),
                })
            })
            .collect();
        serde_json::json!({
            "rows": self.rows,
            "rounds": self.rounds,
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "peak_rss_mib": peak_rss_mib(),
            "results": results,
        })
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<f64>().unwrap_or(0.0))
        })
        .unwrap_or(0.0)
        / 1024.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; `cargo test` runs the small variant.
    let benching = std::env::args().any(|a| a == "--bench");
    let rows: u64 =
        std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(if benching { 100_000 } else { 2_000 });
    let rounds = if benching { 3 } else { 1 };
    pgbisync_runtime::cli::init_logging(0, true);
    println!(
        "{rows} jobshead rows, {rounds} round(s); desktop Asia/Kolkata -> cloud UTC, two local PostgreSQL servers"
    );
    let sections = ["forward", "resync", "empty", "reverse"];
    let named: Vec<String> = std::env::args().skip(1).filter(|a| sections.contains(&a.as_str())).collect();
    let runs = |section: &str| named.is_empty() || named.iter().any(|n| n == section);
    let servers = Servers::with_jobs(rows).await;
    // The shipped cloud's foreign keys; `LIKE ... INCLUDING ALL` leaves them out of the pipe's copy.
    servers
        .c
        .batch_execute(
            "ALTER TABLE jobshead ADD FOREIGN KEY (org_id) REFERENCES orgmaster (org_id), \
             ADD FOREIGN KEY (loc_id) REFERENCES locmaster (loc_id); \
             CREATE TABLE jobshead_pipe (LIKE jobshead INCLUDING ALL)",
        )
        .await
        .unwrap();
    let mut bench = Bench { servers, rows, rounds, results: Vec::new() };
    if runs("forward") {
        bench.forward().await;
    }
    // Re-sync and the empty run start from a cloud that already holds the jobs.
    if !runs("forward") && (runs("resync") || runs("empty")) {
        pass(&bench, &[Direction::Forward], &["jobshead"], true).await;
    }
    if runs("resync") {
        bench.resync().await;
    }
    if runs("empty") {
        bench.empty_run().await;
    }
    if runs("reverse") {
        bench.reverse().await;
    }
    bench.print();
    let path = std::env::var("PGBISYNC_BENCH_JSON")
        .unwrap_or_else(|_| format!("{}/target/bench-forward.json", env!("CARGO_MANIFEST_DIR")));
    let json = serde_json::to_string_pretty(&bench.json()).unwrap();
    std::fs::write(&path, json).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    println!("written to {path}");
    if named.is_empty() {
        assert_eq!(bench.results.len(), 7, "every measurement ran");
    }
    assert!(bench.results.iter().all(|m| !m.pgbisync.is_empty()));
    // Dropped, the servers stop and their files go.
    drop(bench);
}

//! Throughput of a full forward sync of a jobshead-shaped table, and of a reverse sync of 25,000
//! mobile-born rows into a desktop table without a key, each as a ratio against a plain binary COPY
//! pipe between the same two servers in the same run (these machines are noisy; only the ratios
//! mean something). Run: `cargo bench --bench forward -- [rows]` (default 100000).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, TryStreamExt};
use pgbisync_runtime::{sync, Cluster, Direction, Silent, SyncOptions};
use tokio_postgres::Client;

mod common;
use common::{open, Servers, COLUMNS};

/// The reference: the rows `filter` selects, piped from one server's binary COPY straight into the
/// other server's `jobshead_pipe` (no foreign keys).
async fn copy_pipe(from: &Client, to: &Client, filter: &str) -> Duration {
    copy_pipe_into(from, to, filter, "jobshead_pipe").await
}

/// The same pipe into `table` (emptied first): into the cloud's own `jobshead`, it pays the same
/// foreign-key checks pgbisync's apply pays.
async fn copy_pipe_into(from: &Client, to: &Client, filter: &str, table: &str) -> Duration {
    to.batch_execute(&format!("TRUNCATE {table}")).await.unwrap();
    let started = Instant::now();
    let out = from
        .copy_out(&format!("COPY (SELECT {COLUMNS} FROM jobshead {filter}) TO STDOUT (FORMAT binary)"))
        .await
        .unwrap();
    let sink = to.copy_in(&format!("COPY {table} ({COLUMNS}) FROM STDIN (FORMAT binary)")).await.unwrap();
    futures_util::pin_mut!(out);
    futures_util::pin_mut!(sink);
    // `feed`, not `send`: the sink batches rows into 4 KiB messages, as pgbisync's writer does.
    while let Some(chunk) = out.try_next().await.unwrap() {
        sink.feed(chunk).await.unwrap();
    }
    sink.as_mut().finish().await.unwrap();
    started.elapsed()
}

async fn pgbisync_full(
    program: &pgbisync_runtime::program::Program,
    desktop: &Cluster,
    cloud: &Cluster,
    cloud_client: &Client,
) -> Duration {
    cloud_client.batch_execute("TRUNCATE jobshead").await.unwrap();
    // Absent before the first round's bootstrap.
    cloud_client.batch_execute("DELETE FROM _sync_metadata").await.ok();
    let mut connections = open(desktop, cloud).await;
    let options =
        SyncOptions { full: true, tables: vec!["jobshead".into()], tenant: Some("1".into()), ..SyncOptions::default() };
    let started = Instant::now();
    let reports = sync(program, &mut connections, &[Direction::Forward], &options, &Silent).await.unwrap().directions;
    let elapsed = started.elapsed();
    let r = &reports[0].tables[0];
    assert_eq!(r.error, None);
    assert!(r.rows_written > 0);
    elapsed
}

/// Reverse: 25,000 rows born on mobile come back to a desktop table that has no key and no index
/// on it (as the legacy tables), against a plain binary COPY pipe of the same rows.
async fn reverse(
    program: &pgbisync_runtime::program::Program,
    desktop: &Cluster,
    cloud: &Cluster,
    d: &Client,
    c: &Client,
) {
    const MOBILE: i64 = 25_000;
    c.execute(
        &format!(
            "INSERT INTO jobshead ({COLUMNS}, source) SELECT 1, g % 500, 1 + g % 20, 10000000 + g, 2024, 1 + g % 730, \
             DATE '2024-01-01' + (g % 365)::int, NULL, 'M', 'from the phone ' || g, 'site', g % 600, NULL, NULL, 'O', 'M' \
             FROM generate_series(1, $1::bigint) g"
        ),
        &[&MOBILE],
    )
    .await
    .unwrap();
    d.batch_execute(
        "CREATE TABLE jobshead_pipe (LIKE jobshead); INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'bench'); \
         INSERT INTO locmaster (org_id, loc_id, locname) SELECT 1, g, 'loc ' || g FROM generate_series(1, 20) g",
    )
    .await
    .unwrap();
    let desktop_rows: i64 = d.query_one("SELECT count(*) FROM jobshead", &[]).await.unwrap().get(0);
    println!(
        "reverse sync of {MOBILE} mobile-born jobshead rows into a desktop table of {desktop_rows} rows without a key"
    );
    let (p, s) = rounds("pgbisync reverse", async || {
        let p = copy_pipe(c, d, "WHERE source = 'M'").await;
        d.batch_execute("DELETE FROM jobshead WHERE job_id > 10000000; DROP TABLE IF EXISTS _reverse_sync_metadata")
            .await
            .unwrap();
        let mut connections = open(desktop, cloud).await;
        let options =
            SyncOptions { tables: vec!["jobshead".into()], tenant: Some("1".into()), ..SyncOptions::default() };
        let started = Instant::now();
        let reports =
            sync(program, &mut connections, &[Direction::Reverse], &options, &Silent).await.unwrap().directions;
        let s = started.elapsed();
        assert_eq!(reports[0].tables[0].rows_written, MOBILE as u64);
        (p, s)
    })
    .await;
    println!(
        "median: COPY pipe {:.3}s, pgbisync {:.3}s: {:.1}x the pipe's time (target: at most 2x)",
        p.as_secs_f64(),
        s.as_secs_f64(),
        s.as_secs_f64() / p.as_secs_f64()
    );
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

/// Three rounds of (reference pipe, pgbisync); prints each, returns the medians.
async fn rounds(what: &str, mut round: impl AsyncFnMut() -> (Duration, Duration)) -> (Duration, Duration) {
    let (mut pipe, mut sync) = (Vec::new(), Vec::new());
    for i in 0..3 {
        let (p, s) = round().await;
        println!("  round {i}: plain binary COPY pipe {:>8.3}s   {what} {:>8.3}s", p.as_secs_f64(), s.as_secs_f64());
        pipe.push(p);
        sync.push(s);
    }
    (median(pipe), median(sync))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    pgbisync_runtime::cli::init_logging(0, true);
    let Servers { program, desktop, cloud, d, c } = Servers::with_jobs(rows).await;
    c.batch_execute("CREATE TABLE jobshead_pipe (LIKE jobshead INCLUDING ALL)").await.unwrap();
    println!(
        "full forward sync of {rows} jobshead rows (desktop Asia/Kolkata -> cloud UTC, two local PostgreSQL servers)"
    );

    // Three references per round, alternating with pgbisync: the pipe into an FK-less copy, and the
    // pipe into the cloud's own jobshead (its foreign keys checked row by row, as in a first load).
    let (mut fk_pipe, mut plain_pipe, mut synced) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..3 {
        let p = copy_pipe(&d, &c, "").await;
        let f = copy_pipe_into(&d, &c, "", "jobshead").await;
        let s = pgbisync_full(&program, &desktop, &cloud, &c).await;
        println!(
            "  round {i}: pipe, FK-less copy {:>8.3}s   pipe, same table {:>8.3}s   pgbisync forward --full {:>8.3}s",
            p.as_secs_f64(),
            f.as_secs_f64(),
            s.as_secs_f64()
        );
        plain_pipe.push(p);
        fk_pipe.push(f);
        synced.push(s);
    }
    let (p, f, s) = (median(plain_pipe), median(fk_pipe), median(synced));
    println!(
        "median: pipe into an FK-less copy {:.3}s, pipe into the same table {:.3}s, pgbisync {:.3}s ({:.0} rows/s)",
        p.as_secs_f64(),
        f.as_secs_f64(),
        s.as_secs_f64(),
        rows as f64 / s.as_secs_f64()
    );
    println!(
        "pgbisync throughput = {:.0}% of the pipe into the same table (target >= 80%), {:.0}% of the pipe into an \
         FK-less copy (target >= 50%); pgbisync's time includes the first delete check",
        100.0 * f.as_secs_f64() / s.as_secs_f64(),
        100.0 * p.as_secs_f64() / s.as_secs_f64()
    );

    // Nothing changed since the last run: an incremental pass should cost milliseconds.
    d.batch_execute("CREATE INDEX IF NOT EXISTS jobshead_updated_at ON jobshead (updated_at)").await.unwrap();
    let mut connections = open(&desktop, &cloud).await;
    let options = SyncOptions { tables: vec!["jobshead".into()], tenant: Some("1".into()), ..SyncOptions::default() };
    sync(&program, &mut connections, &[Direction::Forward], &options, &Silent).await.unwrap();
    let started = Instant::now();
    let reports = sync(&program, &mut connections, &[Direction::Forward], &options, &Silent).await.unwrap().directions;
    println!(
        "incremental run with nothing changed: {:.1} ms, {} rows read (the lookback window), {} written",
        started.elapsed().as_secs_f64() * 1000.0,
        reports[0].tables[0].rows_read,
        reports[0].tables[0].rows_written
    );
    drop(connections);
    reverse(&program, &desktop, &cloud, &d, &c).await;
    println!("peak resident memory of this process: {:.1} MiB", peak_rss_mib());
    let _ = desktop.stop();
    let _ = cloud.stop();
}

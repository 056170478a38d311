//! Cost of the delete check on a jobshead-shaped table: a no-change incremental run with and without
//! it, the check against a reference key-only scan of both sides in the same run, and a run where 1%
//! of the desktop's rows were deleted. Run: `cargo bench --bench deletes -- [rows]` (default 100000).

use std::time::{Duration, Instant};

use pgbisync_runtime::{sync, Direction, DirectionReport, Silent, SyncOptions};
use tokio_postgres::Client;

mod common;
use common::{open, Servers};

/// The reference: what listing every key costs, one side after the other.
async fn key_scans(d: &Client, c: &Client) -> Duration {
    let started = Instant::now();
    for (client, filter) in [(d, "org_id = 1"), (c, "org_id = 1 AND source = 'D'")] {
        client
            .query_one(
                &format!("SELECT count(DISTINCT json_build_array(job_id)::text) FROM jobshead WHERE {filter}"),
                &[],
            )
            .await
            .unwrap();
    }
    started.elapsed()
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    pgbisync_runtime::cli::init_logging(0, true);
    let servers = Servers::with_jobs(rows).await;
    let Servers { program, desktop, cloud, d, c } = &servers;
    d.batch_execute("CREATE INDEX jobshead_updated_at ON jobshead (updated_at)").await.unwrap();
    let mut connections = open(desktop, cloud).await;
    let options = SyncOptions { tables: vec!["jobshead".into()], tenant: Some("1".into()), ..SyncOptions::default() };
    let run = async |connections: &mut pgbisync_runtime::Connections| -> DirectionReport {
        sync(program, connections, &[Direction::Forward], &options, &Silent).await.unwrap().directions.remove(0)
    };
    run(&mut connections).await;
    c.batch_execute("VACUUM ANALYZE jobshead").await.unwrap();
    println!("delete check of jobshead, {rows} rows on each side, nothing changed since the last run");

    let (mut sync_ms, mut check_ms, mut scan_ms) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..3 {
        let report = run(&mut connections).await;
        let (table, deletes) = (&report.tables[0], &report.deletes[0]);
        assert_eq!((deletes.gone, deletes.buckets_listed), (0, 0), "{deletes:?}");
        let scan = millis(key_scans(d, c).await);
        println!(
            "  round {i}: incremental sync {:>7} ms, delete check {:>7} ms, reference key scans {scan:>8.1} ms",
            table.millis, deletes.millis
        );
        sync_ms.push(table.millis as f64);
        check_ms.push(deletes.millis as f64);
        scan_ms.push(scan);
    }
    let (sync_ms, check_ms, scan_ms) = (median(sync_ms), median(check_ms), median(scan_ms));
    println!(
        "median: no-change incremental run {sync_ms:.0} ms without the check, {:.0} ms with it; \
         the check is {:.2}x the reference key scans",
        sync_ms + check_ms,
        check_ms / scan_ms
    );

    let gone = (rows / 100) as i64;
    d.execute("DELETE FROM jobshead WHERE job_id % 100 = 0 AND job_id <= $1::bigint", &[&(gone * 100)]).await.unwrap();
    let report = run(&mut connections).await;
    let deletes = &report.deletes[0];
    assert_eq!(deletes.deleted as i64, gone, "{deletes:?}");
    println!(
        "1% deleted on the desktop: {} rows deleted (and kept) in {} ms, {} of 256 buckets listed",
        deletes.deleted, deletes.millis, deletes.buckets_listed
    );
    drop(connections);
}

//! Throughput of a full forward sync of a jobshead-shaped table, as a ratio against a plain binary
//! COPY pipe between the same two servers in the same run (these machines are noisy; only the ratio
//! means something). Run: `cargo bench --bench forward -- [rows]` (default 100000).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, TryStreamExt};
use pgbisync_runtime::cli::{sync_once, SyncOptions};
use pgbisync_runtime::cluster::{Cluster, ClusterOptions};
use pgbisync_runtime::config::ConnectionUrl;
use pgbisync_runtime::engine::Connections;
use pgbisync_runtime::spec::{Direction, Side};
use tokio_postgres::{Client, NoTls};

const COLUMNS: &str =
    "org_id, con_id, loc_id, job_id, year_id, client_id, jobdate, targetdate, job_nature, work_desc, \
                       worklocation, act_man_min, drivefolderpath, drivefolderkey, job_status";

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

/// The reference: rows piped from one server's binary COPY straight into the other's.
async fn copy_pipe(desktop: &Client, cloud: &Client) -> Duration {
    cloud.batch_execute("TRUNCATE jobshead_pipe").await.unwrap();
    let started = Instant::now();
    let out =
        desktop.copy_out(&format!("COPY (SELECT {COLUMNS} FROM jobshead) TO STDOUT (FORMAT binary)")).await.unwrap();
    let sink = cloud.copy_in(&format!("COPY jobshead_pipe ({COLUMNS}) FROM STDIN (FORMAT binary)")).await.unwrap();
    futures_util::pin_mut!(out);
    futures_util::pin_mut!(sink);
    // `feed`, not `send`: the sink batches rows into 4 KiB messages, as pgbisync's writer does.
    while let Some(chunk) = out.try_next().await.unwrap() {
        sink.feed(chunk).await.unwrap();
    }
    sink.as_mut().finish().await.unwrap();
    started.elapsed()
}

async fn open(desktop: &Cluster, cloud: &Cluster) -> Connections {
    Connections::open(
        ConnectionUrl::new(Side::Desktop, desktop.url("postgres")),
        ConnectionUrl::new(Side::Cloud, cloud.url("postgres")),
    )
    .await
    .unwrap()
}

async fn pgbisync_full(
    program: &pgbisync_runtime::program::Program,
    desktop: &Cluster,
    cloud: &Cluster,
    cloud_client: &Client,
) -> Duration {
    cloud_client.batch_execute("TRUNCATE jobshead; DELETE FROM _sync_metadata").await.ok();
    let mut connections = open(desktop, cloud).await;
    let options =
        SyncOptions { full: true, tables: vec!["jobshead".into()], tenant: Some("1".into()), ..SyncOptions::default() };
    let started = Instant::now();
    let (_, reports) =
        sync_once(program, &mut connections, &[Direction::Forward], &options, false, true).await.unwrap();
    let elapsed = started.elapsed();
    let r = &reports[0].tables[0];
    assert_eq!(r.error, None);
    assert!(r.rows_written > 0);
    elapsed
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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    pgbisync_runtime::cli::init_logging(0, true);
    let program = pgbisync_generated::program();
    let start = |name: &'static str, tz: &'static str| {
        tokio::task::spawn_blocking(move || Cluster::start(ClusterOptions::new(name, tz)))
    };
    let (desktop, cloud) = tokio::join!(start("desktop", "Asia/Kolkata"), start("cloud", "UTC"));
    let (desktop, cloud) = (desktop.unwrap().unwrap(), cloud.unwrap().unwrap());
    let (d, c) = (connect(&desktop.url("postgres")).await, connect(&cloud.url("postgres")).await);
    pgbisync_runtime::sample::create_schema(&program, &d, &c).await.unwrap();
    c.batch_execute(
        "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'bench'); \
                     CREATE TABLE jobshead_pipe (LIKE jobshead INCLUDING ALL)",
    )
    .await
    .unwrap();
    c.batch_execute(
        "INSERT INTO locmaster (org_id, loc_id, locname) SELECT 1, g, 'loc ' || g FROM generate_series(1, 20) g",
    )
    .await
    .unwrap();
    d.execute(
        &format!(
            "INSERT INTO jobshead ({COLUMNS}, jctincharge, updated_at) SELECT 1, g % 500, 1 + g % 20, g, 2024, 1 + g % 730, \
             DATE '2024-01-01' + (g % 365)::int, DATE '2024-06-01' + (g % 365)::int, 'A', 'work description ' || g, 'office', g % 600, \
             '/drive/folder/' || g, 'key-' || md5(g::text), 'O', 'staff', \
             now() - interval '1 day' FROM generate_series(1, $1::bigint) g"
        ),
        &[&(rows as i64)],
    )
    .await
    .unwrap();
    d.batch_execute("ANALYZE jobshead").await.unwrap();
    println!(
        "full forward sync of {rows} jobshead rows (desktop Asia/Kolkata -> cloud UTC, two local PostgreSQL servers)"
    );

    let (mut pipe, mut sync) = (Vec::new(), Vec::new());
    for round in 0..3 {
        let p = copy_pipe(&d, &c).await;
        let s = pgbisync_full(&program, &desktop, &cloud, &c).await;
        println!(
            "  round {round}: plain binary COPY pipe {:>8.3}s   pgbisync forward --full {:>8.3}s",
            p.as_secs_f64(),
            s.as_secs_f64()
        );
        pipe.push(p);
        sync.push(s);
    }
    let (p, s) = (median(pipe), median(sync));
    println!(
        "median: COPY pipe {:.3}s ({:.0} rows/s), pgbisync {:.3}s ({:.0} rows/s)",
        p.as_secs_f64(),
        rows as f64 / p.as_secs_f64(),
        s.as_secs_f64(),
        rows as f64 / s.as_secs_f64()
    );
    println!(
        "pgbisync throughput = {:.0}% of the COPY pipe (target: >= 70%)",
        100.0 * p.as_secs_f64() / s.as_secs_f64()
    );

    // Nothing changed since the last run: an incremental pass should cost milliseconds.
    d.batch_execute("CREATE INDEX IF NOT EXISTS jobshead_updated_at ON jobshead (updated_at)").await.unwrap();
    let mut connections = open(&desktop, &cloud).await;
    let options = SyncOptions { tables: vec!["jobshead".into()], tenant: Some("1".into()), ..SyncOptions::default() };
    sync_once(&program, &mut connections, &[Direction::Forward], &options, false, true).await.unwrap();
    let started = Instant::now();
    let (_, reports) =
        sync_once(&program, &mut connections, &[Direction::Forward], &options, false, true).await.unwrap();
    println!(
        "incremental run with nothing changed: {:.1} ms, {} rows read (the lookback window), {} written",
        started.elapsed().as_secs_f64() * 1000.0,
        reports[0].tables[0].rows_read,
        reports[0].tables[0].rows_written
    );
    println!("peak resident memory of this process: {:.1} MiB", peak_rss_mib());
    drop(connections);
    let _ = desktop.stop();
    let _ = cloud.stop();
}

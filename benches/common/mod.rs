//! What the benches share: two throwaway servers shaped like a deployment, with `rows` desktop jobs.

#![allow(dead_code)]

use pgbisync_runtime::program::Program;
use pgbisync_runtime::{Cluster, ClusterOptions, ConnectionUrl, Connections, Side};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, TryStreamExt};
use tokio_postgres::{Client, NoTls};

/// The shared jobshead columns, in manifest order.
pub const COLUMNS: &str = "org_id, con_id, loc_id, job_id, year_id, client_id, jobdate, targetdate, job_nature, \
                           work_desc, worklocation, act_man_min, drivefolderpath, drivefolderkey, job_status";

pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

/// Streams `select`'s rows as binary COPY from one server into `into` (`table (columns)`) on the
/// other: the fastest any tool could move them. Its time.
pub async fn copy_pipe(from: &Client, to: &Client, select: &str, into: &str) -> Duration {
    let started = Instant::now();
    let out = from.copy_out(&format!("COPY ({select}) TO STDOUT (FORMAT binary)")).await.unwrap();
    let sink = to.copy_in(&format!("COPY {into} FROM STDIN (FORMAT binary)")).await.unwrap();
    futures_util::pin_mut!(out);
    futures_util::pin_mut!(sink);
    // `feed`, not `send`: the sink batches rows into 4 KiB messages, as pgbisync's writer does.
    while let Some(chunk) = out.try_next().await.unwrap() {
        sink.feed(chunk).await.unwrap();
    }
    sink.as_mut().finish().await.unwrap();
    started.elapsed()
}

pub async fn open(desktop: &Cluster, cloud: &Cluster) -> Connections {
    Connections::open(
        ConnectionUrl::new(Side::Desktop, desktop.url("postgres")),
        ConnectionUrl::new(Side::Cloud, cloud.url("postgres")),
    )
    .await
    .unwrap()
}

pub struct Servers {
    pub program: Program,
    pub desktop: Cluster,
    pub cloud: Cluster,
    pub d: Client,
    pub c: Client,
}

/// `PGBISYNC_BENCH_LOG_STATEMENTS=MS`: both servers log every statement that takes MS
/// milliseconds or more, with its duration (`log_min_duration_statement`), to profile a bench; the
/// logs are copied to `target/bench-<server>.log` when the bench ends.
const LOG_STATEMENTS: &str = "PGBISYNC_BENCH_LOG_STATEMENTS";

/// Two throwaway servers, desktop and cloud, with fsync on, and a client of each's `postgres` database.
pub async fn start_servers() -> (Cluster, Cluster, Client, Client) {
    let start = |name: &'static str, tz: &'static str| {
        let mut options = ClusterOptions::new(name, tz);
        // Durable, as a deployment runs: the throwaway servers of the tests skip the flushes.
        for setting in ["fsync", "synchronous_commit", "full_page_writes"] {
            options.extra_settings.push((setting.into(), "on".into()));
        }
        if let Ok(ms) = std::env::var(LOG_STATEMENTS) {
            options.extra_settings.push(("log_min_duration_statement".into(), ms));
        }
        tokio::task::spawn_blocking(move || Cluster::start(options))
    };
    let (desktop, cloud) = tokio::join!(start("desktop", "Asia/Kolkata"), start("cloud", "UTC"));
    let (desktop, cloud) = (desktop.unwrap().unwrap(), cloud.unwrap().unwrap());
    let (d, c) = (connect(&desktop.url("postgres")).await, connect(&cloud.url("postgres")).await);
    (desktop, cloud, d, c)
}

/// Keeps the servers' statement logs, when asked for, before the servers and their files go.
impl Drop for Servers {
    fn drop(&mut self) {
        if std::env::var_os(LOG_STATEMENTS).is_none() {
            return;
        }
        for cluster in [&self.desktop, &self.cloud] {
            let kept =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/bench-{}.log", cluster.name()));
            match std::fs::copy(cluster.log_file(), &kept) {
                Ok(_) => eprintln!("{} server's statement log: {}", cluster.name(), kept.display()),
                Err(e) => eprintln!("could not keep the {} server's log: {e}", cluster.name()),
            }
        }
    }
}

impl Servers {
    /// Both servers with the manifest's tables, firm 1 and 20 locations on both sides, and `rows`
    /// jobs of firm 1 on the desktop, changed a day ago.
    pub async fn with_jobs(rows: u64) -> Servers {
        let program = pgbisync_generated::program();
        let (desktop, cloud, d, c) = start_servers().await;
        pgbisync_runtime::demo::sample::create_schema(&program, &d, &c).await.unwrap();
        // The firm and its locations on both sides, as a deployment that has synced its masters.
        for client in [&d, &c] {
            client
                .batch_execute(
                    "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'bench'); \
                     INSERT INTO locmaster (org_id, loc_id, locname) \
                     SELECT 1, g, 'loc ' || g FROM generate_series(1, 20) g",
                )
                .await
                .unwrap();
        }
        d.execute(
            &format!(
                "INSERT INTO jobshead ({COLUMNS}, jctincharge, updated_at) SELECT 1, g % 500, 1 + g % 20, g, 2024, \
                 1 + g % 730, DATE '2024-01-01' + (g % 365)::int, DATE '2024-06-01' + (g % 365)::int, 'A', \
                 'work description ' || g, 'office', g % 600, '/drive/folder/' || g, 'key-' || md5(g::text), 'O', \
                 'staff', now() - interval '1 day' FROM generate_series(1, $1::bigint) g"
            ),
            &[&(rows as i64)],
        )
        .await
        .unwrap();
        d.batch_execute("ANALYZE jobshead").await.unwrap();
        Servers { program, desktop, cloud, d, c }
    }
}

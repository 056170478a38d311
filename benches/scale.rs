//! One firm at 100x the field's size: JOBS jobshead rows and twice as many jobtasks and
//! taskchecklist rows (the default, 2,450,000 jobs, makes 2.45M, 4.9M and 4.9M). The first sync
//! of the three tables, each against a binary COPY pipe of the same rows into an FK-less copy on
//! the cloud, measured just before in the same run; then an incremental day in which 1% of each
//! table's rows changed on the desktop.
//!
//! `jobtasks` and `taskchecklist` are `mode: full` (the legacy tables have no timestamp; their cloud
//! key is generated), so the day reads them whole and replaces only what changed; `jobshead` is
//! incremental. The bench checks what must hold (every row in the cloud after the first sync, the
//! changed rows and only they rewritten after the day), not the timings.
//!
//! Run: `cargo bench --bench scale -- [jobs]`. Prints a table and writes it as JSON to
//! `target/bench-scale.json` (`PGBISYNC_BENCH_JSON` to choose). Run by `cargo test` (no `--bench`
//! argument), it is the small variant CI runs: 2,000 jobs.

use std::time::{Duration, Instant};

use pgbisync_runtime::{sync, Direction, Silent, SyncOptions, TableReport};
use tokio_postgres::Client;

mod common;
use common::{copy_pipe, open, Servers};

const TABLES: [&str; 3] = ["jobshead", "jobtasks", "taskchecklist"];

/// Two tasks and two checklist lines for every job on the desktop.
const CHILDREN: [&str; 2] = [
    "INSERT INTO jobtasks (org_id, con_id, loc_id, job_id, year_id, task_id, taskorder, task_desc, \
         jobdet_man_hrs, actual_man_hrs, actual_man_min, checklistlinked, createdby, createddate, task_status) \
     SELECT 1, j % 500, 1 + j % 20, j, 2024, 1 + (2 * j + k) % 9000, k, 'task ' || k, 1.5, '01:30', 90, 'Y', \
         'staff', DATE '2024-01-01' + (j % 365)::int, 0 \
     FROM generate_series(1, $1::bigint) j, generate_series(1, 2) k",
    "INSERT INTO taskchecklist (org_id, con_id, loc_id, job_id, year_id, client_id, task_id, checklistdesc, \
         applicable, formatdoc, completedby, completeddate, comments, checkliststatus) \
     SELECT 1, j % 500, 1 + j % 20, j, 2024, 1 + j % 730, 1 + (2 * j + k) % 9000, 'check ' || k, 'yes', 'pdf', \
         'staff', DATE '2024-02-01' + (j % 365)::int, 'comment on job ' || j, 0 \
     FROM generate_series(1, $1::bigint) j, generate_series(1, 2) k",
];

/// The day's edits: 1% of the jobs, and every task and checklist line of those jobs.
const DAY: &str = "
    UPDATE jobshead SET work_desc = work_desc || ' (revised)', updated_at = now() WHERE job_id % 100 = 0;
    UPDATE jobtasks SET task_status = 1 WHERE job_id % 100 = 0;
    UPDATE taskchecklist SET checkliststatus = 1 WHERE job_id % 100 = 0";

/// The table's columns both sides have, in the desktop's order (what the sync carries).
async fn columns(d: &Client, c: &Client, table: &str) -> String {
    let sql = "SELECT column_name::text FROM information_schema.columns \
               WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position";
    let names = |rows: Vec<tokio_postgres::Row>| rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>();
    let cloud = names(c.query(sql, &[&table]).await.unwrap());
    let shared: Vec<String> = names(d.query(sql, &[&table]).await.unwrap())
        .into_iter()
        .filter(|n| cloud.contains(n))
        .map(|n| format!("\"{n}\""))
        .collect();
    shared.join(", ")
}

/// The desktop table's rows piped as binary COPY into an FK-less, keyless copy on the cloud.
async fn pipe(d: &Client, c: &Client, table: &str) -> Duration {
    let cols = columns(d, c, table).await;
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}_pipe; CREATE TABLE {table}_pipe AS SELECT {cols} FROM {table} WHERE false"
    ))
    .await
    .unwrap();
    let select = format!("SELECT {cols} FROM {table}");
    let elapsed = copy_pipe(d, c, &select, &format!("{table}_pipe ({cols})")).await;
    c.batch_execute(&format!("DROP TABLE {table}_pipe")).await.unwrap();
    elapsed
}

/// One forward pass over the three tables: the whole pass's time and each table's report, with its
/// delete check's time added.
async fn pass(servers: &Servers) -> (Duration, Vec<(TableReport, u128)>) {
    let mut connections = open(&servers.desktop, &servers.cloud).await;
    let options = SyncOptions {
        tables: TABLES.iter().map(|t| t.to_string()).collect(),
        tenant: Some("1".into()),
        ..SyncOptions::default()
    };
    let started = Instant::now();
    let run = sync(&servers.program, &mut connections, &[Direction::Forward], &options, &Silent).await.unwrap();
    let elapsed = started.elapsed();
    let direction = &run.directions[0];
    let tables = direction
        .tables
        .iter()
        .map(|t| {
            assert_eq!(t.error, None, "{}", t.table);
            let deletes = direction.deletes.iter().filter(|x| x.table == t.table).map(|x| x.millis).sum();
            (t.clone(), deletes)
        })
        .collect();
    (elapsed, tables)
}

async fn scalar(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let jobs: i64 =
        std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(if benching { 2_450_000 } else { 2_000 });
    pgbisync_runtime::cli::init_logging(0, true);
    println!("one firm: {jobs} jobs, {} tasks, {} checklist lines; two local PostgreSQL servers", 2 * jobs, 2 * jobs);
    let loading = Instant::now();
    let servers = Servers::with_jobs(jobs as u64).await;
    let Servers { d, c, .. } = &servers;
    for insert in CHILDREN {
        d.execute(insert, &[&jobs]).await.unwrap_or_else(|e| panic!("{}", pgbisync_runtime::describe(&e)));
    }
    d.batch_execute("CREATE INDEX ON jobshead (updated_at); ANALYZE").await.unwrap();
    println!("  loaded the desktop in {:.1}s", loading.elapsed().as_secs_f64());

    let mut pipes = Vec::new();
    for table in TABLES {
        pipes.push(pipe(d, c, table).await);
    }
    let (first_total, first) = pass(&servers).await;
    for table in TABLES {
        let expected = if table == "jobshead" { jobs } else { 2 * jobs };
        let n = scalar(c, &format!("SELECT count(*) FROM {table} WHERE org_id = 1")).await;
        assert_eq!(n, expected, "{table}: every row in the cloud after the first sync");
    }

    d.batch_execute(DAY).await.unwrap();
    let (day_total, day) = pass(&servers).await;
    let changed_jobs = jobs / 100;
    assert_eq!(day[TABLES.iter().position(|t| *t == "jobshead").unwrap()].0.rows_written, changed_jobs as u64);
    for (table, column) in [("jobtasks", "task_status"), ("taskchecklist", "checkliststatus")] {
        let n = scalar(c, &format!("SELECT count(*) FROM {table} WHERE org_id = 1 AND {column} = 1")).await;
        assert_eq!(n, 2 * changed_jobs, "{table}: the day's edits, and only they, in the cloud");
        let all = scalar(c, &format!("SELECT count(*) FROM {table} WHERE org_id = 1")).await;
        assert_eq!(all, 2 * jobs, "{table}: nothing lost or doubled by the day");
    }

    println!();
    println!("| work | table | rows | pipe into an FK-less copy, s | pgbisync s (its delete check) | ratio |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut json = Vec::new();
    for ((report, deletes), pipe) in first.iter().zip(&pipes) {
        let p = report.millis as f64 / 1000.0 + *deletes as f64 / 1000.0;
        println!(
            "| first sync | {} | {} | {:.2} | {:.2} ({:.2}) | {:.1}x |",
            report.table,
            report.rows_read,
            secs(*pipe),
            p,
            *deletes as f64 / 1000.0,
            p / secs(*pipe)
        );
        json.push(serde_json::json!({"work": "first sync", "table": report.table, "rows": report.rows_read,
            "pipe_s": secs(*pipe), "pgbisync_s": p, "delete_check_s": *deletes as f64 / 1000.0}));
    }
    println!(
        "| first sync, the pass | all three | | {:.2} | {:.2} | {:.1}x |",
        pipes.iter().map(|p| secs(*p)).sum::<f64>(),
        secs(first_total),
        secs(first_total) / pipes.iter().map(|p| secs(*p)).sum::<f64>()
    );
    for (report, deletes) in &day {
        let p = report.millis as f64 / 1000.0 + *deletes as f64 / 1000.0;
        println!(
            "| day, 1% changed | {} | {} read, {} written | - | {:.2} ({:.2}) | - |",
            report.table,
            report.rows_read,
            report.rows_written,
            p,
            *deletes as f64 / 1000.0
        );
        json.push(serde_json::json!({"work": "incremental day", "table": report.table, "rows_read": report.rows_read,
            "rows_written": report.rows_written, "pgbisync_s": p, "delete_check_s": *deletes as f64 / 1000.0}));
    }
    println!("| day, the pass | all three | | - | {:.2} | - |", secs(day_total));
    let json = serde_json::json!({
        "jobs": jobs,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "first_sync_s": secs(first_total),
        "day_s": secs(day_total),
        "results": json,
    });
    let path = std::env::var("PGBISYNC_BENCH_JSON")
        .unwrap_or_else(|_| format!("{}/target/bench-scale.json", env!("CARGO_MANIFEST_DIR")));
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap_or_else(|e| panic!("{path}: {e}"));
    println!("written to {path}");
    // Dropped, the servers stop and their files go.
    drop(servers);
}

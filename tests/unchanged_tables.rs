//! A table nothing changed in costs a probe, not a read: an incremental table asks whether any row
//! passed its watermark, a `mode: full` table reads its source's change counters. Every change
//! still gets through: made by a session still connected, by one that has just left, or found by
//! a `--full` run, which trusts no proof.

mod support;

use pgbisync_runtime::{Direction, SyncOptions, TableReport};
use support::*;
use tokio_postgres::Client;

async fn exec(client: &Client, sql: &str) {
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {}", pgbisync_runtime::describe(&e)));
}

async fn forward(pair: &Pair, full: bool) -> Vec<TableReport> {
    flatten(pair.sync(&[Direction::Forward], SyncOptions { full, ..SyncOptions::default() }).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_tables_are_not_read_and_every_change_still_arrives() {
    // No lookback: the sample's rows were all just written, and would be read again within it.
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let pair = pair.with_lookback(0);
    let first = forward(&pair, false).await;
    let taskmaster_rows = report(&first, "taskmaster").rows_read;
    assert!(taskmaster_rows > 0);

    // Nothing changed: the clean tables read nothing, full ones and incremental ones alike; a table
    // that set rows aside reads them again (their parents may have arrived since).
    let second = forward(&pair, false).await;
    for table in ["taskmaster", "jobtasks", "taskchecklist", "mbjobreviewnotes", "learequest"] {
        let r = report(&second, table);
        assert_eq!((r.rows_read, r.rows_written, r.status), (0, 0, pgbisync_runtime::Status::Ok), "{r:#?}");
    }
    assert_eq!(report(&second, "taskmaster").mode, "full");
    assert!(report(&second, "climaster").rows_read > 0, "climaster set rows aside: {second:#?}");

    // A row added by a session still connected, which may not have counted it yet.
    let desktop = pair.desktop_client().await;
    exec(&desktop, "INSERT INTO taskmaster (org_id, task_id, task_desc) VALUES (1, 9000001, 'new task')").await;
    let third = forward(&pair, false).await;
    assert_eq!(report(&third, "taskmaster").rows_written, 1, "{third:#?}");
    drop(desktop);

    // A row changed by a session that left at once, as `psql -c` does.
    exec(&pair.desktop_client().await, "UPDATE taskmaster SET task_desc = 'renamed' WHERE task_id = 9000001").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let fourth = forward(&pair, false).await;
    assert_eq!(report(&fourth, "taskmaster").rows_written, 1, "{fourth:#?}");
    let cloud = pair.cloud_client().await;
    let desc: String = scalar(&cloud, "SELECT task_desc::text FROM taskmaster WHERE task_id = 9000001").await;
    assert_eq!(desc, "renamed");

    // Quiet again: not read, even after another firm's rows changed in the cloud's table.
    exec(&cloud, "INSERT INTO taskmaster (org_id, task_id, task_desc, source) VALUES (2, 9000002, 'theirs', 'D')")
        .await;
    assert_eq!(report(&forward(&pair, false).await, "taskmaster").rows_read, 0);

    // A row someone removed from the cloud's copy is put back by the next full read, which a
    // --full run forces (and a day at most does).
    exec(&cloud, "DELETE FROM taskmaster WHERE task_id = 9000001").await;
    let full = forward(&pair, true).await;
    assert_eq!(report(&full, "taskmaster").rows_read, taskmaster_rows + 1);
    assert_eq!(report(&full, "taskmaster").rows_written, 1);
}

type Runs = std::collections::BTreeMap<String, (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>;

/// Each table's (last run, watermark) in a metadata table.
async fn runs(client: &Client, metadata: &str) -> Runs {
    let sql = format!("SELECT table_name::text, last_run_at, last_sync_timestamp FROM {metadata}");
    let rows = client.query(&sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {}", pgbisync_runtime::describe(&e)));
    rows.iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect()
}

fn moved_on(before: &Runs, after: &Runs) {
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>());
    for (table, (run, watermark)) in before {
        let (run_after, watermark_after) = after[table];
        assert!(run_after > *run && watermark_after >= *watermark, "{table}: {before:?} then {after:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_run_records_every_table_both_ways_and_a_change_among_them_still_syncs() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let pair = pair.with_lookback(0);
    let both = || async { flatten(pair.sync(&Direction::BOTH, SyncOptions::default()).await) };
    let first = both().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    let (forward_runs, reverse_runs) =
        (runs(&cloud, "_sync_metadata").await, runs(&desktop, "_reverse_sync_metadata").await);
    let tables = |d| first.iter().filter(|r| r.direction == d).count();
    assert_eq!((forward_runs.len(), reverse_runs.len()), (tables(Direction::Forward), tables(Direction::Reverse)));

    let quiet = both().await;
    assert_eq!(quiet.len(), first.len());
    for r in &quiet {
        assert!(r.rows_written == 0 && r.status != pgbisync_runtime::Status::Failed, "{r:#?}");
    }
    // Each table's run is recorded, its watermark moved on, as when asked one at a time.
    let (forward_after, reverse_after) =
        (runs(&cloud, "_sync_metadata").await, runs(&desktop, "_reverse_sync_metadata").await);
    moved_on(&forward_runs, &forward_after);
    moved_on(&reverse_runs, &reverse_after);

    // One change each way among tables otherwise quiet.
    exec(&desktop, "INSERT INTO taskmaster (org_id, task_id, task_desc) VALUES (1, 9000003, 'new task')").await;
    exec(&cloud, &format!("INSERT INTO learequest (learequest_id, org_id, staff_id, leaveremarks, source) VALUES (90001, {TENANT}, 1, 'from the phone', 'M')")).await;
    let changed = both().await;
    let written = |table: &str, direction| {
        changed.iter().filter(|r| r.table == table && r.direction == direction).map(|r| r.rows_written).sum::<u64>()
    };
    assert_eq!(written("taskmaster", Direction::Forward), 1, "{changed:#?}");
    assert_eq!(written("learequest", Direction::Reverse), 1, "{changed:#?}");
    let others: u64 = changed.iter().map(|r| r.rows_written).sum::<u64>() - 2;
    assert_eq!(others, 0, "{changed:#?}");
    assert_eq!(count(&desktop, "learequest WHERE learequest_id = 90001").await, 1);
    assert_eq!(count(&cloud, "taskmaster WHERE task_id = 9000003").await, 1);
}

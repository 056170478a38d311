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

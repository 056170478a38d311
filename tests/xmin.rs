//! `track: xmin`: a table without a usable timestamp (`jobmaster`) syncs incrementally by the id of
//! the transaction that wrote each row, needing no trigger, extension, superuser or wal_level.

mod support;

use support::*;
use tokio_postgres::Client;

async fn exec(client: &Client, sql: &str) {
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {}", pgbisync_runtime::describe(&e)));
}

async fn jobmaster(pair: &Pair) -> pgbisync_runtime::TableReport {
    let reports = pair.forward_tables(&["jobmaster"]).await;
    let r = report(&reports, "jobmaster").clone();
    assert_eq!(r.error, None, "{r:#?}");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobmaster_syncs_incrementally_by_transaction_id_and_sees_an_update_no_timestamp_marked() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    let first = jobmaster(&pair).await;
    assert_eq!(first.mode, "full", "the first run has no watermark");
    assert!(first.rows_written > 0);

    let second = jobmaster(&pair).await;
    assert_eq!((second.mode, second.rows_read, second.rows_written), ("incremental", 0, 0), "{second:#?}");

    // The legacy application updates a row; nothing stamps a time on it.
    let job: i64 = scalar(&desktop, "SELECT min(job_id)::bigint FROM jobmaster").await;
    exec(&desktop, &format!("UPDATE jobmaster SET jobdesc = 'renamed on the desktop' WHERE job_id = {job}")).await;
    exec(&desktop, "INSERT INTO jobmaster (org_id, job_id, jobdesc) VALUES (1, 777001, 'new job')").await;
    let third = jobmaster(&pair).await;
    // Every desktop row of a changed key is read (the desktop holds duplicate keys; newest wins).
    let rows_of_changed_keys = count(&desktop, &format!("jobmaster WHERE job_id IN ({job}, 777001)")).await as u64;
    assert_eq!(
        (third.mode, third.rows_read, third.rows_written),
        ("incremental", rows_of_changed_keys, 2),
        "{third:#?}"
    );
    let desc: String = scalar(&cloud, &format!("SELECT jobdesc FROM jobmaster WHERE job_id = {job}")).await;
    assert_eq!(desc, "renamed on the desktop");
    assert_eq!(count(&cloud, "jobmaster WHERE job_id = 777001").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watermark_too_far_behind_to_compare_reads_in_full_and_reset_forgets_it() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let cloud = pair.cloud_client().await;
    jobmaster(&pair).await;
    // More than 2^31 transactions ago: a 32-bit xmin can no longer be placed before or after it.
    exec(&cloud, "UPDATE _sync_metadata SET last_sync_xid = last_sync_xid - 3000000000 WHERE table_name = 'jobmaster'")
        .await;
    let r = jobmaster(&pair).await;
    assert_eq!(r.mode, "full", "{r:#?}");
    assert!(r.rows_read > 0);
    assert_eq!(jobmaster(&pair).await.mode, "incremental", "the full pass stored a fresh watermark");

    assert_eq!(pair.cli(&["reset", "--direction", "forward", "jobmaster"]).await, 0);
    let xid: Option<i64> =
        scalar(&cloud, "SELECT last_sync_xid FROM _sync_metadata WHERE table_name = 'jobmaster'").await;
    assert_eq!(xid, None);
    assert_eq!(jobmaster(&pair).await.mode, "full");
}

//! A fresh deployment: no metadata tables anywhere, one `run`, and every table-direction syncs.

mod support;

use pgbisync_runtime::Direction;
use pgbisync_runtime::Status;
use pgbisync_runtime::SyncOptions;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_deployment_creates_both_metadata_tables_and_syncs_all_25_table_directions() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    assert_eq!(count(&cloud, "pg_class WHERE relname = '_sync_metadata'").await, 0);
    assert_eq!(count(&desktop, "pg_class WHERE relname = '_reverse_sync_metadata'").await, 0);

    let reports = flatten(pair.sync(&[Direction::Forward, Direction::Reverse], SyncOptions::default()).await);

    assert_eq!(reports.len(), 25, "16 forward + 9 reverse");
    for r in &reports {
        assert_ne!(r.status, Status::Failed, "{} {} failed: {:?}", r.direction, r.table, r.error);
    }
    assert_eq!(count(&cloud, "_sync_metadata").await, 16);
    assert_eq!(count(&desktop, "_reverse_sync_metadata").await, 9);
    assert_eq!(count(&cloud, "_sync_metadata WHERE status IN ('ok', 'partial') AND last_run_at IS NOT NULL").await, 16);
    assert_eq!(count(&desktop, "_reverse_sync_metadata WHERE status = 'ok' AND last_run_at IS NOT NULL").await, 9);

    // Every forward table's rows arrived (the sample sets a few orphans aside, recorded as rejects).
    for r in reports.iter().filter(|r| r.direction == Direction::Forward) {
        let in_cloud = count(&cloud, &format!("\"{}\" WHERE source = 'D'", r.target)).await as u64;
        assert_eq!(in_cloud, r.rows_written, "{}: cloud rows vs rows written", r.table);
        assert!(r.rows_written > 0, "{} wrote nothing", r.table);
        let recorded = count(&cloud, &format!("_sync_rejects WHERE table_name = '{}'", r.table)).await as u64;
        assert_eq!(recorded, r.rejected, "{}: rejects recorded", r.table);
    }
    // Every reverse table brought the cloud-born rows in scope to the desktop.
    for r in reports.iter().filter(|r| r.direction == Direction::Reverse) {
        assert_eq!(r.rows_written, r.rows_read, "{}: every mobile row read is new on the desktop", r.table);
    }
    let mobile_jobs = count(&desktop, "jobshead WHERE job_id > 100").await;
    assert_eq!(mobile_jobs, 3, "the three mobile-born jobs reached the desktop");
}

//! Transient failures are retried: a connection the server drops in the middle of a table is
//! reopened and the table synced again from the start, losing nothing and duplicating nothing.

mod support;

use pgbisync_runtime::pipeline::Status;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_table_is_reopened_and_the_table_retried() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop
        .batch_execute(
            "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'firm'); \
             INSERT INTO jobshead (org_id, job_id, client_id, work_desc) SELECT 1, g, 7, 'job ' || g FROM generate_series(1, 500) g;",
        )
        .await
        .unwrap();
    // The first row the cloud receives kills the session writing it (once: a sequence is not
    // rolled back), as a server restart or a pooler dropping the connection would.
    cloud
        .batch_execute(
            "CREATE SEQUENCE kill_once; \
             CREATE FUNCTION kill_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF nextval('kill_once') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF; \
               RETURN NEW; END $$; \
             CREATE TRIGGER kill_once BEFORE INSERT ON jobshead FOR EACH ROW EXECUTE FUNCTION kill_once();",
        )
        .await
        .unwrap();

    let reports = pair.forward_tables(&["orgmaster", "jobshead"]).await;

    let jobshead = report(&reports, "jobshead");
    assert_status(jobshead, Status::Ok);
    assert_eq!(jobshead.rows_written, 500);
    assert!(scalar::<i64>(&cloud, "SELECT last_value FROM kill_once").await >= 2, "the first attempt was killed");
    assert_eq!(count(&cloud, "jobshead").await, 500, "every row once, none twice");
    assert_eq!(count(&cloud, "_sync_metadata WHERE table_name = 'jobshead' AND status = 'ok'").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_between_runs_is_reopened_by_the_next_run() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop.batch_execute("INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'firm')").await.unwrap();
    let mut connections = pair.connections().await;
    let options = pgbisync_runtime::cli::SyncOptions {
        tenant: Some(TENANT.into()),
        tables: vec!["orgmaster".into()],
        ..Default::default()
    };
    let both = [pgbisync_runtime::spec::Direction::Forward];
    pgbisync_runtime::cli::sync_once(&pair.program, &mut connections, &both, &options, false, true).await.unwrap();

    // Between two passes of `run --every`, the cloud drops every pgbisync session (a restart, a
    // pooler's idle timeout).
    let killed: i64 = scalar(
        &cloud,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'pgbisync'",
    )
    .await;
    assert!(killed >= 1);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    desktop.batch_execute("UPDATE orgmaster SET orgname = 'renamed'").await.unwrap();

    let (code, reports) =
        pgbisync_runtime::cli::sync_once(&pair.program, &mut connections, &both, &options, false, true).await.unwrap();
    assert_eq!(code, 0, "{reports:?}");
    assert_eq!(scalar::<String>(&cloud, "SELECT orgname FROM orgmaster").await, "renamed");
}

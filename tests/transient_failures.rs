//! Transient failures are retried: a connection the server drops in the middle of a table is
//! reopened and the table synced again from the start, losing nothing and duplicating nothing.

mod support;

use pgbisync_runtime::Status;
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
    let options = pgbisync_runtime::SyncOptions {
        tenant: Some(TENANT.into()),
        tables: vec!["orgmaster".into()],
        ..Default::default()
    };
    let both = [pgbisync_runtime::Direction::Forward];
    sync(&pair.program, &mut connections, &both, &options).await;

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

    let reports = sync(&pair.program, &mut connections, &both, &options).await;
    assert_eq!(exit_code(&reports), 0, "{reports:?}");
    assert_eq!(scalar::<String>(&cloud, "SELECT orgname FROM orgmaster").await, "renamed");
}

/// `run --every` holds the run lock in a session; if the desktop drops that session between
/// passes and another run takes the lock meanwhile, the loop stops instead of running alongside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_every_stops_when_another_run_took_the_lock_it_lost() {
    let pair = Pair::with_schema().await;
    let desktop = pair.desktop_client().await;
    desktop.batch_execute("INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'firm')").await.unwrap();
    let looping = {
        let (program, d, c) = (pair.program, pair.desktop_url(), pair.cloud_url());
        tokio::task::spawn_blocking(move || {
            let args = [
                "pgbisync",
                "--desktop-url",
                &d,
                "--cloud-url",
                &c,
                "-q",
                "run",
                "--every",
                "1s",
                "--table",
                "orgmaster",
            ];
            pgbisync_runtime::cli::main_with_args(&program, args)
        })
    };
    // Wait for the first pass to record its run.
    let cloud = pair.cloud_client().await;
    for _ in 0..100 {
        if count(&cloud, "pg_class WHERE relname = '_sync_metadata'").await == 1
            && count(&cloud, "_sync_metadata WHERE table_name = 'orgmaster' AND last_run_at IS NOT NULL").await == 1
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let killed: i64 = scalar(
        &desktop,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'pgbisync'",
    )
    .await;
    assert!(killed >= 1, "the loop's desktop sessions were found");
    let other = support::connect(&pair.desktop_url()).await;
    let held = pgbisync_runtime::acquire_lock(other).await.unwrap();
    assert!(matches!(held, pgbisync_runtime::Lock::Held(_)), "this test takes the lock the loop lost");

    let code = tokio::time::timeout(std::time::Duration::from_secs(20), looping)
        .await
        .expect("the loop stops on its own")
        .unwrap();
    assert_eq!(code, 3, "the loop stops with the lock's exit code");
    drop(held);
}

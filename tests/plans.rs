//! No statement's cost may depend on the planner's luck: a first load into a cloud table whose
//! statistics say it is empty (analyzed right after a TRUNCATE, as autovacuum does) stays linear.

mod support;

use std::time::{Duration, Instant};

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_load_into_a_target_analyzed_empty_stays_linear() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop
        .batch_execute(
            "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one');
             INSERT INTO jobshead (org_id, job_id, client_id, work_desc)
                 SELECT 1, g, 10, 'job ' || g FROM generate_series(1, 150000) g;
             ANALYZE jobshead",
        )
        .await
        .expect("loading jobs");
    pair.forward_tables(&["orgmaster"]).await;
    // What autovacuum leaves after a restore or a TRUNCATE: statistics that say "empty".
    cloud.batch_execute("TRUNCATE jobshead CASCADE; ANALYZE jobshead").await.expect("emptying the cloud table");
    let started = Instant::now();
    let reports = tokio::time::timeout(Duration::from_secs(120), pair.forward_tables(&["jobshead"]))
        .await
        .expect("a quadratic plan: the first load did not finish within 120 s");
    let r = report(&reports, "jobshead");
    assert_eq!((r.status, r.rows_written), (pgbisync_runtime::Status::Ok, 150_000), "{r:#?}");
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
}

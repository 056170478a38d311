//! The newest-wins dedup is a statement over every staged key; a batch whose keys were seen to be
//! distinct as they streamed skips it. Both halves matter: a batch with a duplicate key must still
//! be deduplicated (the cloud's key would refuse the second row), and a batch of distinct keys,
//! however many messages its rows took, must not pay for the statement.

mod support;

use pgbisync_runtime::{Direction, Status};
use support::*;

/// How many times the cloud ran `statement`, by its log of every statement.
fn times_logged(pair: &Pair, statement: &str) -> usize {
    let first_line = statement.lines().next().expect("a statement");
    let log = std::fs::read_to_string(pair.cloud.log_file()).expect("reading the cloud's log");
    // A logged statement starts after its "execute <name>: "; another statement may embed it.
    let start = format!(": {first_line}");
    log.lines().filter(|line| line.ends_with(&start)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_keys_skip_the_dedup_and_a_duplicate_key_does_not() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    let jobshead = pair.program.tables(Direction::Forward, &["jobshead".to_string()]);
    let dedup = jobshead[0].spec().sql.dedup.expect("jobshead's forward deduplicates");
    cloud.batch_execute("ALTER DATABASE postgres SET log_statement = 'all'").await.expect("logging statements");
    // 5,000 jobs take many 64 KiB messages: the keys are followed across them.
    desktop
        .batch_execute(
            "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one');
             INSERT INTO jobshead (org_id, job_id, client_id, work_desc)
                 SELECT 1, g, 10, 'job ' || g FROM generate_series(1, 5000) g",
        )
        .await
        .expect("loading jobs");
    pair.forward_tables(&["orgmaster"]).await;
    let before = times_logged(&pair, dedup);
    let reports = pair.forward_tables(&["jobshead"]).await;
    let r = report(&reports, "jobshead");
    assert_eq!((r.status, r.rows_written), (Status::Ok, 5_000), "{r:#?}");
    assert_eq!(times_logged(&pair, dedup), before, "distinct keys ran the dedup:\n{dedup}");

    // The legacy desktop's duplicate: the same job twice, the later write wins.
    for write in [
        "UPDATE jobshead SET work_desc = 'older' WHERE job_id = 4321",
        "INSERT INTO jobshead (org_id, job_id, client_id, work_desc) VALUES (1, 4321, 10, 'newer')",
    ] {
        desktop.batch_execute(write).await.expect("duplicating a job");
    }
    let reports = pair.forward_tables(&["jobshead"]).await;
    assert_status(report(&reports, "jobshead"), Status::Ok);
    assert_eq!(times_logged(&pair, dedup), before + 1, "a duplicate key went without the dedup");
    let kept: String = scalar(&cloud, "SELECT work_desc FROM jobshead WHERE job_id = 4321").await;
    assert_eq!(kept, "newer");
}

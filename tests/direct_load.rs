//! A first load into a cloud table holding none of the firm's rows is copied straight into it, not
//! staged; whatever staging would have set aside (an orphan, a key another firm holds, a duplicate
//! key) undoes that copy, and the batch is staged as before: the same rows arrive, the same rows
//! are set aside with the same reasons, and another firm's rows are never touched.

mod support;

use std::time::Duration;

use pgbisync_runtime::{Direction, Status, SyncOptions, TableReport};
use support::*;
use tokio_postgres::Client;

/// Everything a jobshead row on the cloud holds that a sync writes, one text per row, in key order.
const JOBS: &str = "SELECT string_agg(ROW(org_id, con_id, loc_id, job_id, year_id, client_id, jobdate, targetdate, \
     job_nature, work_desc, worklocation, act_man_min, drivefolderpath, drivefolderkey, job_status)::text, ';' \
     ORDER BY job_id) FROM jobshead";

async fn exec(client: &Client, sql: &str) {
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Firm 1's masters and `jobs` jobs on the desktop (numbered from 1, at location 1).
async fn firm_with_jobs(desktop: &Client, jobs: u32) {
    exec(
        desktop,
        &format!(
            "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one');
             INSERT INTO locmaster (org_id, loc_id, locname) VALUES (1, 1, 'Chennai');
             INSERT INTO jobshead (org_id, loc_id, job_id, client_id, work_desc, jobdate, job_status, updated_at)
                 SELECT 1, 1, g, g % 97, 'job ' || g, DATE '2024-01-01' + g % 400, 'O', now() - interval '1 day'
                 FROM generate_series(1, {jobs}) g"
        ),
    )
    .await;
}

async fn sync_jobs(pair: &Pair) -> TableReport {
    let reports = pair.forward_tables(&["orgmaster", "locmaster", "jobshead"]).await;
    report(&reports, "jobshead").clone()
}

/// The shipped cloud's foreign keys from jobshead to its parents.
const FOREIGN_KEYS: &str = "ALTER TABLE jobshead ADD FOREIGN KEY (org_id) REFERENCES orgmaster (org_id), \
     ADD FOREIGN KEY (loc_id) REFERENCES locmaster (loc_id)";

/// Firm 1's jobs on the cloud that reference no locmaster row.
const ORPHANS: &str =
    "jobshead j WHERE org_id = 1 AND NOT EXISTS (SELECT 1 FROM locmaster l WHERE l.loc_id = j.loc_id)";

/// A full forward pass of jobshead alone, logged in to the cloud at `cloud_url`.
async fn load_jobs_to(pair: &Pair, cloud_url: String) -> TableReport {
    let options = SyncOptions { full: true, tables: vec!["jobshead".into()], ..SyncOptions::default() };
    report(&flatten(pair.sync_to(cloud_url, &[Direction::Forward], options).await), "jobshead").clone()
}

/// How often locmaster's primary key has been searched: a foreign key's trigger searches it once
/// for each row it checks, the engine's own check of a whole load a few times.
async fn parent_lookups(cloud: &Client) -> i64 {
    // A session's counters reach the shared statistics when it ends: wait for the others to. An
    // ending session leaves pg_stat_activity just before it sends its counters, and this session
    // sends its own (the orphan count's lookups) when it next goes idle: so the count is read
    // until it holds still.
    let others = "pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()";
    for _ in 0..100 {
        if count(cloud, others).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    exec(cloud, "SELECT pg_stat_force_next_flush()").await;
    let read = || async {
        exec(cloud, "SELECT pg_stat_clear_snapshot()").await;
        scalar::<i64>(cloud, "SELECT idx_scan FROM pg_stat_user_tables WHERE relname = 'locmaster'").await
    };
    let mut last = read().await;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = read().await;
        if now == last {
            break;
        }
        last = now;
    }
    last
}

/// Another firm's job already on the cloud, with the given key.
async fn other_firms_job(cloud: &Client, job_id: u32) {
    exec(
        cloud,
        &format!(
            "INSERT INTO jobshead (org_id, loc_id, job_id, client_id, work_desc, source) \
             VALUES (2, 5, {job_id}, 3, 'firm two''s job', 'D')"
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_load_is_copied_straight_in_and_the_next_run_applies_changes_as_before() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    firm_with_jobs(&desktop, 3000).await;
    other_firms_job(&cloud, 90_001).await;
    let theirs = "SELECT ROW(jobshead.*)::text FROM jobshead WHERE org_id = 2";
    let before: String = scalar(&cloud, theirs).await;

    let first = sync_jobs(&pair).await;
    assert!(first.direct, "the cloud held none of firm 1's jobs: {first:#?}");
    assert_status(&first, Status::Ok);
    assert_eq!((first.rows_read, first.rows_written, first.rejected), (3000, 3000, 0));
    assert_eq!(
        count(&cloud, "jobshead WHERE org_id = 1 AND source = 'D'").await,
        3000,
        "stamped with the desktop's origin"
    );
    let desktop_jobs: String = scalar(&desktop, JOBS).await;
    let cloud_jobs: String = scalar(&cloud, &format!("{JOBS} WHERE org_id = 1")).await;
    assert_eq!(cloud_jobs, desktop_jobs, "every value arrived as the desktop holds it");
    assert_eq!(scalar::<String>(&cloud, theirs).await, before, "firm 2's job is untouched");
    assert_eq!(pair.cli(&["verify", "--table", "jobshead"]).await, 0, "verify finds the sides equal");

    exec(&desktop, "UPDATE jobshead SET work_desc = 'changed', updated_at = now() WHERE job_id = 7").await;
    let second = sync_jobs(&pair).await;
    assert!(!second.direct, "the cloud now holds firm 1's jobs: {second:#?}");
    assert_eq!(second.rows_written, 1, "{second:#?}");
    assert_eq!(scalar::<String>(&cloud, "SELECT work_desc FROM jobshead WHERE job_id = 7").await, "changed");
}

/// An orphan, with and without a foreign key on the cloud: the cloud refuses the copy, or the check
/// asked after it finds the row. Either way the batch is staged and only the orphan is set aside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphan_undoes_the_straight_copy_and_is_set_aside_with_its_reason() {
    for foreign_key in [false, true] {
        let pair = Pair::with_schema().await;
        let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
        if foreign_key {
            exec(&cloud, "ALTER TABLE jobshead ADD FOREIGN KEY (loc_id) REFERENCES locmaster (loc_id)").await;
        }
        firm_with_jobs(&desktop, 3000).await;
        exec(&desktop, "UPDATE jobshead SET loc_id = 9 WHERE job_id = 2500").await;

        let r = sync_jobs(&pair).await;
        assert!(!r.direct, "foreign key {foreign_key}: {r:#?}");
        assert_status(&r, Status::Partial);
        assert_eq!((r.rows_written, r.rejected), (2999, 1), "foreign key {foreign_key}: {r:#?}");
        let (key, reason) = &r.reject_samples[0];
        assert!(key.contains("2500") && reason.contains("orphan") && reason.contains("locmaster"), "{key}: {reason}");
        assert_eq!(count(&cloud, "jobshead WHERE job_id = 2500").await, 0);
        assert_eq!(count(&cloud, "jobshead").await, 2999);
    }
}

/// The other firm's key makes the cloud refuse the copy partway through its 20,000 rows: the rest
/// of that read is drained, the batch is read again in the same snapshot and staged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_another_firm_holds_undoes_the_straight_copy_mid_stream() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    firm_with_jobs(&desktop, 20_000).await;
    other_firms_job(&cloud, 5000).await;

    let r = sync_jobs(&pair).await;
    assert!(!r.direct, "{r:#?}");
    assert_eq!((r.rows_read, r.rows_written, r.rejected), (20_000, 19_999, 1), "{r:#?}");
    assert!(r.reject_samples[0].1.contains("another tenant"), "{:?}", r.reject_samples);
    assert_eq!(scalar::<String>(&cloud, "SELECT work_desc FROM jobshead WHERE job_id = 5000").await, "firm two's job");
    assert_eq!(count(&cloud, "jobshead WHERE org_id = 1").await, 19_999);
}

/// A key unique on neither side (the legacy desktop has no keys; here the cloud lost its primary
/// key too): only staging's newest-wins dedup can choose, so the batch is staged from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_keys_that_no_index_refuses_are_staged_and_the_newest_wins() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    exec(&cloud, "ALTER TABLE jobshead DROP CONSTRAINT jobshead_pkey").await;
    firm_with_jobs(&desktop, 100).await;
    exec(
        &desktop,
        "INSERT INTO jobshead (org_id, loc_id, job_id, client_id, work_desc, updated_at) \
         VALUES (1, 1, 50, 1, 'the newest copy of job 50', now())",
    )
    .await;

    let r = sync_jobs(&pair).await;
    assert!(!r.direct, "{r:#?}");
    assert_eq!((r.rows_read, r.duplicates_dropped, r.rows_written), (101, 1, 100), "{r:#?}");
    assert_eq!(
        scalar::<String>(&cloud, "SELECT string_agg(work_desc, ';') FROM jobshead WHERE job_id = 50").await,
        "the newest copy of job 50"
    );
}

/// With the cloud's foreign keys in force, a role that may set `session_replication_role` loads
/// without their per-row triggers, the engine asking the same question of all rows at once; a role
/// that may not keeps the triggers. Either way every row arrives, and none without its parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_may_skips_the_foreign_keys_triggers_and_the_engine_checks_instead() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    exec(&cloud, FOREIGN_KEYS).await;
    firm_with_jobs(&desktop, 3000).await;
    pair.forward_tables(&["orgmaster", "locmaster"]).await;
    exec(
        &cloud,
        "CREATE ROLE syncer LOGIN; GRANT pg_read_all_data, pg_write_all_data TO syncer; \
         CREATE ROLE granted LOGIN IN ROLE syncer; GRANT SET ON PARAMETER session_replication_role TO granted",
    )
    .await;
    // (role, whether it may skip the triggers)
    for (role, skips) in [("postgres", true), ("syncer", false), ("granted", true)] {
        exec(&cloud, "TRUNCATE jobshead").await;
        let before = parent_lookups(&cloud).await;
        let r = load_jobs_to(&pair, pair.cloud_url_as(role)).await;
        assert!(r.direct, "{role}: {r:#?}");
        assert_eq!((r.rows_written, r.rejected), (3000, 0), "{role}: {r:#?}");
        let lookups = parent_lookups(&cloud).await - before;
        if skips {
            assert!(lookups < 100, "{role}: the triggers were skipped, yet locmaster was searched {lookups} times");
        } else {
            assert!(
                lookups >= 3000,
                "{role}: the triggers check every row, yet locmaster was searched {lookups} times"
            );
        }
        assert_eq!(count(&cloud, "jobshead WHERE org_id = 1").await, 3000, "{role}");
        assert_eq!(count(&cloud, ORPHANS).await, 0, "{role}");
    }
}

/// Any other trigger an INSERT fires keeps the foreign keys' triggers too: the load never runs
/// without a trigger the user wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_insert_trigger_fires_for_every_row_of_a_straight_copy() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    exec(&cloud, FOREIGN_KEYS).await;
    exec(
        &cloud,
        "CREATE TABLE job_audit (job_id numeric);
         CREATE FUNCTION audit_job() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN INSERT INTO job_audit VALUES (NEW.job_id); RETURN NULL; END $$;
         CREATE TRIGGER job_audit AFTER INSERT ON jobshead FOR EACH ROW EXECUTE FUNCTION audit_job()",
    )
    .await;
    firm_with_jobs(&desktop, 3000).await;
    pair.forward_tables(&["orgmaster", "locmaster"]).await;
    let before = parent_lookups(&cloud).await;

    let r = load_jobs_to(&pair, pair.cloud_url()).await;
    assert!(r.direct, "{r:#?}");
    assert_eq!(count(&cloud, "job_audit").await, 3000, "the user's trigger saw every row");
    assert!(parent_lookups(&cloud).await - before >= 3000, "the foreign keys' triggers checked every row");
}

/// A parent deleted while the straight copy runs: the engine's check locks the parents the rows
/// reference, as the foreign key's triggers would, so it waits for the delete, then finds the rows
/// orphaned; they are set aside and the cloud never holds a row its foreign key forbids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_deleted_during_the_straight_copy_leaves_no_orphan_behind() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    exec(&cloud, FOREIGN_KEYS).await;
    firm_with_jobs(&desktop, 3000).await;
    exec(
        &desktop,
        "INSERT INTO locmaster (org_id, loc_id, locname) VALUES (1, 2, 'Madurai'); \
         UPDATE jobshead SET loc_id = 2 WHERE job_id <= 100",
    )
    .await;
    pair.forward_tables(&["orgmaster", "locmaster"]).await;
    let deleting = pair.cloud_client().await;
    exec(&deleting, "BEGIN; DELETE FROM locmaster WHERE loc_id = 2").await;

    let load = load_jobs_to(&pair, pair.cloud_url());
    tokio::pin!(load);
    let early = tokio::time::timeout(Duration::from_millis(1500), &mut load).await;
    assert!(early.is_err(), "the load waits for the parent's delete to end: {early:#?}");
    exec(&deleting, "COMMIT").await;
    let r = load.await;

    assert!(!r.direct, "{r:#?}");
    assert_eq!((r.rows_written, r.rejected), (2900, 100), "{r:#?}");
    assert!(r.reject_samples[0].1.contains("orphan"), "{:?}", r.reject_samples);
    assert_eq!(count(&cloud, ORPHANS).await, 0);
    assert_eq!(count(&cloud, "jobshead WHERE org_id = 1").await, 2900);
}

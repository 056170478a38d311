//! No statement's cost may depend on the planner's luck: a first load into a cloud table whose
//! statistics say it is empty (analyzed right after a TRUNCATE, as autovacuum does) stays linear.

mod support;

use std::time::{Duration, Instant};

use pgbisync_runtime::{Direction, SyncOptions};
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

/// Reverse finds which staged rows join the ledger, including copies on the desktop from before
/// the ledger existed. Asked with one `OR`, that became a scan of the whole desktop table per
/// staged row whose key it already held: 20,000 such rows against 50,000 desktop rows (no key,
/// as the legacy tables) is a billion row comparisons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_over_copies_already_on_a_keyless_desktop_stays_linear() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    let jobs = "SELECT 1, g, 10, 'from the phone ' || g FROM generate_series(1, 20000) g";
    cloud
        .batch_execute(&format!(
            "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one');
             INSERT INTO jobshead (org_id, job_id, client_id, work_desc, source) SELECT *, 'M' FROM ({jobs}) j"
        ))
        .await
        .expect("loading mobile jobs");
    desktop
        .batch_execute(&format!(
            "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one');
             INSERT INTO jobshead (org_id, job_id, client_id, work_desc) {jobs};
             INSERT INTO jobshead (org_id, job_id, client_id, work_desc)
                 SELECT 1, g, 10, 'desktop job ' || g FROM generate_series(100001, 130000) g;
             ANALYZE jobshead"
        ))
        .await
        .expect("loading the desktop's copies and its own jobs");
    let options = SyncOptions { tables: vec!["jobshead".into()], ..SyncOptions::default() };
    let started = Instant::now();
    let reports = tokio::time::timeout(Duration::from_secs(120), pair.sync(&[Direction::Reverse], options))
        .await
        .expect("a quadratic plan: the reverse run did not finish within 120 s");
    let reports = flatten(reports);
    let r = report(&reports, "jobshead");
    assert_eq!((r.status, r.rows_written), (pgbisync_runtime::Status::Ok, 0), "{r:#?}");
    let adopted = count(&desktop, "_reverse_sync_ledger WHERE table_name = 'jobshead'").await;
    assert_eq!(adopted, 20_000, "every equal copy joined the ledger");
    assert_eq!(count(&desktop, "jobshead").await, 50_000, "nothing was inserted twice");
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
}

/// The ledger's reads of its own rows so far: rows read by scans and index entries returned, as
/// the server counts them, once the counts include `inserted` rows (a backend reports its counts
/// when it goes idle or exits, so this waits for them).
async fn ledger_reads(desktop: &tokio_postgres::Client, inserted: i64) -> i64 {
    let sql = "SELECT t.n_tup_ins, t.seq_tup_read + coalesce(sum(i.idx_tup_read), 0)::bigint \
               FROM pg_stat_user_tables t LEFT JOIN pg_stat_user_indexes i ON i.relid = t.relid \
               WHERE t.relname = '_reverse_sync_ledger' GROUP BY t.n_tup_ins, t.seq_tup_read";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let row = desktop.query_one(sql, &[]).await.expect("the ledger's counts");
        if row.get::<_, i64>(0) >= inserted {
            return row.get(1);
        }
        assert!(Instant::now() < deadline, "the server did not report {inserted} ledger inserts within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A reverse run that brings a few rows looks their keys up in the ledger. Reading every key the
/// ledger holds of the table instead, as a bulk run's hash join does, made each small run cost the
/// ledger's size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_mobile_rows_look_their_keys_up_in_a_large_ledger() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    for client in [&desktop, &cloud] {
        client.batch_execute("INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one')").await.expect("the firm");
    }
    let reverse =
        || pair.sync(&[Direction::Reverse], SyncOptions { tables: vec!["jobshead".into()], ..Default::default() });
    reverse().await;
    // Years of mobile-born jobs brought before.
    desktop
        .batch_execute(
            "INSERT INTO _reverse_sync_ledger (table_name, scope, row_key)
                 SELECT 'jobshead', m.scope, json_build_array(g)::text
                 FROM _reverse_sync_metadata m, generate_series(1000001, 1200000) g
                 WHERE m.table_name = 'jobshead';
             ANALYZE _reverse_sync_ledger",
        )
        .await
        .expect("filling the ledger");
    let before = ledger_reads(&desktop, 200_000).await;
    cloud
        .batch_execute(
            "INSERT INTO jobshead (org_id, job_id, client_id, work_desc, source)
                 SELECT 1, g, 10, 'from the phone ' || g, 'M' FROM generate_series(1, 3) g",
        )
        .await
        .expect("three mobile jobs");
    let reports = flatten(reverse().await);
    let r = report(&reports, "jobshead");
    assert_eq!((r.status, r.rows_written), (pgbisync_runtime::Status::Ok, 3), "{r:#?}");
    let read = ledger_reads(&desktop, 200_003).await - before;
    assert!(read < 1_000, "the run read {read} ledger rows to record 3 keys");
    assert_eq!(count(&desktop, "_reverse_sync_ledger WHERE row_key IN ('[1]', '[2]', '[3]')").await, 3);
}

/// A statement that runs far past what a linear plan takes is said while it runs (a plan gone
/// quadratic once ran 9 minutes with nothing said): here the desktop's own trigger makes each row
/// reverse inserts take 0.25 s, so the apply of 30 rows, expected in well under a second, takes 7.
/// It is reported and still finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_far_past_its_expected_time_is_reported_while_it_runs() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    cloud
        .batch_execute(
            "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one');
             INSERT INTO jobshead (org_id, job_id, client_id, work_desc, source)
                 SELECT 1, g, 10, 'from the phone ' || g, 'M' FROM generate_series(1, 30) g",
        )
        .await
        .expect("loading mobile jobs");
    desktop
        .batch_execute(
            "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one');
             CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN PERFORM pg_sleep(0.25); RETURN NEW; END $$;
             CREATE TRIGGER slow_insert BEFORE INSERT ON jobshead FOR EACH ROW EXECUTE FUNCTION slow_insert()",
        )
        .await
        .expect("slowing the desktop's inserts");
    let dir = tempfile::tempdir().expect("an empty working directory");
    let (desktop_url, cloud_url) = (pair.desktop_url(), pair.cloud_url());
    let env =
        [("PGBISYNC_ORG_ID", TENANT), ("DESKTOP_DATABASE_URL", &*desktop_url), ("CLOUD_DATABASE_URL", &*cloud_url)];
    let (code, stdout, stderr) = run_binary_in(dir.path(), &env, &["reverse", "--table", "jobshead"]).await;
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let warning = stderr.lines().find(|l| l.contains("the apply statement has run")).unwrap_or_else(|| {
        panic!("the overrun was not reported:\n{stderr}");
    });
    assert!(warning.contains("jobshead") && warning.contains("30 staged rows"), "{warning}");
    assert!(warning.contains("ANALYZE"), "the report says what to do: {warning}");
    assert_eq!(count(&desktop, "jobshead").await, 30, "the slow statement still finished");
}

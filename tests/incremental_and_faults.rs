//! Incremental reads that lose nothing, and faults a deployment meets: orphans that wait for their
//! parent, transactions that commit late, huge groups of equal timestamps, NULL tracking values, an
//! old metadata table, a role without CREATE, concurrent runs and bootstraps, rows a target
//! constraint refuses, a run that dies mid-table, reverse sync echo, and command-line failures.

mod support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use pgbisync_runtime::Bootstrap;
use pgbisync_runtime::ConnectionUrl;
use pgbisync_runtime::Status;
use pgbisync_runtime::SyncOptions;
use pgbisync_runtime::{acquire_lock, Lock};
use pgbisync_runtime::{Connections, RunReport};
use pgbisync_runtime::{Direction, Scope, Side};
use support::*;
use tokio_postgres::Client;

/// Runs SQL (several statements allowed), panicking with the server's message.
async fn exec(client: &Client, sql: &str) {
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {}", pgbisync_runtime::describe(&e)));
}

/// The tenant's firm, which every tenant-scoped row references.
const FIRM: &str = "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one')";

/// A desktop (or cloud) jobshead row of the tenant, without a location (no locmaster needed).
fn job(job_id: i64, work_desc: &str) -> String {
    format!("INSERT INTO jobshead (org_id, job_id, client_id, work_desc) VALUES (1, {job_id}, 10, '{work_desc}')")
}

async fn timestamp(client: &Client, sql: &str) -> DateTime<Utc> {
    scalar::<DateTime<Utc>>(client, sql).await
}

async fn forward_watermark(cloud: &Client, table: &str) -> DateTime<Utc> {
    let sql =
        format!("SELECT last_sync_timestamp FROM _sync_metadata WHERE table_name = '{table}' AND scope = '{TENANT}'");
    timestamp(cloud, &sql).await
}

async fn relation_exists(client: &Client, name: &str) -> bool {
    scalar::<Option<String>>(client, &format!("SELECT to_regclass('{name}')::text")).await.is_some()
}

/// Runs the command line in-process with exactly these arguments (the first is the program name).
async fn cli_args(pair: &Pair, argv: Vec<String>) -> i32 {
    let program = pair.program;
    tokio::task::spawn_blocking(move || pgbisync_runtime::cli::main_with_args(&program, argv)).await.expect("cli task")
}

/// Runs one forward pass through the engine with the given cloud URL (instead of the pair's).
async fn forward_with_cloud_url(pair: &Pair, cloud_url: &str) -> RunReport {
    let mut connections = Connections::open(
        ConnectionUrl::new(Side::Desktop, pair.desktop_url()),
        ConnectionUrl::new(Side::Cloud, cloud_url),
    )
    .await
    .expect("opening both connections");
    let options = SyncOptions { tenant: Some(TENANT.to_string()), ..SyncOptions::default() };
    sync(&pair.program, &mut connections, &[Direction::Forward], &options).await
}

/// Runs the real binary with a clean environment (no URL variables, no `.env`, the tenant set);
/// returns its exit code, stdout and stderr.
async fn run_binary(args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("an empty working directory (no .env)");
    run_binary_in(dir.path(), &[("PGBISYNC_ORG_ID", TENANT)], args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_rows_are_set_aside_then_synced_once_their_parent_arrives() {
    // Lookback 0 and a reminder stamped a day ago: only the reject keeping the watermark back can
    // bring it across on the second, incremental run.
    let pair = Pair::with_schema().await.with_lookback(0);
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    exec(&desktop, FIRM).await;
    exec(
        &desktop,
        "INSERT INTO mbreminder (rem_id, org_id, staff_id, remnotes, updated_at) \
         VALUES (501, 1, 77, 'call the client', now() - interval '1 day')",
    )
    .await;

    let first = pair.forward().await;
    let r = report(&first, "reminder");
    assert_status(r, Status::Partial);
    assert_eq!(r.rejected, 1, "{r:#?}");
    assert_eq!(count(&cloud, "reminder").await, 0, "the orphan reminder must not reach the cloud");
    let rejects = cloud
        .query("SELECT row_key, reason FROM _sync_rejects WHERE table_name = 'reminder'", &[])
        .await
        .expect("reading _sync_rejects");
    assert_eq!(rejects.len(), 1, "one recorded reject for reminder");
    let (key, reason): (String, String) = (rejects[0].get(0), rejects[0].get(1));
    assert!(key.contains("501"), "the reject names the reminder's key: {key}");
    assert!(reason.contains("mbstaff"), "the reason names the missing parent table: {reason}");
    assert_eq!(
        scalar::<String>(&cloud, "SELECT status FROM _sync_metadata WHERE table_name = 'reminder'").await,
        "partial"
    );

    // The parent arrives; the reminder itself is not touched, so its updated_at stays a day old.
    exec(&desktop, "INSERT INTO mbstaff (org_id, staff_id, name) VALUES (1, 77, 'Asha')").await;
    let second = pair.forward().await;
    let r = report(&second, "reminder");
    assert_status(r, Status::Ok);
    assert_eq!(r.mode, "incremental", "the second run is incremental");
    assert_eq!(r.rows_written, 1, "{r:#?}");
    assert_eq!(count(&cloud, "reminder WHERE rem_id = 501 AND staff_id = 77").await, 1);
    assert_eq!(count(&cloud, "_sync_rejects WHERE table_name = 'reminder'").await, 0);
    assert_eq!(scalar::<String>(&cloud, "SELECT status FROM _sync_metadata WHERE table_name = 'reminder'").await, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_that_commits_after_a_run_is_copied_by_the_next_run() {
    let pair = Pair::with_schema().await.with_lookback(0);
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    exec(&desktop, FIRM).await;

    // A writer opens its transaction and inserts job 1 (stamped with the transaction's start)...
    let late = pair.desktop_client().await;
    exec(&late, &format!("BEGIN; {}", job(1, "late writer"))).await;
    let late_start = timestamp(&late, "SELECT now()").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // ...another commits job 2 after it, so "max updated_at seen" would jump past job 1.
    exec(&desktop, &job(2, "early committer")).await;

    let first = tokio::time::timeout(Duration::from_secs(120), pair.forward())
        .await
        .expect("a forward run must not block on an open desktop transaction");
    let r = report(&first, "jobshead");
    assert_status(r, Status::Ok);
    assert_eq!(r.rows_read, 1, "only the committed job is visible: {r:#?}");
    assert_eq!(count(&cloud, "jobshead").await, 1);
    let stored = forward_watermark(&cloud, "jobshead").await;
    assert!(
        stored <= late_start,
        "the watermark ({stored}) must not pass the start of a transaction still open ({late_start})"
    );

    exec(&late, "COMMIT").await;
    let second = pair.forward().await;
    let r = report(&second, "jobshead");
    assert_status(r, Status::Ok);
    assert_eq!(r.mode, "incremental");
    assert_eq!(
        count(&cloud, "jobshead WHERE job_id = 1 AND work_desc = 'late writer'").await,
        1,
        "the late-committed row arrives on the next run"
    );
    assert_eq!(count(&cloud, "jobshead").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_rows_with_one_timestamp_all_arrive_and_are_not_read_again() {
    let pair = Pair::with_schema().await.with_lookback(0);
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    exec(&desktop, FIRM).await;
    exec(
        &desktop,
        "INSERT INTO jobshead (org_id, job_id, client_id, work_desc) \
         SELECT 1, g, g % 1000, 'job ' || g FROM generate_series(1, 20000) AS g",
    )
    .await;
    assert_eq!(
        count(&desktop, "(SELECT DISTINCT updated_at FROM jobshead) AS t").await,
        1,
        "one transaction, one timestamp"
    );

    let first = pair.forward().await;
    let r = report(&first, "jobshead");
    assert_status(r, Status::Ok);
    assert_eq!((r.rows_read, r.rows_written), (20_000, 20_000), "{r:#?}");
    assert_eq!(count(&cloud, "jobshead").await, 20_000);

    exec(&desktop, "UPDATE jobshead SET work_desc = 'changed ' || job_id WHERE job_id <= 10").await;
    let second = pair.forward().await;
    let r = report(&second, "jobshead");
    assert_status(r, Status::Ok);
    assert_eq!(r.mode, "incremental");
    assert_eq!(r.rows_read, 10, "the incremental read must not re-read the 20,000: {r:#?}");
    assert_eq!(r.rows_written, 10);
    assert_eq!(count(&cloud, "jobshead WHERE work_desc LIKE 'changed %'").await, 10);
    assert_eq!(count(&cloud, "jobshead WHERE work_desc = 'changed ' || job_id").await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_with_a_null_tracking_value_are_copied_on_every_incremental_run() {
    let pair = Pair::with_schema().await.with_lookback(0);
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    exec(&desktop, FIRM).await;
    exec(&desktop, &job(1, "no timestamp")).await;
    exec(&desktop, &job(2, "normal")).await;
    exec(
        &desktop,
        "ALTER TABLE jobshead DISABLE TRIGGER USER; \
         UPDATE jobshead SET updated_at = NULL WHERE job_id = 1; \
         ALTER TABLE jobshead ENABLE TRIGGER USER",
    )
    .await;

    let first = pair.forward().await;
    assert_status(report(&first, "jobshead"), Status::Ok);
    assert_eq!(count(&cloud, "jobshead WHERE job_id = 1 AND work_desc = 'no timestamp'").await, 1);
    assert_eq!(count(&cloud, "jobshead").await, 2);

    // A later change to the row, still without a timestamp, is picked up by the incremental run.
    exec(
        &desktop,
        "ALTER TABLE jobshead DISABLE TRIGGER USER; \
         UPDATE jobshead SET work_desc = 'still no timestamp' WHERE job_id = 1; \
         ALTER TABLE jobshead ENABLE TRIGGER USER",
    )
    .await;
    let second = pair.forward().await;
    let r = report(&second, "jobshead");
    assert_status(r, Status::Ok);
    assert_eq!(r.mode, "incremental");
    assert_eq!(r.rows_written, 1, "{r:#?}");
    assert_eq!(count(&cloud, "jobshead WHERE job_id = 1 AND work_desc = 'still no timestamp'").await, 1);
    assert_eq!(scalar::<String>(&cloud, "SELECT status FROM _sync_metadata WHERE table_name = 'jobshead'").await, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_shared_metadata_table_is_upgraded_in_place_and_each_firm_reads_in_full_once() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    exec(
        &cloud,
        "CREATE TABLE _sync_metadata (table_name varchar(100) PRIMARY KEY, \
         last_sync_timestamp timestamptz NOT NULL DEFAULT '1970-01-01', \
         created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now()); \
         INSERT INTO _sync_metadata (table_name, last_sync_timestamp) VALUES ('jobshead', '2021-01-01 00:00:00+00')",
    )
    .await;
    exec(&desktop, FIRM).await;
    exec(
        &desktop,
        "INSERT INTO jobshead (org_id, job_id, client_id, work_desc, updated_at) VALUES \
         (1, 1, 10, 'old one', '2020-06-01 00:00:00+00'), (1, 2, 10, 'old two', '2020-06-01 00:00:00+00'); \
         INSERT INTO jobshead (org_id, job_id, client_id, work_desc) VALUES (1, 3, 10, 'new')",
    )
    .await;

    let reports = pair.forward().await;

    let columns: Vec<String> = cloud
        .query("SELECT column_name::text FROM information_schema.columns WHERE table_name = '_sync_metadata'", &[])
        .await
        .expect("reading the metadata columns")
        .iter()
        .map(|r| r.get(0))
        .collect();
    for c in ["last_run_at", "rows_copied", "status", "last_error", "scope"] {
        assert!(columns.iter().any(|x| x == c), "column {c} added in place: {columns:?}");
    }
    // The shared watermark may have been any firm's: reading from it could skip this firm's rows
    // (the two stamped 2020 here), so this firm's first run reads everything.
    let r = report(&reports, "jobshead");
    assert_status(r, Status::Ok);
    assert_eq!(r.mode, "full", "{r:#?}");
    assert_eq!(r.rows_read, 3, "{r:#?}");
    assert_eq!(count(&cloud, "jobshead").await, 3);
    assert!(forward_watermark(&cloud, "jobshead").await > "2021-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap());

    assert_eq!(count(&cloud, "_sync_metadata WHERE scope = '1'").await, 16, "one row per forward table of the firm");
    assert_eq!(
        count(
            &cloud,
            "_sync_metadata WHERE scope = '' AND table_name = 'jobshead' AND last_sync_timestamp = '2021-01-01'"
        )
        .await,
        1,
        "the shared row is kept as it was"
    );
    assert_eq!(
        count(&cloud, "_sync_metadata WHERE scope = '1' AND status = 'ok' AND last_run_at IS NOT NULL").await,
        16
    );
    let key: String = scalar(
        &cloud,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '_sync_metadata'::regclass AND contype = 'p'",
    )
    .await;
    assert_eq!(key, "PRIMARY KEY (table_name, scope)");

    let again = pair.forward().await;
    let r = report(&again, "jobshead");
    assert_eq!(
        (r.mode, r.rows_written),
        ("incremental", 0),
        "the next run reads from the firm's own watermark: {r:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_create_permission_every_table_runs_in_full_mode_with_one_warning() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    exec(
        &cloud,
        "CREATE ROLE syncer LOGIN; \
         REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
         GRANT USAGE ON SCHEMA public TO syncer; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO syncer; \
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO syncer",
    )
    .await;
    exec(&desktop, FIRM).await;
    exec(&desktop, &format!("{}; {}", job(1, "one"), job(2, "two"))).await;
    let syncer_url = format!("postgresql://syncer@127.0.0.1:{}/postgres", pair.cloud.port());

    // Through the command line: it runs and exits 0 or 1, never a usage or connection error.
    let argv: Vec<String> = ["pgbisync", "--desktop-url", &pair.desktop_url(), "--cloud-url", &syncer_url, "forward"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let code = cli_args(&pair, argv).await;
    assert!(code == 0 || code == 1, "exit code {code}");
    assert_eq!(count(&cloud, "jobshead").await, 2, "rows arrived");
    assert!(!relation_exists(&cloud, "_sync_metadata").await);
    assert!(!relation_exists(&cloud, "_sync_rejects").await);

    // Through the engine: the direction says once that it is degraded, and runs everything full.
    exec(&desktop, &job(3, "three")).await;
    for run in 1..=2 {
        let pass = forward_with_cloud_url(&pair, &syncer_url).await;
        let (code, reports) = (exit_code(&pass), pass.directions);
        assert!(code == 0 || code == 1, "run {run}: exit code {code}");
        assert_eq!(reports.len(), 1, "one direction");
        let reason = reports[0]
            .degraded
            .as_deref()
            .unwrap_or_else(|| panic!("run {run}: the direction must report it is degraded"));
        assert!(reason.contains("permission denied"), "run {run}: {reason}");
        for t in &reports[0].tables {
            assert_ne!(t.status, Status::Failed, "run {run}: {} failed: {:?}", t.table, t.error);
            assert_eq!(t.mode, "full", "run {run}: {} runs in full mode", t.table);
            assert_eq!(t.watermark_to, None, "run {run}: {} records no watermark", t.table);
        }
        let r = report(&reports[0].tables, "jobshead");
        assert_eq!(r.rows_read, 3, "run {run}: a full read of jobshead");
        assert_eq!(count(&cloud, "jobshead").await, 3, "run {run}");
        assert!(!relation_exists(&cloud, "_sync_metadata").await, "run {run}");
    }

    // What the operator sees: the warning is printed once for the run, not once per table.
    let (code, _stdout, stderr) =
        run_binary(&["--desktop-url", &pair.desktop_url(), "--cloud-url", &syncer_url, "forward"]).await;
    assert!(code == 0 || code == 1, "exit code {code}; stderr:\n{stderr}");
    let warnings = stderr.lines().filter(|l| l.contains("WARN") && l.contains("full mode")).count();
    assert_eq!(warnings, 1, "one warning about full mode; stderr:\n{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_while_one_holds_the_lock_exits_3_and_writes_nothing() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    exec(&desktop, FIRM).await;

    let held = match acquire_lock(pair.desktop_client().await).await.expect("taking the lock") {
        Lock::Held(client) => client,
        Lock::Busy { holder } => panic!("the lock is free on a fresh desktop (holder {holder:?})"),
    };
    assert_eq!(pair.cli(&["forward"]).await, 3, "a second run exits 3");
    assert!(!relation_exists(&cloud, "_sync_metadata").await, "the refused run wrote nothing");
    assert_eq!(count(&cloud, "orgmaster").await, 0);

    drop(held);
    // The server releases a session lock when it notices the session ended.
    let mut waited = 0;
    while count(&desktop, "pg_locks WHERE locktype = 'advisory'").await > 0 {
        assert!(waited < 100, "the advisory lock was not released 10 s after its session closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let code = pair.cli(&["forward"]).await;
    assert!(code == 0 || code == 1, "exit code {code} once the lock is free");
    assert_eq!(count(&cloud, "orgmaster").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_bootstraps_at_once_create_one_metadata_table_with_one_row_per_table() {
    let pair = Pair::with_schema().await;
    let cloud = pair.cloud_client().await;
    let names: Vec<&str> = pair.program.tables(Direction::Forward, &[]).iter().map(|t| t.spec().name).collect();
    assert_eq!(names.len(), 16);
    let manifest = pair.program.manifest;
    let one = || async {
        let mut client = pair.cloud_client().await;
        let scope = Scope::of(Some(TENANT));
        pgbisync_runtime::bootstrap(&mut client, manifest, Direction::Forward, &names, Some(&scope), true).await
    };
    let (a, b, c, d) = tokio::join!(one(), one(), one(), one());
    let results: Vec<Bootstrap> = [a, b, c, d]
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("a bootstrap failed: {}", pgbisync_runtime::describe(&e))))
        .collect();
    let mut created = 0;
    let mut seeded = 0;
    for r in &results {
        match r {
            Bootstrap::Ready { created: c, seeded: s, .. } => {
                created += usize::from(*c);
                seeded += s;
            }
            Bootstrap::Degraded { reason } => panic!("degraded: {reason}"),
        }
    }
    assert_eq!(created, 1, "exactly one bootstrap created the table: {results:?}");
    assert_eq!(seeded, 16, "the rows were seeded once: {results:?}");
    assert_eq!(count(&cloud, "pg_class WHERE relname = '_sync_metadata'").await, 1);
    assert_eq!(count(&cloud, "pg_class WHERE relname = '_sync_rejects'").await, 1);
    assert_eq!(count(&cloud, "_sync_metadata").await, 16);
    assert_eq!(count(&cloud, "(SELECT DISTINCT table_name FROM _sync_metadata) AS t").await, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_in_place_only_seeds_and_one_that_lacks_a_column_still_upgrades() {
    let pair = Pair::with_schema().await;
    let mut cloud = pair.cloud_client().await;
    let names: Vec<&str> = pair.program.tables(Direction::Forward, &[]).iter().map(|t| t.spec().name).collect();
    let scope = Scope::of(Some(TENANT));
    let manifest = pair.program.manifest;
    let bootstrap = async |client: &mut Client, names: &[&str]| match pgbisync_runtime::bootstrap(
        client,
        manifest,
        Direction::Forward,
        names,
        Some(&scope),
        true,
    )
    .await
    {
        Ok(Bootstrap::Ready { created, upgraded, seeded }) => (created, upgraded, seeded),
        other => panic!("{other:?}"),
    };
    assert_eq!(bootstrap(&mut cloud, &names[1..]).await, (true, Vec::new(), names.len() as u64 - 1));
    // In place: a table new to the manifest gets its row, nothing else changes.
    assert_eq!(bootstrap(&mut cloud, &names).await, (false, Vec::new(), 1));
    assert_eq!(bootstrap(&mut cloud, &names).await, (false, Vec::new(), 0));
    // Rows in place but a column of a later shape missing: the upgrade still runs.
    exec(&cloud, "ALTER TABLE _sync_metadata DROP COLUMN read_proof; ALTER TABLE _sync_rejects DROP COLUMN kind").await;
    let (created, upgraded, seeded) = bootstrap(&mut cloud, &names).await;
    assert_eq!((created, seeded), (false, 0));
    assert_eq!(upgraded, vec!["read_proof".to_string(), "_sync_rejects.kind".to_string()]);
    exec(&cloud, "DROP TABLE _sync_deleted").await;
    assert_eq!(bootstrap(&mut cloud, &names).await, (true, Vec::new(), 0), "the table deleted rows are kept in");
    assert_eq!(bootstrap(&mut cloud, &names).await, (false, Vec::new(), 0));
    assert_eq!(count(&cloud, "_sync_metadata").await, names.len() as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_a_target_constraint_refuses_is_set_aside_and_the_rest_applied() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    exec(&cloud, "ALTER TABLE jobshead ADD CONSTRAINT jobshead_work_desc_allowed CHECK (work_desc <> 'forbidden')")
        .await;
    exec(&desktop, FIRM).await;
    for (id, desc) in [(1, "fine"), (2, "forbidden"), (3, "also fine"), (4, "fine too")] {
        exec(&desktop, &job(id, desc)).await;
    }

    let reports = pair.forward().await;
    let r = report(&reports, "jobshead");
    assert_status(r, Status::Partial);
    assert_eq!(r.rejected, 1, "{r:#?}");
    assert_eq!(r.rows_written, 3);
    let (key, reason) = r.reject_samples.first().expect("a reject sample");
    assert!(key.contains('2'), "the sample names the key: {key}");
    assert!(reason.contains("jobshead_work_desc_allowed"), "{reason}");
    assert_eq!(count(&cloud, "jobshead").await, 3);
    assert_eq!(count(&cloud, "jobshead WHERE job_id IN (1, 3, 4)").await, 3);
    let recorded: String = scalar(&cloud, "SELECT reason FROM _sync_rejects WHERE table_name = 'jobshead'").await;
    assert!(recorded.contains("jobshead_work_desc_allowed"), "{recorded}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_whose_apply_dies_commits_nothing_and_keeps_its_watermark() {
    let pair = Pair::with_schema().await.with_lookback(0);
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    exec(&desktop, FIRM).await;
    exec(&desktop, &format!("{}; {}", job(1, "one"), job(2, "two"))).await;
    let first = pair.forward().await;
    assert_status(report(&first, "jobshead"), Status::Ok);
    let watermark = forward_watermark(&cloud, "jobshead").await;

    // The cloud fails (not a bad row: an internal error) after the batch's other rows went in.
    exec(
        &cloud,
        "CREATE FUNCTION crash_on_job_4() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.job_id = 4 THEN RAISE EXCEPTION 'simulated crash at job 4' USING ERRCODE = 'XX000'; END IF; \
           RETURN NEW; END $$; \
         CREATE TRIGGER crash_on_job_4 AFTER INSERT ON jobshead FOR EACH ROW EXECUTE FUNCTION crash_on_job_4()",
    )
    .await;
    exec(&desktop, &format!("{}; {}; {}", job(3, "three"), job(4, "four"), job(5, "five"))).await;
    exec(
        &desktop,
        "INSERT INTO mbstaff (org_id, staff_id, name) VALUES (1, 77, 'Asha'); \
         INSERT INTO mbreminder (rem_id, org_id, staff_id, remnotes) VALUES (501, 1, 77, 'call')",
    )
    .await;

    let second = pair.forward().await;
    let r = report(&second, "jobshead");
    assert_status(r, Status::Failed);
    assert!(
        r.error.as_deref().unwrap_or("").contains("simulated crash"),
        "the error says what happened: {:?}",
        r.error
    );
    assert_eq!(count(&cloud, "jobshead").await, 2, "none of the batch's rows were committed");
    assert_eq!(count(&cloud, "jobshead WHERE job_id IN (3, 4, 5)").await, 0);
    assert_eq!(forward_watermark(&cloud, "jobshead").await, watermark, "the watermark did not move");
    assert_eq!(
        scalar::<String>(&cloud, "SELECT status FROM _sync_metadata WHERE table_name = 'jobshead'").await,
        "failed"
    );
    for other in ["orgmaster", "mbstaff", "reminder"] {
        assert_status(report(&second, other), Status::Ok);
    }
    assert_eq!(count(&cloud, "mbstaff WHERE staff_id = 77").await, 1, "other tables synced");
    assert_eq!(count(&cloud, "reminder WHERE rem_id = 501").await, 1, "other tables synced");

    exec(&cloud, "DROP TRIGGER crash_on_job_4 ON jobshead").await;
    let third = pair.forward().await;
    let r = report(&third, "jobshead");
    assert_status(r, Status::Ok);
    assert_eq!(r.rows_written, 3, "{r:#?}");
    assert_eq!(count(&cloud, "jobshead").await, 5, "the next run copies everything");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_born_in_the_cloud_comes_back_once_and_is_never_echoed() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    exec(&desktop, FIRM).await;
    exec(
        &cloud,
        "INSERT INTO jobshead (org_id, job_id, client_id, work_desc, source) VALUES (1, 900, 10, 'from the phone', 'M')",
    )
    .await;

    let back = pair.reverse().await;
    let r = report(&back, "jobshead");
    assert_status(r, Status::Ok);
    assert_eq!(r.rows_written, 1);
    assert_eq!(count(&desktop, "jobshead WHERE job_id = 900 AND work_desc = 'from the phone'").await, 1);
    let xmin_before: String = scalar(&cloud, "SELECT xmin::text FROM jobshead WHERE job_id = 900").await;

    let forward = pair.forward().await;
    let r = report(&forward, "jobshead");
    assert_status(r, Status::Ok);
    assert_eq!(r.rows_written, 0, "forward does not write the cloud-born row back: {r:#?}");
    assert_eq!(scalar::<String>(&cloud, "SELECT source::text FROM jobshead WHERE job_id = 900").await, "M");
    let xmin_after: String = scalar(&cloud, "SELECT xmin::text FROM jobshead WHERE job_id = 900").await;
    assert_eq!(xmin_before, xmin_after, "the cloud row was not rewritten");
    assert_eq!(count(&cloud, "jobshead").await, 1);

    let again = pair.reverse().await;
    for t in &again {
        assert_status(t, Status::Ok);
        assert_eq!(t.rows_written, 0, "reverse again writes nothing: {t:#?}");
    }
    assert_eq!(count(&desktop, "jobshead WHERE job_id = 900").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_and_connection_errors_exit_3_without_printing_passwords() {
    let pair = Pair::with_schema().await;
    let cloud = pair.cloud_client().await;
    let (desktop_url, cloud_url) = (pair.desktop_url(), pair.cloud_url());

    // An unknown table: usage error, nothing written.
    let argv: Vec<String> =
        ["pgbisync", "forward", "--table", "nosuch", "--desktop-url", &desktop_url, "--cloud-url", &cloud_url]
            .iter()
            .map(|s| s.to_string())
            .collect();
    assert_eq!(cli_args(&pair, argv).await, 2, "an unknown table is a usage error");
    assert!(!relation_exists(&cloud, "_sync_metadata").await, "nothing written");
    assert!(!relation_exists(&cloud, "_sync_rejects").await, "nothing written");

    // A missing URL (no flag, no environment variable, no .env): usage error naming the variable.
    let (code, _, stderr) = run_binary(&["forward", "--cloud-url", &cloud_url]).await;
    assert_eq!(code, 2, "a missing desktop URL is a usage error; stderr:\n{stderr}");
    assert!(stderr.contains("DESKTOP_DATABASE_URL"), "the message names the variable:\n{stderr}");

    // Unreachable servers: exit 3, and the password is never printed, whatever the verbosity.
    let secret_url = "postgresql://u:SECRETPW@127.0.0.1:1/db";
    let secret_keywords = "host=127.0.0.1 port=1 user=u password=SECRETPW dbname=db";
    for (what, args) in [
        ("cloud", vec!["forward", "--desktop-url", &desktop_url, "--cloud-url", secret_url]),
        ("cloud, -vv", vec!["-vv", "forward", "--desktop-url", &desktop_url, "--cloud-url", secret_url]),
        ("cloud, --json", vec!["--json", "forward", "--desktop-url", &desktop_url, "--cloud-url", secret_url]),
        ("desktop", vec!["forward", "--desktop-url", secret_url, "--cloud-url", &cloud_url]),
        ("desktop, keyword form", vec!["forward", "--desktop-url", secret_keywords, "--cloud-url", &cloud_url]),
        ("status", vec!["status", "--desktop-url", &desktop_url, "--cloud-url", secret_url]),
    ] {
        let (code, stdout, stderr) = run_binary(&args).await;
        assert_eq!(code, 3, "{what}: an unreachable server exits 3; stderr:\n{stderr}");
        assert!(
            !stdout.contains("SECRETPW") && !stderr.contains("SECRETPW"),
            "{what}: the password was printed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert!(!stderr.trim().is_empty(), "{what}: the failure is explained on stderr");
    }
    assert!(!relation_exists(&cloud, "_sync_metadata").await, "nothing written");
}

//! A desktop row that is gone is deleted from the cloud: found by comparing key sets, limited to the
//! firm's desktop-born rows, kept in the deleted-rows table, never a wipe, never a row that another
//! row still points at.

mod support;

use pgbisync_runtime::{DeleteOutcome, DeleteReport, Direction, DirectionReport, Scope, SyncOptions};
use support::*;
use tokio_postgres::Client;

async fn exec(client: &Client, sql: &str) {
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {}", pgbisync_runtime::describe(&e)));
}

fn deletes_of<'a>(reports: &'a [DirectionReport], table: &str) -> &'a DeleteReport {
    reports
        .iter()
        .flat_map(|d| &d.deletes)
        .find(|d| d.table == table)
        .unwrap_or_else(|| panic!("no delete check of {table}: {reports:#?}"))
}

async fn forward(pair: &Pair, options: SyncOptions) -> Vec<DirectionReport> {
    pair.sync(&[Direction::Forward], options).await
}

/// Deletes jobs from the desktop with everything that points at them, as the application would.
async fn delete_jobs(desktop: &Client, jobs: &[i64]) {
    let list = jobs.iter().map(|j| j.to_string()).collect::<Vec<_>>().join(", ");
    exec(
        desktop,
        &format!(
            "DELETE FROM mbjobreviewresponse WHERE rn_id IN (SELECT rn_id FROM mbjobreviewnotes WHERE job_id IN ({list}));
             DELETE FROM mbjobreviewnotes WHERE job_id IN ({list});
             DELETE FROM jobtasks WHERE job_id IN ({list});
             DELETE FROM jobshead WHERE job_id IN ({list})"
        ),
    )
    .await;
}

fn full() -> SyncOptions {
    SyncOptions { full: true, ..SyncOptions::default() }
}

/// Firm 1 on the desktop with `jobs` jobs numbered from 1, changed a day ago.
async fn firm_one_with_jobs(desktop: &Client, jobs: u32) {
    exec(
        desktop,
        &format!(
            "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one');
             INSERT INTO jobshead (org_id, job_id, client_id, work_desc, updated_at)
                 SELECT 1, g, 10, 'job', now() - interval '1 day' FROM generate_series(1, {jobs}) g"
        ),
    )
    .await;
}

/// A run of the firm and its jobs only.
fn only_jobs() -> SyncOptions {
    SyncOptions { tables: vec!["orgmaster".into(), "jobshead".into()], ..SyncOptions::default() }
}

/// Rows of the deleted-rows table for one table of the test's firm.
async fn kept(cloud: &Client, table: &str) -> i64 {
    count(cloud, &format!("_sync_deleted WHERE table_name = '{table}' AND scope = '{TENANT}' AND restored_at IS NULL"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_reach_the_cloud_in_incremental_and_full_mode_and_mobile_rows_stay() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    forward(&pair, SyncOptions::default()).await;
    let mobile_jobs = count(&cloud, "jobshead WHERE source = 'M'").await;
    let desktop_jobs = count(&cloud, "jobshead WHERE source = 'D'").await;
    assert!(mobile_jobs > 0 && desktop_jobs > 10, "the sample has jobs of both origins");

    // jobshead syncs incrementally: three jobs go (each of their duplicate rows too).
    let gone: Vec<i64> =
        scalar::<Vec<i64>>(&cloud, "SELECT array_agg(job_id::bigint ORDER BY job_id) FROM (SELECT job_id FROM jobshead WHERE source = 'D' ORDER BY job_id LIMIT 3) j").await;
    let list = gone.iter().map(|j| j.to_string()).collect::<Vec<_>>().join(", ");
    delete_jobs(&desktop, &gone).await;
    let reports = forward(&pair, SyncOptions::default()).await;
    let jobs = deletes_of(&reports, "jobshead");
    assert_eq!((jobs.outcome, jobs.deleted, jobs.held), (DeleteOutcome::Checked, 3, 0), "{jobs:#?}");
    assert_eq!(report(&flatten(reports.clone()), "jobshead").mode, "incremental");
    assert_eq!(count(&cloud, &format!("jobshead WHERE job_id IN ({list})")).await, 0);
    assert_eq!(count(&cloud, "jobshead WHERE source = 'D'").await, desktop_jobs - 3);
    assert_eq!(count(&cloud, "jobshead WHERE source = 'M'").await, mobile_jobs, "mobile-born jobs stay");
    assert_eq!(kept(&cloud, "jobshead").await, 3);
    let row: serde_json::Value =
        scalar(&cloud, &format!("SELECT row_data FROM _sync_deleted WHERE row_key = '{{\"job_id\" : {}}}'", gone[0]))
            .await;
    assert_eq!(row["job_id"].as_i64(), Some(gone[0]), "the kept copy is the whole row: {row}");

    // taskmaster syncs in full mode.
    let task: i64 = scalar(&desktop, "SELECT min(task_id)::bigint FROM taskmaster").await;
    exec(&desktop, &format!("DELETE FROM taskmaster WHERE task_id = {task}")).await;
    let reports = forward(&pair, full()).await;
    assert_eq!(deletes_of(&reports, "taskmaster").deleted, 1);
    assert_eq!(deletes_of(&reports, "jobshead").deleted, 0, "nothing more was deleted");
    assert_eq!(count(&cloud, &format!("taskmaster WHERE task_id = {task}")).await, 0);

    // After all of it, verify finds nothing extra in any forward table.
    let tables = pair.program.tables(Direction::Forward, &[]);
    let mut connections = pair.connections().await;
    let verified =
        pgbisync_runtime::verify_tables(pair.program.manifest, &mut connections, &tables, Some(TENANT), &mut |_| {})
            .await
            .unwrap_or_else(|e| panic!("verify failed to run: {e}"));
    for v in &verified {
        assert_eq!((v.extra, v.different, &v.error), (0, 0, &None), "{v:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_nothing_was_deleted_no_key_moves() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    forward(&pair, SyncOptions::default()).await;
    // A full run checks whatever the change counters say.
    let reports = forward(&pair, full()).await;
    let mut equal = 0;
    for d in reports.iter().flat_map(|d| &d.deletes) {
        assert_eq!((d.outcome, d.gone, d.deleted), (DeleteOutcome::Checked, 0, 0), "{d:#?}");
        // Key sets that match travel as 256 bucket digests, not as keys (the source may also hold
        // keys the target lacks: rows set aside, which make their buckets differ).
        if d.source_keys == d.target_rows {
            assert_eq!(d.buckets_listed, 0, "{d:#?}");
            equal += 1;
        }
    }
    assert!(equal >= 3, "several tables have equal key sets: {reports:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mass_delete_guard_stops_the_run_and_its_flag_lets_it_through() {
    let size = pgbisync_runtime::SampleSize { masters: 10, transactional: 400, mobile: 3 };
    let (pair, _) = Pair::with_sample(size).await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    forward(&pair, SyncOptions::default()).await;
    let before = count(&cloud, "jobshead WHERE source = 'D'").await;
    let gone: Vec<i64> = scalar(&cloud, "SELECT array_agg(job_id::bigint) FROM (SELECT job_id FROM jobshead WHERE source = 'D' ORDER BY job_id LIMIT 150) j").await;
    delete_jobs(&desktop, &gone).await;

    let reports = forward(&pair, SyncOptions::default()).await;
    let jobs = deletes_of(&reports, "jobshead");
    assert_eq!((jobs.outcome, jobs.deleted, jobs.gone), (DeleteOutcome::Refused, 0, 150), "{jobs:#?}");
    let message = jobs.error.as_deref().unwrap_or_default();
    assert!(message.contains("150") && message.contains("--allow-mass-delete"), "{message}");
    assert_eq!(count(&cloud, "jobshead WHERE source = 'D'").await, before, "nothing deleted");
    let run = pgbisync_runtime::RunReport { directions: reports };
    assert_eq!(exit_code(&run), 1);

    let reports = forward(&pair, SyncOptions { allow_mass_delete: true, ..SyncOptions::default() }).await;
    assert_eq!(deletes_of(&reports, "jobshead").deleted, 150);
    assert_eq!(count(&cloud, "jobshead WHERE source = 'D'").await, before - 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_that_reads_as_empty_deletes_nothing() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    forward(&pair, SyncOptions::default()).await;
    let before = count(&cloud, "taskmaster WHERE source = 'D'").await;
    assert!(before > 0 && before < 100, "a small table, below the guard's row threshold");
    exec(&desktop, "DELETE FROM taskmaster").await;
    let reports = forward(&pair, SyncOptions::default()).await;
    let tasks = deletes_of(&reports, "taskmaster");
    assert_eq!(tasks.outcome, DeleteOutcome::Refused, "{tasks:#?}");
    assert!(tasks.error.as_deref().unwrap_or_default().contains("reads as empty"), "{tasks:#?}");
    assert_eq!(count(&cloud, "taskmaster WHERE source = 'D'").await, before);
    assert_eq!(kept(&cloud, "taskmaster").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_a_mobile_row_still_references_is_set_aside_then_deleted_once_free() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    forward(&pair, SyncOptions::default()).await;
    // A staff member no mobile-born row points at yet.
    let staff: i64 = scalar(
        &cloud,
        "SELECT min(staff_id)::bigint FROM mbstaff s WHERE source = 'D' \
         AND NOT EXISTS (SELECT 1 FROM reminder r WHERE r.staff_id = s.staff_id AND r.source = 'M')",
    )
    .await;
    let reminders = count(&cloud, &format!("reminder WHERE staff_id = {staff} AND source = 'D'")).await;
    exec(
        &cloud,
        &format!("INSERT INTO reminder (rem_id, org_id, staff_id, remnotes, source) VALUES (99001, {TENANT}, {staff}, 'from the app', 'M')"),
    )
    .await;
    // The staff member's reminders and their responses go with them on the desktop.
    exec(
        &desktop,
        &format!(
            "DELETE FROM mbremdetail WHERE rem_id IN (SELECT rem_id FROM mbreminder WHERE staff_id = {staff});
             DELETE FROM mbreminder WHERE staff_id = {staff}; DELETE FROM mbstaff WHERE staff_id = {staff}"
        ),
    )
    .await;

    let reports = forward(&pair, SyncOptions::default()).await;
    // Children first: the desktop-born reminders went in the same run; the mobile one holds the staff.
    assert_eq!(deletes_of(&reports, "reminder").deleted as i64, reminders);
    let d = deletes_of(&reports, "mbstaff");
    assert_eq!((d.deleted, d.held), (0, 1), "{d:#?}");
    assert!(d.held_samples[0].1.contains("reminder"), "{d:#?}");
    assert_eq!(count(&cloud, &format!("mbstaff WHERE staff_id = {staff}")).await, 1);
    assert_eq!(
        count(&cloud, "_sync_rejects WHERE table_name = 'mbstaff' AND kind = 'delete' AND reason LIKE '%reminder%'")
            .await,
        1
    );
    assert_eq!(exit_code(&pgbisync_runtime::RunReport { directions: reports }), 1, "a held row is a row set aside");

    exec(&cloud, "DELETE FROM reminder WHERE rem_id = 99001").await;
    let reports = forward(&pair, SyncOptions::default()).await;
    let d = deletes_of(&reports, "mbstaff");
    assert_eq!((d.deleted, d.held), (1, 0), "{d:#?}");
    assert_eq!(count(&cloud, &format!("mbstaff WHERE staff_id = {staff}")).await, 0);
    assert_eq!(count(&cloud, "_sync_rejects WHERE table_name = 'mbstaff' AND kind = 'delete'").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_never_touch_another_firms_rows_even_in_a_table_without_the_tenant_column() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    forward(&pair, SyncOptions::default()).await;
    // Firm 2's desktop-born rows in the shared cloud, which firm 1's desktop has never had.
    exec(
        &cloud,
        "INSERT INTO orgmaster (org_id, orgname, source) VALUES (2, 'Firm 2', 'D');
         INSERT INTO mbstaff (org_id, staff_id, name, source) VALUES (2, 88001, 'their staff', 'D');
         INSERT INTO reminder (rem_id, org_id, staff_id, remnotes, source) VALUES (88001, 2, 88001, 'theirs', 'D');
         INSERT INTO remdetail (remdetid, rem_id, staff_id, remresponse, source) VALUES (88001, 88001, 88001, 'theirs', 'D');
         INSERT INTO jobshead (org_id, job_id, client_id, work_desc, source) VALUES (2, 88001, 1, 'theirs', 'D');",
    )
    .await;
    // And one of firm 1's own remdetail rows goes.
    let mine: i64 =
        scalar(&cloud, "SELECT min(remdetid)::bigint FROM remdetail WHERE source = 'D' AND remdetid < 88001").await;
    exec(&desktop, &format!("DELETE FROM mbremdetail WHERE remdetid = {mine}")).await;

    let reports = forward(&pair, full()).await;
    assert_eq!(deletes_of(&reports, "remdetail").deleted, 1, "{:#?}", deletes_of(&reports, "remdetail"));
    assert_eq!(count(&cloud, &format!("remdetail WHERE remdetid = {mine}")).await, 0);
    for (table, key) in
        [("remdetail", "remdetid"), ("reminder", "rem_id"), ("mbstaff", "staff_id"), ("jobshead", "job_id")]
    {
        assert_eq!(count(&cloud, &format!("{table} WHERE {key} = 88001")).await, 1, "firm 2's {table} row stays");
    }
    assert_eq!(count(&cloud, "orgmaster WHERE org_id = 2").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_rows_are_kept_and_can_be_restored_to_the_desktop() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    forward(&pair, SyncOptions::default()).await;
    let client: i64 = scalar(&cloud, "SELECT max(client_id)::bigint FROM climaster WHERE source = 'D'").await;
    let original: Option<String> =
        scalar(&cloud, &format!("SELECT clientname FROM climaster WHERE client_id = {client}")).await;
    exec(
        &desktop,
        &format!(
            "DELETE FROM cliunimaster WHERE client_id = {client}; DELETE FROM climaster WHERE client_id = {client}"
        ),
    )
    .await;
    forward(&pair, SyncOptions::default()).await;
    assert_eq!(count(&cloud, &format!("climaster WHERE client_id = {client}")).await, 0);
    assert_eq!(kept(&cloud, "climaster").await, 1);
    let status = pgbisync_runtime::read_status(
        &cloud,
        pair.program.manifest,
        Direction::Forward,
        &Scope::of(Some(TENANT)),
        &["climaster"],
    )
    .await
    .unwrap_or_else(|e| panic!("status: {e}"))
    .unwrap_or_default();
    assert_eq!(status.iter().map(|r| r.deleted_kept).collect::<Vec<_>>(), [1], "status shows the kept row");

    let key = format!("{{\"client_id\" : {client}}}");
    assert_eq!(pair.cli(&["restore", "--table", "climaster", "--key", &key]).await, 0);
    assert_eq!(count(&desktop, &format!("climaster WHERE client_id = {client}")).await, 1, "back on the desktop");
    assert_eq!(kept(&cloud, "climaster").await, 0, "marked restored");
    let reports = forward(&pair, SyncOptions::default()).await;
    assert_eq!(deletes_of(&reports, "climaster").deleted, 0);
    let name: Option<String> =
        scalar(&cloud, &format!("SELECT clientname FROM climaster WHERE client_id = {client}")).await;
    assert_eq!(name, original, "the next run brought it back to the cloud");
    // A second restore of the same row finds nothing left to restore and changes nothing.
    assert_eq!(pair.cli(&["restore", "--table", "climaster", "--key", &key]).await, 0);
    assert_eq!(count(&desktop, &format!("climaster WHERE client_id = {client}")).await, 1);
}

/// A first load of a large table into a target holding none of the firm's rows has nothing to
/// delete: the check is left for the next run, which then deletes what went since. A target that
/// already holds the firm's rows is always checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_load_leaves_the_delete_check_to_the_next_run_which_deletes_what_went() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    // 12,000 rows: past the batch size from which the first-load question is asked.
    firm_one_with_jobs(&desktop, 12_000).await;
    let reports = forward(&pair, only_jobs()).await;
    let jobs = deletes_of(&reports, "jobshead");
    assert_eq!(jobs.outcome, DeleteOutcome::FirstLoad, "{jobs:#?}");
    assert_eq!(report(&flatten(reports.clone()), "jobshead").rows_written, 12_000);
    // A small table copied straight into its empty target is a first load too.
    let tables = flatten(reports.clone());
    assert!(report(&tables, "orgmaster").direct, "{tables:#?}");
    assert_eq!(deletes_of(&reports, "orgmaster").outcome, DeleteOutcome::FirstLoad);

    delete_jobs(&desktop, &[7, 8]).await;
    let reports = forward(&pair, only_jobs()).await;
    let jobs = deletes_of(&reports, "jobshead");
    assert_eq!((jobs.outcome, jobs.deleted), (DeleteOutcome::Checked, 2), "{jobs:#?}");
    assert_eq!(count(&cloud, "jobshead WHERE job_id IN (7, 8)").await, 0);

    // A full re-read into a target holding the firm's rows is no first load.
    delete_jobs(&desktop, &[9]).await;
    let reports = forward(&pair, SyncOptions { full: true, ..only_jobs() }).await;
    let jobs = deletes_of(&reports, "jobshead");
    assert_eq!((jobs.outcome, jobs.deleted), (DeleteOutcome::Checked, 1), "{jobs:#?}");
    assert_eq!(count(&cloud, "jobshead").await, 11_997);
}

/// A full read stages every key the desktop has, so its delete check compares the cloud's keys
/// with staging in the same transaction instead of scanning the desktop's keys again. A row the
/// read set aside is still the desktop's: it is not deleted. The proof it records spares the next
/// run's check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_read_checks_its_deletes_against_what_it_staged() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    firm_one_with_jobs(&desktop, 300).await;
    forward(&pair, only_jobs()).await;
    assert_eq!(count(&cloud, "jobshead").await, 300);

    // Two jobs go; a third now points at a location the cloud lacks, so the read sets it aside.
    delete_jobs(&desktop, &[7, 8]).await;
    exec(&desktop, "UPDATE jobshead SET loc_id = 77, updated_at = now() WHERE job_id = 9").await;
    // A session that wrote and left has counted its changes (see the test below).
    drop(desktop);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let reports = forward(&pair, SyncOptions { full: true, ..only_jobs() }).await;
    assert_eq!(report(&flatten(reports.clone()), "jobshead").rejected, 1, "{reports:#?}");
    let jobs = deletes_of(&reports, "jobshead");
    assert!(jobs.against_staging, "{jobs:#?}");
    assert_eq!((jobs.outcome, jobs.source_keys, jobs.target_rows), (DeleteOutcome::Checked, 298, 300), "{jobs:#?}");
    assert_eq!((jobs.gone, jobs.deleted), (2, 2), "{jobs:#?}");
    assert_eq!(count(&cloud, "jobshead WHERE job_id IN (7, 8)").await, 0);
    assert_eq!(count(&cloud, "jobshead WHERE job_id = 9 AND loc_id IS NULL").await, 1, "set aside, not deleted");
    assert_eq!(kept(&cloud, "jobshead").await, 2);

    let reports = forward(&pair, only_jobs()).await;
    assert_eq!(deletes_of(&reports, "jobshead").outcome, DeleteOutcome::Unchanged, "{reports:#?}");
}

/// The delete check a table's unchanged counters spare, and every way a delete still gets through:
/// made by a session still connected, by one that has just disconnected, and after the proof is
/// set aside by a `--full` run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_counters_spare_the_check_and_no_delete_slips_past_them() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    forward(&pair, SyncOptions::default()).await;
    let checked_at = "SELECT deletes_checked_at::text FROM _sync_metadata WHERE table_name = 'jobshead'";
    let cloud = pair.cloud_client().await;
    let first: String = scalar(&cloud, checked_at).await;

    // Nothing changed on the desktop, and no session there is busy: the counters prove it.
    let reports = forward(&pair, SyncOptions::default()).await;
    let spared = deletes_of(&reports, "jobshead");
    assert_eq!((spared.outcome, spared.source_keys, spared.deleted), (DeleteOutcome::Unchanged, 0, 0), "{spared:#?}");
    assert_eq!(scalar::<String>(&cloud, checked_at).await, first, "a spared check is not a check");

    // A session still connected, just done deleting, may not have counted its delete yet.
    let synced = cloud.query("SELECT job_id::bigint FROM jobshead WHERE org_id = 1 ORDER BY job_id", &[]).await;
    let jobs: Vec<i64> = synced.unwrap().iter().map(|r| r.get(0)).collect();
    let desktop = pair.desktop_client().await;
    delete_jobs(&desktop, &jobs[..1]).await;
    let reports = forward(&pair, SyncOptions::default()).await;
    assert_eq!(deletes_of(&reports, "jobshead").outcome, DeleteOutcome::Checked);
    assert_eq!(deletes_of(&reports, "jobshead").deleted, 1);
    drop(desktop);

    // A session that deleted and left (as `psql -c` does) counted its delete on the way out.
    delete_jobs(&pair.desktop_client().await, &jobs[1..2]).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let reports = forward(&pair, SyncOptions::default()).await;
    assert_eq!(deletes_of(&reports, "jobshead").deleted, 1, "{reports:#?}");

    // The proof recorded is the one read before that check: the next run is spared again, and a
    // --full run trusts no proof.
    let reports = forward(&pair, SyncOptions::default()).await;
    assert_eq!(deletes_of(&reports, "jobshead").outcome, DeleteOutcome::Unchanged);
    let reports = forward(&pair, full()).await;
    assert_eq!(deletes_of(&reports, "jobshead").outcome, DeleteOutcome::Checked);
    assert_eq!(count(&cloud, &format!("jobshead WHERE job_id IN ({}, {})", jobs[0], jobs[1])).await, 0);
}

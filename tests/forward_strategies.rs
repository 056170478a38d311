//! Forward sync as a user relies on it, end to end on two throwaway servers: the three write
//! strategies (upsert never touches mobile-born rows, replace_origin mirrors the desktop's multiset,
//! the lookup fills jobtasks.client_id), renamed tables, newest-duplicate-wins, no-op re-runs,
//! exact value round trips in both directions, schema drift failing one table alone, and dry runs.

mod support;

use pgbisync_runtime::Direction;
use pgbisync_runtime::SyncOptions;
use pgbisync_runtime::{Status, TableReport};
use support::*;
use tokio_postgres::Client;

const EPOCH: &str = "1970-01-01 00:00:00+00";
const NON_ASCII: &str = "Añjali — தமிழ் 😀";

/// The shared columns of jobtasks, as one comparable text per row.
const JOBTASKS_ROW: &str = "ROW(org_id, con_id, loc_id, job_id, year_id, task_id, taskorder, task_desc, \
     jobdet_man_hrs, actual_man_hrs, actual_man_min, checklistlinked, createdby, createddate, task_status)::text";

async fn exec(client: &Client, sql: &str) {
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Every row of a query, each column read as optional text (cast in the SQL).
async fn rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| (0..r.len()).map(|i| r.get::<_, Option<String>>(i)).collect())
        .collect()
}

/// The first column of every row of a query, as text (NULL shown as "<null>").
async fn texts(client: &Client, sql: &str) -> Vec<String> {
    rows(client, sql)
        .await
        .into_iter()
        .map(|r| r.into_iter().next().flatten().unwrap_or_else(|| "<null>".into()))
        .collect()
}

async fn text(client: &Client, sql: &str) -> Option<String> {
    scalar::<Option<String>>(client, sql).await
}

fn some(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// The masters every desktop row of the tenant points at.
async fn desktop_masters(desktop: &Client) {
    exec(
        desktop,
        "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm One'); \
         INSERT INTO locmaster (org_id, loc_id, locname) VALUES (1, 1, 'Chennai');",
    )
    .await;
}

async fn desktop_job(desktop: &Client, job_id: i64, client_id: i64, work_desc: &str) {
    exec(
        desktop,
        &format!(
            "INSERT INTO jobshead (org_id, loc_id, job_id, client_id, work_desc, job_status) \
             VALUES (1, 1, {job_id}, {client_id}, '{work_desc}', 'O')"
        ),
    )
    .await;
}

fn assert_all_ok(reports: &[TableReport]) {
    for r in reports {
        assert_status(r, Status::Ok);
    }
}

fn forward_full(tables: &[&str]) -> SyncOptions {
    SyncOptions { full: true, tables: tables.iter().map(|t| t.to_string()).collect(), ..SyncOptions::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_never_overwrites_a_mobile_born_cloud_row_and_stamps_desktop_rows_d() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop_masters(&desktop).await;
    desktop_job(&desktop, 500, 70, "desktop version").await;
    desktop_job(&desktop, 501, 71, "first desktop job").await;
    desktop_job(&desktop, 502, 72, "second desktop job").await;
    exec(
        &cloud,
        "INSERT INTO jobshead (org_id, loc_id, job_id, client_id, work_desc, job_status, source) \
         VALUES (1, 1, 500, 80, 'mobile version', 'P', 'M')",
    )
    .await;
    let mobile_row = "SELECT ROW(jobshead.*)::text || ' xmin ' || xmin::text FROM jobshead WHERE job_id = 500";
    let before = text(&cloud, mobile_row).await;

    let reports = pair.forward().await;
    assert_all_ok(&reports);
    assert_eq!(report(&reports, "jobshead").rows_written, 2, "only the two desktop-born jobs are written");
    assert_eq!(text(&cloud, mobile_row).await, before, "the mobile-born row is not touched at all");
    assert_eq!(
        rows(&cloud, "SELECT job_id::text, client_id::text, work_desc, job_status::text, source::text FROM jobshead ORDER BY job_id").await,
        vec![
            vec![some("500"), some("80"), some("mobile version"), some("P"), some("M")],
            vec![some("501"), some("71"), some("first desktop job"), some("O"), some("D")],
            vec![some("502"), some("72"), some("second desktop job"), some("O"), some("D")],
        ]
    );

    // The desktop edits its copy of the key: the mobile row still wins.
    exec(&desktop, "UPDATE jobshead SET work_desc = 'desktop edit', client_id = 75 WHERE job_id = 500").await;
    let reports = pair.forward().await;
    assert_all_ok(&reports);
    assert_eq!(text(&cloud, mobile_row).await, before, "an edited desktop row does not overwrite the mobile row");
    assert_eq!(count(&cloud, "jobshead").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_origin_mirrors_the_desktop_multiset_on_reruns_without_duplicates_or_rewrites() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop_masters(&desktop).await;
    desktop_job(&desktop, 10, 700, "audit").await;
    desktop_job(&desktop, 11, 701, "filing").await;
    // No key on the desktop; two rows are identical and both must arrive.
    exec(
        &desktop,
        "INSERT INTO jobtasks (org_id, loc_id, job_id, task_id, taskorder, task_desc, jobdet_man_hrs, createdby) VALUES \
         (1, 1, 10, 1, 1, 'Audit planning', 12.50, 'admin'), \
         (1, 1, 10, 2, 2, 'Vouching', 3.00, 'admin'), \
         (1, 1, 10, 2, 2, 'Vouching', 3.00, 'admin'), \
         (1, 1, 11, 1, 1, 'Filing', NULL, NULL)",
    )
    .await;
    // Born on mobile, and another tenant's desktop row: neither is ours to touch.
    exec(
        &cloud,
        "INSERT INTO jobtasks (org_id, loc_id, job_id, task_id, task_desc, source) VALUES \
         (1, 1, 10, 9, 'mobile task', 'M'), \
         (2, 1, 10, 1, 'Audit planning', 'D')",
    )
    .await;
    let desktop_set = format!("SELECT {JOBTASKS_ROW} FROM jobtasks ORDER BY 1");
    let cloud_set = format!("SELECT {JOBTASKS_ROW} FROM jobtasks WHERE source = 'D' AND org_id = 1 ORDER BY 1");
    let identities =
        "SELECT jt_id::text || ' ' || xmin::text || ' ' || source || ' ' || org_id::text FROM jobtasks ORDER BY jt_id";
    let untouched = "SELECT ROW(jobtasks.*)::text || ' xmin ' || xmin::text FROM jobtasks WHERE source = 'M' OR org_id = 2 ORDER BY jt_id";
    let others = texts(&cloud, untouched).await;

    let first = pair.forward().await;
    assert_all_ok(&first);
    assert_eq!(report(&first, "jobtasks").rows_written, 4);
    assert_eq!(
        texts(&cloud, &cloud_set).await,
        texts(&desktop, &desktop_set).await,
        "the cloud's D rows equal the desktop's rows"
    );
    assert_eq!(count(&cloud, "jobtasks WHERE org_id = 1 AND source = 'D'").await, 4);
    assert_eq!(count(&cloud, "jobtasks WHERE org_id = 1 AND source IS DISTINCT FROM 'D' AND source <> 'M'").await, 0);
    let after_first = texts(&cloud, identities).await;

    let second = pair.forward().await;
    assert_all_ok(&second);
    assert_eq!(report(&second, "jobtasks").rows_written, 0, "a re-run changes nothing");
    assert_eq!(
        texts(&cloud, &cloud_set).await,
        texts(&desktop, &desktop_set).await,
        "still no duplicates after a re-run"
    );
    assert_eq!(texts(&cloud, identities).await, after_first, "re-run keeps every jt_id and rewrites no row");

    // One of the identical pair and one distinct row go away on the desktop.
    exec(
        &desktop,
        "DELETE FROM jobtasks WHERE ctid IN (SELECT ctid FROM jobtasks WHERE job_id = 10 AND task_id = 2 LIMIT 1); \
         DELETE FROM jobtasks WHERE job_id = 11 AND task_id = 1",
    )
    .await;
    let third = pair.forward().await;
    assert_all_ok(&third);
    assert_eq!(
        texts(&cloud, &cloud_set).await,
        texts(&desktop, &desktop_set).await,
        "exactly the deleted rows left the cloud"
    );
    assert_eq!(count(&cloud, "jobtasks WHERE org_id = 1 AND source = 'D'").await, 2);
    let after_delete = texts(&cloud, identities).await;
    assert_eq!(after_delete.len(), after_first.len() - 2);
    for row in &after_delete {
        assert!(after_first.contains(row), "row {row} was rewritten or re-inserted by the delete run: {after_first:?}");
    }
    assert_eq!(texts(&cloud, untouched).await, others, "the mobile row and the other tenant's row are untouched");

    // A row edited in place, and a third copy of a row that now has one: only they are written.
    exec(
        &desktop,
        "UPDATE jobtasks SET task_desc = 'Audit planning, revised' WHERE job_id = 10 AND task_id = 1; \
         INSERT INTO jobtasks (org_id, loc_id, job_id, task_id, taskorder, task_desc, jobdet_man_hrs, createdby) VALUES \
         (1, 1, 10, 2, 2, 'Vouching', 3.00, 'admin'), (1, 1, 10, 2, 2, 'Vouching', 3.00, 'admin')",
    )
    .await;
    let fourth = pair.forward().await;
    assert_all_ok(&fourth);
    assert_eq!(report(&fourth, "jobtasks").rows_written, 3, "the edited row and the two new copies");
    assert_eq!(texts(&cloud, &cloud_set).await, texts(&desktop, &desktop_set).await, "the edit and the copies arrived");
    assert_eq!(count(&cloud, "jobtasks WHERE org_id = 1 AND source = 'D' AND task_id = 2").await, 3);
    let after_edit = texts(&cloud, identities).await;
    let kept: Vec<&String> = after_delete.iter().filter(|row| after_edit.contains(row)).collect();
    assert_eq!(
        kept.len(),
        after_delete.len() - 1,
        "only the edited row was replaced: {after_delete:?} -> {after_edit:?}"
    );
    assert_eq!(texts(&cloud, untouched).await, others, "the mobile row and the other tenant's row are untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobtasks_client_id_is_looked_up_from_the_cloud_jobshead_synced_in_the_same_run() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop_masters(&desktop).await;
    desktop_job(&desktop, 10, 700, "audit").await;
    desktop_job(&desktop, 11, 701, "filing").await;
    desktop_job(&desktop, 12, 999, "desktop copy of a mobile job").await;
    // Job 12 was born on mobile: the cloud's client_id (800) is the one that counts.
    exec(&cloud, "INSERT INTO jobshead (org_id, loc_id, job_id, client_id, work_desc, source) VALUES (1, 1, 12, 800, 'mobile job', 'M')")
        .await;
    exec(
        &desktop,
        "INSERT INTO jobtasks (org_id, loc_id, job_id, task_id, task_desc) VALUES \
         (1, 1, 10, 1, 'a'), (1, 1, 10, 2, 'b'), (1, 1, 11, 1, 'c'), (1, 1, 12, 1, 'd')",
    )
    .await;

    let reports = pair.forward().await;
    assert_all_ok(&reports);
    let position = |t: &str| reports.iter().position(|r| r.table == t).unwrap();
    assert!(position("jobshead") < position("jobtasks"), "jobshead syncs before jobtasks");
    let lookup = "SELECT job_id::text, task_id::text, client_id::text FROM jobtasks ORDER BY job_id, task_id";
    let expect = |a: &str| {
        vec![
            vec![some("10"), some("1"), some(a)],
            vec![some("10"), some("2"), some(a)],
            vec![some("11"), some("1"), some("701")],
            vec![some("12"), some("1"), some("800")],
        ]
    };
    assert_eq!(rows(&cloud, lookup).await, expect("700"));
    let mismatched = "jobtasks t JOIN jobshead h ON h.job_id = t.job_id WHERE t.client_id IS DISTINCT FROM h.client_id";
    assert_eq!(count(&cloud, mismatched).await, 0);

    // The job moves to another client on the desktop: its tasks follow in the same run.
    exec(&desktop, "UPDATE jobshead SET client_id = 705 WHERE job_id = 10").await;
    let reports = pair.forward().await;
    assert_all_ok(&reports);
    assert_eq!(rows(&cloud, lookup).await, expect("705"));
    assert_eq!(count(&cloud, mismatched).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_tables_sync_between_their_desktop_and_cloud_names_both_ways() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop_masters(&desktop).await;
    exec(
        &desktop,
        "INSERT INTO mbstaff (org_id, loc_id, staff_id, name) VALUES (1, 1, 5, 'Priya'); \
         INSERT INTO mbreminder (rem_id, org_id, loc_id, staff_id, remnotes, remtime) VALUES \
           (1, 1, 1, 5, 'call the client', '09:15'), (2, 1, 1, 5, 'file the return', NULL); \
         INSERT INTO mbremdetail (remdetid, rem_id, staff_id, remresponse, remresstatus) VALUES (1, 1, 5, 'called', 'Y');",
    )
    .await;

    let reports = pair.forward().await;
    assert_all_ok(&reports);
    let r = report(&reports, "reminder");
    assert_eq!((r.source.as_str(), r.target.as_str(), r.rows_written), ("mbreminder", "reminder", 2));
    let d = report(&reports, "remdetail");
    assert_eq!((d.source.as_str(), d.target.as_str(), d.rows_written), ("mbremdetail", "remdetail", 1));
    assert_eq!(
        rows(&cloud, "SELECT rem_id::text, remnotes, remtime::text, source::text FROM reminder ORDER BY rem_id").await,
        vec![
            vec![some("1"), some("call the client"), some("09:15:00"), some("D")],
            vec![some("2"), some("file the return"), None, some("D")],
        ]
    );
    assert_eq!(
        rows(&cloud, "SELECT remdetid::text, rem_id::text, remresponse, source::text FROM remdetail").await,
        vec![vec![some("1"), some("1"), some("called"), some("D")]]
    );

    // A reminder born on mobile comes back to the desktop's mbreminder.
    exec(&cloud, "INSERT INTO reminder (rem_id, org_id, loc_id, staff_id, remnotes, source) VALUES (900, 1, 1, 5, 'from the phone', 'M')")
        .await;
    let reports = pair.reverse().await;
    assert_all_ok(&reports);
    let r = report(&reports, "reminder");
    assert_eq!((r.source.as_str(), r.target.as_str(), r.rows_written), ("reminder", "mbreminder", 1));
    assert_eq!(
        rows(&desktop, "SELECT rem_id::text, remnotes FROM mbreminder ORDER BY rem_id").await,
        vec![
            vec![some("1"), some("call the client")],
            vec![some("2"), some("file the return")],
            vec![some("900"), some("from the phone")],
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_desktop_duplicate_wins_and_ties_resolve_the_same_way_every_run() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop_masters(&desktop).await;
    // The newer row is inserted first, so physical order does not favour it.
    exec(
        &desktop,
        "INSERT INTO jobshead (org_id, loc_id, job_id, client_id, work_desc, updated_at) VALUES \
         (1, 1, 20, 1, 'newer', '2024-03-01 12:00:00+00'), \
         (1, 1, 20, 2, 'older', '2024-03-01 11:00:00+00')",
    )
    .await;
    let reports = pair.forward_tables(&["orgmaster", "locmaster", "jobshead"]).await;
    assert_all_ok(&reports);
    let r = report(&reports, "jobshead");
    assert_eq!((r.rows_read, r.duplicates_dropped, r.rows_written), (2, 1, 1));
    assert_eq!(
        rows(&cloud, "SELECT client_id::text, work_desc FROM jobshead WHERE job_id = 20").await,
        vec![vec![some("1"), some("newer")]]
    );

    // A tie on updated_at: the same row wins on two fresh runs, whatever the physical order.
    let tie = "(1, 1, 21, 3, 'tie alpha', '2024-03-02 10:00:00+00')";
    let tie2 = "(1, 1, 21, 4, 'tie beta', '2024-03-02 10:00:00+00')";
    let insert = "INSERT INTO jobshead (org_id, loc_id, job_id, client_id, work_desc, updated_at) VALUES";
    let mut winners = Vec::new();
    for order in [[tie, tie2], [tie2, tie]] {
        exec(&desktop, &format!("DELETE FROM jobshead WHERE job_id = 21; {insert} {}, {}", order[0], order[1])).await;
        exec(&cloud, "DELETE FROM jobshead WHERE job_id = 21").await;
        let reports = flatten(pair.sync(&[Direction::Forward], forward_full(&["jobshead"])).await);
        let r = report(&reports, "jobshead");
        assert_status(r, Status::Ok);
        assert_eq!(r.duplicates_dropped, 2, "one duplicate each of jobs 20 and 21");
        let w = rows(&cloud, "SELECT client_id::text, work_desc FROM jobshead WHERE job_id = 21").await;
        assert!(
            w == vec![vec![some("3"), some("tie alpha")]] || w == vec![vec![some("4"), some("tie beta")]],
            "the winner is one whole source row: {w:?}"
        );
        winners.push(w);
        assert_eq!(count(&cloud, "jobshead").await, 2);
    }
    assert_eq!(winners[0], winners[1], "ties are broken deterministically");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_without_desktop_changes_writes_and_rewrites_nothing() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop_masters(&desktop).await;
    // NULLs, empty strings, padded chars, a duplicate key and a NULL tracking value: all must
    // compare equal to what the first run wrote.
    exec(
        &desktop,
        &format!(
            "INSERT INTO jobshead (org_id, con_id, loc_id, job_id, year_id, client_id, jobdate, job_nature, work_desc, worklocation, act_man_min, updated_at) VALUES \
             (1, 3, 1, 1, 2024, 100, '2024-04-01', 'A', '{NON_ASCII}', '', 90, '2024-01-01 00:00:00+00'), \
             (1, NULL, NULL, 2, NULL, 101, NULL, NULL, NULL, NULL, NULL, '2024-01-02 00:00:00+00'), \
             (1, 3, 1, 3, 2024, 102, '2024-04-02', 'B', 'older duplicate', 'x', 1, '2024-01-01 00:00:00+00'), \
             (1, 3, 1, 3, 2024, 102, '2024-04-02', 'B', 'newer duplicate', 'x', 1, '2024-01-05 00:00:00+00'), \
             (1, 3, 1, 4, 2024, 103, '2024-04-03', ' ', 'no tracking value', '', 0, NULL); \
             INSERT INTO jobshead (org_id, loc_id, job_id, client_id, work_desc) VALUES (1, 1, 5, 104, 'stamped now'); \
             INSERT INTO jobtasks (org_id, loc_id, job_id, task_id, task_desc, jobdet_man_hrs, actual_man_hrs, checklistlinked, createdby, createddate) VALUES \
             (1, 1, 1, 1, 'a', 12.50, '07:45:30.5', 'Y', '', '2024-04-01'), \
             (1, 1, 1, 1, 'a', 12.50, '07:45:30.5', 'Y', '', '2024-04-01'), \
             (1, 1, 2, 1, NULL, NULL, NULL, NULL, NULL, NULL), \
             (1, 1, 3, 2, '{NON_ASCII}', 0.00, '00:00', ' ', 'admin', '2024-04-02');"
        ),
    )
    .await;
    let xmins = [
        ("jobshead", "SELECT job_id::text || ' ' || xmin::text FROM jobshead ORDER BY job_id"),
        ("jobtasks", "SELECT jt_id::text || ' ' || xmin::text FROM jobtasks ORDER BY jt_id"),
        ("orgmaster", "SELECT org_id::text || ' ' || xmin::text FROM orgmaster ORDER BY org_id"),
        ("locmaster", "SELECT loc_id::text || ' ' || xmin::text FROM locmaster ORDER BY loc_id"),
    ];

    let first = pair.forward().await;
    assert_all_ok(&first);
    assert_eq!(report(&first, "jobshead").rows_written, 5);
    assert_eq!(report(&first, "jobtasks").rows_written, 4);
    let mut before = Vec::new();
    for (table, sql) in xmins {
        let v = texts(&cloud, sql).await;
        assert!(!v.is_empty(), "{table} received rows");
        before.push(v);
    }

    let second = pair.forward().await;
    assert_all_ok(&second);
    for r in &second {
        assert_eq!(r.rows_written, 0, "{} wrote {} row(s) on a no-op re-run", r.table, r.rows_written);
    }
    assert!(
        report(&second, "jobshead").rows_read >= 2,
        "the re-run read again at least the NULL-tracked and the freshly stamped job"
    );
    for ((table, sql), old) in xmins.iter().zip(&before) {
        assert_eq!(&texts(&cloud, sql).await, old, "{table}: a no-op re-run rewrote rows (xmin changed)");
    }

    // A full re-read compares every row with the cloud's and settles the equal ones before the
    // checks and the apply: nothing is written either.
    let tables = ["orgmaster", "locmaster", "jobshead", "jobtasks"];
    let full = pair.sync(&[Direction::Forward], forward_full(&tables)).await;
    let full = flatten(full);
    assert_all_ok(&full);
    for r in &full {
        assert_eq!((r.mode, r.rows_written), ("full", 0), "{}: a full re-read of unchanged rows wrote", r.table);
    }
    for ((table, sql), old) in xmins.iter().zip(&before) {
        assert_eq!(&texts(&cloud, sql).await, old, "{table}: a full re-read rewrote rows (xmin changed)");
    }

    // Of a full re-read, only the changed and the new rows are written; the rest keep their xmin.
    exec(
        &desktop,
        "UPDATE jobshead SET work_desc = 'changed' WHERE job_id = 2; \
         INSERT INTO jobshead (org_id, loc_id, job_id, client_id, work_desc) VALUES (1, 1, 6, 105, 'new')",
    )
    .await;
    let full = flatten(pair.sync(&[Direction::Forward], forward_full(&["jobshead"])).await);
    assert_eq!(report(&full, "jobshead").rows_written, 2);
    assert_eq!(text(&cloud, "SELECT work_desc FROM jobshead WHERE job_id = 2").await, some("changed"));
    assert_eq!(text(&cloud, "SELECT work_desc FROM jobshead WHERE job_id = 6").await, some("new"));
    let kept: Vec<&String> = before[0].iter().filter(|v| !v.starts_with("2 ")).collect();
    let now = texts(&cloud, xmins[0].1).await;
    assert!(kept.iter().all(|v| now.contains(v)), "unchanged jobs kept their xmin: {kept:?} {now:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_round_trip_exactly_in_both_directions() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    assert_eq!(text(&desktop, "SHOW TimeZone").await, some("Asia/Kolkata"));
    assert_eq!(text(&cloud, "SHOW TimeZone").await, some("UTC"));
    desktop_masters(&desktop).await;
    exec(&desktop, "INSERT INTO mbstaff (org_id, loc_id, staff_id, name) VALUES (1, 1, 5, 'Priya')").await;

    // ---- forward: desktop -> cloud
    // 00:15 on 1 April in Kolkata is still 31 March in UTC: the DATE must stay 2024-04-01.
    exec(
        &desktop,
        &format!(
            "INSERT INTO jobshead (org_id, loc_id, job_id, client_id, jobdate, targetdate, job_nature, work_desc, worklocation, drivefolderpath) VALUES \
             (1, 1, 30, 1, CAST(TIMESTAMPTZ '2024-04-01 00:15:00+05:30' AS date), '2024-12-31', 'A', '{NON_ASCII}', '', NULL); \
             INSERT INTO jobtasks (org_id, loc_id, job_id, task_id, task_desc, jobdet_man_hrs, actual_man_hrs, checklistlinked, createdby, createddate) VALUES \
             (1, 1, 30, 1, '{NON_ASCII}', 12.50, '07:45:30.5', 'Y', '', '2024-04-01'), \
             (1, 1, 30, 2, '', 0.10, '23:59:59.999999', NULL, NULL, '2024-02-29'), \
             (1, 1, 30, 3, NULL, 999999.99, '00:00', '', 'x', '1999-12-31');"
        ),
    )
    .await;
    assert_eq!(text(&desktop, "SELECT jobdate::text FROM jobshead WHERE job_id = 30").await, some("2024-04-01"));
    let reports = pair.forward().await;
    assert_all_ok(&reports);

    let jobshead = "SELECT job_id::text, jobdate::text, targetdate::text, job_nature::text, work_desc, worklocation, \
                    drivefolderpath, (worklocation IS NULL)::text, (drivefolderpath IS NULL)::text FROM jobshead ORDER BY job_id";
    assert_eq!(rows(&cloud, jobshead).await, rows(&desktop, jobshead).await);
    let jobtasks =
        "SELECT task_id::text, task_desc, jobdet_man_hrs::text, actual_man_hrs::text, createdby, createddate::text, \
                    checklistlinked::text, octet_length(checklistlinked)::text, concat('[', checklistlinked, ']'), \
                    (task_desc IS NULL)::text, (createdby IS NULL)::text FROM jobtasks ORDER BY task_id";
    assert_eq!(rows(&cloud, jobtasks).await, rows(&desktop, jobtasks).await);
    assert_eq!(
        rows(&cloud, "SELECT task_desc, jobdet_man_hrs::text, actual_man_hrs::text, createdby, createddate::text FROM jobtasks ORDER BY task_id").await,
        vec![
            vec![some(NON_ASCII), some("12.50"), some("07:45:30.5"), some(""), some("2024-04-01")],
            vec![some(""), some("0.10"), some("23:59:59.999999"), None, some("2024-02-29")],
            vec![None, some("999999.99"), some("00:00:00"), some("x"), some("1999-12-31")],
        ]
    );
    assert_eq!(
        rows(&cloud, "SELECT jobdate::text, work_desc, worklocation, drivefolderpath FROM jobshead WHERE job_id = 30")
            .await,
        vec![vec![some("2024-04-01"), some(NON_ASCII), some(""), None]]
    );
    assert_eq!(scalar::<i32>(&cloud, "SELECT octet_length(checklistlinked) FROM jobtasks WHERE task_id = 3").await, 1);

    // ---- reverse: cloud -> desktop (rows born on mobile)
    exec(
        &cloud,
        &format!(
            "INSERT INTO learequest (learequest_id, org_id, loc_id, staff_id, requestdate, fromdate, todate, fhvalue, shvalue, leavetype, \
               leaveremarks, createdby, approvedby, approveddate, source) VALUES \
             (1, 1, 1, 5, '2024-03-31', '2024-04-01', '2024-12-31', 'A', 'AB', NULL, '{NON_ASCII}', '', NULL, CAST(TIMESTAMPTZ '2024-03-31 20:00:00+00' AT TIME ZONE 'Asia/Kolkata' AS date), 'M'), \
             (2, 1, 1, 5, '2000-01-01', NULL, NULL, '', NULL, 'CL', '', NULL, '', NULL, 'M'); \
             INSERT INTO jobshead (org_id, loc_id, job_id, client_id, jobdate, work_desc, worklocation, job_nature, source) VALUES \
             (1, 1, 40, 2, '2024-04-01', '', NULL, 'M', 'M'); \
             INSERT INTO reminder (rem_id, org_id, loc_id, staff_id, remdate, remnotes, remtime, remtotype, client_name, source) VALUES \
             (900, 1, 1, 5, '2024-04-01', '{NON_ASCII}', '07:45:30.5', 'S', '', 'M');"
        ),
    )
    .await;
    let reports = pair.reverse().await;
    assert_all_ok(&reports);

    let learequest = "SELECT learequest_id::text, requestdate::text, fromdate::text, todate::text, fhvalue::text, octet_length(fhvalue)::text, \
                      concat('[', fhvalue, ']'), concat('[', shvalue, ']'), octet_length(shvalue)::text, leavetype::text, leaveremarks, createdby, \
                      approvedby, approveddate::text, (createdby IS NULL)::text, (approvedby IS NULL)::text FROM learequest ORDER BY learequest_id";
    assert_eq!(rows(&desktop, learequest).await, rows(&cloud, learequest).await);
    assert_eq!(
        rows(
            &desktop,
            "SELECT octet_length(fhvalue)::text, concat('[', fhvalue, ']'), leaveremarks, createdby, approvedby, approveddate::text \
             FROM learequest ORDER BY learequest_id"
        )
        .await,
        vec![
            vec![some("2"), some("[A ]"), some(NON_ASCII), some(""), None, some("2024-04-01")],
            vec![some("2"), some("[  ]"), some(""), None, some(""), None],
        ]
    );
    let mobile_job =
        "SELECT jobdate::text, work_desc, worklocation, (worklocation IS NULL)::text FROM jobshead WHERE job_id = 40";
    assert_eq!(rows(&desktop, mobile_job).await, vec![vec![some("2024-04-01"), some(""), None, some("true")]]);
    let mobile_reminder =
        "SELECT remdate::text, remnotes, remtime::text, remtotype::text, client_name FROM {} WHERE rem_id = 900";
    assert_eq!(
        rows(&desktop, &mobile_reminder.replace("{}", "mbreminder")).await,
        rows(&cloud, &mobile_reminder.replace("{}", "reminder")).await
    );
    assert_eq!(
        rows(&desktop, &mobile_reminder.replace("{}", "mbreminder")).await,
        vec![vec![some("2024-04-01"), some(NON_ASCII), some("07:45:30.5"), some("S"), some("")]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_whose_live_columns_differ_from_the_manifest_fails_alone_and_writes_nothing() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop_masters(&desktop).await;
    desktop_job(&desktop, 1, 100, "one").await;
    desktop_job(&desktop, 2, 101, "two").await;
    exec(&cloud, "ALTER TABLE jobshead DROP COLUMN worklocation").await;
    exec(&desktop, "ALTER TABLE jobshead ALTER COLUMN work_desc TYPE text").await;

    let reports = pair.forward().await;
    let r = report(&reports, "jobshead");
    assert_status(r, Status::Failed);
    let error = r.error.as_deref().unwrap_or_default();
    for needle in
        ["jobshead", "worklocation", "missing", "varchar(15)", "work_desc", "text", "varchar(100)", "sync-schema.yaml"]
    {
        assert!(error.contains(needle), "the error names {needle:?}: {error}");
    }
    for other in reports.iter().filter(|r| r.table != "jobshead") {
        assert_status(other, Status::Ok);
    }
    assert_eq!(report(&reports, "orgmaster").rows_written, 1, "the other tables still synced");
    assert_eq!(count(&cloud, "jobshead").await, 0, "nothing was written to the drifted table");
    assert_eq!(
        rows(&cloud, &format!("SELECT status, (last_sync_timestamp = '{EPOCH}')::text FROM _sync_metadata WHERE table_name = 'jobshead'")).await,
        vec![vec![some("failed"), some("true")]],
        "the failure is recorded and the watermark did not move"
    );

    assert_eq!(pair.cli(&["forward"]).await, 1, "forward exits 1 when a table failed");
    assert_eq!(count(&cloud, "jobshead").await, 0);
    assert_eq!(pair.cli(&["check"]).await, 1, "check exits 1 on a difference");
}

/// Desktop rows for a dry run: parents and children across several tables.
async fn dry_run_desktop(desktop: &Client) {
    desktop_masters(desktop).await;
    desktop_job(desktop, 10, 700, "audit").await;
    exec(
        desktop,
        "INSERT INTO jobtasks (org_id, loc_id, job_id, task_id, task_desc) VALUES (1, 1, 10, 1, 'a'), (1, 1, 10, 2, 'b'); \
         INSERT INTO mbstaff (org_id, loc_id, staff_id, name) VALUES (1, 1, 5, 'Priya'); \
         INSERT INTO mbreminder (rem_id, org_id, loc_id, staff_id, remnotes) VALUES (1, 1, 1, 5, 'call');",
    )
    .await;
}

/// What a real forward run writes from [`dry_run_desktop`].
const DRY_RUN_WRITES: [(&str, u64); 6] =
    [("orgmaster", 1), ("locmaster", 1), ("jobshead", 1), ("jobtasks", 2), ("mbstaff", 1), ("reminder", 1)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_writes_no_row_and_moves_no_watermark() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    dry_run_desktop(&desktop).await;
    let targets: Vec<&str> =
        pair.program.tables(Direction::Forward, &[]).iter().map(|t| t.spec().target.name).collect();
    assert_eq!(targets.len(), 16);
    let metadata = "SELECT ROW(_sync_metadata.*)::text FROM _sync_metadata ORDER BY table_name";

    // A fresh deployment: nothing lands, every watermark stays at the epoch.
    let code = pair.cli(&["forward", "--dry-run"]).await;
    assert!(matches!(code, 0 | 1), "the dry run ran (exit {code})");
    for t in &targets {
        assert_eq!(count(&cloud, &format!("\"{t}\"")).await, 0, "the dry run wrote to {t}");
    }
    // Not even the bootstrap persists: a dry run on a fresh deployment leaves no metadata behind.
    assert_eq!(
        count(&cloud, "pg_class WHERE relname IN ('_sync_metadata', '_sync_rejects')").await,
        0,
        "the dry run left metadata tables behind"
    );

    // After a real run, a dry run over desktop changes leaves rows and watermarks as they were.
    let reports = pair.forward().await;
    assert_all_ok(&reports);
    for (table, n) in DRY_RUN_WRITES {
        assert_eq!(report(&reports, table).rows_written, n, "{table}: the real run writes");
    }
    exec(
        &desktop,
        "UPDATE jobshead SET work_desc = 'changed' WHERE job_id = 10; \
         DELETE FROM jobtasks WHERE task_id = 2; \
         INSERT INTO mbreminder (rem_id, org_id, loc_id, staff_id, remnotes) VALUES (2, 1, 1, 5, 'new');",
    )
    .await;
    let cloud_rows = "SELECT string_agg(x, ' | ' ORDER BY x) FROM ( \
        SELECT 'jobshead ' || ROW(jobshead.*)::text || ' ' || xmin::text AS x FROM jobshead \
        UNION ALL SELECT 'jobtasks ' || ROW(jobtasks.*)::text || ' ' || xmin::text FROM jobtasks \
        UNION ALL SELECT 'reminder ' || ROW(reminder.*)::text || ' ' || xmin::text FROM reminder) r";
    let (rows_before, metadata_before) = (text(&cloud, cloud_rows).await, texts(&cloud, metadata).await);
    let code = pair.cli(&["forward", "--dry-run"]).await;
    assert!(matches!(code, 0 | 1), "the dry run ran (exit {code})");
    assert_eq!(text(&cloud, cloud_rows).await, rows_before, "the dry run changed cloud rows");
    assert_eq!(texts(&cloud, metadata).await, metadata_before, "the dry run moved metadata");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_reports_what_the_real_run_would_write() {
    let pair = Pair::with_schema().await;
    let desktop = pair.desktop_client().await;
    dry_run_desktop(&desktop).await;

    let dry = flatten(pair.sync(&[Direction::Forward], SyncOptions { dry_run: true, ..SyncOptions::default() }).await);
    for r in &dry {
        assert_status(r, Status::Ok);
        assert_eq!(
            r.rejected, 0,
            "{}: the dry run set rows aside that a real run applies: {:?}",
            r.table, r.reject_samples
        );
    }
    for (table, n) in DRY_RUN_WRITES {
        assert_eq!(report(&dry, table).rows_written, n, "{table}: the dry run previews the real run's writes");
    }
    assert_eq!(pair.cli(&["forward", "--dry-run"]).await, 0, "a clean dry run exits 0");
    assert_eq!(count(&pair.cloud_client().await, "jobshead").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_with_two_missing_parents_counts_as_one_row_set_aside() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    // Neither orgmaster 1 nor locmaster 9 exists anywhere.
    exec(&desktop, "INSERT INTO mbstaff (org_id, loc_id, staff_id, name) VALUES (1, 9, 5, 'Priya')").await;

    let reports = pair.forward_tables(&["mbstaff"]).await;
    let r = report(&reports, "mbstaff");
    assert_status(r, Status::Partial);
    assert_eq!((r.rows_read, r.rows_written, r.rejected), (1, 0, 1), "one row read, one row set aside");
    let reasons = text(&cloud, "SELECT string_agg(reason, '; ') FROM _sync_rejects WHERE table_name = 'mbstaff'")
        .await
        .unwrap_or_default();
    assert!(reasons.contains("orgmaster") && reasons.contains("locmaster"), "both reasons are recorded: {reasons}");
    assert_eq!(count(&cloud, "(SELECT DISTINCT row_key FROM _sync_rejects WHERE table_name = 'mbstaff') k").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_null_tracked_duplicate_never_overwrites_the_newest_row_on_later_runs() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop_masters(&desktop).await;
    exec(
        &desktop,
        "INSERT INTO jobshead (org_id, loc_id, job_id, client_id, work_desc, updated_at) VALUES \
         (1, 1, 20, 1, 'stamped', '2024-03-01 12:00:00+00'), (1, 1, 20, 2, 'unstamped', NULL)",
    )
    .await;
    let job = "SELECT client_id::text || ' ' || work_desc || ' ' || xmin::text FROM jobshead WHERE job_id = 20";

    let first = pair.forward_tables(&["orgmaster", "locmaster", "jobshead"]).await;
    assert_all_ok(&first);
    assert_eq!(report(&first, "jobshead").duplicates_dropped, 1);
    let after_first = text(&cloud, job).await.unwrap_or_default();
    assert!(after_first.starts_with("1 stamped "), "the stamped row is the newest: {after_first}");

    for run in 2..=3 {
        let again = pair.forward_tables(&["orgmaster", "locmaster", "jobshead"]).await;
        assert_all_ok(&again);
        assert_eq!(report(&again, "jobshead").rows_written, 0, "run {run} rewrote the job");
        assert_eq!(text(&cloud, job).await.unwrap_or_default(), after_first, "run {run}: the older duplicate won");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_24_00_round_trips_instead_of_wrapping_to_midnight() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop_masters(&desktop).await;
    desktop_job(&desktop, 21, 1, "a full day").await;
    // actual_man_hrs holds a duration as TIME: a full day's work is 24:00:00.
    exec(
        &desktop,
        "INSERT INTO jobtasks (org_id, loc_id, job_id, task_id, actual_man_hrs) VALUES (1, 1, 21, 1, '24:00:00')",
    )
    .await;

    let reports = pair.forward().await;
    let tasks = report(&reports, "jobtasks");
    // Either the value arrives exactly, or the table says it cannot carry it: never a silent 00:00.
    if tasks.status == Status::Ok {
        assert_eq!(texts(&cloud, "SELECT actual_man_hrs::text FROM jobtasks").await, vec!["24:00:00".to_string()]);
    } else {
        assert_eq!(count(&cloud, "jobtasks WHERE actual_man_hrs = '00:00:00'").await, 0, "{:?}", tasks.error);
    }
}

//! Rows both sides change: a leave request filed and edited on mobile reaches the desktop, and the
//! desktop's approval of it reaches the app. Each column has one writer (`desktop_owns:`), reverse
//! writes only rows its ledger says it brought, and nothing echoes back and forth.

mod support;

use pgbisync_runtime::{Direction, SyncOptions, TableReport};
use support::*;
use tokio_postgres::Client;

async fn exec(client: &Client, sql: &str) {
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {}", pgbisync_runtime::describe(&e)));
}

/// One `run`: forward, then reverse.
async fn run(pair: &Pair) -> Vec<TableReport> {
    flatten(pair.sync(&Direction::BOTH, SyncOptions::default()).await)
}

fn written(reports: &[TableReport], table: &str) -> (u64, u64) {
    let of = |d| reports.iter().filter(|r| r.table == table && r.direction == d).map(|r| r.rows_written).sum();
    (of(Direction::Forward), of(Direction::Reverse))
}

async fn text(client: &Client, sql: &str) -> Option<String> {
    scalar(client, sql).await
}

/// A pair after one run, and a mobile-born leave request now on both sides.
async fn synced() -> (Pair, Client, Client, i64) {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    run(&pair).await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    let id: i64 = scalar(&cloud, "SELECT min(learequest_id)::bigint FROM learequest WHERE source = 'M'").await;
    assert_eq!(count(&desktop, &format!("learequest WHERE learequest_id = {id}")).await, 1, "reverse brought it");
    (pair, desktop, cloud, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mobile_edit_reaches_the_desktop_and_a_desktop_approval_reaches_the_app() {
    let (pair, desktop, cloud, id) = synced().await;
    exec(&cloud, &format!("UPDATE learequest SET leaveremarks = 'two more days', todate = DATE '2027-01-09' WHERE learequest_id = {id}")).await;
    let reports = run(&pair).await;
    assert_eq!(written(&reports, "learequest"), (0, 1), "{reports:#?}");
    let remarks =
        text(&desktop, &format!("SELECT leaveremarks::text FROM learequest WHERE learequest_id = {id}")).await;
    assert_eq!(remarks.as_deref(), Some("two more days"));

    exec(&desktop, &format!("UPDATE learequest SET approval_status = 'A', approvedby = 'the partner', approveddate = DATE '2027-01-02' WHERE learequest_id = {id}")).await;
    let reports = run(&pair).await;
    assert_eq!(written(&reports, "learequest"), (1, 0), "{reports:#?}");
    let row = cloud
        .query_one(&format!("SELECT approval_status::text, approvedby::text, source::text FROM learequest WHERE learequest_id = {id}"), &[])
        .await
        .expect("the cloud row");
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, String>(2)),
        ("A".into(), "the partner".into(), "M".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_edit_one_row_at_once_and_both_edits_survive_with_no_ping_pong() {
    let (pair, desktop, cloud, id) = synced().await;
    exec(&cloud, &format!("UPDATE learequest SET leaveremarks = 'edited on the phone' WHERE learequest_id = {id}"))
        .await;
    exec(
        &desktop,
        &format!("UPDATE learequest SET approval_status = 'R', approvedby = 'the partner' WHERE learequest_id = {id}"),
    )
    .await;
    run(&pair).await;
    for client in [&desktop, &cloud] {
        let row = client
            .query_one(
                &format!("SELECT leaveremarks::text, approval_status::text FROM learequest WHERE learequest_id = {id}"),
                &[],
            )
            .await
            .expect("the row");
        assert_eq!((row.get::<_, String>(0), row.get::<_, String>(1)), ("edited on the phone".into(), "R".into()));
    }
    // Each write stamped the other side's updated_at; the next runs must find nothing to write.
    for round in 0..3 {
        let reports = run(&pair).await;
        let total: u64 = reports.iter().map(|r| r.rows_written).sum();
        assert_eq!(total, 0, "run {round} after the edits wrote rows: {reports:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_born_row_with_the_same_key_is_never_touched_and_never_touches_the_app() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    // The desktop has its own request 77; the app files another request with the same number.
    exec(&desktop, &format!("INSERT INTO learequest (learequest_id, org_id, staff_id, leaveremarks, approval_status) VALUES (77, {TENANT}, 1, 'the desktop''s own', 'A')")).await;
    exec(&cloud, &format!("INSERT INTO learequest (learequest_id, org_id, staff_id, leaveremarks, source) VALUES (77, {TENANT}, 1, 'from the phone', 'M')")).await;
    run(&pair).await;
    exec(&cloud, "UPDATE learequest SET leaveremarks = 'edited on the phone' WHERE learequest_id = 77").await;
    run(&pair).await;
    let desktop_row = desktop
        .query_one("SELECT leaveremarks::text, approval_status::text FROM learequest WHERE learequest_id = 77", &[])
        .await
        .expect("the desktop's row");
    assert_eq!(
        (desktop_row.get::<_, String>(0), desktop_row.get::<_, String>(1)),
        ("the desktop's own".into(), "A".into())
    );
    let approval = text(&cloud, "SELECT approval_status::text FROM learequest WHERE learequest_id = 77").await;
    assert_eq!(approval, None, "the desktop's own row wrote nothing onto the app's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_copy_of_a_mobile_row_is_never_sent_back_as_a_desktop_row() {
    let (pair, desktop, cloud, id) = synced().await;
    // The app withdraws the request (its row goes); the desktop copy stays until reverse deletes
    // reach the desktop, and a full forward pass must not bring it back as a desktop-born row.
    exec(&cloud, &format!("DELETE FROM learequest WHERE learequest_id = {id}")).await;
    exec(&desktop, &format!("UPDATE learequest SET approval_status = 'A' WHERE learequest_id = {id}")).await;
    pair.sync(&[Direction::Forward], SyncOptions { full: true, ..SyncOptions::default() }).await;
    assert_eq!(count(&cloud, &format!("learequest WHERE learequest_id = {id}")).await, 0);
    // The same holds for any two-way table: a mobile-born job reversed to the desktop.
    let job: i64 = scalar(&cloud, "SELECT min(job_id)::bigint FROM jobshead WHERE source = 'M'").await;
    assert_eq!(count(&desktop, &format!("jobshead WHERE job_id = {job}")).await, 1);
    exec(&cloud, &format!("DELETE FROM jobshead WHERE job_id = {job}")).await;
    pair.sync(&[Direction::Forward], SyncOptions { full: true, ..SyncOptions::default() }).await;
    assert_eq!(count(&cloud, &format!("jobshead WHERE job_id = {job}")).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mobile_delete_reaches_the_desktop_copy_only() {
    let (pair, desktop, cloud, id) = synced().await;
    // The desktop's own request, which the cloud never had: not reverse's to delete.
    exec(&desktop, &format!("INSERT INTO learequest (learequest_id, org_id, staff_id, leaveremarks) VALUES (78, {TENANT}, 1, 'the desktop''s own')")).await;
    exec(&cloud, &format!("DELETE FROM learequest WHERE learequest_id IN ({id}, 78)")).await;
    let reports = pair.sync(&Direction::BOTH, SyncOptions::default()).await;
    let deletes =
        reports.iter().flat_map(|d| &d.deletes).find(|d| d.table == "learequest" && d.direction == Direction::Reverse);
    assert_eq!(deletes.map(|d| d.deleted), Some(1), "{reports:#?}");
    assert_eq!(
        count(&desktop, &format!("learequest WHERE learequest_id = {id}")).await,
        0,
        "the withdrawn request went"
    );
    assert_eq!(count(&desktop, "learequest WHERE learequest_id = 78").await, 1, "the desktop's own row stays");
    let kept = format!("_reverse_sync_deleted WHERE table_name = 'learequest' AND row_data->>'learequest_id' = '{id}'");
    assert_eq!(count(&desktop, &kept).await, 1, "kept on the desktop");
    let ledger = format!("_reverse_sync_ledger WHERE table_name = 'learequest' AND row_key = '[{id}]'");
    assert_eq!(count(&desktop, &ledger).await, 0, "the ledger forgot it");
    // The desktop's own row 78 went forward as a desktop-born row; nothing else changed since.
    let reports = run(&pair).await;
    assert_eq!(reports.iter().map(|r| r.rows_written).sum::<u64>(), 0, "{reports:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_way_run_killed_halfway_converges_on_the_next() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let (pair, desktop, cloud, id) = synced().await;
    exec(&cloud, &format!("UPDATE learequest SET leaveremarks = 'edited on the phone' WHERE learequest_id = {id}"))
        .await;
    exec(&desktop, &format!("UPDATE learequest SET approval_status = 'A' WHERE learequest_id = {id}")).await;
    let mut child = tokio::process::Command::new(pgbisync_binary())
        .arg("run")
        .env("DESKTOP_DATABASE_URL", pair.desktop_url())
        .env("CLOUD_DATABASE_URL", pair.cloud_url())
        .env("PGBISYNC_ORG_ID", TENANT)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting pgbisync");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    // Killed once forward has written the approval and before reverse brings the phone's edit.
    while let Some(line) = lines.next_line().await.expect("reading stdout") {
        if line.starts_with("forward learequest") {
            break;
        }
    }
    child.kill().await.expect("kill -9");
    run(&pair).await;
    for client in [&desktop, &cloud] {
        let row = client
            .query_one(
                &format!("SELECT leaveremarks::text, approval_status::text FROM learequest WHERE learequest_id = {id}"),
                &[],
            )
            .await
            .expect("the row");
        assert_eq!((row.get::<_, String>(0), row.get::<_, String>(1)), ("edited on the phone".into(), "A".into()));
    }
    let reports = run(&pair).await;
    assert_eq!(reports.iter().map(|r| r.rows_written).sum::<u64>(), 0, "converged: {reports:#?}");
    // verify agrees: each column compared in the direction that owns it matches.
    let tables: Vec<_> =
        Direction::BOTH.iter().flat_map(|d| pair.program.tables(*d, &["learequest".to_string()])).collect();
    let mut connections = pair.connections().await;
    let verified =
        pgbisync_runtime::verify_tables(pair.program.manifest, &mut connections, &tables, Some(TENANT), &mut |_| {})
            .await
            .expect("verify");
    for v in &verified {
        assert_eq!((v.extra, v.different), (0, 0), "{v:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_reversed_before_the_ledger_existed_join_it_when_their_copy_is_equal() {
    let (pair, desktop, cloud, id) = synced().await;
    // A deployment from before the ledger: the copies are on the desktop, the ledger is not.
    exec(&desktop, "DROP TABLE _reverse_sync_ledger").await;
    exec(&desktop, &format!("INSERT INTO learequest (learequest_id, org_id, staff_id, leaveremarks) VALUES (79, {TENANT}, 1, 'the desktop''s own')")).await;
    exec(&cloud, &format!("INSERT INTO learequest (learequest_id, org_id, staff_id, leaveremarks, source) VALUES (79, {TENANT}, 1, 'from the phone', 'M')")).await;
    let reports = pair.sync(&[Direction::Reverse], SyncOptions::default()).await;
    assert_eq!(report(&flatten(reports), "learequest").mode, "full", "the new ledger is filled by one full pass");
    let ledger = |key: i64| format!("_reverse_sync_ledger WHERE table_name = 'learequest' AND row_key = '[{key}]'");
    assert_eq!(count(&desktop, &ledger(id)).await, 1, "the equal copy joined the ledger");
    assert_eq!(count(&desktop, &ledger(79)).await, 0, "a desktop row that only shares the key did not");
    exec(&cloud, &format!("UPDATE learequest SET leaveremarks = 'edited on the phone' WHERE learequest_id = {id}"))
        .await;
    run(&pair).await;
    let remarks =
        text(&desktop, &format!("SELECT leaveremarks::text FROM learequest WHERE learequest_id = {id}")).await;
    assert_eq!(remarks.as_deref(), Some("edited on the phone"));
    let own = text(&desktop, "SELECT leaveremarks::text FROM learequest WHERE learequest_id = 79").await;
    assert_eq!(own.as_deref(), Some("the desktop's own"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_of_the_older_shape_moves_to_collation_c_keeping_its_keys() {
    let (pair, desktop, cloud, id) = synced().await;
    let collation = "SELECT c.collname::text FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation \
                     WHERE a.attrelid = '_reverse_sync_ledger'::regclass AND a.attname = 'row_key'";
    assert_eq!(text(&desktop, collation).await.as_deref(), Some("C"), "a new ledger is created in collation C");
    // The shape an older pgbisync created: the keys in the database's own collation.
    exec(&desktop, "ALTER TABLE _reverse_sync_ledger ALTER COLUMN row_key TYPE text COLLATE \"default\"").await;
    assert_eq!(text(&desktop, collation).await.as_deref(), Some("default"));
    let keys = count(&desktop, "_reverse_sync_ledger").await;
    assert!(keys > 0);
    exec(&cloud, &format!("UPDATE learequest SET leaveremarks = 'one more day' WHERE learequest_id = {id}")).await;
    let reports = run(&pair).await;
    assert_eq!(written(&reports, "learequest"), (0, 1), "the ledger still says reverse brought it: {reports:#?}");
    assert_eq!(text(&desktop, collation).await.as_deref(), Some("C"), "the run's bootstrap moved it");
    assert_eq!(count(&desktop, "_reverse_sync_ledger").await, keys, "every key kept, none doubled");
}

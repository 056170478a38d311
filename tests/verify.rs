//! `pgbisync verify` end to end on two throwaway servers: after a sync both ways it finds only the
//! rows the sync set aside, it names a deleted and a changed cloud row by key, and it compares a
//! table without a key (replace_origin) as a multiset, duplicates included.

mod support;

use pgbisync_runtime::codec::CompiledTable;
use pgbisync_runtime::Direction;
use pgbisync_runtime::SyncOptions;
use pgbisync_runtime::{verify_tables, VerifyReport};
use support::*;
use tokio_postgres::Client;

async fn exec(client: &Client, sql: &str) {
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Verifies the named tables (all when empty) in both directions, through the engine.
async fn verify(pair: &Pair, only: &[&str]) -> Vec<VerifyReport> {
    let only: Vec<String> = only.iter().map(|t| t.to_string()).collect();
    let tables: Vec<&dyn CompiledTable> =
        [Direction::Forward, Direction::Reverse].iter().flat_map(|d| pair.program.tables(*d, &only)).collect();
    let mut connections = pair.connections().await;
    verify_tables(pair.program.manifest, &mut connections, &tables, Some(TENANT), &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("verify failed to run: {e}"))
}

fn find<'a>(reports: &'a [VerifyReport], table: &str, direction: Direction) -> &'a VerifyReport {
    reports
        .iter()
        .find(|r| r.table == table && r.direction == Some(direction))
        .unwrap_or_else(|| panic!("no {direction} report for {table}: {reports:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_only_set_aside_rows_after_a_sync_then_names_a_deleted_and_a_changed_row() {
    let (pair, summary) = Pair::with_sample(small_sample()).await;
    pair.sync(&[Direction::Forward, Direction::Reverse], SyncOptions::default()).await;

    let reports = verify(&pair, &[]).await;
    assert_eq!(reports.len(), pair.program.tables.len(), "every table-direction is verified");
    for r in &reports {
        assert_eq!(r.error, None, "{r:#?}");
        assert_eq!((r.extra, r.different), (0, 0), "{r:#?}");
        assert_eq!(r.missing, r.rejects as u64, "only rows set aside are missing: {r:#?}");
        assert!(r.source_rows > 0 || r.direction == Some(Direction::Reverse), "{r:#?}");
    }
    let missing: u64 = reports.iter().map(|r| r.missing).sum();
    assert_eq!(missing, summary.orphans, "the sample's orphans, and nothing else, are missing");
    let jobshead = find(&reports, "jobshead", Direction::Forward);
    assert_eq!(jobshead.missing_keys, ["[51]", "[52]"], "{jobshead:#?}");
    assert_eq!(jobshead.target_rows, jobshead.source_rows - 2);
    let reverse = find(&reports, "jobshead", Direction::Reverse);
    assert_eq!((reverse.source_rows, reverse.target_rows, reverse.missing), (3, 3, 0), "{reverse:#?}");
    // The mobile rows that came back to the desktop are cloud-owned there: forward leaves them be.
    assert_eq!(jobshead.held_by_target, 0, "their values match, so nothing is held apart: {jobshead:#?}");

    assert_eq!(pair.cli(&["verify"]).await, 1, "set-aside rows are differences");
    assert_eq!(pair.cli(&["verify", "--table", "orgmaster", "--json"]).await, 0, "orgmaster matches");
    assert_eq!(pair.cli(&["verify", "--table", "no_such_table"]).await, 2);
    assert_eq!(
        pair.cli_with_urls("postgresql://postgres@127.0.0.1:1/postgres", &pair.cloud_url(), &["verify"]).await,
        3
    );

    let cloud = pair.cloud_client().await;
    exec(&cloud, "DELETE FROM jobshead WHERE job_id = 10; UPDATE jobshead SET work_desc = 'edited in the cloud' WHERE job_id = 20")
        .await;
    let reports = verify(&pair, &["jobshead"]).await;
    let forward = find(&reports, "jobshead", Direction::Forward);
    assert_eq!((forward.missing, forward.extra, forward.different), (3, 0, 1), "{forward:#?}");
    assert_eq!(forward.missing_keys, ["[10]", "[51]", "[52]"]);
    assert_eq!(forward.different_keys, ["[20]"]);
    let reverse = find(&reports, "jobshead", Direction::Reverse);
    assert!(!reverse.differs(), "the desktop's copies of mobile rows are untouched: {reverse:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_without_a_key_verifies_as_a_multiset_with_its_duplicates() {
    let pair = Pair::with_schema().await;
    let desktop = pair.desktop_client().await;
    exec(
        &desktop,
        "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm One'); \
         INSERT INTO locmaster (org_id, loc_id, locname) VALUES (1, 1, 'Chennai'); \
         INSERT INTO jobshead (org_id, loc_id, job_id, client_id, work_desc, job_status) VALUES (1, 1, 500, 70, 'job', 'O'); \
         INSERT INTO jobtasks (org_id, job_id, task_id, task_desc, jobdet_man_hrs) VALUES \
           (1, 500, 1, 'same task', 1.50), (1, 500, 1, 'same task', 1.50), (1, 500, 2, 'other task', NULL);",
    )
    .await;
    pair.forward().await;

    let reports = verify(&pair, &["jobtasks"]).await;
    let r = find(&reports, "jobtasks", Direction::Forward);
    assert!(!r.differs(), "{r:#?}");
    assert_eq!((r.source_rows, r.target_rows), (3, 3));
    assert_eq!(pair.cli(&["verify", "--table", "jobtasks"]).await, 0);

    // One copy of the duplicate goes: the multiset now lacks it.
    let cloud = pair.cloud_client().await;
    exec(&cloud, "DELETE FROM jobtasks WHERE jt_id = (SELECT min(jt_id) FROM jobtasks WHERE task_id = 1)").await;
    let reports = verify(&pair, &["jobtasks"]).await;
    let r = find(&reports, "jobtasks", Direction::Forward);
    assert_eq!((r.missing, r.extra, r.different, r.target_rows), (1, 0, 0, 2), "{r:#?}");
    assert_eq!(pair.cli(&["verify", "--table", "jobtasks"]).await, 1);
}

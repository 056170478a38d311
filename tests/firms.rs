//! Several firms share one cloud database, each with its own desktop and its own pgbisync run: every
//! firm keeps its own progress, rejects and status, so no run of one firm makes another lose a row.

mod support;

use std::time::Duration;

use pgbisync_runtime::{ConnectionUrl, Connections, Direction, Scope, Side, Status, SyncOptions, TableReport};
use support::*;
use tokio_postgres::Client;

async fn exec(client: &Client, sql: &str) {
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {}", pgbisync_runtime::describe(&e)));
}

/// One firm: its own desktop database on the pair's desktop server, shaped like the manifest.
struct Firm {
    org: i64,
    url: String,
}

impl Firm {
    async fn new(pair: &Pair, org: i64) -> Firm {
        let name = format!("firm{org}");
        pair.desktop.create_database(&name).unwrap_or_else(|e| panic!("creating {name}: {e}"));
        let firm = Firm { org, url: pair.desktop.url(&name) };
        let desktop = firm.client().await;
        for f in pair.program.schema_functions {
            exec(&desktop, f).await;
        }
        for t in pair.program.schema {
            exec(&desktop, t.desktop_ddl).await;
        }
        exec(&desktop, &format!("INSERT INTO orgmaster (org_id, orgname) VALUES ({org}, 'Firm {org}')")).await;
        firm
    }

    async fn client(&self) -> Client {
        connect(&self.url).await
    }

    /// Job ids of different firms never collide (the cloud's jobshead key is job_id alone).
    fn job_id(&self, n: i64) -> i64 {
        self.org * 10_000 + n
    }

    /// Adds jobs `1..=n` of this firm on its desktop.
    async fn add_jobs(&self, n: i64) {
        let sql = (1..=n)
            .map(|i| {
                format!(
                    "INSERT INTO jobshead (org_id, job_id, client_id, work_desc) VALUES ({}, {}, 10, 'job {i}');",
                    self.org,
                    self.job_id(i)
                )
            })
            .collect::<String>();
        exec(&self.client().await, &sql).await;
    }

    /// Runs the given directions once for this firm against the shared cloud.
    async fn sync(&self, pair: &Pair, directions: &[Direction]) -> Vec<TableReport> {
        let mut connections = Connections::open(
            ConnectionUrl::new(Side::Desktop, self.url.clone()),
            ConnectionUrl::new(Side::Cloud, pair.cloud_url()),
        )
        .await
        .expect("opening both connections");
        let options = SyncOptions { tenant: Some(self.org.to_string()), ..SyncOptions::default() };
        flatten(sync(&pair.program, &mut connections, directions, &options).await.directions)
    }

    async fn forward(&self, pair: &Pair) -> Vec<TableReport> {
        self.sync(pair, &[Direction::Forward]).await
    }
}

/// Every table of a firm's run synced (rows set aside allowed when `partial` is expected).
fn assert_all(reports: &[TableReport], org: i64, allowed: &[Status]) {
    for r in reports {
        assert!(
            allowed.contains(&r.status),
            "firm {org}: {} {} is {:?}: {:?}",
            r.direction,
            r.table,
            r.status,
            r.error
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_firms_on_one_cloud_keep_their_own_watermarks_rejects_and_status() {
    // Lookback 0: only a firm's own watermark can bring its edits across; a shared one would skip them.
    let pair = Pair::with_schema().await.with_lookback(0);
    let cloud = pair.cloud_client().await;
    let (one, two) = (Firm::new(&pair, 1).await, Firm::new(&pair, 2).await);
    for firm in [&one, &two] {
        firm.add_jobs(50).await;
        // An orphan reminder (no staff 77 on the cloud): set aside, and recorded as this firm's reject.
        exec(
            &firm.client().await,
            &format!(
                "INSERT INTO mbreminder (rem_id, org_id, staff_id, remnotes) VALUES ({}, {}, 77, 'call the client')",
                firm.job_id(1),
                firm.org
            ),
        )
        .await;
    }
    assert_all(&one.forward(&pair).await, 1, &[Status::Ok, Status::Partial]);
    assert_all(&two.forward(&pair).await, 2, &[Status::Ok, Status::Partial]);
    assert_eq!(count(&cloud, "jobshead WHERE org_id = 1").await, 50);
    assert_eq!(count(&cloud, "jobshead WHERE org_id = 2").await, 50);

    // Firm 1 edits its jobs; firm 2 syncs after the edits, then firm 1 syncs.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    exec(&one.client().await, "UPDATE jobshead SET work_desc = 'edited'").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_all(&two.forward(&pair).await, 2, &[Status::Ok, Status::Partial]);
    let reports = one.forward(&pair).await;
    let jobs = report(&reports, "jobshead");
    assert_eq!(jobs.mode, "incremental", "{jobs:#?}");
    assert_eq!(jobs.rows_written, 50, "firm 1's edits arrive after firm 2's run: {jobs:#?}");
    assert_eq!(count(&cloud, "jobshead WHERE org_id = 1 AND work_desc = 'edited'").await, 50);
    assert_eq!(count(&cloud, "jobshead WHERE org_id = 2 AND work_desc = 'edited'").await, 0);

    // Each firm's run replaced only its own rejects.
    for org in ["1", "2"] {
        assert_eq!(count(&cloud, &format!("_sync_rejects WHERE table_name = 'reminder' AND scope = '{org}'")).await, 1);
    }
    // Status per firm: its own rows and its own rejects.
    let names = ["reminder"];
    for org in ["1", "2"] {
        let rows = pgbisync_runtime::read_status(
            &cloud,
            pair.program.manifest,
            Direction::Forward,
            &Scope::of(Some(org)),
            &names,
        )
        .await
        .expect("reading status")
        .expect("the metadata exists");
        assert_eq!(rows.len(), 1, "firm {org}: {rows:#?}");
        assert_eq!(rows[0].rejects, 1, "firm {org}: {rows:#?}");
        assert_eq!(rows[0].status.as_deref(), Some("partial"), "firm {org}: {rows:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_firms_syncing_both_ways_at_once_lose_nothing_and_never_block_each_other() {
    let pair = Pair::with_schema().await.with_lookback(0);
    let cloud = pair.cloud_client().await;
    let mut firms = Vec::new();
    for org in 1..=4 {
        let firm = Firm::new(&pair, org).await;
        firm.add_jobs(200).await;
        firms.push(firm);
    }
    let both = [Direction::Forward, Direction::Reverse];
    let all_at_once = || async {
        let runs = firms.iter().map(|f| f.sync(&pair, &both));
        tokio::time::timeout(Duration::from_secs(120), futures_util::future::join_all(runs))
            .await
            .expect("four concurrent runs finish (no deadlock, no lock wait on each other)")
    };
    for (reports, firm) in all_at_once().await.iter().zip(&firms) {
        assert_all(reports, firm.org, &[Status::Ok]);
    }
    for org in 1..=4 {
        assert_eq!(count(&cloud, &format!("jobshead WHERE org_id = {org}")).await, 200, "firm {org}");
    }

    tokio::time::sleep(Duration::from_millis(1100)).await;
    for firm in &firms {
        exec(
            &firm.client().await,
            &format!("UPDATE jobshead SET work_desc = 'edited' WHERE job_id % 2 = {}", firm.org % 2),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for (reports, firm) in all_at_once().await.iter().zip(&firms) {
        assert_all(reports, firm.org, &[Status::Ok]);
        assert_eq!(report(reports, "jobshead").rows_written, 100, "firm {}: {reports:#?}", firm.org);
    }
    for org in 1..=4 {
        assert_eq!(count(&cloud, &format!("jobshead WHERE org_id = {org} AND work_desc = 'edited'")).await, 100);
    }
    assert_eq!(count(&cloud, "_sync_metadata WHERE table_name = 'jobshead'").await, 4, "one row per firm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_the_shared_metadata_makes_no_firm_lose_a_row() {
    let pair = Pair::with_schema().await.with_lookback(0);
    let cloud = pair.cloud_client().await;
    let (one, two) = (Firm::new(&pair, 1).await, Firm::new(&pair, 2).await);
    for firm in [&one, &two] {
        firm.add_jobs(20).await;
        assert_all(&firm.forward(&pair).await, firm.org, &[Status::Ok]);
    }
    // Back to the shape of before per-firm progress: one watermark per table, whoever moved it last.
    exec(
        &cloud,
        "DROP TABLE _sync_metadata, _sync_rejects;
         CREATE TABLE _sync_metadata (table_name varchar(100) PRIMARY KEY,
             last_sync_timestamp timestamptz NOT NULL DEFAULT '1970-01-01',
             created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now());
         INSERT INTO _sync_metadata (table_name, last_sync_timestamp) VALUES ('jobshead', now() + interval '1 hour');
         CREATE TABLE _sync_rejects (id bigserial PRIMARY KEY, table_name varchar(100) NOT NULL,
             row_key text NOT NULL, reason text NOT NULL, row_data jsonb, tracking_value timestamptz,
             seen_at timestamptz NOT NULL DEFAULT now())",
    )
    .await;
    // A job of each firm that the shared watermark has already passed.
    for firm in [&one, &two] {
        exec(
            &firm.client().await,
            &format!(
                "INSERT INTO jobshead (org_id, job_id, client_id, work_desc, updated_at) \
                 VALUES ({}, {}, 10, 'late', now() - interval '1 day')",
                firm.org,
                firm.job_id(500)
            ),
        )
        .await;
    }
    for firm in [&one, &two] {
        let reports = firm.forward(&pair).await;
        assert_all(&reports, firm.org, &[Status::Ok]);
        let jobs = report(&reports, "jobshead");
        assert_eq!(jobs.mode, "full", "firm {}: the shared watermark's owner is unknown: {jobs:#?}", firm.org);
        assert_eq!(jobs.rows_written, 1, "firm {}: only the late job is written, nothing rewritten", firm.org);
        assert_eq!(count(&cloud, &format!("jobshead WHERE job_id = {}", firm.job_id(500))).await, 1);
    }
    assert_eq!(count(&cloud, "_sync_metadata WHERE scope = ''").await, 1, "the shared row is kept as it was");
    assert_eq!(count(&cloud, "_sync_metadata WHERE scope IN ('1', '2')").await, 32, "16 tables per firm");
    // The next run of each firm is incremental from its own watermark.
    for firm in [&one, &two] {
        let jobs = firm.forward(&pair).await;
        let jobs = report(&jobs, "jobshead");
        assert_eq!((jobs.mode, jobs.rows_written), ("incremental", 0), "firm {}: {jobs:#?}", firm.org);
    }
}

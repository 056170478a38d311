//! replace_origin into a cloud table without any key, whose rows only their `ctid` tells apart: the
//! generator's statements, run against a real server in the order and transaction the engine runs
//! them, keep the sending side's rows equal to the staged multiset (k identical copies stay k),
//! rewrite nothing unchanged, and touch no other tenant's row and no row born in the cloud. The
//! shipped manifest gives every cloud table a key, so this is the one place the path runs.

mod support;

use pgbisync_codegen::model::Direction;
use pgbisync_codegen::sql::{self, TableSqlText};
use support::*;
use tokio_postgres::Client;

const MANIFEST: &str = include_str!("../codegen/tests/fixtures/snapshot-manifest.yaml");

fn order_line_sql() -> TableSqlText {
    let manifest = MANIFEST.replace("    cloud_key: [line_id]\n", "");
    let model = pgbisync_codegen::load_str("sync-schema.yaml", &manifest).unwrap_or_else(|e| panic!("{e}"));
    let t = model
        .directions
        .iter()
        .find(|t| t.table == "order_line" && t.direction == Direction::Forward)
        .expect("order_line forward");
    assert!(t.target.key.is_empty(), "the cloud table has no key: {:?}", t.target.key);
    sql::table_sql(t)
}

/// One run of the table: stages `rows` (org_id, order_id, item, qty) and runs the prepare and apply
/// statements in one transaction, as firm 1's desktop; the rows the apply wrote.
async fn run(db: &mut Client, s: &TableSqlText, rows: &[(i32, i64, &str, i32)]) -> u64 {
    let tx = db.transaction().await.unwrap();
    tx.batch_execute(
        "SELECT set_config('pgbisync.origin_desktop', 'D', true), set_config('pgbisync.origin_cloud', 'M', true), \
         set_config('pgbisync.tenant', '1', true)",
    )
    .await
    .unwrap();
    tx.batch_execute(&s.create_stage).await.unwrap();
    for (n, (org, order, item, qty)) in rows.iter().enumerate() {
        tx.execute(
            "INSERT INTO _pgbisync_stage (_n, org_id, order_id, item, qty) VALUES ($1, $2::int, $3, $4, $5)",
            &[&(n as i64 + 1), org, order, item, qty],
        )
        .await
        .unwrap();
    }
    for statement in &s.prepare {
        tx.execute(statement.as_str(), &[]).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let mut written = 0;
    for statement in &s.apply {
        written += tx.execute(statement.as_str(), &[&1i64, &(rows.len() as i64)]).await.unwrap();
    }
    tx.commit().await.unwrap();
    written
}

/// The firm's desktop-born rows, as sorted text.
async fn firm_rows(db: &Client) -> Vec<String> {
    let rows = db
        .query(
            "SELECT concat_ws(' ', order_id, item, qty, cust_id) FROM order_line \
             WHERE org_id = 1 AND source = 'D' ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

/// Every row with its physical identity and xmin: what a rewrite would change.
async fn identities(db: &Client) -> Vec<String> {
    let rows = db
        .query("SELECT concat_ws(' ', ctid, xmin, org_id, order_id, item, source) FROM order_line ORDER BY ctid", &[])
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_without_a_key_keeps_the_staged_multiset_by_ctid() {
    let s = order_line_sql();
    let pair = Pair::empty().await;
    let mut db = pair.cloud_client().await;
    db.batch_execute(
        "CREATE TABLE orders (org_id numeric(3) NOT NULL, order_id bigint PRIMARY KEY, cust_id integer NOT NULL); \
         CREATE TABLE order_line (org_id numeric(3) NOT NULL, order_id bigint NOT NULL, item varchar(40), qty integer, \
             line_id bigserial, cust_id integer, source varchar(1)); \
         INSERT INTO orders VALUES (1, 10, 700), (1, 11, 701); \
         INSERT INTO order_line (org_id, order_id, item, qty, cust_id, source) VALUES \
             (1, 10, 'pen', 1, 700, 'M'), (2, 10, 'pen', 1, 700, 'D')",
    )
    .await
    .unwrap();
    let others = "SELECT concat_ws(' ', ctid, xmin, org_id, source) FROM order_line WHERE org_id = 2 OR source = 'M'";
    let untouched: Vec<String> = db.query(others, &[]).await.unwrap().iter().map(|r| r.get(0)).collect();

    // A first load: two identical rows and one other, each with its order's customer.
    let first = [(1, 10, "pen", 1), (1, 10, "pen", 1), (1, 11, "ink", 2)];
    assert_eq!(run(&mut db, &s, &first).await, 3);
    assert_eq!(firm_rows(&db).await, ["10 pen 1 700", "10 pen 1 700", "11 ink 2 701"]);

    // The same rows again: nothing written, nothing rewritten.
    let before = identities(&db).await;
    assert_eq!(run(&mut db, &s, &first).await, 0);
    assert_eq!(identities(&db).await, before, "an unchanged run rewrites no row");

    // One of the identical pair goes, the other row changes, a third row arrives twice.
    let next = [(1, 10, "pen", 1), (1, 11, "ink", 3), (1, 11, "pad", 1), (1, 11, "pad", 1)];
    assert_eq!(run(&mut db, &s, &next).await, 3, "the changed row and the two new copies");
    assert_eq!(firm_rows(&db).await, ["10 pen 1 700", "11 ink 3 701", "11 pad 1 701", "11 pad 1 701"]);
    let after = identities(&db).await;
    let kept = before.iter().filter(|row| after.contains(row)).count();
    // The other tenant's row, the mobile row and one copy of the pen stay where they were.
    assert_eq!(kept, 3, "only what changed was deleted or written: {before:?} -> {after:?}");
    let now: Vec<String> = db.query(others, &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(now, untouched, "another tenant's row and the mobile row are untouched");
}

//! Snapshots of what the generator emits for `fixtures/snapshot-manifest.yaml`: the whole generated
//! file, and each table-direction's SQL on its own so a reviewer can read the statements.
//!
//! Accept a changed snapshot with `INSTA_UPDATE=always cargo test -p pgbisync-codegen --test snapshots`
//! (or rename the `.snap.new` file), after reading it.

use pgbisync_codegen::model::{Direction, Model};
use pgbisync_codegen::sql::{self, TableSqlText};

const MANIFEST: &str = include_str!("fixtures/snapshot-manifest.yaml");
/// The name the generated header and `MANIFEST.path` show; a fixed name keeps snapshots machine-independent.
const FILE: &str = "sync-schema.yaml";

fn model() -> Model {
    pgbisync_codegen::load_str(FILE, MANIFEST).unwrap_or_else(|e| panic!("the snapshot manifest should validate:\n{e}"))
}

/// The SQL of one table-direction, found by manifest name and direction.
fn sql_of(table: &str, direction: Direction) -> TableSqlText {
    let model = model();
    let t = model
        .directions
        .iter()
        .find(|t| t.table == table && t.direction == direction)
        .unwrap_or_else(|| panic!("no {} direction for `{table}`", direction.as_str()));
    sql::table_sql(t)
}

#[test]
fn fixture_has_the_expected_table_directions_in_sync_order() {
    let order: Vec<String> =
        model().directions.iter().map(|t| format!("{} {}", t.table, t.direction.as_str())).collect();
    assert_eq!(order, ["customer forward", "orders forward", "order_line forward", "customer reverse"]);
}

#[test]
fn generated_file() {
    let code = pgbisync_codegen::generate_str(FILE, MANIFEST).unwrap_or_else(|e| panic!("{e}"));
    insta::assert_snapshot!("generated_file", code);
}

#[test]
fn sql_customer_forward() {
    insta::assert_debug_snapshot!(sql_of("customer", Direction::Forward));
}

#[test]
fn sql_orders_forward() {
    insta::assert_debug_snapshot!(sql_of("orders", Direction::Forward));
}

#[test]
fn sql_order_line_forward() {
    insta::assert_debug_snapshot!(sql_of("order_line", Direction::Forward));
}

#[test]
fn sql_customer_reverse() {
    insta::assert_debug_snapshot!(sql_of("customer", Direction::Reverse));
}

#[test]
fn every_table_direction_has_a_snapshot() {
    // A table-direction added to the fixture needs its own `sql_*` test above.
    assert_eq!(model().directions.len(), 4);
}

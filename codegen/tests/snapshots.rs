//! Snapshots of what the generator emits for `fixtures/snapshot-manifest.yaml`: the whole generated
//! file, and each table-direction's SQL on its own so a reviewer can read the statements.
//!
//! Accept a changed snapshot with `INSTA_UPDATE=always cargo test -p pgbisync-codegen --test snapshots`
//! (or rename the `.snap.new` file), after reading it.

use pgbisync_codegen::model::{Direction, Model};
use pgbisync_codegen::sql::{self, names, TableSqlText};

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

/// The statements as a reviewer reads them: each under a `-- field` header, in `TableSqlText`'s
/// order, so a changed statement shows as a changed line of SQL.
fn render(s: &TableSqlText) -> String {
    let mut sections: Vec<(String, String)> = Vec::new();
    let mut one = |name: &str, sql: Option<&String>| {
        sections.push((name.to_string(), sql.cloned().unwrap_or_else(|| "(none)".into())))
    };
    one("read_full", Some(&s.read_full));
    one("read_incremental", s.read_incremental.as_ref());
    one("create_stage", Some(&s.create_stage));
    one("copy_stage", Some(&s.copy_stage));
    one("dedup", s.dedup.as_ref());
    for (name, list) in [("checks", &s.checks), ("prepare", &s.prepare), ("apply", &s.apply)] {
        if list.is_empty() {
            one(name, None);
        }
        for (i, q) in list.iter().enumerate() {
            one(&format!("{name}[{i}]"), Some(q));
        }
    }
    one("describe_rejects", Some(&s.describe_rejects));
    one("verify_source", Some(&s.verify_source));
    one("verify_target", Some(&s.verify_target));
    sections.iter().map(|(name, sql)| format!("-- {name}\n{sql}\n")).collect::<Vec<_>>().join("\n")
}

#[test]
fn sql_customer_forward() {
    insta::assert_snapshot!(render(&sql_of("customer", Direction::Forward)));
}

#[test]
fn sql_orders_forward() {
    insta::assert_snapshot!(render(&sql_of("orders", Direction::Forward)));
}

#[test]
fn sql_order_line_forward() {
    insta::assert_snapshot!(render(&sql_of("order_line", Direction::Forward)));
}

#[test]
fn sql_customer_reverse() {
    insta::assert_snapshot!(render(&sql_of("customer", Direction::Reverse)));
}

#[test]
fn every_table_direction_has_a_snapshot() {
    // A table-direction added to the fixture needs its own `sql_*` test above.
    assert_eq!(model().directions.len(), 4);
}

/// Every statement of every table-direction, labelled for messages.
fn all_statements(model: &Model) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for t in &model.directions {
        let s = sql::table_sql(t);
        let label = |what: &str| format!("{} {} {what}", t.table, t.direction.as_str());
        out.push((label("read_full"), s.read_full));
        out.extend(s.read_incremental.map(|q| (label("read_incremental"), q)));
        out.push((label("create_stage"), s.create_stage));
        out.push((label("copy_stage"), s.copy_stage));
        out.extend(s.dedup.map(|q| (label("dedup"), q)));
        out.extend(s.checks.into_iter().map(|q| (label("check"), q)));
        out.extend(s.prepare.into_iter().map(|q| (label("prepare"), q)));
        out.extend(s.apply.into_iter().map(|q| (label("apply"), q)));
        out.push((label("describe_rejects"), s.describe_rejects));
        out.push((label("verify_source"), s.verify_source));
        out.push((label("verify_target"), s.verify_target));
    }
    out
}

/// The statement split into its `'...'` string literals and the rest (literals blanked out).
fn split_literals(statement: &str) -> (Vec<String>, String) {
    let mut literals = Vec::new();
    let mut rest = String::new();
    let mut chars = statement.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            rest.push(c);
            continue;
        }
        let mut lit = String::new();
        loop {
            match chars.next() {
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    lit.push('\'');
                }
                Some('\'') | None => break,
                Some(c) => lit.push(c),
            }
        }
        literals.push(lit);
        rest.push_str("''");
    }
    (literals, rest)
}

/// Words outside double quotes and string literals.
fn bare_words(statement_without_literals: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut quoted = false;
    let mut word = String::new();
    for c in statement_without_literals.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            quoted = !quoted;
        }
        if !quoted && (c.is_ascii_alphanumeric() || c == '_') {
            word.push(c);
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    words
}

#[test]
fn every_manifest_identifier_in_the_sql_is_double_quoted() {
    let model = model();
    let mut names: Vec<String> = Vec::new();
    for t in &model.tables {
        for side in [&t.desktop, &t.cloud] {
            names.push(side.name.clone());
            names.extend(side.columns.iter().map(|c| c.name.clone()));
        }
    }
    for (label, statement) in all_statements(&model) {
        let (_, rest) = split_literals(&statement);
        for word in bare_words(&rest) {
            assert!(!names.contains(&word), "{label}: `{word}` is not quoted in:\n{statement}");
        }
    }
}

#[test]
fn no_manifest_value_is_inlined_in_the_sql() {
    // Values reach the SQL only as bound parameters, COPY data, or `current_setting('pgbisync.*')`;
    // the only other literals are reject reasons and the column labels inside them.
    let model = model();
    let settings = [names::ORIGIN_DESKTOP, names::ORIGIN_CLOUD, names::TENANT, names::SINCE];
    let mut labels: Vec<String> =
        model.directions.iter().flat_map(|t| t.staged.iter().map(|s| s.name.clone())).collect();
    labels.extend(["=", ", ", "; "].map(String::from));
    for (label, statement) in all_statements(&model) {
        let (literals, _) = split_literals(&statement);
        for lit in literals {
            let allowed = settings.contains(&lit.as_str())
                || labels.contains(&lit)
                || lit.starts_with("orphan: ")
                || lit.starts_with(" (parent ")
                || lit.starts_with("column ")
                || lit.starts_with("the key is held by another tenant");
            assert!(allowed, "{label}: unexpected literal '{lit}' in:\n{statement}");
        }
        for value in ["'A'", "'D'", "'M'", "PGBISYNC_ORG_ID"] {
            assert!(!statement.contains(value), "{label}: the value {value} is inlined in:\n{statement}");
        }
    }
}

#[test]
fn manifest_lines_point_at_each_tables_name() {
    let model = model();
    for t in &model.directions {
        let needle = format!("  - name: {}\n", t.table);
        let offset = MANIFEST.find(&needle).unwrap_or_else(|| panic!("{needle:?} not in the fixture"));
        let line = MANIFEST[..offset].matches('\n').count() as u64 + 1;
        assert_eq!(t.line, line, "{} {}", t.table, t.direction.as_str());
    }
}

#[test]
// depends_on lists each parent once.
fn depends_on_lists_each_parent_once() {
    for t in &model().directions {
        let mut unique = t.depends_on.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(t.depends_on.len(), unique.len(), "{} {}: {:?}", t.table, t.direction.as_str(), t.depends_on);
    }
}

#[test]
// replace_origin SQL uses reserved names for its own columns.
fn replace_origin_sql_cannot_collide_with_a_column_named_r_or_dup() {
    let manifest =
        MANIFEST.replace("      - qty integer\n", "      - qty integer\n      - r integer\n      - dup integer\n");
    // Either the manifest is rejected, or the statement's own names cannot clash with the table's.
    let Ok(model) = pgbisync_codegen::load_str(FILE, &manifest) else {
        return;
    };
    let t = model.directions.iter().find(|t| t.table == "order_line").expect("order_line forward");
    let s = sql::table_sql(t);
    for statement in s.prepare.iter().chain(&s.apply) {
        let (_, rest) = split_literals(statement);
        let words = bare_words(&rest);
        for own in ["r", "dup"] {
            assert!(
                !words.iter().any(|w| w == own),
                "the statement uses a bare `{own}` while the table has a column `{own}`:\n{statement}"
            );
        }
    }
}

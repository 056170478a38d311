//! Compares the live tables with the manifest before anything is written, naming every difference.
//! `pgbisync check` also looks for what the sync relies on beyond the columns: the source's
//! tracking trigger (`touch`), the target's key (`keys`), and the target's NOT NULL constraints.

mod keys;
mod touch;

use std::collections::{HashMap, HashSet};

use tokio_postgres::types::Type;
use tokio_postgres::GenericClient;

use crate::engine::names::ident;
use crate::program::Program;
use crate::spec::{Direction, ManifestSpec, Side, SideTable, TableSpec};

pub use keys::missing_target_keys;
pub use touch::missing_touch_triggers;

/// One way a live table differs from the manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    pub side: crate::spec::Side,
    pub table: String,
    pub column: Option<String>,
    pub problem: String,
    /// SQL that removes the difference, when there is one to run.
    pub fix: Option<String>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "{} table {}, column {}: {}", self.side, self.table, c, self.problem),
            None => write!(f, "{} table {}: {}", self.side, self.table, self.problem),
        }
    }
}

/// What `check` finds on one side: differences fail it, warnings are printed and do not.
#[derive(Debug, Default)]
pub struct SideFindings {
    pub differences: Vec<Difference>,
    pub warnings: Vec<Difference>,
}

/// Everything `check` compares on one side: the columns of every table the manifest declares there,
/// the sources' tracking triggers, the targets' NOT NULL constraints and keys.
pub async fn examine_side<C: GenericClient>(
    client: &C,
    program: &Program,
    side: Side,
) -> Result<SideFindings, tokio_postgres::Error> {
    let specs: Vec<&'static TableSpec> = program.tables.iter().map(|t| t.spec()).collect();
    let sides = side_tables(&specs, side);
    let names: Vec<&str> = sides.iter().map(|s| s.name).collect();
    let live = live_columns(client, &names).await?;
    let mut found = SideFindings::default();
    for st in sides {
        let is_source = specs.iter().any(|s| s.source.side == side && s.source.name == st.name);
        found.differences.extend(compare(st, &live, is_source));
    }
    let sources: Vec<&TableSpec> = specs.iter().copied().filter(|s| s.source.side == side).collect();
    let targets: Vec<&TableSpec> = specs.iter().copied().filter(|s| s.target.side == side).collect();
    found.differences.extend(missing_touch_triggers(client, &sources, &live).await?);
    found.differences.extend(target_not_null(client, program.manifest, &targets, &live).await?);
    let unkeyed = missing_target_keys(client, &targets, &live).await?;
    // The legacy desktop has no keys on many tables, and reverse runs only insert rows born in the
    // cloud, one run at a time (the run lock): a reverse target without a key is a slower
    // anti-join, not a wrong one, so it is a warning.
    if side == Direction::Forward.target() {
        found.differences.extend(unkeyed);
    } else {
        found.warnings.extend(unkeyed);
    }
    Ok(found)
}

/// Every table the manifest declares on one side, once each.
fn side_tables(specs: &[&'static TableSpec], side: Side) -> Vec<&'static SideTable> {
    let mut sides: Vec<&'static SideTable> = Vec::new();
    for s in specs {
        for st in [&s.source, &s.target] {
            if st.side == side && !sides.iter().any(|x| x.name == st.name) {
                sides.push(st);
            }
        }
    }
    sides
}

/// Live columns of tables as `(table, column) -> (format_type, not null)`.
pub type LiveColumns = HashMap<(String, String), (String, bool)>;

/// Reads the live columns of the named tables (as the connection's search path resolves them).
pub async fn live_columns<C: GenericClient>(client: &C, tables: &[&str]) -> Result<LiveColumns, tokio_postgres::Error> {
    let rows = client
        .query_typed(
            "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             WHERE c.relname = ANY($1) AND pg_catalog.pg_table_is_visible(c.oid) \
             AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped",
            &[(&tables, Type::TEXT_ARRAY)],
        )
        .await?;
    Ok(rows.iter().map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3)))).collect())
}

/// Tables with a unique index (no predicate, no expressions) on a subset of `columns`, by name:
/// their rows cannot repeat those columns' values.
pub async fn unique_on<C: GenericClient>(
    client: &C,
    tables: &[(&str, &[&str])],
) -> Result<HashSet<String>, tokio_postgres::Error> {
    let names: Vec<&str> = tables.iter().map(|(t, _)| *t).collect();
    let rows = client
        .query_typed(
            "SELECT c.relname::text, array_agg(a.attname::text) FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class c ON c.oid = i.indrelid \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) \
             WHERE c.relname = ANY($1) AND pg_catalog.pg_table_is_visible(c.oid) AND i.indisunique \
             AND i.indpred IS NULL AND i.indexprs IS NULL GROUP BY c.relname, i.indexrelid",
            &[(&names, Type::TEXT_ARRAY)],
        )
        .await?;
    let mut unique = HashSet::new();
    for r in rows {
        let (table, index_columns): (String, Vec<String>) = (r.get(0), r.get(1));
        let covered = tables
            .iter()
            .any(|(t, key)| *t == table && !key.is_empty() && index_columns.iter().all(|c| key.contains(&c.as_str())));
        if covered {
            unique.insert(table);
        }
    }
    Ok(unique)
}

/// Differences between one side of a table and the live columns. `is_source` adds the check that a
/// column declared `not null` really is, since a NULL there could not be read into its typed field.
pub fn compare(side: &SideTable, live: &LiveColumns, is_source: bool) -> Vec<Difference> {
    let diff = |column: Option<&str>, problem: String| Difference {
        side: side.side,
        table: side.name.to_string(),
        column: column.map(str::to_string),
        problem,
        fix: None,
    };
    if !live.keys().any(|(t, _)| t == side.name) {
        return vec![diff(
            None,
            format!(
                "table does not exist: point the URL at the database that has it, or create it as the manifest \
                 declares it with `pgbisync schema --{} --table {} | psql URL`",
                side.side, side.name
            ),
        )];
    }
    let mut out = Vec::new();
    for c in side.columns {
        match live.get(&(side.name.to_string(), c.name.to_string())) {
            None => out.push(diff(Some(c.name), format!("column is missing (the manifest declares {})", c.declared_type))),
            Some((ty, _)) if ty != c.sql_type => {
                out.push(diff(Some(c.name), format!("column is {ty}, the manifest says {} ({})", c.declared_type, c.sql_type)))
            }
            Some((_, not_null)) if is_source && !c.nullable && !not_null => out.push(diff(
                Some(c.name),
                "column is nullable, the manifest says not null (a NULL could not be read); declare it nullable in the manifest".into(),
            )),
            Some(_) => {}
        }
    }
    out
}

/// All differences of one table-direction, source side then target side.
pub fn table_differences(spec: &TableSpec, source_live: &LiveColumns, target_live: &LiveColumns) -> Vec<Difference> {
    let mut d = compare(&spec.source, source_live, true);
    d.extend(compare(&spec.target, target_live, false));
    d
}

/// Target columns that are NOT NULL live although the manifest declares them nullable: every row
/// whose source value is NULL would be refused there. Only the shared columns each table-direction
/// copies from the source are compared (a target column of the same name as a source column);
/// the target fills the others itself (origin, tenant scope, timestamps, generated keys).
pub async fn target_not_null<C: GenericClient>(
    client: &C,
    manifest: &ManifestSpec,
    specs: &[&TableSpec],
    live: &LiveColumns,
) -> Result<Vec<Difference>, tokio_postgres::Error> {
    let tables: Vec<&str> = specs.iter().map(|s| s.target.name).collect();
    let defaults = live_defaults(client, &tables).await?;
    Ok(specs.iter().flat_map(|s| not_null_differences(manifest, s, live, &defaults)).collect())
}

fn not_null_differences(
    manifest: &ManifestSpec,
    spec: &TableSpec,
    live: &LiveColumns,
    defaults: &HashSet<(String, String)>,
) -> Vec<Difference> {
    let target = &spec.target;
    let filled_by_pgbisync = |c: &str| {
        c == manifest.origin_column
            || manifest.tenant.is_some_and(|t| t.column == c)
            || Some(c) == spec.source.touched
            || Some(c) == target.touched
    };
    target
        .columns
        .iter()
        .filter(|c| c.nullable && spec.source.columns.iter().any(|s| s.name == c.name) && !filled_by_pgbisync(c.name))
        .filter(|c| {
            let at = (target.name.to_string(), c.name.to_string());
            // A timestamp the table stamps itself (created_at DEFAULT now()) is never copied.
            let stamped = c.declared_type == "timestamptz" && defaults.contains(&at);
            matches!(live.get(&at), Some((ty, true)) if ty == c.sql_type) && !stamped
        })
        .map(|c| Difference {
            side: target.side,
            table: target.name.to_string(),
            column: Some(c.name.to_string()),
            problem: format!(
                "column is NOT NULL, the manifest says nullable, so the {} sync would set aside every row whose \
                 {} is NULL; drop the constraint, or declare the column `not null` in the manifest if the source \
                 never holds NULL there",
                spec.direction, c.name
            ),
            fix: Some(format!("ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL;", ident(target.name), ident(c.name))),
        })
        .collect()
}

/// `(table, column)` of the live columns that have a default.
async fn live_defaults<C: GenericClient>(
    client: &C,
    tables: &[&str],
) -> Result<HashSet<(String, String)>, tokio_postgres::Error> {
    let rows = client
        .query_typed(
            "SELECT c.relname::text, a.attname::text \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             WHERE c.relname = ANY($1) AND pg_catalog.pg_table_is_visible(c.oid) \
             AND a.attnum > 0 AND NOT a.attisdropped AND a.atthasdef",
            &[(&tables, Type::TEXT_ARRAY)],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

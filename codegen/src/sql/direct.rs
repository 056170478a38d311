//! A first load without staging: when the target holds none of the tenant's rows, every source row
//! is an insert, so the batch can be copied straight into the target (written once, not staged and
//! then inserted). The checks staging would run are then asked of the rows loaded; the engine
//! undoes the load and stages instead when one finds a row, or when the target refuses one.

use super::checks::{found_in_target, Check, Constraint};
use super::fragment::{ident, idents, where_clause};
use super::scope::tenant_filter;
use crate::model::{Direction, TableDirection};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectLoadText {
    /// `COPY target (staged columns, origin) FROM STDIN (FORMAT binary)`.
    pub copy: String,
    /// `SELECT NOT EXISTS (...)`: true when the target holds no row of the tenant.
    pub empty: String,
    /// The staging checks, asked of the tenant's target rows.
    pub checks: Vec<DirectCheckText>,
    /// How many staged columns the COPY takes (after `_n`, before `_track`).
    pub columns: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectCheckText {
    /// `SELECT EXISTS (...)` over the tenant's target rows: true when one fails the check.
    pub sql: String,
    /// The target's constraint that makes the check needless when it is in force.
    pub unless: Constraint,
    /// For a reference: locks the parent rows the tenant's target rows point at, `FOR KEY SHARE`
    /// as the foreign key's own triggers do, for a load that skips those triggers.
    pub lock: Option<String>,
}

/// Only forward rows can be loaded so: the origin they are stamped with is the desktop's, a value
/// the COPY data carries. Rows with a computed column (a lookup, `now`) need SQL to be written.
pub(crate) fn direct_load(t: &TableDirection, checks: &[Check]) -> Option<DirectLoadText> {
    if t.direction != Direction::Forward || !t.computed.is_empty() {
        return None;
    }
    let target = ident(&t.target.name);
    let mut columns: Vec<String> = t.staged.iter().map(|s| s.name.clone()).collect();
    columns.push(t.origin_column.clone());
    // Without a tenant column, "none of the tenant's rows" can only mean no row at all.
    let filter: Vec<String> = tenant_filter(t, "t").into_iter().collect();
    Some(DirectLoadText {
        copy: format!("COPY {target} ({})\nFROM STDIN (FORMAT binary)", idents(&columns)),
        empty: format!("SELECT NOT EXISTS (\n    SELECT 1 FROM {target} t{}\n)", where_clause(&filter, "    ")),
        checks: checks
            .iter()
            .map(|c| DirectCheckText {
                sql: found_in_target(t, c),
                unless: c.constraint.clone(),
                lock: match &c.constraint {
                    Constraint::ForeignKey { parent_table, pairs } => Some(lock_parents(t, parent_table, pairs)),
                    _ => None,
                },
            })
            .collect(),
        columns: t.staged.len(),
    })
}

/// `SELECT count(*)` of the parent rows locked: those the tenant's rows in the target reference.
fn lock_parents(t: &TableDirection, parent_table: &str, pairs: &[(String, String)]) -> String {
    let matches = pairs.iter().map(|(c, p)| format!("s.{} = p.{}", ident(c), ident(p)));
    let conditions: Vec<String> = tenant_filter(t, "s").into_iter().chain(matches).collect();
    format!(
        r#"SELECT count(*) FROM (
    SELECT 1 FROM {parent} p
    WHERE EXISTS (
        SELECT 1 FROM {target} s{conditions})
    FOR KEY SHARE OF p
) locked"#,
        parent = ident(parent_table),
        target = ident(&t.target.name),
        conditions = where_clause(&conditions, "        ")
    )
}

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
    /// Each `SELECT EXISTS (...)` over the tenant's target rows, with the constraint that makes it
    /// needless when the target enforces it.
    pub checks: Vec<(String, Constraint)>,
    /// How many staged columns the COPY takes (after `_n`, before `_track`).
    pub columns: usize,
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
        checks: checks.iter().map(|c| (found_in_target(t, c), c.constraint.clone())).collect(),
        columns: t.staged.len(),
    })
}

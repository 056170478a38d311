//! The checks that keep rows the target would refuse, or that would be wrong there, out of it.
//! Each is a condition over a row `s` in the target's columns, written once and asked two ways:
//! of staging before the apply (setting the rows aside, with a reason), or of the rows a direct
//! first load just wrote into the target (whether any is there, to undo the load).

use super::fragment::{and_lines, cast_setting, ident, key_match, literal, where_clause};
use super::names::{REASON, REJECTED, ROW_NUMBER, STAGE, TENANT};
use super::scope::tenant_filter;
use crate::model::{Direction, ReferenceCheck, Strategy, TableDirection};

/// One check: the rows `s` meeting all `conditions` are refused, for `reason` (SQL text).
pub(crate) struct Check {
    pub reason: String,
    pub conditions: Vec<String>,
    /// The target's own constraint that refuses the same rows, when it has one.
    pub constraint: Constraint,
}

/// A constraint of the target that, when it is in force, refuses what a check looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// The column is NOT NULL.
    NotNull(String),
    /// A unique index covers the key.
    UniqueKey,
    /// A foreign key from these (column, parent column) pairs to the parent table.
    ForeignKey { parent_table: String, pairs: Vec<(String, String)> },
}

pub(crate) fn checks(t: &TableDirection) -> Vec<Check> {
    let target = receiving_side(t);
    let mut out = Vec::new();
    for s in &t.staged {
        if !s.target_nullable && s.nullable {
            let reason =
                format!("column {} is NULL, and {target} column {}.{} is NOT NULL", s.name, t.target.name, s.name);
            out.push(Check {
                reason: literal(&reason),
                conditions: vec![format!("s.{} IS NULL", ident(&s.name))],
                constraint: Constraint::NotNull(s.name.clone()),
            });
        }
    }
    if t.strategy == Strategy::Upsert {
        if let Some(tenant) = &t.tenant_target {
            // The update is scoped to this tenant; a key another tenant holds would otherwise be
            // neither updated nor inserted, silently.
            let reason = format!("the key is held by another tenant's row in {target} table {}", t.target.name);
            let held = format!(
                r#"EXISTS (
    SELECT 1 FROM {target} t
    WHERE {matches}
      AND t.{col} IS DISTINCT FROM {value})"#,
                target = ident(&t.target.name),
                matches = key_match(&t.key),
                col = ident(&tenant.name),
                value = cast_setting(TENANT, tenant),
            );
            out.push(Check { reason: literal(&reason), conditions: vec![held], constraint: Constraint::UniqueKey });
        }
    }
    for r in &t.references {
        if r.parent == t.table {
            // A table referencing itself may bring parent and child in one batch.
            continue;
        }
        out.push(orphans(r, target));
    }
    out
}

/// Rows whose reference has no parent row on the target.
fn orphans(r: &ReferenceCheck, target: &str) -> Check {
    let mut conditions: Vec<String> = r.pairs.iter().map(|(c, _)| format!("s.{} IS NOT NULL", ident(c))).collect();
    let matches =
        r.pairs.iter().map(|(c, p)| format!("p.{} = s.{}", ident(p), ident(c))).collect::<Vec<_>>().join(" AND ");
    conditions.push(format!("NOT EXISTS (SELECT 1 FROM {} p WHERE {matches})", ident(&r.parent_table)));
    let shown = r
        .pairs
        .iter()
        .map(|(c, _)| format!("{} || '=' || s.{}::text", literal(c), ident(c)))
        .collect::<Vec<_>>()
        .join(" || ', ' || ");
    let reason = format!(
        "{prefix} || {shown} || {suffix}",
        prefix = literal(&format!("orphan: no {} row on the {target} with ", r.parent_table)),
        suffix = literal(&format!(" (parent {} not synced yet or missing)", r.parent)),
    );
    let constraint = Constraint::ForeignKey { parent_table: r.parent_table.clone(), pairs: r.pairs.clone() };
    Check { reason, conditions, constraint }
}

/// Sets aside the staged rows the check refuses, with its reason.
pub(crate) fn reject(check: &Check) -> String {
    format!(
        r#"INSERT INTO {REJECTED} ({ROW_NUMBER}, {REASON})
SELECT s.{ROW_NUMBER}, {reason}
FROM {STAGE} s
WHERE {conditions}"#,
        reason = check.reason,
        conditions = and_lines(&check.conditions, "")
    )
}

/// Whether any of the tenant's rows in the target is one the check refuses: after a direct load,
/// those are exactly the rows the load wrote.
pub(crate) fn found_in_target(t: &TableDirection, check: &Check) -> String {
    // One level deeper than in `reject`: a condition's own lines move with it.
    let nested = check.conditions.iter().map(|c| c.replace('\n', "\n    "));
    let conditions: Vec<String> = tenant_filter(t, "s").into_iter().chain(nested).collect();
    format!(
        r#"SELECT EXISTS (
    SELECT 1 FROM {target} s{conditions}
)"#,
        target = ident(&t.target.name),
        conditions = where_clause(&conditions, "    ")
    )
}

/// The side a direction writes to, as the reasons name it.
fn receiving_side(t: &TableDirection) -> &'static str {
    match t.direction {
        Direction::Forward => "cloud",
        Direction::Reverse => "desktop",
    }
}

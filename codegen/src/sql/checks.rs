//! The checks that run on staging before the apply step: each sets aside (into the rejected
//! table) the staged rows the target would refuse or that would be wrong there, with a reason.

use super::fragment::{and_lines, cast_setting, ident, key_match, literal};
use super::names::{REASON, REJECTED, ROW_NUMBER, STAGE, TENANT};
use crate::model::{Direction, ReferenceCheck, Strategy, TableDirection};

pub(crate) fn checks(t: &TableDirection) -> Vec<String> {
    let target = receiving_side(t);
    let mut out = Vec::new();
    for s in &t.staged {
        if !s.target_nullable && s.nullable {
            let reason =
                format!("column {} is NULL, and {target} column {}.{} is NOT NULL", s.name, t.target.name, s.name);
            out.push(reject(&literal(&reason), &[format!("s.{} IS NULL", ident(&s.name))]));
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
            out.push(reject(&literal(&reason), &[held]));
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

/// Staged rows whose reference has no parent row on the target.
fn orphans(r: &ReferenceCheck, target: &str) -> String {
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
    reject(&reason, &conditions)
}

/// Sets aside the staged rows `s` meeting all `conditions`, with the text `reason` (SQL) says.
fn reject(reason: &str, conditions: &[String]) -> String {
    format!(
        r#"INSERT INTO {REJECTED} ({ROW_NUMBER}, {REASON})
SELECT s.{ROW_NUMBER}, {reason}
FROM {STAGE} s
WHERE {conditions}"#,
        conditions = and_lines(conditions, "")
    )
}

/// The side a direction writes to, as the reasons name it.
fn receiving_side(t: &TableDirection) -> &'static str {
    match t.direction {
        Direction::Forward => "cloud",
        Direction::Reverse => "desktop",
    }
}

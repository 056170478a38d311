//! What the source side runs: the binary COPY that reads a table-direction's rows.

use super::fragment::{ident, list, setting_as, where_clause};
use super::names::{SINCE, SINCE_XID};
use super::scope::source_filters;
use crate::model::TableDirection;

/// The condition selecting the rows written since the watermark, for a table that tracks them.
fn changed(t: &TableDirection) -> Option<String> {
    match &t.tracking {
        // NULL tracking values are always read: a row the source never stamped is still a row.
        Some(track) => Some(format!(
            "({col} >= {since} OR {col} IS NULL)",
            col = ident(track),
            since = setting_as(SINCE, "timestamptz")
        )),
        None if t.track_xmin => Some(written_since()),
        None => None,
    }
}

/// `incremental` limits the read to rows changed since the watermark.
pub(crate) fn read(t: &TableDirection, incremental: bool) -> String {
    let mut filters = source_filters(t);
    if let Some(changed) = changed(t).filter(|_| incremental) {
        filters.push(changed_rows(t, changed, &filters));
    }
    format!(
        r#"COPY (
    SELECT {cols}
    FROM {source}{filters}
) TO STDOUT (FORMAT binary)"#,
        cols = list(t.read.iter().map(|c| ident(&c.name))),
        source = ident(&t.source.name),
        filters = where_clause(&filters, "    "),
    )
}

/// Whether the incremental read would read any row, answered by the first one found: a run in
/// which nothing changed reads this instead of staging nothing (a key changed iff a row did, so
/// the newest-wins widening of [`read`] is not needed here).
pub(crate) fn probe(t: &TableDirection) -> Option<String> {
    let mut filters = source_filters(t);
    filters.push(changed(t)?);
    Some(format!(
        r#"SELECT EXISTS (
    SELECT
    FROM {source}{filters}
)"#,
        source = ident(&t.source.name),
        filters = where_clause(&filters, "    "),
    ))
}

/// The condition selecting the rows to read, given the one selecting rows that `changed`; `scope`
/// is the source's filters.
fn changed_rows(t: &TableDirection, changed: String, scope: &[String]) -> String {
    if !t.dedup || t.key.is_empty() {
        return changed;
    }
    // Newest-wins needs every source row of a key that changed, not only the changed
    // one, or an older duplicate read alone would overwrite the newest.
    let keys = list(t.key_source_columns().iter().map(|k| ident(k)));
    let mut inner = vec![changed];
    inner.extend(scope.iter().cloned());
    format!("({keys}) IN (SELECT {keys} FROM {} WHERE {})", ident(&t.source.name), inner.join(" AND "))
}

/// The condition selecting row versions written by a transaction at or after `pgbisync.since_xid`.
/// A row's `xmin` is the low 32 bits of its writer's id, so the comparison is modulo 2^32: a
/// version at most 2^31 transactions after the bound counts as written since. The engine keeps the
/// bound within that window (it reads the table in full when it has fallen further behind), so a
/// changed row is never missed; an old or frozen row may read as new, which re-reads it, harmlessly.
fn written_since() -> String {
    format!("((CAST(CAST(xmin AS text) AS bigint) - {}) & 4294967295) < 2147483648", setting_as(SINCE_XID, "bigint"))
}

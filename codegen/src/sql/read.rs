//! What the source side runs: the binary COPY that reads a table-direction's rows.

use super::fragment::{ident, list, setting, where_clause};
use super::names::SINCE;
use super::scope::source_filters;
use crate::model::TableDirection;

/// `incremental` limits the read to rows changed since the watermark.
pub(crate) fn read(t: &TableDirection, incremental: bool) -> String {
    let mut filters = source_filters(t);
    if incremental {
        if let Some(track) = &t.tracking {
            filters.push(changed_rows(t, track, &filters));
        }
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

/// The condition selecting rows changed since `pgbisync.since`; `scope` is the source's filters.
fn changed_rows(t: &TableDirection, track: &str, scope: &[String]) -> String {
    // NULL tracking values are always read: a row the source never stamped is still a row.
    let changed =
        format!("({col} >= CAST({since} AS timestamptz) OR {col} IS NULL)", col = ident(track), since = setting(SINCE));
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

//! Staging: the temporary table a batch is copied into, the COPY that fills it, and the
//! newest-wins dedup that runs on it before anything reaches the target.

use super::fragment::{ident, idents, list, prefixed, row_text};
use super::names::{RANK, ROW_NUMBER, STAGE, TRACK};
use crate::model::TableDirection;

/// Staging columns in order: `_n`, the staged target columns, then `_track` when the table tracks changes.
pub fn stage_columns(t: &TableDirection) -> Vec<String> {
    let mut cols = vec![ROW_NUMBER.as_str().to_string()];
    cols.extend(t.staged.iter().map(|s| s.name.clone()));
    if t.tracking.is_some() {
        cols.push(TRACK.as_str().into());
    }
    cols
}

/// The staged target columns, without the engine's own.
pub(crate) fn data_columns(t: &TableDirection) -> Vec<String> {
    t.staged.iter().map(|s| s.name.clone()).collect()
}

pub(crate) fn create_stage(t: &TableDirection) -> String {
    let mut cols = vec![format!("{ROW_NUMBER} bigint NOT NULL")];
    cols.extend(t.staged.iter().map(|s| format!("{} {}", ident(&s.name), s.ty.canonical())));
    if t.tracking.is_some() {
        cols.push(format!("{TRACK} timestamp with time zone"));
    }
    format!(
        r#"CREATE TEMPORARY TABLE {STAGE} (
    {cols}
) ON COMMIT DROP"#,
        cols = cols.join(",\n    ")
    )
}

pub(crate) fn copy_stage(t: &TableDirection) -> String {
    format!(
        r#"COPY {STAGE} ({cols})
FROM STDIN (FORMAT binary)"#,
        cols = idents(&stage_columns(t))
    )
}

pub(crate) fn dedup(t: &TableDirection) -> Option<String> {
    if !t.dedup || t.key.is_empty() {
        return None;
    }
    let mut order = Vec::new();
    if t.tracking.is_some() {
        order.push(format!("d.{TRACK} DESC NULLS LAST"));
    }
    order.push(format!("{} DESC", row_text("d", &data_columns(t))));
    // Only keys that occur more than once are ranked: the ranking (and its row texts) costs a
    // sort, and most batches hold few duplicates or none.
    Some(format!(
        r#"DELETE FROM {STAGE} s
USING (
    SELECT d.{ROW_NUMBER},
        row_number() OVER (
            PARTITION BY {key}
            ORDER BY {order}
        ) AS {RANK}
    FROM {STAGE} d
    WHERE ({key}) IN (
        SELECT {plain} FROM {STAGE} GROUP BY {plain} HAVING count(*) > 1)
) r
WHERE s.{ROW_NUMBER} = r.{ROW_NUMBER}
  AND r.{RANK} > 1"#,
        key = list(prefixed("d", &t.key)),
        plain = idents(&t.key),
        order = order.join(", ")
    ))
}

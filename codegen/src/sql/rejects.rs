//! What the engine reports about the rows a run set aside.

use super::fragment::{ident, list, literal, row_text};
use super::names::{REASON, REJECTED, ROW_NUMBER, SET_ASIDE, TRACK};
use super::stage::data_columns;
use crate::model::TableDirection;

/// `(key, reason, row json, tracking value)` of each row the checks or the apply step set aside.
pub(crate) fn describe_rejects(t: &TableDirection) -> String {
    let key = if t.key.is_empty() {
        row_text("s", &data_columns(t))
    } else {
        format!("json_build_object({})::text", list(t.key.iter().map(|k| format!("{}, s.{}", literal(k), ident(k)))))
    };
    let track = if t.tracking.is_some() { format!("s.{TRACK}") } else { "NULL::timestamptz".to_string() };
    // One row per row set aside, with all its reasons.
    format!(
        r#"SELECT {key},
    (SELECT string_agg(r.{REASON}, '; ' ORDER BY r.{REASON})
        FROM {REJECTED} r WHERE r.{ROW_NUMBER} = s.{ROW_NUMBER}),
    row_to_json(s)::text,
    {track}
FROM {SET_ASIDE} s"#
    )
}

//! The SQL `pgbisync verify` runs on each side of a table-direction: one `(k, h)` row per row that
//! should correspond, `k` the key as text and `h` an md5 of the synced values, ordered by `k` in
//! byte order (`COLLATE "C"`) so the engine can merge-join both streams without holding either.
//!
//! Only staged columns that come from the source take part: constants and computed columns do not
//! exist on the source, so they cannot be compared with it. Values are the target's types on both
//! sides (the source's are cast when they differ), so equal values print the same text; the engine
//! runs both queries with `TimeZone` set to UTC so timestamptz text matches too.

use super::fragment::{ident, list, setting, where_clause};
use super::names::{ORIGIN_DESKTOP, RANK, VERIFY_HASH, VERIFY_KEY, VERIFY_OWNED};
use super::scope::{owned_filters, source_filters, tenant_filter};
use crate::model::{Direction, StagedValue, Strategy, TableDirection};

/// Staged columns the source provides: (source expression over alias `s`, target column name).
pub(crate) fn compared_columns(t: &TableDirection) -> Vec<(String, String)> {
    t.staged
        .iter()
        .filter_map(|s| match &s.value {
            StagedValue::Source { column, index } => {
                let expr = format!("s.{}", ident(column));
                // Same type, same text: only a differing source type needs the cast the sync's
                // binary COPY into staging amounts to.
                let expr = match t.read.get(*index) {
                    Some(c) if c.ty != s.ty => format!("CAST({expr} AS {})", s.ty.canonical()),
                    _ => expr,
                };
                Some((expr, s.name.clone()))
            }
            StagedValue::Constant(_) => None,
        })
        .collect()
}

/// Key columns the source provides, as (source expression, target column name), in key order.
pub(crate) fn key_columns(t: &TableDirection) -> Vec<(String, String)> {
    let compared = compared_columns(t);
    t.key.iter().filter_map(|k| compared.iter().find(|(_, name)| name == k).cloned()).collect()
}

/// The key text: a JSON array of the key values, or the whole row's text for tables without a key
/// (their rows are compared as a multiset: identical rows share a key and are counted).
pub(crate) fn key_text(keys: &[String], values: &str) -> String {
    if keys.is_empty() {
        values.to_string()
    } else {
        format!("json_build_array({})::text", list(keys.iter().cloned()))
    }
}

/// The rows of `inner` (laid out at an indent of four) as `columns`, in the order the engine
/// merge-joins them.
fn ordered(inner: String, columns: &str, filter: &str) -> String {
    format!(
        r#"SELECT {columns}
FROM (
    {inner}
) v{filter}
ORDER BY v.{VERIFY_KEY} COLLATE "C""#
    )
}

/// One inner query: `select` items of `table` aliased `alias`, under `filters`.
fn inner(select: &[String], table: &str, alias: &str, filters: &[String]) -> String {
    format!(
        "SELECT {select}\n    FROM {table} {alias}{filters}",
        select = select.join(",\n        "),
        table = ident(table),
        filters = where_clause(filters, "    ")
    )
}

/// `(k, h)` of the source rows the sync reads, after its newest-wins dedup.
pub fn source(t: &TableDirection) -> String {
    let compared = compared_columns(t);
    let values = format!("ROW({})::text", list(compared.iter().map(|(e, _)| e.clone())));
    let keys: Vec<String> = key_columns(t).into_iter().map(|(e, _)| e).collect();
    let mut select =
        vec![format!("{} AS {VERIFY_KEY}", key_text(&keys, &values)), format!("md5({values}) AS {VERIFY_HASH}")];
    let mut outer_filter = String::new();
    if t.dedup && !t.key.is_empty() {
        // The row the sync keeps for a duplicated key, ranked as its dedup ranks staged rows:
        // newest tracking value first, then the row's text (constants, equal on every row, left out).
        let mut order = Vec::new();
        if let Some(track) = &t.tracking {
            order.push(format!("s.{} DESC NULLS LAST", ident(track)));
        }
        order.push(format!("{values} DESC"));
        select.push(format!(
            "row_number() OVER (\n            PARTITION BY {}\n            ORDER BY {}\n        ) AS {RANK}",
            list(keys.iter().cloned()),
            order.join(", ")
        ));
        outer_filter = where_clause(&[format!("v.{RANK} = 1")], "");
    }
    let inner = inner(&select, &t.source.name, "s", &source_filters(t));
    ordered(inner, &format!("v.{VERIFY_KEY}, v.{VERIFY_HASH}"), &outer_filter)
}

/// `(k, h, o)` of the target rows to compare; `o` says whether a row the source lacks counts as
/// extra (it belongs to the sending side).
pub fn target(t: &TableDirection) -> String {
    let compared = compared_columns(t);
    let values = format!("ROW({})::text", list(compared.iter().map(|(_, n)| format!("t.{}", ident(n)))));
    let keys: Vec<String> = key_columns(t).into_iter().map(|(_, n)| format!("t.{}", ident(&n))).collect();
    let (owned, filters) = match (t.direction, t.strategy) {
        // replace_origin makes the sending side's rows equal to the source's multiset: those rows,
        // and only those, must match.
        (Direction::Forward, Strategy::ReplaceOrigin) => ("true".to_string(), owned_filters(t)),
        // Every row of the key space, so a desktop row whose key the cloud's own (mobile-born) row
        // holds is found and not reported missing; only the sending side's rows can be extra.
        (Direction::Forward, _) => (
            format!("(t.{} IS NOT DISTINCT FROM {})", ident(&t.origin_column), setting(ORIGIN_DESKTOP)),
            tenant_filter(t, "t").into_iter().collect(),
        ),
        // The desktop also holds its own rows: only keys the cloud sent back are compared.
        (Direction::Reverse, _) => ("false".to_string(), tenant_filter(t, "t").into_iter().collect()),
    };
    let select = [
        format!("{} AS {VERIFY_KEY}", key_text(&keys, &values)),
        format!("md5({values}) AS {VERIFY_HASH}"),
        format!("{owned} AS {VERIFY_OWNED}"),
    ];
    let inner = inner(&select, &t.target.name, "t", &filters);
    ordered(inner, &format!("v.{VERIFY_KEY}, v.{VERIFY_HASH}, v.{VERIFY_OWNED}"), "")
}

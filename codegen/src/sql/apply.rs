//! The statements that write the target from staging, per strategy: insert the missing keys
//! (insert_only), update then insert (upsert), or make the sending side's rows equal to the
//! staged multiset (replace_origin: a delete before the batches, an insert per batch).

use super::fragment::{and_lines, batch_range, ident, key_match, list, literal, prefixed, row_text, setting};
use super::names::{
    BORN_IN_CLOUD, CHANGED, COPIES, DIFFER, DUP, FOUND, ORIGIN_CLOUD, ORIGIN_DESKTOP, OWNED, OWNED_COPIES, ROW_HASH,
    ROW_ID, ROW_NUMBER, SAME, SCOPE, STAGE, STAGED_COPIES, VERIFY_KEY,
};
use super::scope::{owned_filters, tenant_filter};
use crate::model::{Computed, Direction, Strategy, TableDirection};

/// How a statement looks a computed column's value up in another table.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lookups {
    /// A subquery per row: for statements that read a batch's few rows.
    PerRow,
    /// A lateral join per lookup (see [`lookup_joins`]): for statements that read all of staging.
    Joined,
}

/// The alias of the `i`th computed column's lateral lookup.
fn lookup_alias(i: usize) -> String {
    format!("_pgbisync_lookup_{i}")
}

/// The value each written target column gets, as SQL over staging alias `s`; `i` is the column's
/// place among the computed ones.
fn computed_expr(c: &Computed, i: usize, lookups: Lookups) -> String {
    match (c, lookups) {
        (Computed::Now { .. }, _) => "now()".into(),
        (Computed::Lookup { take, .. }, Lookups::Joined) => format!("{}.{}", lookup_alias(i), ident(take)),
        (Computed::Lookup { table, by, take, .. }, Lookups::PerRow) => format!("({})", lookup_query(table, by, take)),
    }
}

/// The one row a lookup finds for staged row `s` (the manifest requires `by` to be the looked-up
/// table's whole key).
fn lookup_query(table: &str, by: &[String], take: &str) -> String {
    format!(
        "SELECT l.{take} FROM {table} l WHERE {cond} LIMIT 1",
        take = ident(take),
        table = ident(table),
        cond = by.iter().map(|b| format!("l.{} = s.{}", ident(b), ident(b))).collect::<Vec<_>>().join(" AND ")
    )
}

/// The lateral joins `Lookups::Joined` reads, after `FROM stage s`. A join, not a subquery in the
/// select list, lets the planner cache the lookups of repeated keys (Memoize): the rows of a child
/// table share their parent's key, and at two tasks per job half the index probes go.
fn lookup_joins(t: &TableDirection) -> String {
    t.computed
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match c {
            Computed::Lookup { table, by, take, .. } => {
                Some(format!("\nLEFT JOIN LATERAL ({}) {} ON true", lookup_query(table, by, take), lookup_alias(i)))
            }
            Computed::Now { .. } => None,
        })
        .collect()
}

/// Target columns compared to decide whether a row changed: staged and looked-up ones
/// (`now` columns change on every write, so they never decide).
fn compared(t: &TableDirection) -> (Vec<String>, Vec<String>) {
    compared_with(t, Lookups::PerRow)
}

fn compared_with(t: &TableDirection, lookups: Lookups) -> (Vec<String>, Vec<String>) {
    let mut target_cols: Vec<String> = t.staged.iter().map(|s| s.name.clone()).collect();
    let mut exprs: Vec<String> = t.staged.iter().map(|s| format!("s.{}", ident(&s.name))).collect();
    for (i, c) in t.computed.iter().enumerate() {
        if let Computed::Lookup { column, .. } = c {
            target_cols.push(column.clone());
            exprs.push(computed_expr(c, i, lookups));
        }
    }
    (target_cols, exprs)
}

/// Columns written on insert and their values.
fn written(t: &TableDirection) -> (Vec<String>, Vec<String>) {
    written_with(t, Lookups::PerRow)
}

fn written_with(t: &TableDirection, lookups: Lookups) -> (Vec<String>, Vec<String>) {
    let mut cols: Vec<String> = t.staged.iter().map(|s| ident(&s.name)).collect();
    let mut values: Vec<String> = t.staged.iter().map(|s| format!("s.{}", ident(&s.name))).collect();
    for (i, c) in t.computed.iter().enumerate() {
        cols.push(ident(c.column()));
        values.push(computed_expr(c, i, lookups));
    }
    if t.direction == Direction::Forward {
        cols.push(ident(&t.origin_column));
        values.push(setting(ORIGIN_DESKTOP));
    }
    (cols, values)
}

fn insert_missing(t: &TableDirection) -> String {
    let (cols, values) = written(t);
    // Reverse has already looked every staged key up in the desktop table, for the ledger.
    let missing = match records_ledger(t) {
        true => format!("NOT EXISTS (SELECT 1 FROM {FOUND} f WHERE f.{ROW_NUMBER} = s.{ROW_NUMBER})"),
        false => format!(
            "NOT EXISTS (SELECT 1 FROM {target} t WHERE {matches})",
            target = ident(&t.target.name),
            matches = key_match(&t.key)
        ),
    };
    // A desktop copy of a cloud-born row whose cloud row is gone is not a new desktop row.
    let born_in_cloud = match born_in_cloud_keys(t) {
        Some(_) => {
            format!("\n  AND NOT EXISTS (SELECT 1 FROM {BORN_IN_CLOUD} b WHERE b.{VERIFY_KEY} = {})", key_text(t, "s"))
        }
        None => String::new(),
    };
    format!(
        r#"INSERT INTO {target} ({cols})
SELECT {values}
FROM {STAGE} s
WHERE {range}
  AND {missing}{born_in_cloud}"#,
        target = ident(&t.target.name),
        cols = list(cols),
        values = list(values),
        range = batch_range("s"),
    )
}

pub(crate) fn prepare(t: &TableDirection) -> Vec<String> {
    if records_ledger(t) {
        return vec![found(t)];
    }
    if t.strategy != Strategy::ReplaceOrigin {
        return Vec::new();
    }
    match_copies(t)
}

/// The temporary tables `prepare` makes.
pub(crate) fn prepared(t: &TableDirection) -> Vec<&'static str> {
    if records_ledger(t) {
        return vec![FOUND.0];
    }
    match t.strategy {
        Strategy::ReplaceOrigin => vec![COPIES.0, OWNED.0, DIFFER.0],
        _ => Vec::new(),
    }
}

/// replace_origin, before the insert: makes the sending side's rows in the target equal to the
/// staged multiset, identical rows numbered so that k copies in the source keep k copies in the
/// target and nothing unchanged is rewritten. Each side's rows are turned into text once, and the
/// text into a 64-bit hash, and both sides' hashes are counted in one hash aggregate; only the
/// hashes whose counts differ (a day's changes) are then numbered, and the target's excess copies
/// deleted. Numbering every row of both sides instead (a window over the whole row text, twice)
/// sorted 4.9M wide rows four times per run; counting the texts themselves (about 100 bytes a
/// row), one aggregate per side then a join, spilled 4.9M rows a side to disk: 14.8 s against 6.5 s
/// for the hashes, by hand. Two rows of different texts share a hash with odds of 1 in 2^64 per
/// pair, and only a changed row meeting one in the other side's set could be mistaken.
fn match_copies(t: &TableDirection) -> Vec<String> {
    let (cols, _) = compared(t);
    let target = ident(&t.target.name);
    // A keyless target's rows are told apart by ctid; the delete checks the hash again, so a row
    // changed (or a ctid reused) since it was counted is never taken for the copy counted.
    let key = &t.target.key;
    let (ids, id_columns, same_id) = match key.is_empty() {
        true => (vec![format!("t.ctid AS {ROW_ID}")], vec![format!("o.{ROW_ID}")], format!("t.ctid = x.{ROW_ID}")),
        false => (
            prefixed("t", key).collect(),
            prefixed("o", key).collect(),
            key.iter().map(|k| format!("t.{k} = x.{k}", k = ident(k))).collect::<Vec<_>>().join(" AND "),
        ),
    };
    vec![
        format!(
            r#"CREATE TEMPORARY TABLE {OWNED} ON COMMIT DROP AS
SELECT {ids}, {hash} AS {ROW_HASH}
FROM {target} t
WHERE {owned}"#,
            ids = list(ids),
            hash = text_hash(&row_text("t", &cols)),
            owned = and_lines(&owned_filters(t), ""),
        ),
        // Nothing owned (a first load): every staged row is inserted as it is, uncounted.
        format!(
            r#"CREATE TEMPORARY TABLE {COPIES} ON COMMIT DROP AS
SELECT s.{ROW_NUMBER}, {hash} AS {ROW_HASH}
FROM {STAGE} s{joins}
WHERE (SELECT EXISTS (SELECT 1 FROM {OWNED}))"#,
            hash = text_hash(&format!("ROW({})::text", list(compared_with(t, Lookups::Joined).1))),
            joins = lookup_joins(t),
        ),
        format!(
            r#"CREATE TEMPORARY TABLE {DIFFER} ON COMMIT DROP AS
SELECT {ROW_HASH}, sum(staged) AS {STAGED_COPIES}, sum(owned) AS {OWNED_COPIES}
FROM (
    SELECT {ROW_HASH}, 1 AS staged, 0 AS owned FROM {COPIES}
    UNION ALL
    SELECT {ROW_HASH}, 0, 1 FROM {OWNED}
) copies
GROUP BY {ROW_HASH}
HAVING sum(staged) <> sum(owned)"#
        ),
        // Estimates for the delete and the insert, which join these to the target and to staging.
        format!("ANALYZE {OWNED}, {COPIES}, {DIFFER}"),
        format!(
            r#"DELETE FROM {target} t
USING (
    SELECT {id_columns}, o.{ROW_HASH},
        row_number() OVER (PARTITION BY o.{ROW_HASH}) AS {DUP},
        d.{STAGED_COPIES}
    FROM {OWNED} o
    JOIN {DIFFER} d ON d.{ROW_HASH} = o.{ROW_HASH}
    WHERE d.{OWNED_COPIES} > d.{STAGED_COPIES}
) x
WHERE {same}"#,
            id_columns = list(id_columns),
            same = and_lines(
                &[
                    same_id,
                    format!("x.{DUP} > x.{STAGED_COPIES}"),
                    // Not `=`: the planner would hash every target row's text to join on it.
                    format!("{} IS NOT DISTINCT FROM x.{ROW_HASH}", text_hash(&row_text("t", &cols))),
                ],
                ""
            ),
        ),
    ]
}

/// A row text's 64-bit hash (`hashtextextended`, PostgreSQL 11 and later, as pgbisync requires).
fn text_hash(text: &str) -> String {
    format!("hashtextextended({text}, 0)")
}

/// Forward upsert after a full read (a re-sync, a `mode: full` table): the staged rows that would
/// change the target, as a new table that then stands for staging. A staged row whose key the
/// tenant's target row already holds with equal values in every compared column writes nothing
/// (the update compares the same columns; the insert skips a key the target has), so one hashed
/// anti-join sets it aside before the checks and the apply, which then read only what changes: at
/// 1M unchanged rows, nothing. Copying the changed rows costs one write of them, so incremental
/// reads, which are mostly changes, do without it.
pub(crate) fn settle(t: &TableDirection) -> Option<String> {
    if t.direction != Direction::Forward || t.strategy != Strategy::Upsert || t.key.is_empty() {
        return None;
    }
    let mut same = vec![key_match(&t.key)];
    same.extend(tenant_filter(t, "t"));
    same.push(holds_staged(t));
    Some(format!(
        r#"CREATE TEMPORARY TABLE {CHANGED} ON COMMIT DROP AS
SELECT s.*
FROM {STAGE} s
WHERE NOT EXISTS (
    SELECT 1 FROM {target} t
    WHERE {same})"#,
        target = ident(&t.target.name),
        same = and_lines(&same, "    "),
    ))
}

/// Target row `t` holds what staged row `s` would write, in every column the update compares.
pub(crate) fn holds_staged(t: &TableDirection) -> String {
    let (cols, exprs) = compared(t);
    format!("({}) IS NOT DISTINCT FROM ({})", list(prefixed("t", &cols)), list(exprs))
}

pub(crate) fn apply(t: &TableDirection) -> Vec<String> {
    match t.strategy {
        Strategy::InsertOnly => vec![insert_missing(t)],
        Strategy::Upsert if t.direction == Direction::Forward && !t.desktop_owns.is_empty() => {
            vec![update_changed(t), update_cloud_born(t), insert_missing(t)]
        }
        Strategy::Upsert => vec![update_changed(t), insert_missing(t)],
        Strategy::ReplaceOrigin => vec![insert_all_copies(t), insert_new_copies(t)],
    }
}

/// The key text of staged (or target) row `alias`, as the ledger and verify write it.
fn key_text(t: &TableDirection, alias: &str) -> String {
    format!("json_build_array({})::text", list(prefixed(alias, &t.key)))
}

/// This run's ledger rows of the table (table names are manifest constants, as literals).
fn ledger_rows(t: &TableDirection, ledger: &str) -> String {
    format!(
        "SELECT 1 FROM {} l WHERE l.table_name = {} AND l.scope = {} AND l.row_key = {}",
        ident(ledger),
        literal(&t.table),
        setting(SCOPE),
        key_text(t, "t")
    )
}

/// Reverse of a table with a key: every run records in the ledger the keys it brings.
fn records_ledger(t: &TableDirection) -> bool {
    t.ledger.is_some() && !t.key.is_empty() && t.direction == Direction::Reverse
}

/// Reverse, before the ledger and the apply: the staged rows whose key the desktop already holds,
/// and whether one of those rows equals the staged row in every column reverse writes. One pass
/// over the desktop table serves both: it has no index to look keys up in (the legacy tables have
/// none), and reading it once per statement was most of reverse's time. An inner join, so a
/// batch of new rows finds nothing and writes nothing here.
fn found(t: &TableDirection) -> String {
    let reverse_writes: Vec<&String> =
        t.staged.iter().map(|s| &s.name).filter(|n| !t.desktop_owns.contains(n)).collect();
    format!(
        r#"CREATE TEMPORARY TABLE {FOUND} ON COMMIT DROP AS
SELECT s.{ROW_NUMBER}, bool_or(({desktop}) IS NOT DISTINCT FROM ({staged})) AS {SAME}
FROM {STAGE} s
JOIN {target} t ON {matches}
GROUP BY s.{ROW_NUMBER}"#,
        target = ident(&t.target.name),
        matches = key_match(&t.key),
        desktop = list(prefixed("t", reverse_writes.iter().copied())),
        staged = list(prefixed("s", reverse_writes.iter().copied())),
    )
}

/// Reverse, before the apply: which staged keys join the ledger. Those the desktop does not have
/// yet, which the apply is about to insert; and those whose desktop row already equals the staged
/// row in every column reverse writes: a copy reverse brought before the ledger existed (a
/// desktop-born row that merely shares the key differs, and stays the desktop's). Keys the ledger
/// holds already are left out by a join, not `ON CONFLICT`, which tries each row's insertion
/// speculatively; one run at a time writes the ledger (the run lock). Staged keys are unique once
/// newest-wins has run (or the source proved them unique), so only a table without it pays for
/// `DISTINCT`. The keys go in in the order of the ledger's index (collation "C"): its B-tree then
/// takes them page by page, where the hash join's order sent each to a random leaf (at 250k keys,
/// 1.5 s against 1.1 s sorted). The desktop rows that differ are left out by an anti-join, which
/// hashes only those (a left join hashed every staged row: 1.0 s against 1.15 s).
pub(crate) fn record_ledger(t: &TableDirection) -> Option<String> {
    let ledger = t.ledger.as_ref().filter(|_| records_ledger(t))?;
    Some(format!(
        r#"INSERT INTO {ledger} (table_name, scope, row_key)
SELECT {distinct}{table}, {scope}, {key} COLLATE "C"
FROM {STAGE} s
WHERE NOT EXISTS (SELECT 1 FROM {FOUND} f WHERE f.{ROW_NUMBER} = s.{ROW_NUMBER} AND NOT f.{SAME})
  AND NOT EXISTS (
    SELECT 1 FROM {ledger} l
    WHERE l.table_name = {table} AND l.scope = {scope} AND l.row_key = {key})
ORDER BY 3"#,
        ledger = ident(ledger),
        distinct = if t.dedup { "" } else { "DISTINCT " },
        table = literal(&t.table),
        scope = setting(SCOPE),
        key = key_text(t, "s"),
    ))
}

/// Forward of a two-way table, run on the desktop: the keys reverse brought, in the ledger.
pub(crate) fn born_in_cloud_keys(t: &TableDirection) -> Option<String> {
    let ledger = t.ledger.as_ref().filter(|_| !t.key.is_empty() && t.direction == Direction::Forward)?;
    Some(format!(
        "SELECT l.row_key FROM {} l WHERE l.table_name = {} AND l.scope = {}",
        ident(ledger),
        literal(&t.table),
        setting(SCOPE)
    ))
}

/// Forward: of rows born in the cloud, only the columns the desktop owns (an approval), when they differ.
fn update_cloud_born(t: &TableDirection) -> String {
    let owned: Vec<&String> = t.staged.iter().map(|s| &s.name).filter(|n| t.desktop_owns.contains(n)).collect();
    let sets = owned.iter().map(|c| format!("{c} = s.{c}", c = ident(c)));
    let mut filters =
        vec![key_match(&t.key), batch_range("s"), format!("t.{} = {}", ident(&t.origin_column), setting(ORIGIN_CLOUD))];
    filters.extend(tenant_filter(t, "t"));
    if born_in_cloud_keys(t).is_some() {
        // Only the desktop's copy of that row: a desktop-born row that happens to share its key is
        // another row, and writes nothing of it.
        filters.push(format!("EXISTS (SELECT 1 FROM {BORN_IN_CLOUD} b WHERE b.{VERIFY_KEY} = {})", key_text(t, "s")));
    }
    filters.push(format!(
        "({}) IS DISTINCT FROM ({})",
        list(prefixed("t", owned.iter().copied())),
        list(prefixed("s", owned.iter().copied()))
    ));
    format!(
        r#"UPDATE {target} t
SET {sets}
FROM {STAGE} s
WHERE {filters}"#,
        target = ident(&t.target.name),
        sets = list(sets),
        filters = and_lines(&filters, "")
    )
}

/// Upsert's update of the rows whose key the batch holds and whose values differ. Reverse writes
/// only rows the ledger says it brought, and never the columns the desktop owns.
fn update_changed(t: &TableDirection) -> String {
    let reverse = t.direction == Direction::Reverse;
    let mine = |name: &String| !(reverse && t.desktop_owns.contains(name));
    let (cmp_cols, cmp_exprs): (Vec<String>, Vec<String>) = {
        let (c, e) = compared(t);
        c.into_iter().zip(e).filter(|(c, _)| mine(c)).unzip()
    };
    let mut sets: Vec<String> =
        t.staged.iter().filter(|s| mine(&s.name)).map(|s| format!("{c} = s.{c}", c = ident(&s.name))).collect();
    for (i, c) in t.computed.iter().enumerate() {
        sets.push(format!("{} = {}", ident(c.column()), computed_expr(c, i, Lookups::PerRow)));
    }
    let mut filters = vec![key_match(&t.key), batch_range("s")];
    if t.direction == Direction::Forward {
        sets.push(format!("{} = {}", ident(&t.origin_column), setting(ORIGIN_DESKTOP)));
        // Never overwrite a row born on the receiving side.
        filters.push(format!("t.{} IS DISTINCT FROM {}", ident(&t.origin_column), setting(ORIGIN_CLOUD)));
    }
    filters.extend(tenant_filter(t, "t"));
    if let Some(ledger) = t.ledger.as_ref().filter(|_| reverse) {
        // The desktop has no origin column: a row reverse did not bring is the desktop's own.
        filters.push(format!("EXISTS ({})", ledger_rows(t, ledger)));
    }
    // Compare before writing, so a re-run with nothing changed rewrites no row.
    filters.push(format!("({}) IS DISTINCT FROM ({})", list(prefixed("t", &cmp_cols)), list(cmp_exprs)));
    // A one-time filter: on an empty target (a first load) the join is never executed.
    filters.push(format!("(SELECT EXISTS (SELECT 1 FROM {}))", ident(&t.target.name)));
    format!(
        r#"UPDATE {target} t
SET {sets}
FROM {STAGE} s
WHERE {filters}"#,
        target = ident(&t.target.name),
        sets = list(sets),
        filters = and_lines(&filters, "")
    )
}

/// replace_origin's insert when the target holds no row the sending side owns: every staged row.
fn insert_all_copies(t: &TableDirection) -> String {
    let (cols, values) = written_with(t, Lookups::Joined);
    format!(
        r#"INSERT INTO {target} ({cols})
SELECT {values}
FROM {STAGE} s{joins}
WHERE {range}
  AND NOT (SELECT EXISTS (SELECT 1 FROM {OWNED}))"#,
        target = ident(&t.target.name),
        cols = list(cols),
        values = list(values),
        range = batch_range("s"),
        joins = lookup_joins(t),
    )
}

/// replace_origin's insert of the staged copies the owned target rows lack: of each text with more
/// copies staged than owned, the copies past the owned count, in staging's order.
fn insert_new_copies(t: &TableDirection) -> String {
    let (cols, values) = written(t);
    format!(
        r#"INSERT INTO {target} ({cols})
SELECT {values}
FROM (
    SELECT c.{ROW_NUMBER},
        row_number() OVER (PARTITION BY c.{ROW_HASH} ORDER BY c.{ROW_NUMBER}) AS {DUP},
        d.{OWNED_COPIES}
    FROM {COPIES} c
    JOIN {DIFFER} d ON d.{ROW_HASH} = c.{ROW_HASH}
    WHERE d.{STAGED_COPIES} > d.{OWNED_COPIES}
) x
JOIN {STAGE} s ON s.{ROW_NUMBER} = x.{ROW_NUMBER}
WHERE {range}
  AND x.{DUP} > x.{OWNED_COPIES}"#,
        target = ident(&t.target.name),
        cols = list(cols),
        values = list(values),
        range = batch_range("s"),
    )
}

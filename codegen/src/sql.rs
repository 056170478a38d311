//! The SQL text of each table-direction. Identifiers are always quoted; values never appear: they
//! are bound parameters, COPY data, or `current_setting('pgbisync.*')` settings that the engine sets
//! with bound parameters at the start of each transaction (COPY cannot take parameters).

use crate::model::{Column, Computed, Direction, Mode, Side, SideName, Strategy, TableDirection};

/// The staging table every table-direction uses inside its own target transaction.
pub const STAGE: &str = "\"_pgbisync_stage\"";
/// Why staged rows were set aside, `(_n, reason)`; created by the engine.
pub const REJECTED: &str = "\"_pgbisync_rejected\"";
/// The staged rows set aside (same columns as staging); created by the engine.
pub const SET_ASIDE: &str = "\"_pgbisync_set_aside\"";

pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

pub(crate) fn setting(name: &str) -> String {
    format!("current_setting('pgbisync.{name}')")
}

pub(crate) fn list(cols: impl IntoIterator<Item = String>) -> String {
    cols.into_iter().collect::<Vec<_>>().join(", ")
}

fn prefixed<'a>(alias: &'a str, cols: impl IntoIterator<Item = &'a str> + 'a) -> impl Iterator<Item = String> + 'a {
    cols.into_iter().map(move |c| format!("{alias}.{}", ident(c)))
}

/// The text of all statements one table-direction runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSqlText {
    pub read_full: String,
    pub read_incremental: Option<String>,
    pub create_stage: String,
    pub copy_stage: String,
    pub dedup: Option<String>,
    pub checks: Vec<String>,
    pub prepare: Vec<String>,
    pub apply: Vec<String>,
    pub describe_rejects: String,
    pub verify_source: String,
    pub verify_target: String,
}

pub fn table_sql(t: &TableDirection) -> TableSqlText {
    TableSqlText {
        read_full: read(t, false),
        read_incremental: (t.mode == Mode::Incremental && t.tracking.is_some()).then(|| read(t, true)),
        create_stage: create_stage(t),
        copy_stage: format!(
            "COPY {STAGE} ({}) FROM STDIN (FORMAT binary)",
            list(stage_columns(t).into_iter().map(|c| ident(&c)))
        ),
        dedup: dedup(t),
        checks: checks(t),
        prepare: prepare(t),
        apply: apply(t),
        describe_rejects: describe_rejects(t),
        verify_source: crate::verify::source(t),
        verify_target: crate::verify::target(t),
    }
}

/// Staging columns in order: `_n`, the staged target columns, then `_track` when the table tracks changes.
pub fn stage_columns(t: &TableDirection) -> Vec<String> {
    let mut cols = vec!["_n".to_string()];
    cols.extend(t.staged.iter().map(|s| s.name.clone()));
    if t.tracking.is_some() {
        cols.push("_track".into());
    }
    cols
}

pub(crate) fn cast_setting(name: &str, col: &Column) -> String {
    format!("CAST({} AS {})", setting(name), col.ty.canonical())
}

/// The rows of the source in scope for a direction, as conditions on its unaliased columns.
pub(crate) fn source_filters(t: &TableDirection) -> Vec<String> {
    let mut filters = Vec::new();
    if t.direction == Direction::Reverse {
        // Only rows born in the cloud travel back, so nothing echoes.
        filters.push(format!("{} = {}", ident(&t.origin_column), setting("origin_cloud")));
    }
    if let Some(tenant) = &t.tenant_source {
        filters.push(format!("{} = {}", ident(&tenant.name), cast_setting("tenant", tenant)));
    }
    filters
}

fn read(t: &TableDirection, incremental: bool) -> String {
    let mut filters = source_filters(t);
    if incremental {
        if let Some(track) = &t.tracking {
            // NULL tracking values are always read: a row the source never stamped is still a row.
            let changed = format!(
                "({col} >= CAST({since} AS timestamptz) OR {col} IS NULL)",
                col = ident(track),
                since = setting("since")
            );
            if t.dedup && !t.key.is_empty() {
                // Newest-wins needs every source row of a key that changed, not only the changed
                // one, or an older duplicate read alone would overwrite the newest.
                let keys = list(t.key_source_columns().iter().map(|k| ident(k)));
                let mut inner = vec![changed];
                inner.extend(filters.iter().cloned());
                filters.push(format!(
                    "({keys}) IN (SELECT {keys} FROM {} WHERE {})",
                    ident(&t.source.name),
                    inner.join(" AND ")
                ));
            } else {
                filters.push(changed);
            }
        }
    }
    let where_clause = if filters.is_empty() { String::new() } else { format!(" WHERE {}", filters.join(" AND ")) };
    format!(
        "COPY (SELECT {} FROM {}{}) TO STDOUT (FORMAT binary)",
        list(t.read.iter().map(|c| ident(&c.name))),
        ident(&t.source.name),
        where_clause
    )
}

fn create_stage(t: &TableDirection) -> String {
    let mut cols = vec![format!("{} bigint NOT NULL", ident("_n"))];
    cols.extend(t.staged.iter().map(|s| format!("{} {}", ident(&s.name), s.ty.canonical())));
    if t.tracking.is_some() {
        cols.push(format!("{} timestamp with time zone", ident("_track")));
    }
    format!("CREATE TEMPORARY TABLE {STAGE} ({}) ON COMMIT DROP", list(cols))
}

/// Content of a staged row as text, to break ties and to compare rows without a key.
fn row_text(alias: &str, cols: &[String]) -> String {
    format!("ROW({})::text", list(prefixed(alias, cols.iter().map(String::as_str))))
}

fn data_columns(t: &TableDirection) -> Vec<String> {
    t.staged.iter().map(|s| s.name.clone()).collect()
}

fn dedup(t: &TableDirection) -> Option<String> {
    if !t.dedup || t.key.is_empty() {
        return None;
    }
    let mut order = Vec::new();
    if t.tracking.is_some() {
        order.push(format!("d.{} DESC NULLS LAST", ident("_track")));
    }
    order.push(format!("{} DESC", row_text("d", &data_columns(t))));
    // Only keys that occur more than once are ranked: the ranking (and its row texts) costs a
    // sort, and most batches hold few duplicates or none.
    Some(format!(
        "DELETE FROM {STAGE} s USING (SELECT d.{n}, row_number() OVER (PARTITION BY {key} ORDER BY {order}) AS \"_pgbisync_rank\" FROM {STAGE} d \
         WHERE ({key}) IN (SELECT {plain} FROM {STAGE} GROUP BY {plain} HAVING count(*) > 1)) r \
         WHERE s.{n} = r.{n} AND r.\"_pgbisync_rank\" > 1",
        n = ident("_n"),
        key = list(prefixed("d", t.key.iter().map(String::as_str))),
        plain = list(t.key.iter().map(|k| ident(k))),
        order = order.join(", ")
    ))
}

fn checks(t: &TableDirection) -> Vec<String> {
    let target = t.direction_target_name();
    let mut out = Vec::new();
    for s in &t.staged {
        if !s.target_nullable && s.nullable {
            out.push(format!(
                "INSERT INTO {REJECTED} (\"_n\", \"reason\") SELECT s.\"_n\", {reason} FROM {STAGE} s WHERE s.{col} IS NULL",
                reason = literal(&format!("column {} is NULL, and {target} column {}.{} is NOT NULL", s.name, t.target.name, s.name)),
                col = ident(&s.name)
            ));
        }
    }
    if t.strategy == Strategy::Upsert {
        if let Some(tenant) = &t.tenant_target {
            // The update is scoped to this tenant; a key another tenant holds would otherwise be
            // neither updated nor inserted, silently.
            out.push(format!(
                "INSERT INTO {REJECTED} (\"_n\", \"reason\") SELECT s.\"_n\", {reason} FROM {STAGE} s \
                 WHERE EXISTS (SELECT 1 FROM {target} t WHERE {matches} AND t.{col} IS DISTINCT FROM {value})",
                reason =
                    literal(&format!("the key is held by another tenant's row in {target} table {}", t.target.name)),
                target = ident(&t.target.name),
                matches = key_match(t),
                col = ident(&tenant.name),
                value = cast_setting("tenant", tenant),
            ));
        }
    }
    for r in &t.references {
        if r.parent == t.table {
            // A table referencing itself may bring parent and child in one batch.
            continue;
        }
        let present =
            r.pairs.iter().map(|(c, _)| format!("s.{} IS NOT NULL", ident(c))).collect::<Vec<_>>().join(" AND ");
        let matches =
            r.pairs.iter().map(|(c, p)| format!("p.{} = s.{}", ident(p), ident(c))).collect::<Vec<_>>().join(" AND ");
        let shown = r
            .pairs
            .iter()
            .map(|(c, _)| format!("{} || '=' || s.{}::text", literal(c), ident(c)))
            .collect::<Vec<_>>()
            .join(" || ', ' || ");
        out.push(format!(
            "INSERT INTO {REJECTED} (\"_n\", \"reason\") SELECT s.\"_n\", {prefix} || {shown} || {suffix} FROM {STAGE} s \
             WHERE {present} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {matches})",
            prefix = literal(&format!("orphan: no {} row on the {target} with ", r.parent_table)),
            suffix = literal(&format!(" (parent {} not synced yet or missing)", r.parent)),
            parent = ident(&r.parent_table),
        ));
    }
    out
}

/// The value each written target column gets, as SQL over staging alias `s`.
fn computed_expr(c: &Computed) -> String {
    match c {
        Computed::Now { .. } => "now()".into(),
        Computed::Lookup { table, by, take, .. } => format!(
            "(SELECT l.{take} FROM {table} l WHERE {cond} LIMIT 1)",
            take = ident(take),
            table = ident(table),
            cond = by.iter().map(|b| format!("l.{} = s.{}", ident(b), ident(b))).collect::<Vec<_>>().join(" AND ")
        ),
    }
}

/// Target columns compared to decide whether a row changed: staged and looked-up ones
/// (`now` columns change on every write, so they never decide).
fn compared(t: &TableDirection) -> (Vec<String>, Vec<String>) {
    let mut target_cols: Vec<String> = t.staged.iter().map(|s| s.name.clone()).collect();
    let mut exprs: Vec<String> = t.staged.iter().map(|s| format!("s.{}", ident(&s.name))).collect();
    for c in &t.computed {
        if let Computed::Lookup { column, .. } = c {
            target_cols.push(column.clone());
            exprs.push(computed_expr(c));
        }
    }
    (target_cols, exprs)
}

/// Columns written on insert and their values.
fn written(t: &TableDirection) -> (Vec<String>, Vec<String>) {
    let mut cols: Vec<String> = t.staged.iter().map(|s| ident(&s.name)).collect();
    let mut values: Vec<String> = t.staged.iter().map(|s| format!("s.{}", ident(&s.name))).collect();
    for c in &t.computed {
        cols.push(ident(c.column()));
        values.push(computed_expr(c));
    }
    if t.direction == Direction::Forward {
        cols.push(ident(&t.origin_column));
        values.push(setting("origin_desktop"));
    }
    (cols, values)
}

pub(crate) fn tenant_filter(t: &TableDirection, alias: &str) -> Option<String> {
    t.tenant_target.as_ref().map(|c| format!("{alias}.{} = {}", ident(&c.name), cast_setting("tenant", c)))
}

const RANGE: &str = "s.\"_n\" BETWEEN $1 AND $2";

fn key_match(t: &TableDirection) -> String {
    t.key.iter().map(|k| format!("t.{k} = s.{k}", k = ident(k))).collect::<Vec<_>>().join(" AND ")
}

fn insert_missing(t: &TableDirection) -> String {
    let (cols, values) = written(t);
    format!(
        "INSERT INTO {target} ({cols}) SELECT {values} FROM {STAGE} s WHERE {RANGE} AND NOT EXISTS (SELECT 1 FROM {target} t WHERE {matches})",
        target = ident(&t.target.name),
        cols = list(cols),
        values = list(values),
        matches = key_match(t)
    )
}

fn prepare(t: &TableDirection) -> Vec<String> {
    if t.strategy != Strategy::ReplaceOrigin {
        return Vec::new();
    }
    // Delete the sending side's rows that the source no longer holds, as a multiset: identical rows
    // are numbered so that k copies in the source keep k copies in the target, and nothing is rewritten.
    let (cols, exprs) = compared(t);
    let row_id = if t.target.key.is_empty() {
        "ctid".to_string()
    } else {
        list(prefixed("t", t.target.key.iter().map(String::as_str)))
    };
    let row_id_t = if t.target.key.is_empty() { "t.ctid".to_string() } else { row_id.clone() };
    let owned = owned_filter(t);
    vec![format!(
        "WITH src AS (SELECT m.\"_pgbisync_r\", row_number() OVER (PARTITION BY m.\"_pgbisync_r\") AS \"_pgbisync_dup\" FROM (SELECT ROW({exprs})::text AS \"_pgbisync_r\" FROM {STAGE} s) m), \
         tgt AS (SELECT ({row_id_t}) AS \"_pgbisync_id\", {rt} AS \"_pgbisync_r\", row_number() OVER (PARTITION BY {rt}) AS \"_pgbisync_dup\" FROM {target} t WHERE {owned}) \
         DELETE FROM {target} t USING tgt WHERE ({row_id_t}) = tgt.\"_pgbisync_id\" AND NOT EXISTS (SELECT 1 FROM src WHERE src.\"_pgbisync_r\" = tgt.\"_pgbisync_r\" AND src.\"_pgbisync_dup\" = tgt.\"_pgbisync_dup\")",
        exprs = list(exprs),
        rt = row_text("t", &cols),
        target = ident(&t.target.name),
    )]
}

/// Rows of the target the sending side owns: its origin, within the tenant scope.
pub(crate) fn owned_filter(t: &TableDirection) -> String {
    let mut f = vec![format!("t.{} = {}", ident(&t.origin_column), setting("origin_desktop"))];
    f.extend(tenant_filter(t, "t"));
    f.join(" AND ")
}

fn apply(t: &TableDirection) -> Vec<String> {
    match t.strategy {
        Strategy::InsertOnly => vec![insert_missing(t)],
        Strategy::Upsert => {
            let (cmp_cols, cmp_exprs) = compared(t);
            let mut sets: Vec<String> = t.staged.iter().map(|s| format!("{c} = s.{c}", c = ident(&s.name))).collect();
            for c in &t.computed {
                sets.push(format!("{} = {}", ident(c.column()), computed_expr(c)));
            }
            let mut filters = vec![key_match(t), RANGE.to_string()];
            if t.direction == Direction::Forward {
                sets.push(format!("{} = {}", ident(&t.origin_column), setting("origin_desktop")));
                // Never overwrite a row born on the receiving side.
                filters.push(format!("t.{} IS DISTINCT FROM {}", ident(&t.origin_column), setting("origin_cloud")));
            }
            filters.extend(tenant_filter(t, "t"));
            // Compare before writing, so a re-run with nothing changed rewrites no row.
            filters.push(format!(
                "({}) IS DISTINCT FROM ({})",
                list(prefixed("t", cmp_cols.iter().map(String::as_str))),
                list(cmp_exprs)
            ));
            // A one-time filter: on an empty target (a first load) the join is never executed.
            filters.push(format!("(SELECT EXISTS (SELECT 1 FROM {}))", ident(&t.target.name)));
            vec![
                format!(
                    "UPDATE {target} t SET {sets} FROM {STAGE} s WHERE {filters}",
                    target = ident(&t.target.name),
                    sets = list(sets),
                    filters = filters.join(" AND ")
                ),
                insert_missing(t),
            ]
        }
        Strategy::ReplaceOrigin => {
            let (cols, exprs) = compared(t);
            let (wcols, _) = written(t);
            let mut values: Vec<String> = cols.iter().map(|c| format!("src.{}", ident(c))).collect();
            for c in &t.computed {
                if let Computed::Now { .. } = c {
                    values.push("now()".into());
                }
            }
            values.push(setting("origin_desktop"));
            // written() lists staged, then computed (lookups and now in manifest order), then origin;
            // order the insert's column list the same way as `values`.
            let mut ordered_cols: Vec<String> = cols.iter().map(|c| ident(c)).collect();
            for c in &t.computed {
                if let Computed::Now { column } = c {
                    ordered_cols.push(ident(column));
                }
            }
            ordered_cols.push(ident(&t.origin_column));
            debug_assert_eq!(ordered_cols.len(), wcols.len());
            let named = cols.iter().zip(&exprs).map(|(c, e)| format!("{e} AS {}", ident(c)));
            vec![format!(
                "WITH src AS (SELECT m.*, row_number() OVER (PARTITION BY m.\"_pgbisync_r\" ORDER BY m.\"_n\") AS \"_pgbisync_dup\" \
                 FROM (SELECT s.\"_n\", {named}, ROW({exprs})::text AS \"_pgbisync_r\" FROM {STAGE} s) m), \
                 tgt AS (SELECT {rt} AS \"_pgbisync_r\", row_number() OVER (PARTITION BY {rt}) AS \"_pgbisync_dup\" FROM {target} t WHERE {owned}) \
                 INSERT INTO {target} ({cols}) SELECT {values} FROM src WHERE src.\"_n\" BETWEEN $1 AND $2 \
                 AND NOT EXISTS (SELECT 1 FROM tgt WHERE tgt.\"_pgbisync_r\" = src.\"_pgbisync_r\" AND tgt.\"_pgbisync_dup\" = src.\"_pgbisync_dup\")",
                named = list(named),
                exprs = list(exprs.clone()),
                rt = row_text("t", &cols),
                target = ident(&t.target.name),
                owned = owned_filter(t),
                cols = list(ordered_cols),
                values = list(values),
            )]
        }
    }
}

/// `(key, reason, row json, tracking value)` of each row the checks or the apply step set aside.
fn describe_rejects(t: &TableDirection) -> String {
    let key = if t.key.is_empty() {
        row_text("s", &data_columns(t))
    } else {
        format!("json_build_object({})::text", list(t.key.iter().map(|k| format!("{}, s.{}", literal(k), ident(k)))))
    };
    let track = if t.tracking.is_some() { "s.\"_track\"".to_string() } else { "NULL::timestamptz".to_string() };
    // One row per row set aside, with all its reasons.
    format!(
        "SELECT {key}, (SELECT string_agg(r.\"reason\", '; ' ORDER BY r.\"reason\") FROM {REJECTED} r WHERE r.\"_n\" = s.\"_n\"), \
         row_to_json(s)::text, {track} FROM {SET_ASIDE} s"
    )
}

impl TableDirection {
    fn direction_target_name(&self) -> &'static str {
        match self.direction {
            Direction::Forward => "cloud",
            Direction::Reverse => "desktop",
        }
    }
}

/// DDL for one side of a table as the manifest describes it: used by `demo` and the tests to build
/// databases shaped like a deployment. The desktop side has no keys (like the legacy database);
/// the cloud side has its primary key and the origin column.
pub fn side_ddl(side: &Side, origin_column: &str, origin_default: &str) -> String {
    let mut cols: Vec<String> = side
        .columns
        .iter()
        .map(|c| {
            let mut d = format!("{} {}", ident(&c.name), c.ty.ddl());
            if !c.nullable && !c.ty.is_generated() {
                d.push_str(" NOT NULL");
            }
            if side.bookkeeping.contains(&c.name) {
                d.push_str(" DEFAULT now()");
            }
            if c.name == origin_column && side.side == SideName::Cloud {
                d.push_str(&format!(" DEFAULT {}", literal(origin_default)));
            }
            d
        })
        .collect();
    if side.side == SideName::Cloud && !side.key.is_empty() {
        cols.push(format!("PRIMARY KEY ({})", list(side.key.iter().map(|k| ident(k)))));
    }
    let mut ddl = format!("CREATE TABLE {} ({});", ident(&side.name), list(cols));
    if let Some(touched) = &side.touched {
        ddl.push_str(&format!(
            "\nCREATE TRIGGER {} BEFORE UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}();",
            ident(&format!("{}_touch", side.name)),
            ident(&side.name),
            ident(&format!("pgbisync_touch_{touched}"))
        ));
    }
    ddl
}

/// The trigger function the DDL's triggers call, one per bookkeeping column name.
pub fn touch_function(column: &str) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.{col} := now(); RETURN NEW; END $$;",
        name = ident(&format!("pgbisync_touch_{column}")),
        col = ident(column)
    )
}

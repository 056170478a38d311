//! Databases shaped like a deployment, for `pgbisync demo` and the tests: both sides' tables from the
//! manifest's DDL, and sample rows generated from each table's declared columns -- including
//! duplicate keys, orphan references and rows born in the cloud, so a demo run shows every path.

use tokio_postgres::Client;

use crate::engine::names::ident;
use crate::program::Program;
use crate::spec::{ColumnSpec, Direction, SideTable, TableSpec};

/// Creates every manifest table on both sides (desktop without keys, like the legacy database).
pub async fn create_schema(program: &Program, desktop: &Client, cloud: &Client) -> Result<(), tokio_postgres::Error> {
    for client in [desktop, cloud] {
        for f in program.schema_functions {
            client.batch_execute(f).await?;
        }
    }
    for t in program.schema {
        desktop.batch_execute(t.desktop_ddl).await?;
        cloud.batch_execute(t.cloud_ddl).await?;
    }
    Ok(())
}

/// How much sample data to make.
#[derive(Debug, Clone, Copy)]
pub struct SampleSize {
    /// Rows in each master table.
    pub masters: u32,
    /// Rows in each transactional (incremental or replace_origin) table.
    pub transactional: u32,
    /// Cloud-born rows per reverse table.
    pub mobile: u32,
}

/// What was loaded, for the demo's narration.
#[derive(Debug, Default, Clone)]
pub struct SampleSummary {
    pub desktop_rows: u64,
    pub duplicates: u64,
    pub orphans: u64,
    pub mobile_rows: u64,
}

fn side_of(program: &Program, table: &str, desktop: bool) -> Option<&'static SideTable> {
    program.tables.iter().map(|t| t.spec()).find(|s| s.name == table).map(|s| {
        let (d, c) = if s.direction == Direction::Forward { (&s.source, &s.target) } else { (&s.target, &s.source) };
        if desktop {
            d
        } else {
            c
        }
    })
}

/// Parents known by their single key column: (key column, table, rows it holds).
struct Parents(Vec<(&'static str, &'static str, u32)>);

impl Parents {
    fn of(&self, column: &str, table: &str) -> Option<u32> {
        self.0.iter().find(|(c, t, _)| *c == column && *t != table).map(|(_, _, n)| *n)
    }

    fn table_of(&self, column: &str, table: &str) -> Option<&'static str> {
        self.0.iter().find(|(c, t, _)| *c == column && *t != table).map(|(_, t, _)| *t)
    }
}

fn numeric_args(sql_type: &str) -> Option<(u32, u32)> {
    let inner = sql_type.strip_prefix("numeric(")?.strip_suffix(')')?;
    let (p, s) = inner.split_once(',')?;
    Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
}

/// A SQL expression over `i` (the row number) giving a plausible value of the column.
fn value_expr(
    c: &ColumnSpec,
    key: bool,
    parent_rows: Option<u32>,
    tenant: Option<(&str, &str)>,
    offset: u32,
) -> String {
    let i = format!("(i + {offset})");
    if let Some((col, _)) = tenant {
        if col == c.name && !key {
            return format!("CAST(current_setting('pgbisync.sample_tenant') AS {})", c.sql_type);
        }
    }
    if let Some(n) = parent_rows {
        if !key {
            return format!("CAST(1 + (i - 1) % {n} AS {})", c.sql_type);
        }
    }
    let nullable = c.nullable && !key;
    let base = match c.sql_type {
        t if t.starts_with("numeric") => match numeric_args(t) {
            Some((p, s)) if key => format!("CAST({i} AS numeric({p},{s}))"),
            Some((p, s)) => {
                let m = 10u64.pow((p - s).min(9)) - 1;
                let frac = if s > 0 { " + 0.5" } else { "" };
                format!("CAST(({i} % {m}){frac} AS numeric({p},{s}))")
            }
            None => format!("CAST({i} AS numeric)"),
        },
        "smallint" => format!("CAST({i} % 30000 AS smallint)"),
        "integer" | "bigint" => format!("CAST({i} AS {})", c.sql_type),
        "real" | "double precision" => format!("CAST({i} / 4.0 AS {})", c.sql_type),
        "boolean" => format!("({i} % 2 = 0)"),
        "text" => format!("'{} ' || {i} || ' é'", c.name),
        t if t.starts_with("character varying") => {
            // Every eleventh row holds an empty string, which must stay distinct from NULL.
            format!("CASE WHEN {i} % 11 = 0 THEN '' ELSE CAST('{} ' || {i} || ' é' AS {t}) END", c.name)
        }
        t if t.starts_with("character(") => format!("CAST(chr(65 + {i} % 26) AS {t})"),
        "date" => format!("DATE '2024-01-01' + ({i} % 700)"),
        "time without time zone" => format!("TIME '08:00' + make_interval(mins => {i} % 600, secs => 0.5)"),
        "timestamp without time zone" => format!("TIMESTAMP '2024-01-01 09:30' + make_interval(mins => {i})"),
        "timestamp with time zone" => format!("TIMESTAMPTZ '2024-01-01 09:30+00' + make_interval(mins => {i})"),
        _ => "NULL".to_string(),
    };
    if nullable {
        // Every seventh row leaves nullable columns NULL.
        format!("CASE WHEN {i} % 7 = 0 THEN NULL ELSE {base} END")
    } else {
        base
    }
}

/// Columns the sample fills: those without a database default (bookkeeping and generated columns
/// keep theirs).
async fn fillable(client: &Client, side: &SideTable) -> Result<Vec<&'static ColumnSpec>, tokio_postgres::Error> {
    let defaults: Vec<String> = client
        .query(
            "SELECT a.attname::text FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = to_regclass($1)",
            &[&ident(side.name)],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(side.columns.iter().filter(|c| !defaults.iter().any(|d| d == c.name)).collect())
}

/// Which rows of a table to insert: row numbers `first..=last`, shifted by `offset` in the values,
/// stamped with the origin in `origin` (the column) when rows are born in the cloud.
struct Rows<'a> {
    first: u32,
    last: u32,
    offset: u32,
    origin: Option<&'a str>,
}

/// What every insert shares: the parents references point at, and the tenant.
struct Sampler<'a> {
    parents: Parents,
    tenant: Option<(&'a str, &'a str)>,
}

impl Sampler<'_> {
    async fn insert(
        &self,
        client: &Client,
        side: &SideTable,
        key: &[&str],
        rows: Rows<'_>,
    ) -> Result<u64, tokio_postgres::Error> {
        let cols = fillable(client, side).await?;
        let mut names: Vec<String> = cols.iter().map(|c| ident(c.name)).collect();
        let mut values: Vec<String> = cols
            .iter()
            .map(|c| value_expr(c, key.contains(&c.name), self.parents.of(c.name, side.name), self.tenant, rows.offset))
            .collect();
        if let Some(col) = rows.origin {
            names.push(ident(col));
            values.push("current_setting('pgbisync.sample_origin')".to_string());
        }
        client
            .execute(
                &format!(
                    "INSERT INTO {} ({}) SELECT {} FROM generate_series({}, {}) AS g(i)",
                    ident(side.name),
                    names.join(", "),
                    values.join(", "),
                    rows.first,
                    rows.last
                ),
                &[],
            )
            .await
    }

    /// Loads `n` desktop rows of a forward table, with duplicate keys where it deduplicates and two
    /// orphans where it references a parent.
    async fn forward_table(
        &self,
        desktop: &Client,
        spec: &TableSpec,
        n: u32,
        summary: &mut SampleSummary,
    ) -> Result<(), tokio_postgres::Error> {
        let (side, key) = (&spec.source, spec.key);
        let all = Rows { first: 1, last: n, offset: 0, origin: None };
        summary.desktop_rows += self.insert(desktop, side, key, all).await?;
        if spec.sql.dedup.is_some() && key.len() == 1 {
            // The legacy desktop really holds duplicate keys: copy a few rows with an older stamp.
            let sql =
                format!("INSERT INTO {t} SELECT * FROM {t} WHERE {k} <= 3", t = ident(side.name), k = ident(key[0]));
            summary.duplicates += desktop.execute(&sql, &[]).await?;
        }
        let referencing = side.columns.iter().find(|c| {
            self.parents.table_of(c.name, spec.name).is_some_and(|p| spec.references.contains(&p))
                && self.tenant.is_none_or(|(t, _)| t != c.name)
                && !key.contains(&c.name)
        });
        let Some(column) = referencing else { return Ok(()) };
        let orphans = Rows { first: n + 1, last: n + 2, offset: 0, origin: None };
        let inserted = self.insert(desktop, side, key, orphans).await?;
        let table = ident(side.name);
        desktop
            .execute(
                &format!(
                    "UPDATE {table} SET {col} = CAST({missing} AS {ty}) WHERE ctid IN (SELECT ctid FROM {table} ORDER BY ctid DESC LIMIT {inserted})",
                    col = ident(column.name),
                    ty = column.sql_type,
                    // Past the parent's keys (which run from 1 to its row count).
                    missing = self.parents.of(column.name, spec.name).unwrap_or(0) + 50
                ),
                &[],
            )
            .await?;
        summary.orphans += inserted;
        Ok(())
    }
}

fn is_master(spec: &TableSpec) -> bool {
    spec.mode == crate::spec::Mode::Full && spec.strategy == crate::spec::Strategy::Upsert
}

/// Loads sample rows: desktop rows for every forward table (with duplicate keys where the table
/// deduplicates, and orphans where it references a parent), and cloud-born rows for every reverse table.
pub async fn load(
    program: &Program,
    desktop: &Client,
    cloud: &Client,
    size: SampleSize,
    tenant: Option<&str>,
) -> Result<SampleSummary, tokio_postgres::Error> {
    let tenant = program.manifest.tenant.and_then(|t| tenant.map(|v| (t.column, v)));
    // Values reach the generated SQL as settings, bound like the engine's.
    for client in [desktop, cloud] {
        client
            .execute(
                "SELECT set_config('pgbisync.sample_tenant', $1, false), set_config('pgbisync.sample_origin', $2, false)",
                &[&tenant.map(|(_, v)| v).unwrap_or(""), &program.manifest.origin_cloud],
            )
            .await?;
    }
    let mut summary = SampleSummary::default();
    let forward: Vec<&TableSpec> =
        program.tables.iter().map(|t| t.spec()).filter(|s| s.direction == Direction::Forward).collect();
    let rows_of = |s: &TableSpec| if is_master(s) { size.masters } else { size.transactional };
    // Tables in sync order (forward first), so a key column names its forward table first.
    let parents = Parents(
        program
            .tables
            .iter()
            .map(|t| t.spec())
            .filter(|s| s.key.len() == 1)
            .map(|s| (s.key[0], s.name, rows_of(s)))
            .collect(),
    );
    let sampler = Sampler { parents, tenant };
    for spec in &forward {
        sampler.forward_table(desktop, spec, rows_of(spec), &mut summary).await?;
    }
    // Rows born on mobile, in the cloud, with keys the desktop does not use.
    for spec in program.tables.iter().map(|t| t.spec()).filter(|s| s.direction == Direction::Reverse) {
        let Some(side) = side_of(program, spec.name, false) else { continue };
        // Past the desktop's keys (and its orphans), and small enough for a numeric(3) key.
        let offset = forward.iter().find(|f| f.name == spec.name).map(|f| rows_of(f)).unwrap_or(0) + 100;
        let mobile = Rows { first: 1, last: size.mobile, offset, origin: Some(program.manifest.origin_column) };
        summary.mobile_rows += sampler.insert(cloud, side, spec.key, mobile).await?;
    }
    Ok(summary)
}

/// Deletes one desktop row, as the legacy application would: of the first table that propagates
/// deletes and that nothing references or is referenced by (so the delete goes through alone), the
/// row with the smallest key. Returns the table and the key value, or `None` when no table fits.
pub async fn delete_one(
    program: &Program,
    desktop: &Client,
) -> Result<Option<(&'static str, String)>, tokio_postgres::Error> {
    let Some(spec) = program.tables.iter().map(|t| t.spec()).find(|s| {
        s.direction == Direction::Forward
            && s.references.is_empty()
            && s.source_key.len() == 1
            && s.deletes.is_some_and(|d| d.sql.held.is_none())
    }) else {
        return Ok(None);
    };
    let (table, key) = (ident(spec.source.name), ident(spec.source_key[0]));
    let row = desktop
        .query_one(
            &format!(
                "WITH gone AS (DELETE FROM {table} WHERE {key} = (SELECT min({key}) FROM {table}) RETURNING {key}) \
                 SELECT min({key})::text FROM gone"
            ),
            &[],
        )
        .await?;
    Ok(row.get::<_, Option<String>>(0).map(|k| (spec.name, k)))
}

/// A row of a table whose columns both sides write (`desktop_owns:`), once reverse has brought it:
/// the desktop approves it (its columns) and the app edits it (the others). Returns the table, the
/// key, and what each side changed; `None` when no table of the manifest has such columns.
pub async fn edit_both_sides(
    program: &Program,
    desktop: &Client,
    cloud: &Client,
) -> Result<Option<TwoWayEdit>, tokio_postgres::Error> {
    let Some(spec) = program
        .tables
        .iter()
        .map(|t| t.spec())
        .find(|s| s.direction == Direction::Reverse && !s.desktop_owns.is_empty() && s.key.len() == 1)
    else {
        return Ok(None);
    };
    let theirs = spec.source.columns.iter().find(|c| {
        !spec.desktop_owns.contains(&c.name)
            && !spec.key.contains(&c.name)
            && c.sql_type.starts_with("character varying")
    });
    let mine =
        spec.target.columns.iter().find(|c| spec.desktop_owns.contains(&c.name) && c.sql_type.starts_with("character"));
    let (Some(theirs), Some(mine)) = (theirs, mine) else { return Ok(None) };
    let (cloud_table, desktop_table, key) = (ident(spec.source.name), ident(spec.target.name), ident(spec.key[0]));
    let row = cloud
        .query_opt(
            &format!(
                "SELECT {key}::text FROM {cloud_table} WHERE {} = $1 ORDER BY {key} LIMIT 1",
                ident(program.manifest.origin_column)
            ),
            &[&program.manifest.origin_cloud],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let id: String = row.get(0);
    cloud
        .execute(
            &format!("UPDATE {cloud_table} SET {} = 'edited in the app' WHERE {key}::text = $1", ident(theirs.name)),
            &[&id],
        )
        .await?;
    desktop
        .execute(&format!("UPDATE {desktop_table} SET {} = 'A' WHERE {key}::text = $1", ident(mine.name)), &[&id])
        .await?;
    Ok(Some(TwoWayEdit { table: spec.name, key: id, app_column: theirs.name, desktop_column: mine.name }))
}

/// What [`edit_both_sides`] changed.
pub struct TwoWayEdit {
    pub table: &'static str,
    pub key: String,
    /// Set to `edited in the app` in the cloud.
    pub app_column: &'static str,
    /// Set to `A` on the desktop.
    pub desktop_column: &'static str,
}

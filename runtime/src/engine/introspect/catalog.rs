//! One live table as the catalog describes it: columns, unique keys, foreign keys and triggers.
//! The table is found as the engine finds it (by exact name, through the connection's search
//! path); every name and id travels as a bound parameter.

use tokio_postgres::types::Type;
use tokio_postgres::GenericClient;

use crate::spec::Side;

/// The oldest server whose catalog these queries read (`pg_attribute.attgenerated` is 12's).
const OLDEST_SERVER: i32 = 120_000;

#[derive(Debug, Clone, PartialEq)]
pub struct LiveTable {
    pub side: Side,
    pub schema: String,
    pub name: String,
    pub columns: Vec<LiveColumn>,
    /// Unique indexes without predicate or expressions: the primary key first, then fewest columns.
    pub unique: Vec<LiveIndex>,
    pub foreign_keys: Vec<LiveForeignKey>,
    pub triggers: Vec<LiveTrigger>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LiveColumn {
    pub name: String,
    /// `format_type(atttypid, atttypmod)`: the spelling `check` compares with the manifest.
    pub format_type: String,
    pub not_null: bool,
    /// The default expression's text, when there is one.
    pub default: Option<String>,
    /// `GENERATED ALWAYS AS IDENTITY` (`a`) or `BY DEFAULT` (`d`).
    pub identity: Option<char>,
    /// `GENERATED ALWAYS AS (...) STORED`: computed by the database, writable by no one.
    pub computed: bool,
}

impl LiveColumn {
    /// A column the database numbers itself: a sequence default (serial) or an identity.
    pub fn numbered(&self) -> bool {
        self.identity.is_some() || self.default.as_deref().is_some_and(|d| d.starts_with("nextval("))
    }

    /// Whether an insert that leaves the column out still gets a value.
    pub fn fills_itself(&self) -> bool {
        !self.not_null || self.default.is_some() || self.identity.is_some() || self.computed
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LiveIndex {
    pub name: String,
    pub primary: bool,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LiveForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub parent_schema: String,
    pub parent: String,
    /// The parent's columns, one per column of `columns`, in the same order.
    pub parent_columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LiveTrigger {
    pub name: String,
    /// `pg_trigger.tgtype` bits.
    pub tgtype: i32,
    pub enabled: bool,
    /// The trigger function's source text (`pg_proc.prosrc`).
    pub function_source: String,
}

/// `pg_trigger.tgtype` bits (`TRIGGER_TYPE_*` in PostgreSQL's `pg_trigger.h`).
const ROW: i32 = 1;
const BEFORE: i32 = 1 << 1;
const UPDATE: i32 = 1 << 4;

impl LiveTrigger {
    /// A row-level BEFORE UPDATE trigger whose function assigns `NEW.<column>`.
    pub fn assigns(&self, column: &str) -> bool {
        self.tgtype & (ROW | BEFORE | UPDATE) == ROW | BEFORE | UPDATE && assigns_new(&self.function_source, column)
    }
}

/// Whether PL/pgSQL source assigns `NEW.column` (`NEW.column := ...`, or `NEW.column = ...` as a
/// statement): a trigger that only mentions the column (`IF NEW.x = OLD.x`) keeps nothing current.
fn assigns_new(source: &str, column: &str) -> bool {
    let text = source.to_lowercase();
    let column = column.to_lowercase();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    [format!("new.{column}"), format!("new.\"{column}\"")].iter().any(|target| {
        text.match_indices(target.as_str()).any(|(at, found)| {
            let (before, after) = (&text[..at], &text[at + found.len()..]);
            // `old_new.x` or `new.updated_at_2` are other names.
            if before.ends_with(|c: char| word(c) || c == '.') || after.starts_with(word) {
                return false;
            }
            let after = after.trim_start();
            let before = before.trim_end();
            let starts_statement = before.is_empty()
                || before.ends_with(';')
                || ["begin", "then", "else", "loop"]
                    .iter()
                    .any(|k| before.strip_suffix(k).is_some_and(|rest| !rest.ends_with(word)));
            after.starts_with(":=") || (starts_statement && after.starts_with('='))
        })
    })
}

/// Why a table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "the {side} database has no table `{table}` (looked up by exact name through the search path of the \
         URL's role); check the name with `\\dt` in psql, or give another with --{side}"
    )]
    NoSuchTable { side: Side, table: String },
    #[error(
        "the {side} database runs PostgreSQL {version}; introspect reads the catalog of PostgreSQL 12 or newer: \
         write the manifest entry by hand (see README, \"The manifest\")"
    )]
    OldServer { side: Side, version: String },
    #[error("reading table `{table}` from the {side} catalog: {}", crate::engine::db_error::describe(.source))]
    Query {
        side: Side,
        table: String,
        #[source]
        source: tokio_postgres::Error,
    },
}

/// Reads `table` from the catalog of the `side` database `client` is connected to.
pub async fn read_table<C: GenericClient>(client: &C, side: Side, table: &str) -> Result<LiveTable, CatalogError> {
    let failed = |source| CatalogError::Query { side, table: table.to_string(), source };
    let version: String =
        client.query_one("SELECT current_setting('server_version_num')", &[]).await.map_err(failed)?.get(0);
    if version.parse::<i32>().unwrap_or(0) < OLDEST_SERVER {
        let shown = client.query_one("SELECT current_setting('server_version')", &[]).await.map_err(failed)?;
        return Err(CatalogError::OldServer { side, version: shown.get(0) });
    }
    // quote_ident: the name is one identifier as written, never parsed as `schema.table` or case-folded.
    let found = client
        .query_typed(
            "SELECT c.oid, n.nspname::text, c.relname::text FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = pg_catalog.to_regclass(pg_catalog.quote_ident($1)) \
             AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
            &[(&table, Type::TEXT)],
        )
        .await
        .map_err(failed)?;
    let Some(row) = found.first() else {
        return Err(CatalogError::NoSuchTable { side, table: table.to_string() });
    };
    let oid: u32 = row.get(0);
    Ok(LiveTable {
        side,
        schema: row.get(1),
        name: row.get(2),
        columns: columns(client, oid).await.map_err(failed)?,
        unique: unique_indexes(client, oid).await.map_err(failed)?,
        foreign_keys: foreign_keys(client, oid).await.map_err(failed)?,
        triggers: triggers(client, oid).await.map_err(failed)?,
    })
}

async fn columns<C: GenericClient>(client: &C, oid: u32) -> Result<Vec<LiveColumn>, tokio_postgres::Error> {
    let rows = client
        .query_typed(
            "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                    pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text \
             FROM pg_catalog.pg_attribute a \
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[(&oid, Type::OID)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let identity: String = r.get(4);
            let generated: String = r.get(5);
            let computed = !generated.is_empty();
            LiveColumn {
                name: r.get(0),
                format_type: r.get(1),
                not_null: r.get(2),
                // A computed column's expression is not a default an insert could use.
                default: if computed { None } else { r.get(3) },
                identity: identity.chars().next(),
                computed,
            }
        })
        .collect())
}

async fn unique_indexes<C: GenericClient>(client: &C, oid: u32) -> Result<Vec<LiveIndex>, tokio_postgres::Error> {
    let rows = client
        .query_typed(
            "SELECT ic.relname::text, i.indisprimary, \
                    ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord) \
                          JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                          WHERE k.ord <= i.indnkeyatts ORDER BY k.ord) \
             FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
             WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid \
             AND i.indpred IS NULL AND i.indexprs IS NULL \
             ORDER BY i.indisprimary DESC, i.indnkeyatts, ic.relname",
            &[(&oid, Type::OID)],
        )
        .await?;
    Ok(rows.iter().map(|r| LiveIndex { name: r.get(0), primary: r.get(1), columns: r.get(2) }).collect())
}

async fn foreign_keys<C: GenericClient>(client: &C, oid: u32) -> Result<Vec<LiveForeignKey>, tokio_postgres::Error> {
    let rows = client
        .query_typed(
            "SELECT con.conname::text, \
                    ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord) \
                          JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
                          ORDER BY k.ord), \
                    pn.nspname::text, pc.relname::text, \
                    ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord) \
                          JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum \
                          ORDER BY k.ord) \
             FROM pg_catalog.pg_constraint con \
             JOIN pg_catalog.pg_class pc ON pc.oid = con.confrelid \
             JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace \
             WHERE con.conrelid = $1 AND con.contype = 'f' ORDER BY con.conname",
            &[(&oid, Type::OID)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| LiveForeignKey {
            name: r.get(0),
            columns: r.get(1),
            parent_schema: r.get(2),
            parent: r.get(3),
            parent_columns: r.get(4),
        })
        .collect())
}

async fn triggers<C: GenericClient>(client: &C, oid: u32) -> Result<Vec<LiveTrigger>, tokio_postgres::Error> {
    let rows = client
        .query_typed(
            "SELECT t.tgname::text, t.tgtype::int4, t.tgenabled <> 'D', coalesce(p.prosrc, '') \
             FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid \
             WHERE t.tgrelid = $1 AND NOT t.tgisinternal ORDER BY t.tgname",
            &[(&oid, Type::OID)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| LiveTrigger { name: r.get(0), tgtype: r.get(1), enabled: r.get(2), function_source: r.get(3) })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_to_new_counts_and_a_comparison_does_not() {
        assert!(assigns_new("BEGIN\n    NEW.updated_at := now();\n    RETURN NEW;\nEND", "updated_at"));
        assert!(assigns_new("begin new.\"updated_at\" = clock_timestamp(); return new; end", "updated_at"));
        assert!(assigns_new("IF TG_OP = 'UPDATE' THEN NEW.Updated_At := now(); END IF;", "updated_at"));
        assert!(!assigns_new("IF NEW.updated_at = OLD.updated_at THEN RAISE NOTICE 'x'; END IF;", "updated_at"));
        assert!(!assigns_new("BEGIN NEW.updated_at_2 := now(); RETURN NEW; END", "updated_at"));
        assert!(!assigns_new("BEGIN NEW.version := 1; RETURN NEW; END", "updated_at"));
        assert!(!assigns_new("BEGIN RAISE NOTICE '%', NEW.updated_at; RETURN NEW; END", "updated_at"));
    }

    #[test]
    fn only_a_before_row_update_trigger_keeps_a_column_current() {
        let touch = |tgtype| LiveTrigger {
            name: "t".into(),
            tgtype,
            enabled: true,
            function_source: "BEGIN NEW.updated_at := now(); RETURN NEW; END".into(),
        };
        assert!(touch(ROW | BEFORE | UPDATE).assigns("updated_at"));
        assert!(touch(ROW | BEFORE | UPDATE | (1 << 2)).assigns("updated_at"), "INSERT OR UPDATE");
        assert!(!touch(ROW | UPDATE).assigns("updated_at"), "AFTER");
        assert!(!touch(BEFORE | UPDATE).assigns("updated_at"), "FOR EACH STATEMENT");
        assert!(!touch(ROW | BEFORE | (1 << 2)).assigns("updated_at"), "INSERT only");
    }
}

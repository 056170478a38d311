//! Incremental reads trust the source's tracking column (`updated_at`), which the legacy
//! application does not set: only a row-level BEFORE UPDATE trigger keeps it current. Without one,
//! an edited row keeps its old value and the next incremental run never reads the edit.

use tokio_postgres::types::Type;
use tokio_postgres::GenericClient;

use super::{Difference, LiveColumns};
use crate::engine::names::ident;
use crate::spec::{Mode, TableSpec};

/// `pg_trigger.tgtype` bits (`TRIGGER_TYPE_*` in PostgreSQL's `pg_trigger.h`).
const ROW: i32 = 1;
const BEFORE: i32 = 1 << 1;
const UPDATE: i32 = 1 << 4;

/// Prefix of the trigger function the fix creates; the generator's demo DDL names it alike
/// (`codegen::sql::touch_function`), so a fixed table looks like a table built by `demo`.
const TOUCH_FUNCTION_PREFIX: &str = "pgbisync_touch_";
/// Suffix of the trigger the fix creates, as in the demo DDL.
const TOUCH_TRIGGER_SUFFIX: &str = "_touch";

/// A user trigger on a table, as `pg_trigger` and `pg_proc` describe it.
#[derive(Debug, Clone)]
struct LiveTrigger {
    table: String,
    name: String,
    tgtype: i32,
    enabled: bool,
    /// The function's source text (`pg_proc.prosrc`).
    function_source: String,
    /// The columns of `UPDATE OF ...`, empty when it fires on any update.
    update_of: Vec<String>,
}

impl LiveTrigger {
    fn before_each_row_update(&self) -> bool {
        self.tgtype & (ROW | BEFORE | UPDATE) == ROW | BEFORE | UPDATE
    }

    /// Whether the trigger may set `column`: its function mentions it, or it is `UPDATE OF` it.
    fn maintains(&self, column: &str) -> bool {
        self.before_each_row_update()
            && (self.function_source.to_lowercase().contains(&column.to_lowercase())
                || self.update_of.iter().any(|c| c == column))
    }
}

/// Reads the user (non-internal) triggers of the named tables.
async fn live_triggers<C: GenericClient>(
    client: &C,
    tables: &[&str],
) -> Result<Vec<LiveTrigger>, tokio_postgres::Error> {
    let rows = client
        .query_typed(
            "SELECT c.relname::text, t.tgname::text, t.tgtype::int4, t.tgenabled <> 'D', coalesce(p.prosrc, ''), \
                    ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a \
                          WHERE a.attrelid = t.tgrelid AND a.attnum = ANY(t.tgattr)) \
             FROM pg_catalog.pg_trigger t \
             JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid \
             JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid \
             WHERE c.relname = ANY($1) AND pg_catalog.pg_table_is_visible(c.oid) AND NOT t.tgisinternal",
            &[(&tables, Type::TEXT_ARRAY)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| LiveTrigger {
            table: r.get(0),
            name: r.get(1),
            tgtype: r.get(2),
            enabled: r.get(3),
            function_source: r.get(4),
            update_of: r.get(5),
        })
        .collect())
}

/// For each incremental table-direction among `specs` whose source table (on the side `live` and
/// `client` describe) exists with its tracking column, a difference when no enabled trigger keeps
/// that column current, with the SQL that adds one (or enables the disabled one).
pub async fn missing_touch_triggers<C: GenericClient>(
    client: &C,
    specs: &[&TableSpec],
    live: &LiveColumns,
) -> Result<Vec<Difference>, tokio_postgres::Error> {
    let tracked: Vec<(&TableSpec, &str)> = specs
        .iter()
        .filter(|s| s.mode == Mode::Incremental)
        .filter_map(|s| s.tracking.map(|c| (*s, c)))
        // A missing table or column is already a difference of its own.
        .filter(|(s, c)| live.contains_key(&(s.source.name.to_string(), c.to_string())))
        .collect();
    if tracked.is_empty() {
        return Ok(Vec::new());
    }
    let tables: Vec<&str> = tracked.iter().map(|(s, _)| s.source.name).collect();
    let triggers = live_triggers(client, &tables).await?;
    Ok(tracked.into_iter().filter_map(|(s, column)| difference(s, column, &triggers)).collect())
}

fn difference(spec: &TableSpec, column: &str, triggers: &[LiveTrigger]) -> Option<Difference> {
    let table = spec.source.name;
    let why = format!(
        "the {} sync reads the rows changed since its last run by {column}, but no enabled BEFORE UPDATE \
         trigger keeps {column} current, so a row the application edits without setting it is never read again",
        spec.direction
    );
    let (problem, fix) = match missing_touch(table, column, triggers)? {
        TouchFix::Enable(trigger) => (
            format!("{why} (trigger {trigger} is disabled)"),
            format!("ALTER TABLE {} ENABLE TRIGGER {};", ident(table), ident(&trigger)),
        ),
        TouchFix::Create(trigger) => (why, touch_trigger_sql(table, column, &trigger)),
    };
    Some(Difference {
        side: spec.source.side,
        table: table.to_string(),
        column: Some(column.to_string()),
        problem,
        fix: Some(fix),
    })
}

/// What makes `table`'s triggers keep `column` current.
#[derive(Debug, PartialEq, Eq)]
enum TouchFix {
    /// Enabling this disabled trigger, which would.
    Enable(String),
    /// A new trigger of this name (one the table does not use yet).
    Create(String),
}

/// `None` when an enabled trigger of `table` keeps `column` current.
fn missing_touch(table: &str, column: &str, triggers: &[LiveTrigger]) -> Option<TouchFix> {
    let on_table: Vec<&LiveTrigger> = triggers.iter().filter(|t| t.table == table).collect();
    if on_table.iter().any(|t| t.enabled && t.maintains(column)) {
        return None;
    }
    if let Some(disabled) = on_table.iter().find(|t| t.maintains(column)) {
        return Some(TouchFix::Enable(disabled.name.clone()));
    }
    let taken = |name: &str| on_table.iter().any(|t| t.name == name);
    let mut trigger = format!("{table}{TOUCH_TRIGGER_SUFFIX}");
    if taken(&trigger) {
        trigger = format!("{table}{TOUCH_TRIGGER_SUFFIX}_{column}");
    }
    Some(TouchFix::Create(trigger))
}

/// The trigger function (the demo DDL's, text for text) and a trigger calling it on `table`. It
/// fires on INSERT too, so a row the application inserts without the column is stamped as well.
fn touch_trigger_sql(table: &str, column: &str, trigger: &str) -> String {
    let function = ident(&format!("{TOUCH_FUNCTION_PREFIX}{column}"));
    format!(
        r#"CREATE OR REPLACE FUNCTION {function}()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.{col} := now();
    RETURN NEW;
END $$;
CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {function}();"#,
        col = ident(column),
        trigger = ident(trigger),
        table = ident(table),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(name: &str, tgtype: i32, enabled: bool, source: &str, update_of: &[&str]) -> LiveTrigger {
        LiveTrigger {
            table: "jobshead".into(),
            name: name.into(),
            tgtype,
            enabled,
            function_source: source.into(),
            update_of: update_of.iter().map(|c| c.to_string()).collect(),
        }
    }

    const BEFORE_ROW_UPDATE: i32 = ROW | BEFORE | UPDATE;
    const TOUCH: &str = "BEGIN NEW.\"Updated_At\" := now(); RETURN NEW; END";

    #[test]
    fn an_enabled_before_row_update_trigger_that_sets_the_column_keeps_it_current() {
        assert_eq!(missing_touch("jobshead", "updated_at", &[trigger("t", BEFORE_ROW_UPDATE, true, TOUCH, &[])]), None);
        let update_of = trigger("t", BEFORE_ROW_UPDATE, true, "BEGIN RETURN NEW; END", &["updated_at"]);
        assert_eq!(missing_touch("jobshead", "updated_at", &[update_of]), None);
    }

    #[test]
    fn after_statement_or_unrelated_triggers_do_not_count() {
        let after = trigger("after", ROW | UPDATE, true, TOUCH, &[]);
        let statement = trigger("statement", BEFORE | UPDATE, true, TOUCH, &[]);
        let insert_only = trigger("insert", ROW | BEFORE | (1 << 2), true, TOUCH, &[]);
        let other = trigger("audit", BEFORE_ROW_UPDATE, true, "BEGIN NEW.version := 1; RETURN NEW; END", &[]);
        let elsewhere = LiveTrigger { table: "jobtasks".into(), ..trigger("x", BEFORE_ROW_UPDATE, true, TOUCH, &[]) };
        assert_eq!(
            missing_touch("jobshead", "updated_at", &[after, statement, insert_only, other, elsewhere]),
            Some(TouchFix::Create("jobshead_touch".into()))
        );
    }

    #[test]
    fn a_disabled_touch_trigger_is_enabled_and_a_taken_name_is_not_reused() {
        let disabled = trigger("jobshead_touch", BEFORE_ROW_UPDATE, false, TOUCH, &[]);
        assert_eq!(
            missing_touch("jobshead", "updated_at", &[disabled]),
            Some(TouchFix::Enable("jobshead_touch".into()))
        );
        let taken = trigger("jobshead_touch", ROW | UPDATE, true, "BEGIN RETURN NEW; END", &[]);
        assert_eq!(
            missing_touch("jobshead", "updated_at", &[taken]),
            Some(TouchFix::Create("jobshead_touch_updated_at".into()))
        );
    }

    #[test]
    fn the_fix_quotes_every_identifier() {
        let sql = touch_trigger_sql("Job \"Head\"", "updated_at", "Job \"Head\"_touch");
        assert!(sql.contains(r#"NEW."updated_at" := now();"#), "{sql}");
        assert!(
            sql.contains(r#"CREATE TRIGGER "Job ""Head""_touch" BEFORE INSERT OR UPDATE ON "Job ""Head""""#),
            "{sql}"
        );
        assert!(sql.contains(r#"EXECUTE FUNCTION "pgbisync_touch_updated_at"();"#), "{sql}");
    }
}

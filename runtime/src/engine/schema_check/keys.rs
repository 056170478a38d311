//! A target without a unique index on its key: every apply finds the rows to update by a sequential
//! scan, and nothing stops two writers (a second pgbisync, the application) from inserting one key
//! twice, after which updates by that key touch both rows.

use std::collections::HashSet;

use tokio_postgres::types::Type;
use tokio_postgres::GenericClient;

use super::{unique_on, Difference, LiveColumns};
use crate::engine::names::ident;
use crate::spec::{Direction, TableSpec};

/// For each of `specs` whose target (on the side `live` and `client` describe) exists and has a
/// key, a difference when no unique index (no predicate, no expressions) covers the key or part of
/// it, with the SQL that adds one.
pub async fn missing_target_keys<C: GenericClient>(
    client: &C,
    specs: &[&TableSpec],
    live: &LiveColumns,
) -> Result<Vec<Difference>, tokio_postgres::Error> {
    let keyed: Vec<&TableSpec> =
        specs.iter().copied().filter(|s| !s.key.is_empty() && live.keys().any(|(t, _)| t == s.target.name)).collect();
    if keyed.is_empty() {
        return Ok(Vec::new());
    }
    let wanted: Vec<(&str, &[&str])> = keyed.iter().map(|s| (s.target.name, s.key)).collect();
    let unique = unique_on(client, &wanted).await?;
    let unkeyed: Vec<&TableSpec> = keyed.into_iter().filter(|s| !unique.contains(s.target.name)).collect();
    if unkeyed.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = unkeyed.iter().map(|s| s.target.name).collect();
    let with_primary_key = primary_keyed(client, &names).await?;
    Ok(unkeyed
        .into_iter()
        .map(|s| {
            let table = s.target.name;
            let key = s.key.join(", ");
            let mut problem = format!(
                "no primary key or unique index on ({key}): the {} sync finds rows by a sequential scan, \
                 and nothing keeps two writers from inserting one key twice",
                s.direction
            );
            if s.direction == Direction::Reverse {
                problem.push_str(" (usual on a legacy desktop; adding the key fails while a key is there twice)");
            }
            Difference {
                side: s.target.side,
                table: table.to_string(),
                column: None,
                problem,
                fix: Some(add_key_sql(table, s.key, with_primary_key.contains(table))),
            }
        })
        .collect())
}

/// Tables (by name) that have a primary key, which a second `ADD PRIMARY KEY` would fail on.
async fn primary_keyed<C: GenericClient>(
    client: &C,
    tables: &[&str],
) -> Result<HashSet<String>, tokio_postgres::Error> {
    let rows = client
        .query_typed(
            "SELECT c.relname::text FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indrelid \
             WHERE c.relname = ANY($1) AND pg_catalog.pg_table_is_visible(c.oid) AND i.indisprimary",
            &[(&tables, Type::TEXT_ARRAY)],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// `ADD PRIMARY KEY`, or `ADD UNIQUE` when the table has a primary key on other columns.
fn add_key_sql(table: &str, key: &[&str], has_primary_key: bool) -> String {
    let columns: Vec<String> = key.iter().map(|c| ident(c)).collect();
    let constraint = if has_primary_key { "UNIQUE" } else { "PRIMARY KEY" };
    format!("ALTER TABLE {} ADD {constraint} ({});", ident(table), columns.join(", "))
}

#[cfg(test)]
mod tests {
    use super::add_key_sql;

    #[test]
    fn the_fix_adds_a_primary_key_or_a_unique_constraint_beside_an_existing_one() {
        assert_eq!(
            add_key_sql("jobshead", &["job_id"], false),
            r#"ALTER TABLE "jobshead" ADD PRIMARY KEY ("job_id");"#
        );
        assert_eq!(
            add_key_sql("Job\"s", &["org_id", "job_id"], true),
            r#"ALTER TABLE "Job""s" ADD UNIQUE ("org_id", "job_id");"#
        );
    }
}

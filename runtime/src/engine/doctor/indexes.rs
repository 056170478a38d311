//! Indexes incremental reads need: each run reads the source rows whose tracking column is at or
//! after the watermark (within the tenant, on the cloud), which without an index leading with that
//! column (after the tenant column) is a scan of the whole table every run. Target keys are
//! `check`'s (`schema_check::missing_target_keys`).

use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::{Area, Finding, Severity};
use crate::engine::names::ident;
use crate::program::Program;
use crate::spec::{Mode, Side, TableSpec};

/// The columns an index must lead with for one incremental read on this side.
struct Wanted {
    table: &'static str,
    columns: Vec<&'static str>,
    direction: crate::spec::Direction,
}

fn wanted(program: &Program, side: Side) -> Vec<Wanted> {
    let tenant = program.manifest.tenant.map(|t| t.column);
    program
        .tables
        .iter()
        .map(|t| t.spec())
        .filter(|s| s.source.side == side && s.mode == Mode::Incremental && !s.track_xmin)
        .filter_map(|s: &TableSpec| {
            let tracking = s.tracking?;
            let scoped = tenant.filter(|t| side == Side::Cloud && s.source.columns.iter().any(|c| c.name == *t));
            Some(Wanted {
                table: s.source.name,
                columns: scoped.into_iter().chain([tracking]).collect(),
                direction: s.direction,
            })
        })
        .collect()
}

pub async fn examine(client: &Client, program: &Program, side: Side) -> Vec<Finding> {
    let wanted = wanted(program, side);
    if wanted.is_empty() {
        return Vec::new();
    }
    let tables: Vec<&str> = wanted.iter().map(|w| w.table).collect();
    // One row per table and btree index (none: NULL leads), with the index's first two columns.
    let rows = match client
        .query_typed(
            "SELECT c.relname::text, n.nspname::text, c.reltuples::float8, a0.attname::text, a1.attname::text \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN (pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
                        JOIN pg_catalog.pg_am am ON am.oid = ic.relam AND am.amname = 'btree') \
                  ON i.indrelid = c.oid AND i.indpred IS NULL \
             LEFT JOIN pg_catalog.pg_attribute a0 ON a0.attrelid = c.oid AND a0.attnum = i.indkey[0] \
             LEFT JOIN pg_catalog.pg_attribute a1 ON a1.attrelid = c.oid AND a1.attnum = i.indkey[1] AND i.indnatts > 1 \
             WHERE c.relname = ANY($1) AND pg_catalog.pg_table_is_visible(c.oid) AND c.relkind IN ('r', 'p')",
            &[(&tables, Type::TEXT_ARRAY)],
        )
        .await
    {
        Ok(rows) => rows,
        Err(e) => return vec![Finding::unchecked(Area::Indexes, side, "the indexes of the incremental sources", &e)],
    };
    let mut findings = Vec::new();
    for w in &wanted {
        // A missing table is `check`'s to report.
        let indexes: Vec<_> = rows.iter().filter(|r| r.get::<_, String>(0) == w.table).collect();
        let Some(first) = indexes.first() else { continue };
        let (schema, estimated): (String, f64) = (first.get(1), first.get(2));
        let tracking = *w.columns.last().expect("the tracking column");
        // Led by the tracking column, or by the tenant column and then it.
        let served = indexes.iter().any(|r| {
            let (lead, next): (Option<&str>, Option<&str>) = (r.get(3), r.get(4));
            lead == Some(tracking) || (w.columns.len() == 2 && lead == Some(w.columns[0]) && next == Some(tracking))
        });
        if served {
            continue;
        }
        let columns = w.columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
        let index = ident(&format!("{}_{}_idx", w.table, w.columns.join("_")));
        let size = if estimated >= 0.0 {
            format!("about {} rows", estimated as i64)
        } else {
            "size unknown: never analyzed".into()
        };
        findings.push(
            Finding::new(
                Severity::Warning,
                Area::Indexes,
                Some(side),
                format!(
                    "no index leads with ({}) on {} ({size}): each incremental {} run scans the whole table to find \
                     what changed",
                    w.columns.join(", "),
                    w.table,
                    w.direction
                ),
            )
            .table(w.table)
            .fix(format!(
                "CREATE INDEX CONCURRENTLY {index} ON {}.{} ({columns});",
                ident(&schema),
                ident(w.table)
            )),
        );
    }
    if findings.is_empty() {
        findings.push(Finding::ok(
            Area::Indexes,
            side,
            format!(
                "every incremental read on this side has an index on its tracking column ({} table(s))",
                wanted.len()
            ),
        ));
    }
    findings
}

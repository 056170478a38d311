//! `pgbisync restore`: put rows that deletes removed back on the side they were born on.

use chrono::{DateTime, Utc};

use super::error::CommandError;
use super::{exit, Invocation};
use crate::engine::restore::{self, Selection};
use crate::spec::Direction;

pub(super) async fn run(
    inv: &Invocation<'_>,
    table: &str,
    keys: &[String],
    since: Option<DateTime<Utc>>,
) -> Result<i32, CommandError> {
    let selection = match since {
        Some(t) => Selection::Since(t),
        None => Selection::Keys(keys.to_vec()),
    };
    let direction = Direction::Forward;
    crate::engine::check_tables(inv.program, &[direction], &[table.to_string()])?;
    let specs: Vec<_> = inv.program.tables(direction, &[table.to_string()]).into_iter().map(|t| t.spec()).collect();
    let Some(spec) = specs.into_iter().find(|s| s.deletes.is_some()) else {
        return Err(CommandError::Usage(format!(
            "{table} does not propagate deletes, so pgbisync never deleted any of its rows"
        )));
    };
    let scope = inv.scope()?;
    let mut connections = inv.open().await?;
    let report = restore::restore(inv.program.manifest, &mut connections, spec, &scope, &selection)
        .await
        .map_err(|(side, source)| CommandError::Restore { table: spec.name.to_string(), side, source })?;
    inv.out.line(format!(
        "{}: {} kept row(s) selected, {} restored to the {} table {}, {} already there; the next forward run \
         brings them back to the cloud",
        report.table,
        report.selected,
        report.restored,
        direction.source(),
        report.source,
        report.already_there
    ));
    Ok(exit::OK)
}

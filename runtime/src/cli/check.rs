//! `pgbisync check`: both live databases compared with the manifest; exit 1 on any difference.
//! Beyond the columns it checks what the sync relies on: each incremental source keeps its tracking
//! column current with a trigger, each target has a unique index on its key, and no target column
//! the sync copies into is NOT NULL where the manifest allows NULL.

use super::error::CommandError;
use super::{exit, Invocation};
use crate::engine::schema_check::{self, Difference};
use crate::spec::{Direction, Side, SideTable, TableSpec};

pub(super) async fn run(inv: &Invocation<'_>) -> Result<i32, CommandError> {
    let connections = inv.open().await?;
    // Differences fail the check; warnings are printed and do not.
    let (mut differences, mut warnings): (Vec<Difference>, Vec<Difference>) = (Vec::new(), Vec::new());
    for (client, side) in [(&connections.desktop, Side::Desktop), (&connections.cloud, Side::Cloud)] {
        let sides = side_tables(inv, side);
        let names: Vec<&str> = sides.iter().map(|s| s.name).collect();
        let live = schema_check::live_columns(client, &names).await.map_err(CommandError::on(side))?;
        for st in sides {
            let is_source =
                inv.program.tables.iter().any(|t| t.spec().source.side == side && t.spec().source.name == st.name);
            differences.extend(schema_check::compare(st, &live, is_source));
        }
        let specs = |of: fn(&TableSpec) -> Side| -> Vec<&'static TableSpec> {
            inv.program.tables.iter().map(|t| t.spec()).filter(|s| of(s) == side).collect()
        };
        let (sources, targets) = (specs(|s| s.source.side), specs(|s| s.target.side));
        let untouched = schema_check::missing_touch_triggers(client, &sources, &live).await;
        differences.extend(untouched.map_err(CommandError::on(side))?);
        let not_null = schema_check::target_not_null(client, inv.program.manifest, &targets, &live).await;
        differences.extend(not_null.map_err(CommandError::on(side))?);
        let unkeyed =
            schema_check::missing_target_keys(client, &targets, &live).await.map_err(CommandError::on(side))?;
        // The legacy desktop has no keys on many tables, and reverse runs only insert rows born
        // in the cloud, one run at a time (the run lock): a reverse target without a key is a
        // slower anti-join, not a wrong one, so it is a warning.
        if side == Direction::Forward.target() {
            differences.extend(unkeyed);
        } else {
            warnings.extend(unkeyed);
        }
    }
    inv.out.check(inv.program, &differences, &warnings);
    Ok(if differences.is_empty() { exit::OK } else { exit::PARTIAL })
}

/// Every table the manifest declares on one side, once each.
fn side_tables(inv: &Invocation<'_>, side: Side) -> Vec<&'static SideTable> {
    let mut sides: Vec<&'static SideTable> = Vec::new();
    for t in inv.program.tables {
        let s = t.spec();
        for st in [&s.source, &s.target] {
            if st.side == side && !sides.iter().any(|x| x.name == st.name) {
                sides.push(st);
            }
        }
    }
    sides
}

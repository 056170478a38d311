//! `pgbisync check`: both live databases compared with the manifest; exit 1 on any difference.

use super::error::CommandError;
use super::{exit, Invocation};
use crate::engine::schema_check;
use crate::spec::{Side, SideTable};

pub(super) async fn run(inv: &Invocation<'_>) -> Result<i32, CommandError> {
    let connections = inv.open().await?;
    let mut differences = Vec::new();
    for (client, side) in [(&connections.desktop, Side::Desktop), (&connections.cloud, Side::Cloud)] {
        let sides = side_tables(inv, side);
        let names: Vec<&str> = sides.iter().map(|s| s.name).collect();
        let live = schema_check::live_columns(client, &names).await.map_err(CommandError::on(side))?;
        for st in sides {
            let is_source =
                inv.program.tables.iter().any(|t| t.spec().source.side == side && t.spec().source.name == st.name);
            differences.extend(schema_check::compare(st, &live, is_source));
        }
    }
    inv.out.check(inv.program, &differences);
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

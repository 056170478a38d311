//! `pgbisync check`: both live databases compared with the manifest; exit 1 on any difference.
//! Beyond the columns it checks what the sync relies on: each incremental source keeps its tracking
//! column current with a trigger, each target has a unique index on its key, and no target column
//! the sync copies into is NOT NULL where the manifest allows NULL.

use super::error::CommandError;
use super::{exit, Invocation};
use crate::engine::schema_check;
use crate::spec::Side;

pub(super) async fn run(inv: &Invocation<'_>) -> Result<i32, CommandError> {
    let connections = inv.open().await?;
    let (mut differences, mut warnings) = (Vec::new(), Vec::new());
    for (client, side) in [(&connections.desktop, Side::Desktop), (&connections.cloud, Side::Cloud)] {
        let found = schema_check::examine_side(client, inv.program, side).await.map_err(CommandError::on(side))?;
        differences.extend(found.differences);
        warnings.extend(found.warnings);
    }
    inv.out.check(inv.program, &differences, &warnings);
    Ok(if differences.is_empty() { exit::OK } else { exit::PARTIAL })
}

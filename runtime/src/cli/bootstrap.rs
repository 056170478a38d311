//! `pgbisync bootstrap`: create or upgrade both directions' metadata tables now.

use super::error::CommandError;
use super::{exit, Invocation};
use crate::engine::bootstrap::{self, Bootstrap};
use crate::spec::Direction;

pub(super) async fn run(inv: &Invocation<'_>) -> Result<i32, CommandError> {
    let scope = inv.scope()?;
    let mut connections = inv.open().await?;
    let manifest = inv.program.manifest;
    let mut code = exit::OK;
    for direction in Direction::BOTH {
        let names = inv.table_names(direction, &[]);
        let (_, target) = connections.for_direction(direction);
        let metadata = manifest.metadata_table(direction);
        let side = direction.target();
        let keeps_deleted = inv.program.tables(direction, &[]).iter().any(|t| t.spec().deletes.is_some());
        match bootstrap::ensure(target, manifest, direction, &names, Some(&scope), keeps_deleted)
            .await
            .map_err(CommandError::on(side))?
        {
            Bootstrap::Ready { created, upgraded, seeded } => inv.out.line(format!(
                "{direction}: {metadata} on the {side}: {}{}{seeded} row(s) seeded",
                if created { "created, " } else { "" },
                if upgraded.is_empty() { String::new() } else { format!("upgraded (added {}), ", upgraded.join(", ")) },
            )),
            Bootstrap::Degraded { reason } => {
                inv.out.line(format!(
                    "{direction}: cannot create {metadata} on the {side}: {reason}; syncs will run in full mode"
                ));
                code = exit::PARTIAL;
            }
        }
    }
    Ok(code)
}

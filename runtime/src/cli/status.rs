//! `pgbisync status`: per table and direction, what the metadata and rejects tables record.

use super::error::CommandError;
use super::{exit, Invocation};
use crate::engine::metadata::Scope;
use crate::engine::status::{self, StatusRow};
use crate::engine::Connections;
use crate::program::Program;
use crate::spec::Direction;

pub(super) async fn run(inv: &Invocation<'_>) -> Result<i32, CommandError> {
    let scope = inv.scope()?;
    let mut connections = inv.open().await?;
    let (rows, missing) = read(inv.program, &mut connections, &scope).await?;
    for direction in missing {
        inv.out.human(format!(
            "{direction}: no metadata table {} yet on the {} (it is created by the first sync or `pgbisync bootstrap`)",
            inv.program.manifest.metadata_table(direction),
            direction.target()
        ));
    }
    inv.out.status(&rows);
    Ok(exit::OK)
}

/// The status rows of both directions, and the directions whose metadata table does not exist yet.
pub(super) async fn read(
    program: &Program,
    connections: &mut Connections,
    scope: &Scope,
) -> Result<(Vec<StatusRow>, Vec<Direction>), CommandError> {
    let mut all = Vec::new();
    let mut missing = Vec::new();
    for direction in Direction::BOTH {
        let names: Vec<&str> = program.tables(direction, &[]).iter().map(|t| t.spec().name).collect();
        let (_, target) = connections.for_direction(direction);
        match status::read(target, program.manifest, direction, scope, &names)
            .await
            .map_err(CommandError::on(direction.target()))?
        {
            Some(rows) => all.extend(rows),
            None => missing.push(direction),
        }
    }
    Ok((all, missing))
}

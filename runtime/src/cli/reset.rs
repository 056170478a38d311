//! `pgbisync reset`: set watermarks back so the next run reads the tables in full.

use super::args::DirectionArg;
use super::error::CommandError;
use super::{exit, Invocation};
use crate::engine::{self, metadata};
use crate::spec::Direction;

pub(super) async fn run(
    inv: &Invocation<'_>,
    direction: Option<DirectionArg>,
    tables: &[String],
) -> Result<i32, CommandError> {
    let directions: Vec<Direction> = match direction {
        Some(DirectionArg::Forward) => vec![Direction::Forward],
        Some(DirectionArg::Reverse) => vec![Direction::Reverse],
        None => Direction::BOTH.to_vec(),
    };
    engine::check_tables(inv.program, &directions, tables)?;
    let scope = inv.scope()?;
    let mut connections = inv.open().await?;
    for direction in directions {
        let names = inv.table_names(direction, tables);
        if names.is_empty() {
            continue;
        }
        let (_, target) = connections.for_direction(direction);
        let n = metadata::reset(target, inv.program.manifest.metadata_table(direction), &scope, &names)
            .await
            .map_err(CommandError::on(direction.target()))?;
        inv.out.line(format!(
            "{direction}: {n} watermark(s) set back to 1970-01-01; the next run reads {} in full",
            names.join(", ")
        ));
    }
    Ok(exit::OK)
}

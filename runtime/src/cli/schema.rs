//! `pgbisync schema`: the SQL that creates one side's tables as the manifest declares them, for a
//! database that does not have them yet (a new cloud project, a test copy). The desktop's are
//! shaped like the legacy database (no keys); the cloud's have their keys, the origin column and
//! the triggers that keep `updated_at` current.

use super::args::SchemaArgs;
use super::error::CommandError;
use super::{exit, Invocation};
use crate::spec::Side;

pub(super) fn run(inv: &Invocation<'_>, args: &SchemaArgs) -> Result<i32, CommandError> {
    let side = if args.desktop { Side::Desktop } else { Side::Cloud };
    match inv.program.ddl(side, args.table.as_deref()) {
        Some(sql) => {
            inv.out.codegen(&sql);
            Ok(exit::OK)
        }
        None => Err(CommandError::Usage(format!(
            "the manifest declares no {side} table {:?}; `pgbisync tables` lists them",
            args.table.as_deref().unwrap_or_default()
        ))),
    }
}

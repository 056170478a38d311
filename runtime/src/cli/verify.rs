//! `pgbisync verify`: both sides' rows compared table by table; exit 1 on any difference.

use super::error::CommandError;
use super::{exit, Invocation};
use crate::codec::CompiledTable;
use crate::engine::{self, verify};
use crate::spec::Direction;

pub(super) async fn run(inv: &Invocation<'_>, tables: &[String]) -> Result<i32, CommandError> {
    let both = Direction::BOTH;
    engine::check_tables(inv.program, &both, tables)?;
    let tenant = inv.tenant()?;
    let mut connections = inv.open().await?;
    let selected: Vec<&dyn CompiledTable> = both.iter().flat_map(|d| inv.program.tables(*d, tables)).collect();
    let mut print = |r: &verify::VerifyReport| inv.out.verified(r);
    let reports =
        verify::verify_tables(inv.program.manifest, &mut connections, &selected, tenant.as_deref(), &mut print).await?;
    let code = if reports.iter().any(|r| r.differs()) { exit::PARTIAL } else { exit::OK };
    inv.out.verify_finished(&reports, code);
    Ok(code)
}

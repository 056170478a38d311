//! `pgbisync introspect`: live tables read from the catalog, printed as the manifest entry that
//! syncs them. Only the sides asked for are connected to, so only their URLs are needed.

use super::error::CommandError;
use super::{exit, Invocation};
use crate::engine::connect;
use crate::engine::introspect::{read_table, suggest, KnownTable, Pair};
use crate::spec::Side;

pub(super) async fn run(inv: &Invocation<'_>, desktop: &[String], cloud: &[String]) -> Result<i32, CommandError> {
    if !desktop.is_empty() && !cloud.is_empty() && desktop.len() != cloud.len() {
        return Err(CommandError::Usage(format!(
            "--desktop and --cloud pair by position (the n-th of each are one table), and {} desktop and {} cloud \
             table(s) were given: give as many of each, or read one side at a time",
            desktop.len(),
            cloud.len()
        )));
    }
    let mut pairs = vec![Pair::default(); desktop.len().max(cloud.len())];
    for (side, tables) in [(Side::Desktop, desktop), (Side::Cloud, cloud)] {
        if tables.is_empty() {
            continue;
        }
        let client = connect(&inv.url(side)?).await?;
        for (pair, table) in pairs.iter_mut().zip(tables) {
            let live = Some(read_table(&client, side, table).await?);
            match side {
                Side::Desktop => pair.desktop = live,
                Side::Cloud => pair.cloud = live,
            }
        }
    }
    let entries = suggest(&pairs, inv.program.manifest, &KnownTable::of_program(inv.program));
    inv.out.manifest_entries(&entries);
    Ok(exit::OK)
}

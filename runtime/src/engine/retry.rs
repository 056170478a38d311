//! Transient failures (a dropped connection, a server restart, a serialization failure) are retried
//! with backoff; each attempt starts the table over in a fresh transaction, so none is half-applied.

use std::time::Duration;

use super::pipeline::{sync_table, RunOptions};
use super::{Connections, Observer, TableError, TableReport};
use crate::codec::CompiledTable;
use crate::spec::ManifestSpec;

const RETRIES: u32 = 3;

pub(crate) async fn sync_with_retries(
    table: &dyn CompiledTable,
    manifest: &ManifestSpec,
    connections: &mut Connections,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<TableReport, TableError> {
    let spec = table.spec();
    let mut attempt = 0;
    loop {
        attempt += 1;
        observer.table_started(spec);
        let result = match connections.reopen_closed().await {
            Ok(()) => {
                let (source, target) = connections.for_direction(spec.direction);
                sync_table(table, manifest, source, target, options, observer).await
            }
            Err(e) => Err(TableError::Reconnect(e)),
        };
        match result {
            Err(e) if e.is_transient() && attempt <= RETRIES => {
                let pause = Duration::from_millis(500 * 2u64.pow(attempt - 1));
                tracing::warn!(table = spec.name, attempt, error = %e, "transient failure; retrying in {pause:?}");
                tokio::time::sleep(pause).await;
            }
            result => return result,
        }
    }
}

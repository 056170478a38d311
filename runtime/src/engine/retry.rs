//! Transient failures (a dropped connection, a server restart, a serialization failure) are retried
//! with backoff; each attempt starts the table over in a fresh transaction, so none is half-applied.

use std::time::Duration;

use super::deletes::delete_table;
use super::pipeline::{sync_table, RunOptions};
use super::{Connections, DeleteReport, Observer, TableError, TableReport};
use crate::codec::CompiledTable;
use crate::spec::{ManifestSpec, TableSpec};

const RETRIES: u32 = 3;

/// Counts one table's attempts and decides, after each, whether to pause and try again.
struct Attempts {
    table: &'static str,
    tries: u32,
}

impl Attempts {
    fn new(spec: &'static TableSpec) -> Attempts {
        Attempts { table: spec.name, tries: 0 }
    }

    /// `None` (after a pause) when `result` is a transient failure worth another attempt, else the
    /// result to keep.
    async fn settle<T>(&mut self, result: Result<T, TableError>) -> Option<Result<T, TableError>> {
        self.tries += 1;
        match result {
            Err(e) if e.is_transient() && self.tries <= RETRIES => {
                let pause = Duration::from_millis(500 * 2u64.pow(self.tries - 1));
                tracing::warn!(table = self.table, attempt = self.tries, error = %e, "transient failure; retrying in {pause:?}");
                tokio::time::sleep(pause).await;
                None
            }
            result => Some(result),
        }
    }
}

pub(crate) async fn sync_with_retries(
    table: &dyn CompiledTable,
    manifest: &ManifestSpec,
    connections: &mut Connections,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<TableReport, TableError> {
    let spec = table.spec();
    let mut attempts = Attempts::new(spec);
    loop {
        observer.table_started(spec);
        let result = match connections.reopen_closed().await {
            Ok(()) => {
                let (source, target) = connections.for_direction(spec.direction);
                sync_table(table, manifest, source, target, options, observer).await
            }
            Err(e) => Err(TableError::Reconnect(e)),
        };
        if let Some(result) = attempts.settle(result).await {
            return result;
        }
    }
}

pub(crate) async fn delete_with_retries(
    spec: &'static TableSpec,
    manifest: &ManifestSpec,
    connections: &mut Connections,
    options: &RunOptions,
) -> Result<DeleteReport, TableError> {
    let mut attempts = Attempts::new(spec);
    loop {
        let result = match connections.reopen_closed().await {
            Ok(()) => {
                let (source, target) = connections.for_direction(spec.direction);
                delete_table(spec, manifest, source, target, options).await
            }
            Err(e) => Err(TableError::Reconnect(e)),
        };
        if let Some(result) = attempts.settle(result).await {
            return result;
        }
    }
}

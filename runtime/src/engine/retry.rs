//! Transient failures (a dropped connection, a server restart, a serialization failure) are retried
//! with backoff; each attempt starts the table over in a fresh transaction, so none is half-applied.

use std::time::Duration;

use super::deletes::{delete_table, StagedCheck};
use super::pipeline::{sync_table, RunOptions};
use super::{Connections, DeleteReport, Observer, TableError, TableReport};
use crate::codec::CompiledTable;
use crate::spec::{ManifestSpec, TableSpec};

const RETRIES: u32 = 3;

/// Counts one table's attempts and decides, after each, whether to pause and try again.
struct Attempts {
    table: &'static str,
    direction: &'static str,
    tries: u32,
}

impl Attempts {
    fn new(spec: &'static TableSpec) -> Attempts {
        Attempts { table: spec.name, direction: spec.direction.as_str(), tries: 0 }
    }

    /// `None` (after a pause) when `result` is a transient failure worth another attempt, else the
    /// result to keep.
    async fn settle<T>(&mut self, result: Result<T, TableError>) -> Option<Result<T, TableError>> {
        self.tries += 1;
        match result {
            Err(e) if e.is_transient() && self.tries <= RETRIES => {
                let pause = Duration::from_millis(500 * 2u64.pow(self.tries - 1));
                tracing::warn!(table = self.table, direction = self.direction, attempt = self.tries, error = %e, "transient failure; retrying in {pause:?}");
                tokio::time::sleep(pause).await;
                None
            }
            result => Some(result),
        }
    }
}

/// `attempt`, bounded by the table deadline.
async fn within<T>(
    spec: &'static TableSpec,
    options: &RunOptions,
    attempt: impl std::future::Future<Output = Result<T, TableError>>,
) -> Result<T, TableError> {
    let Some(limit) = options.table_timeout else { return attempt.await };
    tokio::time::timeout(limit, attempt).await.unwrap_or(Err(TableError::Deadline { table: spec.name, after: limit }))
}

/// Past the deadline the attempt was dropped in the middle of a statement, so both connections are
/// replaced before anything else uses them.
async fn after_deadline<T>(connections: &mut Connections, result: Result<T, TableError>) -> Result<T, TableError> {
    if let Err(TableError::Deadline { table, after }) = &result {
        tracing::warn!(table = *table, "did not finish within {after:?}; opening both connections again");
        if let Err(e) = connections.reopen_all().await {
            tracing::warn!(error = %e, "could not open the connections again");
        }
    }
    result
}

/// A lock timeout, with the sessions holding locks on the table named (as far as this role sees).
async fn name_blockers<T>(
    spec: &'static TableSpec,
    connections: &mut Connections,
    result: Result<T, TableError>,
) -> Result<T, TableError> {
    let Err(TableError::Database { table, side, source }) = result else { return result };
    if source.code() != Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
        return Err(TableError::Database { table, side, source });
    }
    let client = if side == spec.direction.target() {
        connections.for_direction(spec.direction).1
    } else {
        connections.for_direction(spec.direction).0
    };
    let name = if side == spec.target.side { spec.target.name } else { spec.source.name };
    let rows = client
        .query(
            "SELECT DISTINCT a.pid, coalesce(a.usename::text, '?'), coalesce(a.application_name, ''), \
             coalesce(a.state, '?'), coalesce(date_trunc('second', now() - a.xact_start)::text, '?'), \
             left(coalesce(a.query, ''), 80) \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.relation = to_regclass($1) AND l.granted AND l.pid <> pg_backend_pid()",
            &[&super::names::ident(name)],
        )
        .await
        .unwrap_or_default();
    let blockers = if rows.is_empty() {
        "a session this role cannot see (ask a superuser to look in pg_locks)".to_string()
    } else {
        rows.iter()
            .map(|r| {
                let (pid, user, app, state, age, query): (i32, String, String, String, String, String) =
                    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
                format!("pid {pid} (user {user}, application '{app}', {state} for {age}: {query})")
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(TableError::LockTimeout { table, side, blockers, source })
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
                let attempt = sync_table(table, manifest, source, target, options, observer);
                within(spec, options, attempt).await
            }
            Err(e) => Err(TableError::Reconnect(e)),
        };
        let result = after_deadline(connections, result).await;
        let result = name_blockers(spec, connections, result).await;
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
    compared: Option<&StagedCheck>,
) -> Result<DeleteReport, TableError> {
    let mut attempts = Attempts::new(spec);
    loop {
        let result = match connections.reopen_closed().await {
            Ok(()) => {
                let (source, target) = connections.for_direction(spec.direction);
                let attempt = delete_table(spec, manifest, source, target, options, compared);
                within(spec, options, attempt).await
            }
            Err(e) => Err(TableError::Reconnect(e)),
        };
        let result = after_deadline(connections, result).await;
        let result = name_blockers(spec, connections, result).await;
        if let Some(result) = attempts.settle(result).await {
            return result;
        }
    }
}

//! The engine: runs the requested directions and returns what each table did. It never prints;
//! progress and each finished table go to the caller's [`Observer`].
//!
//! A direction bootstraps its metadata, compares the live tables with the manifest, then syncs each
//! selected table in order. A table that fails is reported and the others still sync.

mod apply;
pub(crate) mod bootstrap;
mod connections;
mod counters;
pub(crate) mod db_error;
mod deletes;
mod direct;
pub(crate) mod doctor;
mod error;
pub(crate) mod introspect;
mod keyset;
pub(crate) mod lock;
pub(crate) mod metadata;
pub(crate) mod names;
mod observer;
mod overrun;
mod pipeline;
mod prepare;
mod report;
pub mod restore;
pub mod results;
mod retry;
pub(crate) mod schema_check;
pub(crate) mod status;
mod survey;
mod tls;
pub(crate) mod trigger;
pub(crate) mod verify;
mod watermark;

pub use connections::{connect, connect_listening, ConnectError, Connections, Notifications};
pub use error::{EngineError, TableError, UnknownTables};
pub use observer::{Both, Observer, Silent};
pub use report::{DeleteOutcome, DeleteReport, DirectionReport, RunReport, Status, TableReport};

use crate::codec::CompiledTable;
use crate::program::Program;
use crate::spec::{Direction, ManifestSpec};
use prepare::prepare;

/// The options of one sync pass.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Read every table completely, ignoring watermarks.
    pub full: bool,
    /// Only these tables (manifest, desktop or cloud names); empty for all.
    pub tables: Vec<String>,
    /// Do everything, then roll the target back.
    pub dry_run: bool,
    /// The tenant value when the manifest declares a tenant scope.
    pub tenant: Option<String>,
    /// Let this pass's deletes through where the mass-delete guard would stop them.
    pub allow_mass_delete: bool,
    /// How long a target statement waits for another session's lock (`None`: the server's setting).
    pub lock_timeout: Option<std::time::Duration>,
    /// How long one table may take before it fails and both connections are opened again.
    pub table_timeout: Option<std::time::Duration>,
    /// Set by the caller to stop the pass after the table in hand (a signal): the tables not yet
    /// started are left for the next run.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl SyncOptions {
    fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// A usage error naming every table that is not a compiled table of these directions.
pub fn check_tables(program: &Program, directions: &[Direction], tables: &[String]) -> Result<(), UnknownTables> {
    let unknown = program.unknown_tables(directions, tables);
    if unknown.is_empty() {
        return Ok(());
    }
    Err(UnknownTables { names: unknown.into_iter().map(str::to_string).collect() })
}

/// Runs the given directions once, in the order given.
pub async fn sync(
    program: &Program,
    connections: &mut Connections,
    directions: &[Direction],
    options: &SyncOptions,
    observer: &dyn Observer,
) -> Result<RunReport, EngineError> {
    check_tables(program, directions, &options.tables)?;
    let started = std::time::Instant::now();
    let mut run = RunReport::default();
    for direction in directions {
        let tables = program.tables(*direction, &options.tables);
        if tables.is_empty() || options.stopping() {
            continue;
        }
        let report = if options.dry_run {
            dry_run(program.manifest, connections, *direction, &tables, options, observer).await?
        } else {
            run_direction(program.manifest, connections, *direction, &tables, options, observer).await?
        };
        run.directions.push(report);
    }
    results::pass_finished(&run, started.elapsed());
    Ok(run)
}

/// Syncs `tables` (already filtered to this direction, in sync order), each in its own target
/// transaction, retrying transient failures.
async fn run_direction(
    manifest: &ManifestSpec,
    connections: &mut Connections,
    direction: Direction,
    tables: &[&dyn CompiledTable],
    sync: &SyncOptions,
    observer: &dyn Observer,
) -> Result<DirectionReport, EngineError> {
    // A long-running `run --every` outlives connections (server restarts, pooler idle timeouts).
    connections.reopen_closed().await?;
    let (source, target) = connections.for_direction(direction);
    let started = std::time::Instant::now();
    let prepared = prepare(manifest, source, target, direction, tables, sync).await?;
    tracing::debug!(direction = %direction, elapsed = ?started.elapsed(), "bootstrapped and checked the schema");
    let differences: Vec<_> = tables.iter().map(|t| prepared.differences(manifest, t.spec())).collect();
    let matching: Vec<_> =
        tables.iter().zip(&differences).filter(|(_, d)| d.is_none()).map(|(t, _)| t.spec()).collect();
    let survey::Found { mut unchanged, deletes: surveyed_deletes } = if sync.stopping() {
        survey::Found::default()
    } else {
        survey::ask(&matching, manifest, connections, &prepared.options).await
    };
    let mut reports = Vec::new();
    for (table, difference) in tables.iter().zip(differences) {
        if sync.stopping() {
            tracing::warn!(direction = %direction, "stopped: {} table(s) left for the next run", tables.len() - reports.len());
            break;
        }
        let spec = table.spec();
        let surveyed = unchanged.iter().position(|r| r.table == spec.name).map(|i| unchanged.swap_remove(i));
        let result = match (difference, surveyed) {
            (Some(failure), _) => Err(failure),
            (None, Some(report)) => {
                observer.table_started(spec);
                Ok(report)
            }
            (None, None) => retry::sync_with_retries(*table, manifest, connections, &prepared.options, observer).await,
        };
        let report = result.unwrap_or_else(|e| TableReport::failed(spec, &e));
        if report.status == Status::Failed && prepared.options.metadata {
            let (_, target) = connections.for_direction(direction);
            let record = metadata::RunRecord {
                table: spec.name,
                scope: &prepared.options.scope,
                watermark: None,
                xid: None,
                rows: 0,
                status: "failed",
                error: report.error.as_deref(),
                read_proof: metadata::ReadProof::Clear,
            };
            if let Err(e) = metadata::record(target, manifest.metadata_table(direction), &record).await {
                tracing::warn!(table = spec.name, direction = direction.as_str(), error = %db_error::describe(&e), "could not record the failure");
            }
        }
        results::table_finished(&report);
        observer.table_finished(&report);
        reports.push(report);
    }
    warn_if_no_row_of_the_tenant(manifest, direction, sync, tables, &reports);
    let mut deletes = Vec::new();
    // A stopped pass checks no deletes: a table it did not reach is not known to be in step.
    let checked = if sync.stopping() { Vec::new() } else { deleting(tables, &prepared) };
    let due: Vec<_> = checked
        .iter()
        .copied()
        .filter(|spec| skipped(spec, &reports).is_none() && compared(spec, &reports).is_none())
        .collect();
    let mut settled = match surveyed_deletes {
        Some(settled) => settled,
        None => survey::ask_deletes(&due, manifest, connections, &prepared.options).await,
    };
    for spec in checked {
        let surveyed = settled.iter().position(|r| r.table == spec.name).map(|i| settled.swap_remove(i));
        let result = match skipped(spec, &reports).or(surveyed) {
            Some(report) => Ok(report),
            None => {
                let compared = compared(spec, &reports);
                retry::delete_with_retries(spec, manifest, connections, &prepared.options, compared).await
            }
        };
        let report = result.unwrap_or_else(|e| DeleteReport::failed(spec, &e));
        results::deletes_finished(&report);
        observer.deletes_finished(&report);
        deletes.push(report);
    }
    Ok(DirectionReport { direction, degraded: prepared.degraded, tables: reports, deletes })
}

/// A forward pass that read every table in full and found no row of the tenant anywhere on the
/// desktop most likely runs as the wrong firm (a typo in the variable): say so.
fn warn_if_no_row_of_the_tenant(
    manifest: &ManifestSpec,
    direction: Direction,
    sync: &SyncOptions,
    tables: &[&dyn CompiledTable],
    reports: &[TableReport],
) {
    let (Some(tenant), Some(spec)) = (&sync.tenant, manifest.tenant) else { return };
    // Tables without the tenant column are read whole, whatever the firm.
    let scoped: Vec<&TableReport> = reports
        .iter()
        .zip(tables)
        .filter(|(_, t)| t.spec().source.columns.iter().any(|c| c.name == spec.column))
        .map(|(r, _)| r)
        .collect();
    let nothing = !scoped.is_empty()
        && scoped.iter().all(|r| r.status != Status::Failed && r.rows_read == 0 && r.watermark_from.is_none());
    if direction == Direction::Forward && nothing {
        tracing::warn!(
            "no row of any table has {} = {tenant} on the desktop: is {}={tenant} this firm's value?",
            spec.column,
            spec.env
        );
    }
}

/// The tables whose deletes this run checks, children before parents (a parent's row is free to go
/// only once the rows pointing at it are gone). None without metadata: nowhere to keep a copy.
fn deleting(tables: &[&dyn CompiledTable], prepared: &prepare::Prepared) -> Vec<&'static crate::spec::TableSpec> {
    if !prepared.options.metadata {
        if tables.iter().any(|t| t.spec().deletes.is_some()) {
            tracing::warn!("no metadata on the target, so deleted rows could not be kept: no deletes this run");
        }
        return Vec::new();
    }
    tables.iter().rev().map(|t| t.spec()).filter(|s| s.deletes.is_some()).collect()
}

/// A table whose own sync failed this run checks no deletes: the failure may be the very
/// difference (a schema, a lost server) that would make its rows look gone.
/// A table that has just been loaded into a target holding none of its rows has nothing to delete.
fn skipped(spec: &'static crate::spec::TableSpec, reports: &[TableReport]) -> Option<DeleteReport> {
    let report = reports.iter().find(|r| r.table == spec.name)?;
    if report.status == Status::Failed {
        Some(DeleteReport::new(spec, DeleteOutcome::Skipped))
    } else {
        report.first_load.then(|| DeleteReport::new(spec, DeleteOutcome::FirstLoad))
    }
}

/// The delete check's keys as the table's sync compared them against its staged full read.
fn compared<'a>(spec: &crate::spec::TableSpec, reports: &'a [TableReport]) -> Option<&'a deletes::StagedCheck> {
    reports.iter().find(|r| r.table == spec.name)?.deletes_compared.as_ref()
}

/// Does all of a direction inside one target transaction (so each table sees the rows staged
/// before it, as a real run would) and rolls it back. Nothing is retried.
async fn dry_run(
    manifest: &ManifestSpec,
    connections: &mut Connections,
    direction: Direction,
    tables: &[&dyn CompiledTable],
    sync: &SyncOptions,
    observer: &dyn Observer,
) -> Result<DirectionReport, EngineError> {
    connections.reopen_closed().await?;
    let (source, target) = connections.for_direction(direction);
    let mut outer = target.transaction().await.map_err(|source| EngineError::DryRun {
        direction,
        side: direction.target(),
        source,
    })?;
    let prepared = prepare(manifest, source, &mut outer, direction, tables, sync).await?;
    let mut reports = Vec::new();
    for table in tables {
        let spec = table.spec();
        let result = match prepared.differences(manifest, spec) {
            Some(failure) => Err(failure),
            None => {
                observer.table_started(spec);
                pipeline::sync_table(*table, manifest, source, &mut outer, &prepared.options, observer).await
            }
        };
        let report = result.unwrap_or_else(|e| TableReport::failed(spec, &e));
        results::table_finished(&report);
        observer.table_finished(&report);
        reports.push(report);
    }
    let mut deletes = Vec::new();
    for spec in deleting(tables, &prepared) {
        let result = match skipped(spec, &reports) {
            Some(report) => Ok(report),
            None => {
                let compared = compared(spec, &reports);
                deletes::delete_table(spec, manifest, source, &mut outer, &prepared.options, compared).await
            }
        };
        let report = result.unwrap_or_else(|e| DeleteReport::failed(spec, &e));
        results::deletes_finished(&report);
        observer.deletes_finished(&report);
        deletes.push(report);
    }
    let _ = outer.rollback().await;
    Ok(DirectionReport { direction, degraded: prepared.degraded, tables: reports, deletes })
}

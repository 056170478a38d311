//! Runs a direction: bootstrap its metadata, compare the live tables with the manifest, then sync
//! each selected table in order. A table that fails is reported and the others still sync.

use std::time::Duration;

use tokio_postgres::{Client, GenericClient};

use crate::bootstrap::{self, Bootstrap};
use crate::codec::CompiledTable;
use crate::config::ConnectionUrl;
use crate::connect::{connect, ConnectError};
use crate::pipeline::{sync_table, RunOptions, Status, TableReport};
use crate::schema_check;
use crate::spec::{Direction, ManifestSpec};

/// The two open connections of a run, reopened when a transient failure closed one.
pub struct Connections {
    pub desktop_url: ConnectionUrl,
    pub cloud_url: ConnectionUrl,
    pub desktop: Client,
    pub cloud: Client,
}

impl Connections {
    pub async fn open(desktop_url: ConnectionUrl, cloud_url: ConnectionUrl) -> Result<Self, ConnectError> {
        let desktop = connect(&desktop_url).await?;
        let cloud = connect(&cloud_url).await?;
        Ok(Connections { desktop_url, cloud_url, desktop, cloud })
    }

    async fn reopen_closed(&mut self) -> Result<(), ConnectError> {
        if self.desktop.is_closed() {
            self.desktop = connect(&self.desktop_url).await?;
        }
        if self.cloud.is_closed() {
            self.cloud = connect(&self.cloud_url).await?;
        }
        Ok(())
    }

    /// (source, target) for a direction.
    pub fn for_direction(&mut self, direction: Direction) -> (&mut Client, &mut Client) {
        match direction {
            Direction::Forward => (&mut self.desktop, &mut self.cloud),
            Direction::Reverse => (&mut self.cloud, &mut self.desktop),
        }
    }
}

/// The options of one sync pass.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    pub full: bool,
    pub tables: Vec<String>,
    pub dry_run: bool,
    /// The tenant value when the manifest declares a tenant scope.
    pub tenant: Option<String>,
    /// Show a progress line for long tables (the CLI sets it for human output on a terminal).
    pub progress: bool,
}

/// What a direction's run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DirectionReport {
    pub direction: Direction,
    /// Set when the metadata could not be created: the run went on in full mode.
    pub degraded: Option<String>,
    pub tables: Vec<TableReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Connect(#[from] ConnectError),
    #[error("bootstrapping the {direction} metadata on the {side}: {message}")]
    Bootstrap { direction: Direction, side: crate::spec::Side, message: String },
    #[error("reading the live schema on the {side}: {message}")]
    Schema { side: crate::spec::Side, message: String },
}

const RETRIES: u32 = 3;

/// Syncs `tables` (already filtered to this direction, in sync order). A dry run does all of it
/// inside one target transaction (so each table sees the rows staged before it, as a real run
/// would) and rolls it back.
pub async fn run_direction(
    manifest: &ManifestSpec,
    connections: &mut Connections,
    direction: Direction,
    tables: &[&dyn CompiledTable],
    sync: &SyncOptions,
    on_table: &mut dyn FnMut(&TableReport),
) -> Result<DirectionReport, EngineError> {
    let target_side = direction.target();
    // A long-running `run --every` outlives connections (server restarts, pooler idle timeouts).
    connections.reopen_closed().await?;
    let mut reports = Vec::new();
    if sync.dry_run {
        let (source, target) = connections.for_direction(direction);
        let mut outer = target.transaction().await.map_err(|e| EngineError::Bootstrap {
            direction,
            side: target_side,
            message: crate::error::describe(&e),
        })?;
        let prepared = prepare(manifest, source, &mut outer, direction, tables, sync).await?;
        for table in tables {
            let report = match prepared.differences(manifest, table.spec()) {
                Some(failure) => failure,
                None => sync_table(*table, manifest, source, &mut outer, &prepared.options)
                    .await
                    .unwrap_or_else(|e| failed(table.spec(), e.describe())),
            };
            on_table(&report);
            reports.push(report);
        }
        let _ = outer.rollback().await;
        return Ok(DirectionReport { direction, degraded: prepared.degraded, tables: reports });
    }

    let (source, target) = connections.for_direction(direction);
    let prepared = prepare(manifest, source, target, direction, tables, sync).await?;
    for table in tables {
        let spec = table.spec();
        let report = match prepared.differences(manifest, spec) {
            Some(failure) => failure,
            None => sync_with_retries(*table, manifest, connections, &prepared.options).await,
        };
        if report.status == Status::Failed && prepared.options.metadata {
            let (_, target) = connections.for_direction(direction);
            let scope = crate::metadata::Scope::of(prepared.options.tenant.as_deref());
            let record = crate::metadata::RunRecord {
                table: spec.name,
                scope: &scope,
                watermark: None,
                rows: 0,
                status: "failed",
                error: report.error.as_deref(),
            };
            if let Err(e) = crate::metadata::record(target, manifest.metadata_table(direction), &record).await {
                tracing::warn!(table = spec.name, error = %crate::error::describe(&e), "could not record the failure");
            }
        }
        on_table(&report);
        reports.push(report);
    }
    Ok(DirectionReport { direction, degraded: prepared.degraded, tables: reports })
}

/// What a direction needs before its first table: metadata in place, live schemas read.
struct Prepared {
    degraded: Option<String>,
    options: RunOptions,
    source_live: schema_check::LiveColumns,
    target_live: schema_check::LiveColumns,
}

impl Prepared {
    /// A failed report when the table's live columns differ from the manifest.
    fn differences(&self, manifest: &ManifestSpec, spec: &crate::spec::TableSpec) -> Option<TableReport> {
        let differences = schema_check::table_differences(spec, &self.source_live, &self.target_live);
        if differences.is_empty() {
            if spec.tracking.is_none() && spec.source.touched.is_none() {
                tracing::info!(
                    table = spec.name,
                    direction = %spec.direction,
                    "the {} table {} has no tracking column, so every run reads it in full",
                    spec.source.side,
                    spec.source.name
                );
            }
            return None;
        }
        Some(failed(
            spec,
            format!(
                "the live tables differ from the manifest ({} line {}), nothing written: {}",
                manifest.path,
                spec.manifest_line,
                differences.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; ")
            ),
        ))
    }
}

async fn prepare<C: GenericClient>(
    manifest: &ManifestSpec,
    source: &Client,
    target: &mut C,
    direction: Direction,
    tables: &[&dyn CompiledTable],
    sync: &SyncOptions,
) -> Result<Prepared, EngineError> {
    let names: Vec<&str> = tables.iter().map(|t| t.spec().name).collect();
    let target_side = direction.target();
    let scope = crate::metadata::Scope::of(sync.tenant.as_deref());
    let bootstrap = bootstrap::ensure(target, manifest, direction, &names, Some(&scope))
        .await
        .map_err(|e| EngineError::Bootstrap { direction, side: target_side, message: crate::error::describe(&e) })?;
    let degraded = match &bootstrap {
        Bootstrap::Degraded { reason } => {
            tracing::warn!(
                direction = %direction,
                metadata = manifest.metadata_table(direction),
                reason = %reason,
                "cannot create the metadata table on the {target_side}; every table runs in full mode and no progress is recorded"
            );
            Some(reason.clone())
        }
        Bootstrap::Ready { created, upgraded, seeded } => {
            if *created {
                tracing::info!(direction = %direction, table = manifest.metadata_table(direction), "created the metadata table");
            }
            if !upgraded.is_empty() {
                tracing::info!(direction = %direction, table = manifest.metadata_table(direction), columns = ?upgraded, "upgraded the metadata table in place");
                if upgraded.iter().any(|u| u == "scope") && manifest.tenant.is_some() {
                    tracing::info!(
                        direction = %direction,
                        scope = scope.as_str(),
                        "progress was shared by every firm before; whose it was is unknown, so this firm's first run reads every table in full (rewriting nothing that is already equal)"
                    );
                }
            }
            if *seeded > 0 {
                tracing::debug!(direction = %direction, rows = seeded, "seeded metadata rows at the epoch");
            }
            None
        }
    };
    // Compare every selected table with the live databases before writing anything.
    let source_tables: Vec<&str> = tables.iter().map(|t| t.spec().source.name).collect();
    let target_tables: Vec<&str> = tables.iter().map(|t| t.spec().target.name).collect();
    let source_live = schema_check::live_columns(source, &source_tables)
        .await
        .map_err(|e| EngineError::Schema { side: direction.source(), message: crate::error::describe(&e) })?;
    let target_live = schema_check::live_columns(target, &target_tables)
        .await
        .map_err(|e| EngineError::Schema { side: target_side, message: crate::error::describe(&e) })?;
    // Sources whose key is unique already need no newest-wins pass (the cloud's tables have
    // primary keys; the legacy desktop's mostly do not).
    let keyed: Vec<(&str, &[&str])> = tables.iter().map(|t| (t.spec().source.name, t.spec().source_key)).collect();
    let unique_sources = schema_check::unique_on(source, &keyed)
        .await
        .map_err(|e| EngineError::Schema { side: direction.source(), message: crate::error::describe(&e) })?;
    let options = RunOptions {
        full: sync.full,
        tenant: sync.tenant.clone(),
        metadata: bootstrap.is_ready(),
        progress: sync.progress,
        unique_sources,
    };
    Ok(Prepared { degraded, options, source_live, target_live })
}

async fn sync_with_retries(
    table: &dyn CompiledTable,
    manifest: &ManifestSpec,
    connections: &mut Connections,
    options: &RunOptions,
) -> TableReport {
    let spec = table.spec();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = match connections.reopen_closed().await {
            Ok(()) => {
                let (source, target) = connections.for_direction(spec.direction);
                sync_table(table, manifest, source, target, options).await.map_err(|e| (e.is_transient(), e.describe()))
            }
            Err(e) => Err((true, e.to_string())),
        };
        match result {
            Ok(report) => return report,
            Err((true, message)) if attempt <= RETRIES => {
                let pause = Duration::from_millis(500 * 2u64.pow(attempt - 1));
                tracing::warn!(table = spec.name, attempt, error = %message, "transient failure; retrying in {pause:?}");
                tokio::time::sleep(pause).await;
            }
            Err((_, message)) => return failed(spec, message),
        }
    }
}

fn failed(spec: &crate::spec::TableSpec, message: String) -> TableReport {
    TableReport {
        table: spec.name.to_string(),
        direction: spec.direction,
        source: spec.source.name.to_string(),
        target: spec.target.name.to_string(),
        mode: spec.mode.as_str(),
        status: Status::Failed,
        rows_read: 0,
        rows_written: 0,
        duplicates_dropped: 0,
        rejected: 0,
        reject_samples: Vec::new(),
        watermark_from: None,
        watermark_to: None,
        millis: 0,
        error: Some(message),
    }
}

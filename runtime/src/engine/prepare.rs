//! What a direction needs before its first table: its metadata bootstrapped on the target, and the
//! live columns of every selected table read on both sides, so that a table whose live shape
//! differs from the manifest fails before anything is written.

use std::collections::HashSet;

use futures_util::TryFutureExt;

use tokio_postgres::{Client, GenericClient};

use super::bootstrap::{self, Bootstrap};
use super::metadata::Scope;
use super::pipeline::RunOptions;
use super::schema_check::{self, LiveColumns};
use super::{EngineError, SyncOptions, TableError};
use crate::codec::CompiledTable;
use crate::spec::{Direction, ManifestSpec, TableSpec};

pub(crate) struct Prepared {
    /// Why the metadata could not be created, when it could not: the direction runs in full mode.
    pub degraded: Option<String>,
    pub options: RunOptions,
    source_live: LiveColumns,
    target_live: LiveColumns,
}

impl Prepared {
    /// The failure of a table whose live columns differ from the manifest.
    pub fn differences(&self, manifest: &ManifestSpec, spec: &'static TableSpec) -> Option<TableError> {
        let differences = schema_check::table_differences(spec, &self.source_live, &self.target_live);
        if differences.is_empty() {
            if spec.tracking.is_none() && !spec.track_xmin && spec.source.touched.is_none() {
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
        Some(TableError::SchemaDiffers {
            table: spec.name,
            manifest: manifest.path,
            line: spec.manifest_line,
            differences,
        })
    }
}

pub(crate) async fn prepare<C: GenericClient>(
    manifest: &ManifestSpec,
    source: &Client,
    target: &mut C,
    direction: Direction,
    tables: &[&dyn CompiledTable],
    sync: &SyncOptions,
) -> Result<Prepared, EngineError> {
    let names: Vec<&str> = tables.iter().map(|t| t.spec().name).collect();
    let target_side = direction.target();
    let scope = Scope::of(sync.tenant.as_deref());
    let keeps_deleted = tables.iter().any(|t| t.spec().deletes.is_some());
    let source_tables: Vec<&str> = tables.iter().map(|t| t.spec().source.name).collect();
    let target_tables: Vec<&str> = tables.iter().map(|t| t.spec().target.name).collect();
    // Sources whose key is unique already need no newest-wins pass (the cloud's tables have
    // primary keys; the legacy desktop's mostly do not).
    let keyed: Vec<(&str, &[&str])> = tables.iter().map(|t| (t.spec().source.name, t.spec().source_key)).collect();
    let schema_of_source = |source| EngineError::Schema { side: direction.source(), source };
    // The source is read while the target bootstraps: the two servers work at once. Every selected
    // table is compared with the live databases before anything is written.
    let on_target = async {
        let bootstrap = bootstrap::ensure(target, manifest, direction, &names, Some(&scope), keeps_deleted)
            .await
            .map_err(|source| EngineError::Bootstrap { direction, side: target_side, source })?;
        let target_live = schema_check::live_columns(&*target, &target_tables)
            .await
            .map_err(|source| EngineError::Schema { side: target_side, source })?;
        Ok::<_, EngineError>((bootstrap, target_live))
    };
    let source_live = schema_check::live_columns(source, &source_tables).map_err(schema_of_source);
    let unique_sources = schema_check::unique_on(source, &keyed).map_err(schema_of_source);
    let ((bootstrap, target_live), source_live, unique_sources): (_, _, HashSet<String>) =
        tokio::try_join!(on_target, source_live, unique_sources)?;
    let degraded = log_bootstrap(manifest, direction, &bootstrap, &scope);
    let options = RunOptions {
        full: sync.full,
        tenant: sync.tenant.clone(),
        scope,
        metadata: bootstrap.is_ready(),
        unique_sources,
        allow_mass_delete: sync.allow_mass_delete,
        lock_timeout: sync.lock_timeout,
        table_timeout: sync.table_timeout,
    };
    Ok(Prepared { degraded, options, source_live, target_live })
}

/// Logs what the bootstrap did; the reason when the direction is degraded to full mode.
fn log_bootstrap(
    manifest: &ManifestSpec,
    direction: Direction,
    bootstrap: &Bootstrap,
    scope: &Scope,
) -> Option<String> {
    let metadata = manifest.metadata_table(direction);
    match bootstrap {
        Bootstrap::Degraded { reason } => {
            tracing::warn!(
                direction = %direction,
                metadata,
                reason = %reason,
                "cannot create the metadata table on the {}; every table runs in full mode and no progress is recorded",
                direction.target()
            );
            Some(reason.clone())
        }
        Bootstrap::Ready { created, upgraded, seeded } => {
            if *created {
                tracing::info!(direction = %direction, table = metadata, "created the metadata table");
            }
            if !upgraded.is_empty() {
                tracing::info!(direction = %direction, table = metadata, columns = ?upgraded, "upgraded the metadata table in place");
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
    }
}

//! Most incremental runs find most tables unchanged. Asked one table at a time, each costs a
//! handful of round trips in turn (its metadata with the source's horizon, its counters or a
//! probe, a transaction to record the run, then the same again for its delete check); asked of
//! every table of a direction at once, the same questions take one statement each: the metadata of
//! all tables, one horizon, the counters of all `mode: full` tables, then every probe in one
//! read-only transaction, then one target transaction recording the unchanged ones. The counters
//! of the delete checks are read by the same statement. The tables found changed sync one by one
//! as before, and so does every table when the survey fails.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::future::{join_all, BoxFuture};
use futures_util::{FutureExt, TryFutureExt};
use tokio_postgres::Client;

use super::counters::{self, Ask, Counting};
use super::deletes;
use super::metadata::{self, Stored};
use super::pipeline::{
    full_read_statement, in_order, read_plan, set_lock_timeout, set_settings, unchanged_report, ReadPlan, RunOptions,
    BEGIN_PROBES,
};
use super::watermark;
use super::{Connections, DeleteReport, TableReport};
use crate::spec::{DeleteSpec, ManifestSpec, TableSpec};

/// Why the survey could not tell; every table is then synced in turn, which asks again.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SurveyError {
    #[error("{}", super::db_error::describe(.0))]
    Database(#[from] tokio_postgres::Error),
    #[error("no answer within {0:?}")]
    Deadline(Duration),
}

/// What asking every table of a direction at once found.
#[derive(Default)]
pub(crate) struct Found {
    /// The reports of the tables found unchanged, their runs recorded.
    pub unchanged: Vec<TableReport>,
    /// The delete checks that need not run, decided from the same counters (read before any
    /// check's snapshot, so a change after them is found by the next run); `None` when they were
    /// not asked, and [`ask_deletes`] asks after the tables.
    pub deletes: Option<Vec<DeleteReport>>,
}

/// What the `tables` (all of one direction) found unchanged, or nothing when the survey could not
/// tell: each table then asks again for itself, with its own retries and errors.
pub(crate) async fn ask(
    tables: &[&'static TableSpec],
    manifest: &ManifestSpec,
    connections: &mut Connections,
    options: &RunOptions,
) -> Found {
    let Some(direction) = tables.first().map(|t| t.direction) else { return Found::default() };
    let (source, target) = connections.for_direction(direction);
    let result = within(options, unchanged(tables, manifest, source, target, options)).await;
    or_none(result, connections).await.unwrap_or_default()
}

/// The delete checks of `tables` (all of one direction) that need not run, or none when the survey
/// could not tell.
pub(crate) async fn ask_deletes(
    tables: &[&'static TableSpec],
    manifest: &ManifestSpec,
    connections: &mut Connections,
    options: &RunOptions,
) -> Vec<DeleteReport> {
    let Some(direction) = tables.first().map(|t| t.direction) else { return Vec::new() };
    let (source, target) = connections.for_direction(direction);
    let result = within(options, settled_deletes(tables, manifest, source, target, options)).await;
    or_none(result, connections).await.unwrap_or_default()
}

async fn within<T>(
    options: &RunOptions,
    asked: impl std::future::Future<Output = Result<T, SurveyError>>,
) -> Result<T, SurveyError> {
    let Some(limit) = options.table_timeout else { return asked.await };
    tokio::time::timeout(limit, asked).await.unwrap_or(Err(SurveyError::Deadline(limit)))
}

async fn or_none<T>(result: Result<T, SurveyError>, connections: &mut Connections) -> Option<T> {
    let error = match result {
        Ok(found) => return Some(found),
        Err(error) => error,
    };
    tracing::debug!(%error, "asking the tables together failed; asking each in turn");
    // Dropped or failed mid-statement: a transaction may still be open on either side.
    if let Err(e) = connections.reopen_all().await {
        tracing::warn!(error = %e, "could not open the connections again");
    }
    None
}

/// The reports of the `tables` found unchanged since their last run, whose runs are recorded, and
/// the delete checks that need not run. Only the checks `sync_table` and `delete_table` make before
/// reading decide, with the same rules.
async fn unchanged(
    tables: &[&'static TableSpec],
    manifest: &ManifestSpec,
    source: &Client,
    target: &mut Client,
    options: &RunOptions,
) -> Result<Found, SurveyError> {
    let Some(direction) = tables.first().map(|t| t.direction) else { return Ok(Found::default()) };
    if options.full || !options.metadata {
        return Ok(Found::default());
    }
    let started = Instant::now();
    let names: Vec<&str> = tables.iter().map(|t| t.name).collect();
    let mut asks: Vec<Ask> = tables
        .iter()
        .filter_map(|&spec| {
            let statement = full_read_statement(spec, manifest, options)?;
            Some(Ask { spec, counting: Counting::AnyChange, statement })
        })
        .collect();
    let reads = asks.len();
    let checked: Vec<_> = tables.iter().filter_map(|&spec| Some((spec, spec.deletes.as_ref()?))).collect();
    asks.extend(checked.iter().map(|&(spec, deletes)| delete_ask(spec, deletes)));
    let lookback = Duration::from_secs(manifest.lookback_seconds as u64);
    let shared: &Client = target;
    // All at once, the horizon before any probe's snapshot (see `pipeline::plan`).
    let (mut stored, horizon, proofs) = tokio::try_join!(
        metadata::stored_all(shared, manifest.metadata_table(direction), &options.scope, &names),
        watermark::horizon(source, lookback),
        counters::proofs(&asks, source, shared).map_err(|(_, e)| e),
    )?;
    let deletes = settled(&checked, &stored, &proofs[reads..], options);
    let (asks, proofs) = (&asks[..reads], &proofs[..reads]);
    let mut quiet = Vec::new();
    let mut probed = Vec::new();
    for &spec in tables {
        let plan = read_plan(spec, options, stored.remove(spec.name).unwrap_or_default(), horizon.watermark);
        let proof = asks.iter().zip(proofs).find(|(a, _)| a.spec.name == spec.name).and_then(|(_, p)| p.as_deref());
        let stored = &plan.stored;
        if counters::holds(proof, stored.read_proof.as_deref(), stored.read_proven_at) {
            quiet.push((spec, plan));
        } else if let Some(probe) = spec.sql.probe_incremental.filter(|_| plan.incremental && !spec.track_xmin) {
            probed.push((spec, plan, probe));
        }
    }
    let changed = probe(manifest, source, options, &probed).await?;
    quiet.extend(
        probed.into_iter().zip(changed).filter(|(_, changed)| !changed).map(|((spec, plan, _), _)| (spec, plan)),
    );
    record(manifest, target, options, &quiet).await?;
    let unchanged = quiet.iter().map(|(spec, plan)| unchanged_report(spec, plan, started)).collect();
    Ok(Found { unchanged, deletes: Some(deletes) })
}

/// Whether each probed table has a row past its watermark: every probe in one read-only
/// transaction, each after its own settings (sent again only when its watermark differs from the
/// table's before), all sent at once.
async fn probe(
    manifest: &ManifestSpec,
    source: &Client,
    options: &RunOptions,
    probed: &[(&'static TableSpec, ReadPlan, &'static str)],
) -> Result<Vec<bool>, tokio_postgres::Error> {
    if probed.is_empty() {
        return Ok(Vec::new());
    }
    type Step<'a> = BoxFuture<'a, Result<Option<bool>, tokio_postgres::Error>>;
    let mut steps: Vec<Step> = vec![source.batch_execute(BEGIN_PROBES).map_ok(|_| None).boxed()];
    // The settings differ only by the watermark, which tables recorded together share.
    let mut since = None;
    for (_, plan, probe) in probed {
        if since != Some(plan.since) {
            since = Some(plan.since);
            steps.push(set_settings(source, manifest, options.tenant.as_deref(), plan.since).map_ok(|_| None).boxed());
        }
        let found = source.query_typed(probe, &[]);
        steps.push(found.map_ok(|rows| Some(rows.first().is_none_or(|r| r.get::<_, bool>(0)))).boxed());
    }
    // Ends the transaction whatever happened before it: after an error, COMMIT rolls back.
    steps.push(source.batch_execute("COMMIT").map_ok(|_| None).boxed());
    Ok(in_order(join_all(steps).await)?.into_iter().flatten().collect())
}

/// Records the unchanged tables' runs in one target transaction, as `sync_table` records one; its
/// commit does not wait for the disk (see `pipeline::unchanged`).
async fn record(
    manifest: &ManifestSpec,
    target: &mut Client,
    options: &RunOptions,
    quiet: &[(&'static TableSpec, ReadPlan)],
) -> Result<(), tokio_postgres::Error> {
    let Some(direction) = quiet.first().map(|(spec, _)| spec.direction) else { return Ok(()) };
    let runs: Vec<(&str, _)> = quiet.iter().map(|(spec, plan)| (spec.name, plan.next_watermark)).collect();
    let tx = target.transaction().await?;
    tokio::try_join!(
        tx.batch_execute("SET LOCAL synchronous_commit = off"),
        set_lock_timeout(&tx, options),
        metadata::record_unchanged(
            &tx,
            manifest.metadata_table(direction),
            manifest.rejects_table(direction),
            &options.scope,
            metadata::APPLY_KIND,
            &runs,
        ),
    )?;
    tx.commit().await
}

/// The delete checks that need not run, decided as `delete_table` decides, from the metadata and
/// the counters of every table asked at once.
async fn settled_deletes(
    tables: &[&'static TableSpec],
    manifest: &ManifestSpec,
    source: &Client,
    target: &Client,
    options: &RunOptions,
) -> Result<Vec<DeleteReport>, SurveyError> {
    let checked: Vec<_> = tables.iter().filter_map(|&spec| Some((spec, spec.deletes.as_ref()?))).collect();
    let Some(direction) = checked.first().map(|(spec, _)| spec.direction) else { return Ok(Vec::new()) };
    let names: Vec<&str> = checked.iter().map(|(spec, _)| spec.name).collect();
    let asks: Vec<Ask> = checked.iter().map(|&(spec, deletes)| delete_ask(spec, deletes)).collect();
    let (stored, proofs) = tokio::try_join!(
        metadata::stored_all(target, manifest.metadata_table(direction), &options.scope, &names),
        counters::proofs(&asks, source, target).map_err(|(_, e)| e),
    )?;
    Ok(settled(&checked, &stored, &proofs, options))
}

fn delete_ask(spec: &'static TableSpec, deletes: &DeleteSpec) -> Ask<'static> {
    Ask { spec, counting: Counting::KeysLost, statement: deletes::statement(deletes) }
}

/// The outcomes of the `checked` tables' delete checks that need not run, from their metadata
/// rows and their proofs now (in the order of `checked`).
fn settled(
    checked: &[(&'static TableSpec, &DeleteSpec)],
    stored: &HashMap<String, Stored>,
    proofs: &[Option<String>],
    options: &RunOptions,
) -> Vec<DeleteReport> {
    let reports = checked.iter().zip(proofs).filter_map(|(&(spec, deletes), proof)| {
        let last = stored.get(spec.name).cloned().unwrap_or_default();
        let outcome = deletes::settled(spec, deletes, &last, proof.as_deref(), options)?;
        Some(DeleteReport::new(spec, outcome))
    });
    reports.collect()
}

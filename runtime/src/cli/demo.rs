//! `pgbisync demo`: two throwaway local PostgreSQL servers (a desktop in Asia/Kolkata, a cloud in
//! UTC), sample data shaped like the manifest's tables, a full cycle both ways, a second cycle that
//! finds nothing to do, the status, a verify, and the servers stopped again. Needs no database of
//! the user's.

use super::error::CommandError;
use super::output::{Output, SyncProgress};
use super::{exit, sync, Invocation};
use crate::codec::CompiledTable;
use crate::demo::sample::{self, SampleSize};
use crate::demo::{DemoError, DemoServers};
use crate::engine::metadata::Scope;
use crate::engine::{self, verify, Connections, SyncOptions};
use crate::program::Program;
use crate::spec::Direction;

pub(super) async fn run(inv: &Invocation<'_>, rows: u32) -> Result<i32, CommandError> {
    // The demo narrates even with --quiet; only --json silences it.
    let out = Output { quiet: false, ..inv.out };
    let program = inv.program;
    out.human("== starting two throwaway PostgreSQL servers (desktop in Asia/Kolkata, cloud in UTC)");
    let servers = DemoServers::start().await?;
    out.human(format!(
        "   desktop: {}\n   cloud:   {}",
        servers.desktop.url("postgres"),
        servers.cloud.url("postgres")
    ));

    let mut connections = Connections::open(servers.desktop_url(), servers.cloud_url()).await?;
    let tenant = load_sample(program, out, &connections, rows).await?;

    let options = SyncOptions { tenant, ..SyncOptions::default() };
    let both = Direction::BOTH;
    let observer = SyncProgress::new(out);
    out.human("\n== first run: no metadata tables exist yet; pgbisync creates them and copies everything");
    let first = engine::sync(program, &mut connections, &both, &options, &observer).await?;
    out.sync_finished(&first, false, sync::exit_code(&first));
    out.human("\n== second run: nothing changed, so nothing is rewritten");
    let second = engine::sync(program, &mut connections, &both, &options, &observer).await?;
    out.sync_finished(&second, false, sync::exit_code(&second));

    let edit = sample::edit_both_sides(program, &connections.desktop, &connections.cloud)
        .await
        .map_err(DemoError::at("editing a row on both sides"))?;
    if let Some(e) = &edit {
        out.human(format!(
            "\n== {} {}: approved on the desktop ({} = 'A') and edited in the app ({}) at the same time; each \
             side owns its columns, so both edits cross and neither is lost",
            e.table, e.key, e.desktop_column, e.app_column
        ));
        let both = engine::sync(program, &mut connections, &both, &options, &observer).await?;
        out.sync_finished(&both, false, sync::exit_code(&both));
    }

    let deleted =
        sample::delete_one(program, &connections.desktop).await.map_err(DemoError::at("deleting a desktop row"))?;
    if let Some((table, key)) = &deleted {
        out.human(format!(
            "\n== {table} {key} deleted on the desktop: the next forward run deletes it from the cloud, \
             keeping a copy in {} (`pgbisync restore` puts it back)",
            program.manifest.forward_deleted
        ));
        let third = engine::sync(program, &mut connections, &[Direction::Forward], &options, &observer).await?;
        out.sync_finished(&third, false, sync::exit_code(&third));
    }

    out.human("\n== status");
    let (status_rows, _) = super::status::read(program, &mut connections, &Scope::of(options.tenant.as_deref()))
        .await
        .map_err(|e| match e {
            CommandError::Database { source, .. } => DemoError::at("reading status")(source).into(),
            other => other,
        })?;
    out.status(&status_rows);

    out.human("\n== verify: both sides compared row by row (the orphans set aside show as missing)");
    let all: Vec<&dyn CompiledTable> = program.tables.to_vec();
    let mut print = |r: &verify::VerifyReport| out.verified(r);
    verify::verify_tables(program.manifest, &mut connections, &all, options.tenant.as_deref(), &mut print)
        .await
        .map_err(DemoError::Verify)?;
    drop(connections);
    out.human("\n== stopping the servers");
    servers.stop().await;
    out.human(format!(
        "demo finished: first run exit code {}, second run exit code {} (1 = some rows were set aside, as the orphans above should be)",
        sync::exit_code(&first),
        sync::exit_code(&second)
    ));
    Ok(exit::OK)
}

/// Creates the manifest's tables on both servers and loads the sample; the tenant it used.
async fn load_sample(
    program: &Program,
    out: Output,
    connections: &Connections,
    rows: u32,
) -> Result<Option<String>, DemoError> {
    sample::create_schema(program, &connections.desktop, &connections.cloud)
        .await
        .map_err(DemoError::at("creating the tables"))?;
    let tenant = program.manifest.tenant.map(|_| "1".to_string());
    let size = SampleSize { masters: 20, transactional: rows.max(10), mobile: 5 };
    let loaded = sample::load(program, &connections.desktop, &connections.cloud, size, tenant.as_deref())
        .await
        .map_err(DemoError::at("loading sample data"))?;
    out.human(format!(
        "== sample data: {} desktop rows ({} duplicate keys, {} orphan references), {} rows born on mobile in the cloud{}",
        loaded.desktop_rows,
        loaded.duplicates,
        loaded.orphans,
        loaded.mobile_rows,
        tenant.as_deref().map(|t| format!("; tenant {t}")).unwrap_or_default()
    ));
    Ok(tenant)
}

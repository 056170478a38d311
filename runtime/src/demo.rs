//! `pgbisync demo`: two throwaway local PostgreSQL servers (a desktop in Asia/Kolkata, a cloud in
//! UTC), sample data shaped like the manifest's tables, a full cycle both ways, a second cycle that
//! finds nothing to do, the status, and the servers stopped again. Needs no database of the user's.

use crate::cli::{exit, print_status, sync_once, Failure, SyncOptions};
use crate::cluster::{Cluster, ClusterOptions};
use crate::config::ConnectionUrl;
use crate::engine::Connections;
use crate::program::Program;
use crate::sample::{self, SampleSize};
use crate::spec::{Direction, Side};

fn fail(what: &str) -> impl Fn(tokio_postgres::Error) -> Failure + '_ {
    move |e| Failure { code: exit::UNAVAILABLE, message: format!("demo: {what}: {}", crate::error::describe(&e)) }
}

pub async fn run(program: &Program, rows: u32, json: bool) -> Result<i32, Failure> {
    let say = |text: String| {
        if !json {
            println!("{text}");
        }
    };
    say("== starting two throwaway PostgreSQL servers (desktop in Asia/Kolkata, cloud in UTC)".into());
    let start = |name: &'static str, tz: &'static str| {
        tokio::task::spawn_blocking(move || Cluster::start(ClusterOptions::new(name, tz)))
    };
    let (desktop, cloud) = tokio::join!(start("desktop", "Asia/Kolkata"), start("cloud", "UTC"));
    let started = |r: Result<Result<Cluster, crate::cluster::ClusterError>, tokio::task::JoinError>| match r {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(Failure { code: exit::UNAVAILABLE, message: format!("demo: {e}") }),
        Err(e) => Err(Failure { code: exit::UNAVAILABLE, message: format!("demo: {e}") }),
    };
    let desktop = started(desktop)?;
    let cloud = started(cloud)?;
    say(format!("   desktop: {}\n   cloud:   {}", desktop.url("postgres"), cloud.url("postgres")));

    let mut connections = Connections::open(
        ConnectionUrl::new(Side::Desktop, desktop.url("postgres")),
        ConnectionUrl::new(Side::Cloud, cloud.url("postgres")),
    )
    .await?;
    sample::create_schema(program, &connections.desktop, &connections.cloud)
        .await
        .map_err(fail("creating the tables"))?;
    let tenant = program.manifest.tenant.map(|_| "1".to_string());
    let size = SampleSize { masters: 20, transactional: rows.max(10), mobile: 5 };
    let loaded = sample::load(program, &connections.desktop, &connections.cloud, size, tenant.as_deref())
        .await
        .map_err(fail("loading sample data"))?;
    say(format!(
        "== sample data: {} desktop rows ({} duplicate keys, {} orphan references), {} rows born on mobile in the cloud{}",
        loaded.desktop_rows,
        loaded.duplicates,
        loaded.orphans,
        loaded.mobile_rows,
        tenant.as_deref().map(|t| format!("; tenant {t}")).unwrap_or_default()
    ));

    let options = SyncOptions { tenant, progress: !json, ..SyncOptions::default() };
    let both = [Direction::Forward, Direction::Reverse];
    say("\n== first run: no metadata tables exist yet; pgbisync creates them and copies everything".into());
    let (first, _) = sync_once(program, &mut connections, &both, &options, json, false).await?;
    say("\n== second run: nothing changed, so nothing is rewritten".into());
    let (second, _) = sync_once(program, &mut connections, &both, &options, json, false).await?;

    say("\n== status".into());
    let mut rows = Vec::new();
    for direction in both {
        let names: Vec<&str> = program.tables(direction, &[]).iter().map(|t| t.spec().name).collect();
        let (_, target) = connections.for_direction(direction);
        let scope = crate::metadata::Scope::of(options.tenant.as_deref());
        if let Some(r) = crate::status::read(target, program.manifest, direction, &scope, &names)
            .await
            .map_err(fail("reading status"))?
        {
            rows.extend(r);
        }
    }
    print_status(&rows, json);

    say("\n== verify: both sides compared row by row (the orphans set aside show as missing)".into());
    let all: Vec<&dyn crate::codec::CompiledTable> = program.tables.to_vec();
    let mut print = |r: &crate::verify::VerifyReport| {
        if !json {
            println!("{}", crate::cli::verify_line(r));
        }
    };
    crate::verify::verify_tables(program.manifest, &mut connections, &all, options.tenant.as_deref(), &mut print)
        .await
        .map_err(|e| Failure { code: exit::UNAVAILABLE, message: format!("demo: verifying: {e}") })?;
    drop(connections);
    say("\n== stopping the servers".into());
    let _ = tokio::task::spawn_blocking(move || {
        let _ = desktop.stop();
        let _ = cloud.stop();
    })
    .await;
    say(format!(
        "demo finished: first run exit code {first}, second run exit code {second} (1 = some rows were set aside, as the orphans above should be)"
    ));
    Ok(exit::OK)
}

//! Shared test support: two throwaway PostgreSQL servers shaped like a deployment (a desktop in
//! Asia/Kolkata and a cloud in UTC), the compiled program, and ways to run pgbisync against them.

#![allow(dead_code)]

pub mod build;
pub mod pooler;
pub mod running;

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use pgbisync_runtime::demo::sample;
use pgbisync_runtime::{
    Cluster, ClusterOptions, ConnectionUrl, Connections, Direction, DirectionReport, Program, RunReport, SampleSize,
    SampleSummary, Side, Silent, Status, SyncOptions, TableReport,
};
use tokio_postgres::{Client, NoTls};

/// The tenant every test runs as (the shipped manifest scopes by org_id).
pub const TENANT: &str = "1";

static ENV: Once = Once::new();

fn init_env() {
    ENV.call_once(|| {
        // Set once, before any test reads it, to the one value every test uses.
        std::env::set_var("PGBISYNC_ORG_ID", TENANT);
    });
}

pub struct Pair {
    pub desktop: Cluster,
    pub cloud: Cluster,
    pub program: Program,
}

async fn start_cluster(name: &'static str, tz: &'static str) -> Cluster {
    tokio::task::spawn_blocking(move || Cluster::start(ClusterOptions::new(name, tz)))
        .await
        .expect("cluster start task")
        .unwrap_or_else(|e| panic!("starting the {name} PostgreSQL server: {e}"))
}

impl Pair {
    /// Two servers with no tables at all.
    pub async fn empty() -> Pair {
        init_env();
        let (desktop, cloud) = tokio::join!(start_cluster("desktop", "Asia/Kolkata"), start_cluster("cloud", "UTC"));
        Pair { desktop, cloud, program: pgbisync_generated::program() }
    }

    /// Two servers with the manifest's tables, the desktop holding five jobs of one firm and nothing
    /// a sync would set aside.
    pub async fn with_jobs() -> Pair {
        let pair = Pair::with_schema().await;
        pair.desktop_client()
            .await
            .batch_execute(
                "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one');
                 INSERT INTO jobshead (org_id, job_id, client_id, work_desc) SELECT 1, g, 10, 'job' FROM generate_series(1, 5) g",
            )
            .await
            .expect("loading jobs");
        pair
    }

    /// Two servers with every manifest table created on both sides, empty.
    pub async fn with_schema() -> Pair {
        let pair = Pair::empty().await;
        let (d, c) = (pair.desktop_client().await, pair.cloud_client().await);
        sample::create_schema(&pair.program, &d, &c).await.expect("creating the manifest's tables");
        pair
    }

    /// Two servers with the manifest's tables and sample data (duplicates, orphans, mobile rows).
    pub async fn with_sample(size: SampleSize) -> (Pair, SampleSummary) {
        let pair = Pair::with_schema().await;
        let (d, c) = (pair.desktop_client().await, pair.cloud_client().await);
        let summary = sample::load(&pair.program, &d, &c, size, Some(TENANT)).await.expect("loading sample data");
        (pair, summary)
    }

    /// Uses another manifest's settings (e.g. a lookback of 0 seconds) with the same tables.
    pub fn with_lookback(mut self, seconds: u32) -> Pair {
        let mut manifest = *self.program.manifest;
        manifest.lookback_seconds = seconds;
        self.program.manifest = Box::leak(Box::new(manifest));
        self
    }

    pub fn desktop_url(&self) -> String {
        self.desktop.url("postgres")
    }

    pub fn cloud_url(&self) -> String {
        self.cloud.url("postgres")
    }

    pub async fn desktop_client(&self) -> Client {
        connect(&self.desktop_url()).await
    }

    pub async fn cloud_client(&self) -> Client {
        connect(&self.cloud_url()).await
    }

    pub async fn connections(&self) -> Connections {
        self.connections_to(self.cloud_url()).await
    }

    async fn connections_to(&self, cloud_url: String) -> Connections {
        Connections::open(
            ConnectionUrl::new(Side::Desktop, self.desktop_url()),
            ConnectionUrl::new(Side::Cloud, cloud_url),
        )
        .await
        .expect("opening both connections")
    }

    /// The cloud's URL for logging in as `role` (trust auth on loopback).
    pub fn cloud_url_as(&self, role: &str) -> String {
        self.cloud_url().replacen("postgres@", &format!("{role}@"), 1)
    }

    /// Runs the given directions once through the engine, as `pgbisync forward/reverse/run` does.
    pub async fn sync(&self, directions: &[Direction], options: SyncOptions) -> Vec<DirectionReport> {
        self.sync_to(self.cloud_url(), directions, options).await
    }

    /// As `sync`, with the cloud reached at `cloud_url`.
    pub async fn sync_to(
        &self,
        cloud_url: String,
        directions: &[Direction],
        options: SyncOptions,
    ) -> Vec<DirectionReport> {
        let mut connections = self.connections_to(cloud_url).await;
        let options = SyncOptions { tenant: Some(TENANT.to_string()), ..options };
        sync(&self.program, &mut connections, directions, &options).await.directions
    }

    pub async fn forward(&self) -> Vec<TableReport> {
        flatten(self.sync(&[Direction::Forward], SyncOptions::default()).await)
    }

    pub async fn reverse(&self) -> Vec<TableReport> {
        flatten(self.sync(&[Direction::Reverse], SyncOptions::default()).await)
    }

    pub async fn forward_tables(&self, tables: &[&str]) -> Vec<TableReport> {
        let options = SyncOptions { tables: tables.iter().map(|t| t.to_string()).collect(), ..SyncOptions::default() };
        flatten(self.sync(&[Direction::Forward], options).await)
    }

    /// Runs the `pgbisync` command line in-process against this pair; returns its exit code.
    pub async fn cli(&self, args: &[&str]) -> i32 {
        self.cli_with_urls(&self.desktop_url(), &self.cloud_url(), args).await
    }

    /// Runs the command line in-process with the given URLs; returns its exit code.
    pub async fn cli_with_urls(&self, desktop: &str, cloud: &str, args: &[&str]) -> i32 {
        let mut argv: Vec<String> =
            vec!["pgbisync".into(), "--desktop-url".into(), desktop.into(), "--cloud-url".into(), cloud.into()];
        argv.extend(args.iter().map(|a| a.to_string()));
        let program = self.program;
        tokio::task::spawn_blocking(move || pgbisync_runtime::cli::main_with_args(&program, argv))
            .await
            .expect("cli task")
    }
}

/// Runs the given directions once through the engine on these connections, panicking when the run
/// could not start.
pub async fn sync(
    program: &Program,
    connections: &mut Connections,
    directions: &[Direction],
    options: &SyncOptions,
) -> RunReport {
    pgbisync_runtime::sync(program, connections, directions, options, &Silent)
        .await
        .unwrap_or_else(|e| panic!("sync failed to run: {e}"))
}

/// The exit code `pgbisync forward/reverse/run` gives a finished run.
pub fn exit_code(run: &RunReport) -> i32 {
    pgbisync_runtime::cli::exit_code(run)
}

pub async fn connect(url: &str) -> Client {
    let (client, connection) =
        tokio_postgres::connect(url, NoTls).await.unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

pub fn flatten(reports: Vec<DirectionReport>) -> Vec<TableReport> {
    reports.into_iter().flat_map(|r| r.tables).collect()
}

/// The report of one table, by name.
pub fn report<'a>(reports: &'a [TableReport], table: &str) -> &'a TableReport {
    reports.iter().find(|r| r.table == table).unwrap_or_else(|| panic!("no report for {table}: {reports:#?}"))
}

pub fn assert_status(r: &TableReport, status: Status) {
    assert_eq!(r.status, status, "{} {}: {:?}", r.direction, r.table, r.error);
}

/// A single value from a query.
pub async fn scalar<T: for<'a> tokio_postgres::types::FromSql<'a>>(client: &Client, sql: &str) -> T {
    client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

pub async fn count(client: &Client, table_and_filter: &str) -> i64 {
    scalar(client, &format!("SELECT count(*) FROM {table_and_filter}")).await
}

pub fn small_sample() -> SampleSize {
    SampleSize { masters: 10, transactional: 50, mobile: 3 }
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port()
}

/// The `pgbisync` binary built next to this test executable (`target/<profile>/pgbisync`), for tests
/// that need its real stdout and stderr. `CARGO_BIN_EXE_pgbisync` exists only for the generated
/// package's own tests; `cargo test --workspace` builds the binary because that package has them.
pub fn pgbisync_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    let profile_dir =
        exe.parent().and_then(|deps| deps.parent()).expect("the test executable lives in target/<profile>/deps");
    let bin = profile_dir.join(format!("pgbisync{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the pgbisync binary is missing at {}: build it first with the same CARGO_TARGET_DIR and \
         profile (`cargo build -p pgbisync-generated --bin pgbisync`, or `cargo build --workspace`)",
        bin.display()
    );
    bin
}

/// Runs the binary in `dir` with only the given variables of pgbisync's set; returns exit code,
/// stdout and stderr.
pub async fn run_binary_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    run_binary_at(&pgbisync_binary(), dir, env, args).await
}

/// Runs the pgbisync binary at `binary` (e.g. one built from another manifest) as
/// [`run_binary_in`] does.
pub async fn run_binary_at(binary: &Path, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut command = tokio::process::Command::new(binary);
    command.args(args).current_dir(dir).kill_on_drop(true);
    for name in ["DESKTOP_DATABASE_URL", "CLOUD_DATABASE_URL", "PGBISYNC_ORG_ID", "PGBISYNC_LOG"] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("pgbisync {args:?} did not finish within 120 s"))
        .expect("running the pgbisync binary");
    (
        output.status.code().expect("pgbisync exited without a code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

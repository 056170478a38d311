//! `pgbisync doctor`, the preflight, against real servers: a ready pair passes and says what it
//! found; a limited role is told every grant it lacks, and running the printed grants lets it sync;
//! a missing index's printed CREATE INDEX removes the warning; two empty databases are told to
//! run `pgbisync schema`, whose SQL makes them pass; an unreachable side is one problem
//! and the other side is still examined; a desktop behind a transaction-mode pooler is a problem.

mod support;

use serde_json::Value;
use support::pooler::Pooler;
use support::*;

/// The real binary's `doctor --json` with these URLs: exit code and the parsed document.
async fn doctor(desktop: &str, cloud: &str) -> (i32, Value) {
    let dir = tempfile::tempdir().expect("a working directory without a .env");
    let args = ["--desktop-url", desktop, "--cloud-url", cloud, "--json", "doctor"];
    let (code, stdout, stderr) = run_binary_in(dir.path(), &[("PGBISYNC_ORG_ID", TENANT)], &args).await;
    let report =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{stdout}\n{stderr}"));
    (code, report)
}

fn findings<'a>(report: &'a Value, severity: &str, area: &str) -> Vec<&'a Value> {
    let all = report["findings"].as_array().expect("a findings list");
    all.iter().filter(|f| f["severity"] == severity && f["area"] == area).collect()
}

fn with_user(url: &str, user: &str) -> String {
    url.replacen("postgres@", &format!("{user}@"), 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_pair_passes_and_the_list_says_what_was_found() {
    let pair = Pair::with_schema().await;
    let (code, report) = doctor(&pair.desktop_url(), &pair.cloud_url()).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["problems"], 0, "{report:#}");
    for side in ["desktop", "cloud"] {
        let of_side = |area: &str| findings(&report, "ok", area).into_iter().filter(|f| f["side"] == side).count();
        assert_eq!(of_side("connection"), 1, "{side}: {report:#}");
        assert_eq!(of_side("pooler"), 1, "{side} direct: {report:#}");
        assert_eq!(of_side("tls"), 1, "{side} on loopback: {report:#}");
        assert_eq!(of_side("privileges"), 1, "{side} as superuser: {report:#}");
    }
    let connected = findings(&report, "ok", "connection");
    assert!(connected.iter().all(|f| f["message"].as_str().unwrap().contains("PostgreSQL 15")), "{report:#}");
    assert!(connected.iter().any(|f| f["message"].as_str().unwrap().contains("Asia/Kolkata")), "{report:#}");
    let clock = findings(&report, "ok", "clock");
    assert_eq!(clock.len(), 1, "two local servers share a clock: {report:#}");
    assert!(clock[0]["message"].as_str().unwrap().contains("±"), "{report:#}");
    // check's warnings come along: the demo desktop's reverse targets have no keys.
    assert!(!findings(&report, "warning", "schema").is_empty(), "{report:#}");

    // The human list: problems first, each fix under its item, and a verdict.
    let dir = tempfile::tempdir().unwrap();
    let (desktop, cloud) = (pair.desktop_url(), pair.cloud_url());
    let args = ["--desktop-url", desktop.as_str(), "--cloud-url", cloud.as_str(), "doctor"];
    let (code, text, _) = run_binary_in(dir.path(), &[("PGBISYNC_ORG_ID", TENANT)], &args).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.lines().last().unwrap().starts_with("no problems"), "{text}");
    assert!(text.contains("ok      desktop connection: connected as postgres"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_role_is_told_every_grant_it_lacks_and_the_printed_grants_let_it_sync() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let cloud = pair.cloud_client().await;
    cloud.batch_execute("CREATE ROLE app LOGIN").await.unwrap();
    let app_cloud = with_user(&pair.cloud_url(), "app");

    let (code, report) = doctor(&pair.desktop_url(), &app_cloud).await;
    assert_eq!(code, 1, "{report:#}");
    let missing = findings(&report, "problem", "privileges");
    let forward_targets: Vec<&str> = pair
        .program
        .tables
        .iter()
        .map(|t| t.spec())
        .filter(|s| s.direction == pgbisync_runtime::Direction::Forward)
        .map(|s| s.target.name)
        .collect();
    for table in &forward_targets {
        assert!(
            missing.iter().any(|f| f["table"] == *table && f["fix"].as_str().unwrap().starts_with("GRANT ")),
            "no grant for forward target {table}: {report:#}"
        );
    }
    let schema = missing.iter().find(|f| f["fix"].as_str().unwrap().starts_with("GRANT CREATE ON SCHEMA"));
    assert!(schema.is_some(), "PostgreSQL 15 lets no one create in public by default: {report:#}");
    assert!(
        missing.iter().any(|f| f["fix"].as_str().unwrap().starts_with("GRANT USAGE ON SEQUENCE")),
        "the cloud's bigserial keys need their sequences: {report:#}"
    );
    // The desktop side, as the superuser, lacks nothing.
    assert!(missing.iter().all(|f| f["side"] == "cloud"), "{report:#}");

    for f in &missing {
        let fix = f["fix"].as_str().unwrap();
        cloud.batch_execute(fix).await.unwrap_or_else(|e| panic!("the printed fix {fix}: {e}"));
    }
    let (_, report) = doctor(&pair.desktop_url(), &app_cloud).await;
    assert_eq!(findings(&report, "problem", "privileges"), Vec::<&Value>::new(), "{report:#}");

    // What the doctor vouched for holds: the limited role syncs both ways.
    let dir = tempfile::tempdir().unwrap();
    let desktop = pair.desktop_url();
    let args = ["--desktop-url", desktop.as_str(), "--cloud-url", app_cloud.as_str(), "run"];
    let (code, out, err) = run_binary_in(dir.path(), &[("PGBISYNC_ORG_ID", TENANT)], &args).await;
    // The sample holds rows built to be set aside (partial, exit 1); no table may fail.
    assert!(code <= 1 && out.contains(" 0 failed;"), "run as app after the grants:\n{out}\n{err}");
    assert!(count(&cloud, "jobshead").await > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_and_a_missing_tracking_index_are_warnings_whose_fixes_work() {
    let pair = Pair::with_schema().await;
    let cloud = pair.cloud_client().await;
    let desktop = pair.desktop_client().await;
    cloud.batch_execute("CREATE ROLE app LOGIN; GRANT ALL ON SCHEMA public TO app; GRANT ALL ON ALL TABLES IN SCHEMA public TO app; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app; ALTER TABLE jobshead ENABLE ROW LEVEL SECURITY").await.unwrap();
    let app_cloud = with_user(&pair.cloud_url(), "app");

    let (_, report) = doctor(&pair.desktop_url(), &app_cloud).await;
    let rls = findings(&report, "warning", "privileges");
    assert!(
        rls.iter().any(|f| f["table"] == "jobshead" && f["message"].as_str().unwrap().contains("row-level security")),
        "{report:#}"
    );
    let indexes = findings(&report, "warning", "indexes");
    assert!(!indexes.is_empty(), "the legacy desktop tables have no index on their tracking columns: {report:#}");
    for f in &indexes {
        let fix = f["fix"].as_str().unwrap();
        assert!(fix.starts_with("CREATE INDEX CONCURRENTLY"), "{fix}");
        let client = if f["side"] == "desktop" { &desktop } else { &cloud };
        client.batch_execute(fix).await.unwrap_or_else(|e| panic!("the printed fix {fix}: {e}"));
    }
    let (_, report) = doctor(&pair.desktop_url(), &app_cloud).await;
    assert_eq!(findings(&report, "warning", "indexes"), Vec::<&Value>::new(), "{report:#}");
    assert_eq!(findings(&report, "ok", "indexes").len(), 2, "one ok per side: {report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cloud_and_a_schema_difference_are_problems_and_the_desktop_is_still_examined() {
    let pair = Pair::with_schema().await;
    pair.desktop_client().await.batch_execute("ALTER TABLE jobshead DROP COLUMN job_status").await.unwrap();
    let gone = format!("postgresql://postgres@127.0.0.1:{}/postgres?connect_timeout=3", free_port());
    let (code, report) = doctor(&pair.desktop_url(), &gone).await;
    assert_eq!(code, 1, "{report:#}");
    let unreachable = findings(&report, "problem", "connection");
    assert_eq!(unreachable.len(), 1, "{report:#}");
    assert_eq!(unreachable[0]["side"], "cloud");
    assert!(unreachable[0]["fix"].is_string(), "{report:#}");
    let schema = findings(&report, "problem", "schema");
    assert!(schema.iter().any(|f| f["table"] == "jobshead" && f["side"] == "desktop"), "{report:#}");
    assert_eq!(findings(&report, "ok", "connection").len(), 1, "the desktop was examined: {report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_mode_pooler_is_detected_and_is_a_problem_only_in_front_of_the_desktop() {
    let pair = Pair::with_schema().await;
    let (desktop_port, cloud_port) = (pair.desktop.port(), pair.cloud.port());
    let (desktop_pool, cloud_pool) =
        tokio::task::spawn_blocking(move || (Pooler::start(desktop_port), Pooler::start(cloud_port))).await.unwrap();
    let (code, report) = doctor(&desktop_pool.url(), &cloud_pool.url()).await;
    assert_eq!(code, 1, "{report:#}");
    let desktop = findings(&report, "problem", "pooler");
    assert_eq!(desktop.len(), 1, "{report:#}");
    assert_eq!(desktop[0]["side"], "desktop");
    assert!(desktop[0]["message"].as_str().unwrap().contains("transaction mode"), "{report:#}");
    let cloud = findings(&report, "ok", "pooler");
    assert!(
        cloud.iter().any(|f| f["side"] == "cloud" && f["message"].as_str().unwrap().contains("transaction mode")),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_empty_databases_are_told_to_run_schema_and_its_sql_makes_them_pass() {
    let pair = Pair::empty().await;
    let (code, report) = doctor(&pair.desktop_url(), &pair.cloud_url()).await;
    assert_eq!(code, 1, "{report:#}");
    let missing = findings(&report, "problem", "schema");
    assert_eq!(missing.len(), pair.program.schema.len() * 2, "each manifest table missing on each side: {report:#}");
    assert!(missing.iter().all(|f| f["message"].as_str().unwrap().contains("pgbisync schema --")), "{report:#}");

    let dir = tempfile::tempdir().unwrap();
    for (side, client) in [("--desktop", pair.desktop_client().await), ("--cloud", pair.cloud_client().await)] {
        let (code, sql, err) = run_binary_in(dir.path(), &[], &["schema", side]).await;
        assert_eq!(code, 0, "{err}");
        client.batch_execute(&sql).await.unwrap_or_else(|e| panic!("pgbisync schema {side} output: {e}\n{sql}"));
    }
    let (code, report) = doctor(&pair.desktop_url(), &pair.cloud_url()).await;
    assert_eq!(code, 0, "{report:#}");
    let (code, _, err) = run_binary_in(dir.path(), &[], &["schema", "--cloud", "--table", "nothing_here"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no cloud table \"nothing_here\""), "{err}");
}

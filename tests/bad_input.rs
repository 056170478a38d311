//! Bad input an operator really gives, against the built binary: a tenant value its column would
//! change, a `.env` with one broken line, a statement timeout set on the role.

mod support;

use std::time::Duration;

use support::*;

/// Nothing listens here: a run that got as far as connecting would exit 3, not 2.
const CLOSED: &str = "postgresql://u@127.0.0.1:1/db";

#[tokio::test]
async fn a_tenant_value_its_column_would_round_or_refuse_is_one_usage_error_before_connecting() {
    let dir = tempfile::tempdir().expect("an empty working directory");
    for (value, why) in [("1.5", "not an integer"), ("abc", "not an integer"), ("1000", "digit(s) before")] {
        let env = [("PGBISYNC_ORG_ID", value), ("DESKTOP_DATABASE_URL", CLOSED), ("CLOUD_DATABASE_URL", CLOSED)];
        for command in ["forward", "run", "verify", "status"] {
            let (code, stdout, stderr) = run_binary_in(dir.path(), &env, &[command]).await;
            assert_eq!(code, 2, "{command} with PGBISYNC_ORG_ID={value}: a usage error; stderr:\n{stderr}");
            let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
            assert_eq!(errors.len(), 1, "{command} {value}: one error, not one per table:\n{stderr}");
            for part in ["PGBISYNC_ORG_ID", value, "org_id", "numeric(3,0)", why] {
                assert!(errors[0].contains(part), "{command} {value}: the error names {part:?}:\n{stderr}");
            }
            assert!(stdout.is_empty(), "{command} {value}: nothing ran:\n{stdout}");
        }
    }
}

#[tokio::test]
async fn a_broken_env_line_is_named_by_number_and_the_other_lines_still_load() {
    let dir = tempfile::tempdir().expect("a working directory for .env");
    std::fs::write(
        dir.path().join(".env"),
        format!("DESKTOP_DATABASE_URL={CLOSED}\nthis line s3cr3t is broken\nCLOUD_DATABASE_URL={CLOSED}\nPGBISYNC_ORG_ID=1\n"),
    )
    .expect("writing .env");
    let (code, _, stderr) = run_binary_in(dir.path(), &[], &["forward"]).await;
    assert_eq!(code, 3, "the URLs on the good lines were loaded, so it tried to connect; stderr:\n{stderr}");
    assert!(stderr.contains(".env line 2 cannot be parsed"), "the bad line is named by number:\n{stderr}");
    assert!(!stderr.contains("s3cr3t"), "the bad line's text is never printed:\n{stderr}");

    // Without the desktop URL, the hint points at the broken line instead of asking for what is there.
    std::fs::write(dir.path().join(".env"), "DESKTOP_DATABASE_URL postgresql://u@h/db\nPGBISYNC_ORG_ID=1\n")
        .expect("writing .env");
    let (code, _, stderr) = run_binary_in(dir.path(), &[("CLOUD_DATABASE_URL", CLOSED)], &["forward"]).await;
    assert_eq!(code, 2, "stderr:\n{stderr}");
    assert!(stderr.contains("cannot be parsed: 1; fix them"), "{stderr}");
    assert!(!stderr.contains("put `DESKTOP_DATABASE_URL="), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_timeout_on_the_role_fails_at_once_and_is_named_as_the_cause() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop.batch_execute("INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one')").await.expect("a firm");
    // The metadata exists already, so only the table's big statements outlast the timeout.
    pair.forward_tables(&["orgmaster", "jobshead"]).await;
    desktop
        .batch_execute(
            "INSERT INTO jobshead (org_id, job_id, client_id, work_desc)
                 SELECT 1, g, 10, 'job ' || g FROM generate_series(1, 200000) g",
        )
        .await
        .expect("loading jobs");
    cloud
        .batch_execute(
            "CREATE ROLE hurried LOGIN SUPERUSER;
             ALTER ROLE hurried SET statement_timeout = '100ms'",
        )
        .await
        .expect("a role with a statement timeout");
    let cloud_url = pair.cloud.url("postgres").replacen("postgres@", "hurried@", 1);
    assert_ne!(cloud_url, pair.cloud_url(), "the cloud URL names its user: {cloud_url}");
    let dir = tempfile::tempdir().expect("an empty working directory");
    let started = std::time::Instant::now();
    let env =
        [("PGBISYNC_ORG_ID", "1"), ("DESKTOP_DATABASE_URL", &*pair.desktop_url()), ("CLOUD_DATABASE_URL", &*cloud_url)];
    let (code, _, stderr) = run_binary_in(dir.path(), &env, &["forward", "--table", "jobshead"]).await;
    assert_ne!(code, 0, "stderr:\n{stderr}");
    assert!(stderr.contains("error: forward jobshead:"), "the table's sync failed, not the setup:\n{stderr}");
    assert!(stderr.contains("statement_timeout"), "the role's setting is named as the cause:\n{stderr}");
    assert!(!stderr.contains("retrying"), "a timeout is not retried as if it were transient:\n{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60), "no retries with back-off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_never_aborts_a_command_and_json_errors_are_documents() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop
        .batch_execute(
            "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one');
             INSERT INTO jobshead (org_id, job_id, client_id, work_desc) SELECT 1, g, 10, 'job' FROM generate_series(1, 500) g",
        )
        .await
        .expect("loading jobs");
    let dir = tempfile::tempdir().expect("an empty working directory");
    let (desktop_url, cloud_url) = (pair.desktop_url(), pair.cloud_url());
    let env = [("PGBISYNC_ORG_ID", "1"), ("DESKTOP_DATABASE_URL", &*desktop_url), ("CLOUD_DATABASE_URL", &*cloud_url)];
    for args in [&["forward"][..], &["status"][..], &["tables"][..]] {
        let mut command = tokio::process::Command::new(pgbisync_binary());
        command
            .args(args)
            .current_dir(dir.path())
            .envs(env)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().expect("starting pgbisync");
        drop(child.stdout.take()); // the reader is gone, as after `| head -0`
        let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .expect("pgbisync finishes")
            .expect("waiting for pgbisync");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?} with a closed stdout; stderr:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert_eq!(count(&cloud, "jobshead").await, 500, "the forward with a closed stdout synced every row");

    let (code, stdout, _) = run_binary_in(dir.path(), &[("PGBISYNC_ORG_ID", "1.5")], &["--json", "forward"]).await;
    assert_eq!(code, 2);
    let doc: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"));
    assert_eq!(doc["exit_code"], 2, "{doc}");
    assert!(doc["error"].as_str().is_some_and(|e| e.contains("PGBISYNC_ORG_ID")), "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_lost_in_the_middle_of_a_table_exits_3() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    desktop
        .batch_execute(
            "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one');
             INSERT INTO jobshead (org_id, job_id, client_id, work_desc)
                 SELECT 1, g, 10, repeat('x', 90) FROM generate_series(1, 300000) g",
        )
        .await
        .expect("loading jobs");
    let dir = tempfile::tempdir().expect("an empty working directory");
    let (desktop_url, cloud_url) = (pair.desktop_url(), pair.cloud_url());
    let env = [("PGBISYNC_ORG_ID", "1"), ("DESKTOP_DATABASE_URL", &*desktop_url), ("CLOUD_DATABASE_URL", &*cloud_url)];
    let run = tokio::spawn({
        let dir = dir.path().to_path_buf();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        async move {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            run_binary_in(&dir, &env, &["forward", "--table", "jobshead"]).await
        }
    });
    // Once the table is being staged, the cloud refuses new connections and drops the run's.
    let staging = "pg_stat_activity WHERE query LIKE 'COPY \"_pgbisync_stage\"%' AND state = 'active'";
    for _ in 0..600 {
        if count(&cloud, staging).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // From another database: a session cannot shut the door on its own database.
    let admin = connect(&pair.cloud.url("template1")).await;
    admin
        .batch_execute(
            "ALTER DATABASE postgres ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE pid <> pg_backend_pid() AND datname = 'postgres' AND backend_type = 'client backend'",
        )
        .await
        .expect("cutting the run off");
    let (code, _, stderr) = run.await.expect("the run's task");
    admin.batch_execute("ALTER DATABASE postgres ALLOW_CONNECTIONS true").await.expect("reopening the cloud");
    assert_eq!(code, 3, "a lost server is exit 3 (cannot connect), not 1; stderr:\n{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_a_trigger_refuses_with_raise_exception_is_set_aside_and_the_rest_land() {
    let pair = Pair::with_schema().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    cloud
        .batch_execute(
            "CREATE FUNCTION refuse_job_2() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
               IF NEW.job_id = 2 THEN RAISE EXCEPTION 'job 2 is under audit'; END IF;
               RETURN NEW; END $$;
             CREATE TRIGGER refuse_job_2 BEFORE INSERT OR UPDATE ON jobshead
               FOR EACH ROW EXECUTE FUNCTION refuse_job_2()",
        )
        .await
        .expect("a refusing trigger");
    desktop
        .batch_execute(
            "INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'Firm one');
             INSERT INTO jobshead (org_id, job_id, client_id, work_desc) SELECT 1, g, 10, 'job' FROM generate_series(1, 5) g",
        )
        .await
        .expect("loading jobs");
    for run in 1..=2 {
        let reports = pair.forward().await;
        let r = report(&reports, "jobshead");
        assert_status(r, pgbisync_runtime::Status::Partial);
        assert_eq!((r.rows_read, r.rejected), (5, 1), "run {run}: {r:#?}");
        let (_, reason) = r.reject_samples.first().expect("a reject sample");
        assert!(reason.contains("job 2 is under audit"), "run {run}: the trigger's message is the reason: {reason}");
    }
    assert_eq!(count(&cloud, "jobshead WHERE job_id <> 2").await, 4, "the other rows landed");
    assert_eq!(count(&cloud, "_sync_rejects WHERE table_name = 'jobshead'").await, 1);
}

#[tokio::test]
async fn a_password_with_a_bare_at_is_named_without_showing_any_of_it() {
    let dir = tempfile::tempdir().expect("an empty working directory");
    let bad = "postgresql://app:se@cret@127.0.0.1:1/db";
    let env = [("PGBISYNC_ORG_ID", "1"), ("DESKTOP_DATABASE_URL", bad), ("CLOUD_DATABASE_URL", CLOSED)];
    let (code, _, stderr) = run_binary_in(dir.path(), &env, &["forward"]).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("%40") && stderr.contains("desktop"), "{stderr}");
    assert!(!stderr.contains("cret") && !stderr.contains("se@"), "no part of the password is printed:\n{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_privilege_is_named_with_its_side_and_what_to_grant() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    pair.forward().await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);
    cloud
        .batch_execute(
            "CREATE ROLE syncer LOGIN;
             GRANT CREATE, USAGE ON SCHEMA public TO syncer;
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO syncer;
             GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO syncer;
             REVOKE UPDATE ON jobshead FROM syncer;",
        )
        .await
        .expect("a role without UPDATE on jobshead");
    desktop.batch_execute("UPDATE jobshead SET work_desc = 'changed'").await.expect("a desktop edit");
    let cloud_url = pair.cloud.url("postgres").replacen("postgres@", "syncer@", 1);
    let dir = tempfile::tempdir().expect("an empty working directory");
    let env = [
        ("PGBISYNC_ORG_ID", TENANT),
        ("DESKTOP_DATABASE_URL", &*pair.desktop_url()),
        ("CLOUD_DATABASE_URL", &*cloud_url),
    ];
    let (code, _, stderr) = run_binary_in(dir.path(), &env, &["forward", "--table", "jobshead"]).await;
    assert_eq!(code, 1, "{stderr}");
    let line = stderr.lines().find(|l| l.starts_with("error: forward jobshead:")).unwrap_or_default();
    for part in ["permission denied for table jobshead", "the cloud refused it", "GRANT"] {
        assert!(line.contains(part), "the error says {part:?}:\n{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_with_no_rows_anywhere_gets_a_warning() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let dir = tempfile::tempdir().expect("an empty working directory");
    let (desktop, cloud) = (pair.desktop_url(), pair.cloud_url());
    // The sample's firms are 1 to 10 (orgmaster); 99 has no row anywhere.
    for (tenant, warned) in [("99", true), (TENANT, false)] {
        let env = [("PGBISYNC_ORG_ID", tenant), ("DESKTOP_DATABASE_URL", &*desktop), ("CLOUD_DATABASE_URL", &*cloud)];
        let (_, _, stderr) = run_binary_in(dir.path(), &env, &["forward"]).await;
        let warning = format!("no row of any table has org_id = {tenant}");
        assert_eq!(stderr.contains(&warning), warned, "firm {tenant}:\n{stderr}");
    }
}

//! The operator's commands around the sync itself: `bootstrap`, `check`, `status`, `reset` and `--env-file`, as a
//! user runs them (the real binary, its exit code and its JSON).

mod support;

use std::process::Command;

use support::*;

/// Runs the real binary against the pair; returns the exit code and stdout.
fn run(pair: &Pair, args: &[&str]) -> (i32, String) {
    let out = Command::new(pgbisync_binary())
        .args(["--desktop-url", &pair.desktop_url(), "--cloud-url", &pair.cloud_url()])
        .args(args)
        .env("PGBISYNC_ORG_ID", TENANT)
        .output()
        .expect("running pgbisync");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_check_status_and_reset_do_what_an_operator_expects() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let (desktop, cloud) = (pair.desktop_client().await, pair.cloud_client().await);

    // status before anything ran: no metadata yet, and it says so rather than failing.
    let (code, out) = run(&pair, &["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("no metadata table _sync_metadata yet"), "{out}");

    // check: both databases match the manifest.
    let (code, out) = run(&pair, &["check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(json(&run(&pair, &["check", "--json"]).1)["differences"], serde_json::json!([]));

    // bootstrap: both metadata tables, one row per table, idempotent.
    for _ in 0..2 {
        assert_eq!(run(&pair, &["bootstrap"]).0, 0);
    }
    assert_eq!(count(&cloud, "_sync_metadata").await, 16);
    assert_eq!(count(&desktop, "_reverse_sync_metadata").await, 9);

    // A run, then status as JSON: every table-direction, with its rejects counted.
    let (code, _) = run(&pair, &["run", "-q"]);
    assert_eq!(code, 1, "the sample's orphans are set aside");
    let status = json(&run(&pair, &["status", "--json"]).1);
    let rows = status["tables"].as_array().unwrap();
    assert_eq!(rows.len(), 25);
    let jobshead = rows.iter().find(|r| r["table"] == "jobshead" && r["direction"] == "forward").unwrap();
    assert_eq!(jobshead["status"], "partial");
    assert_eq!(jobshead["rejects"], 2);
    assert!(jobshead["watermark"].as_str().is_some_and(|w| !w.starts_with("1970")), "{jobshead}");

    // reset: the watermark goes back to the epoch, so the next run reads the table in full.
    assert_eq!(run(&pair, &["reset", "--direction", "forward", "jobshead"]).0, 0);
    let epoch: bool = scalar(
        &cloud,
        "SELECT last_sync_timestamp = '1970-01-01 00:00:00+00' FROM _sync_metadata WHERE table_name = 'jobshead'",
    )
    .await;
    assert!(epoch);
    assert_eq!(run(&pair, &["reset", "nosuch"]).0, 2, "an unknown table is a usage error");

    // check names a difference and exits 1.
    cloud.batch_execute("ALTER TABLE jobshead DROP COLUMN drivefolderkey").await.unwrap();
    let (code, out) = run(&pair, &["check"]);
    assert_eq!(code, 1);
    assert!(out.contains("cloud table jobshead, column drivefolderkey: column is missing"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_file_is_read_from_the_path_given_and_a_missing_one_is_a_usage_error() {
    let pair = Pair::with_jobs().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgbisync.env");
    std::fs::write(
        &file,
        format!(
            "DESKTOP_DATABASE_URL={}\nCLOUD_DATABASE_URL={}\nPGBISYNC_ORG_ID={TENANT}\n",
            pair.desktop_url(),
            pair.cloud_url()
        ),
    )
    .unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let path = file.to_str().unwrap();
    let (code, out, err) = run_binary_in(elsewhere.path(), &[], &["--env-file", path, "forward"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(count(&pair.cloud_client().await, "jobshead").await, 5);
    let (code, _, err) = run_binary_in(elsewhere.path(), &[("PGBISYNC_ENV_FILE", path)], &["status"]).await;
    assert_eq!(code, 0, "PGBISYNC_ENV_FILE serves as well: {err}");
    let (code, _, err) =
        run_binary_in(elsewhere.path(), &[], &["--env-file", "/nonexistent/pgbisync.env", "status"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read the env file /nonexistent/pgbisync.env"), "{err}");
}
